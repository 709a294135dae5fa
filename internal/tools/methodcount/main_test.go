package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Methods are counted per receiver type, pointer or not, generic or not;
// functions and test files are left out.
func TestCountDirCountsMethodsPerReceiverType(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.go", `package p
type T struct{}
type G[K comparable, V any] struct{}
func (T) A()      {}
func (*T) b()     {}
func (g *G[K, V]) C() {}
func F()          {}
`)
	write("b.go", "package p\nfunc (t *T) D() {}\n")
	write("a_test.go", "package p\nfunc (t *T) E() {}\n")
	got, err := countDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]count{"T": {pkg: "p", typ: "T", methods: 3, exported: 2}, "G": {pkg: "p", typ: "G", methods: 1, exported: 1}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for _, c := range got {
		if want[c.typ] != c {
			t.Errorf("%s: got %+v, want %+v", c.typ, c, want[c.typ])
		}
	}
}
