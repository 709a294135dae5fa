// Command methodcount lists the types of Go packages with their number of
// methods (exported in brackets), most first: a check that no type has
// grown into a god object.
//
//	go run ./internal/tools/methodcount ./internal/auth ./internal/oidc
//
// Test files are left out; -min hides types with fewer methods; -max makes
// the command fail when a type has more (a check for CI).
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type count struct {
	pkg, typ          string
	methods, exported int
}

func main() {
	min := flag.Int("min", 1, "list only types with at least this many methods")
	max := flag.Int("max", 0, "fail when a type has more methods than this (0: no limit)")
	flag.Parse()
	dirs := flag.Args()
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	var all []count
	for _, dir := range dirs {
		c, err := countDir(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "methodcount:", err)
			os.Exit(1)
		}
		all = append(all, c...)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].methods != all[j].methods {
			return all[i].methods > all[j].methods
		}
		return all[i].pkg+all[i].typ < all[j].pkg+all[j].typ
	})
	over := 0
	for _, c := range all {
		if c.methods >= *min {
			fmt.Printf("%4d (%3d exported)  %s.%s\n", c.methods, c.exported, c.pkg, c.typ)
		}
		if *max > 0 && c.methods > *max {
			over++
		}
	}
	if over > 0 {
		fmt.Fprintf(os.Stderr, "methodcount: %d types have more than %d methods\n", over, *max)
		os.Exit(1)
	}
}

// countDir counts the methods declared in the package in dir, per receiver type.
func countDir(dir string) ([]count, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	byType := map[string]*count{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) == 0 {
				continue
			}
			typ := receiverType(fn.Recv.List[0].Type)
			c := byType[typ]
			if c == nil {
				c = &count{pkg: f.Name.Name, typ: typ}
				byType[typ] = c
			}
			c.methods++
			if fn.Name.IsExported() {
				c.exported++
			}
		}
	}
	out := make([]count, 0, len(byType))
	for _, c := range byType {
		out = append(out, *c)
	}
	return out, nil
}

// receiverType names a receiver's type: T for T, *T, T[P] and *T[P].
func receiverType(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.ParenExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return fmt.Sprintf("%T", e)
		}
	}
}
