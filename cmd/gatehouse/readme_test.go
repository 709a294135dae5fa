package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The documentation's shell blocks are run as written, so that what a
// reader types works and prints what the text says it prints.
//
// The convention, for README.md, docs/recipes/*.md and
// docs/troubleshooting.md:
//
//   - A block fenced ```sh is run. One fenced ```sh norun (optionally
//     followed by why) is shown, not run: starting or building things the
//     test does itself (the server, the binary), other programs' servers,
//     hosts outside this machine. Shell blocks have no other fence
//     (```bash, ```shell and ```console are refused), so none escapes by
//     its spelling.
//   - The blocks of one file run in order, in one bash (set -eo pipefail:
//     a failing command fails the test), so variables carry from block to
//     block; every file runs in the same directory, against one server the
//     test started there as the quick start does (gatehouse.db, its log on
//     standard error in gatehouse.log), with the binary it built first on
//     PATH. 127.0.0.1:8080 and localhost:8080 are replaced by its address.
//   - Comment lines right below a command (no blank line between) are that
//     command's expected standard output, line for line; "..." (or "…")
//     stands for any text within a line (ids, tokens, times). Any other
//     comment is prose.
func TestDocumentedShellBlocksRun(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the documentation's shell blocks are not run", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "README.md")}
	more, _ := filepath.Glob(filepath.Join(root, "docs", "recipes", "*.md"))
	files = append(files, more...)
	if _, err := os.Stat(filepath.Join(root, "docs", "troubleshooting.md")); err == nil {
		files = append(files, filepath.Join(root, "docs", "troubleshooting.md"))
	}

	bin, work := filepath.Dir(gatehouseBinary(t)), filepath.Join(t.TempDir(), "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	addr := startDocumentedServer(t, bin, work, env)
	port := addr[strings.LastIndex(addr, ":")+1:]
	local := strings.NewReplacer("127.0.0.1:8080", addr, "localhost:8080", "localhost:"+port)

	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		t.Run(rel, func(t *testing.T) {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			steps, err := shellSteps(string(text))
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) == 0 {
				return
			}
			var script strings.Builder
			script.WriteString("set -eo pipefail\n")
			for i, s := range steps {
				fmt.Fprintf(&script, "printf '\\036%d\\n'\n%s\n", i, local.Replace(s.command))
			}
			fmt.Fprintf(&script, "printf '\\036%d\\n'\n", len(steps))
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
			cmd.Dir, cmd.Env = work, env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			runErr := cmd.Run()
			outputs := map[int]string{}
			for _, chunk := range strings.Split(stdout.String(), "\036")[1:] {
				n, out, _ := strings.Cut(chunk, "\n")
				i, _ := strconv.Atoi(n)
				outputs[i] = out
			}
			if runErr != nil {
				last := len(outputs) - 1
				if last >= 0 && last < len(steps) {
					t.Fatalf("%s:%d: %v\n%s\noutput: %s\nstderr: %s", rel, steps[last].line, runErr, steps[last].command, outputs[last], stderr.String())
				}
				t.Fatalf("%s: %v\nstderr: %s", rel, runErr, stderr.String())
			}
			for i, s := range steps {
				if len(s.want) == 0 {
					continue
				}
				got := strings.Split(strings.TrimRight(outputs[i], "\r\n"), "\n")
				if !outputMatches(got, s.want, local) {
					t.Errorf("%s:%d: %s\nprinted:\n%s\nthe text says:\n%s", rel, s.line, s.command,
						strings.Join(got, "\n"), local.Replace(strings.Join(s.want, "\n")))
				}
			}
		})
	}
}

// startDocumentedServer starts the built binary in dir as the quick start
// does, on a port of its choosing, its log in gatehouse.log, and returns
// its address once /healthz answers. It is stopped with SIGTERM at the end.
func startDocumentedServer(t *testing.T, bin, dir string, env []string) string {
	t.Helper()
	logFile, err := os.Create(filepath.Join(dir, "gatehouse.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	srv := exec.Command(filepath.Join(bin, "gatehouse"), "--addr", "127.0.0.1:0")
	srv.Dir, srv.Env, srv.Stderr = dir, env, logFile
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	})
	lines := bufio.NewScanner(stdout)
	addr := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if m := servingLine.FindStringSubmatch(lines.Text()); m != nil {
				addr <- strings.TrimPrefix(m[1], "http://")
			}
		}
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(30 * time.Second):
		log, _ := os.ReadFile(filepath.Join(dir, "gatehouse.log"))
		t.Fatalf("the server did not start:\n%s", log)
		return ""
	}
}

// step is one command of a documented shell block and the output the text
// gives for it.
type step struct {
	line    int // of the command in its file
	command string
	want    []string
}

var fence = regexp.MustCompile("^```(\\S*)(.*)$")

// shellSteps reads the commands of a Markdown file's runnable shell blocks
// and the expected output below each (see TestDocumentedShellBlocksRun).
func shellSteps(markdown string) ([]step, error) {
	var steps []step
	inBlock, run, afterCommand := false, false, false
	lines := strings.Split(markdown, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := fence.FindStringSubmatch(line); m != nil {
			if inBlock {
				inBlock = false
				continue
			}
			inBlock, afterCommand = true, false
			switch m[1] {
			case "sh":
				run = !strings.HasPrefix(strings.TrimSpace(m[2]), "norun")
			case "bash", "shell", "console", "shell-session", "zsh":
				return nil, fmt.Errorf("line %d: a shell block is fenced ```sh (run by the test) or ```sh norun, not ```%s", i+1, m[1])
			default:
				run = false
			}
			continue
		}
		if !inBlock || !run {
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			afterCommand = false
		case strings.HasPrefix(trimmed, "#"):
			if afterCommand {
				want := strings.TrimPrefix(strings.TrimPrefix(trimmed, "#"), " ")
				steps[len(steps)-1].want = append(steps[len(steps)-1].want, want)
			}
		default:
			s := step{line: i + 1, command: line}
			for strings.HasSuffix(strings.TrimRight(lines[i], " "), "\\") && i+1 < len(lines) {
				i++
				s.command += "\n" + lines[i]
			}
			steps = append(steps, s)
			afterCommand = true
		}
	}
	return steps, nil
}

// outputMatches compares printed lines with the text's, in which "..."
// or "…" stand for any text within a line.
func outputMatches(got, want []string, local *strings.Replacer) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		pattern := regexp.QuoteMeta(local.Replace(w))
		pattern = strings.NewReplacer(`\.\.\.`, ".*", "…", ".*").Replace(pattern)
		if !regexp.MustCompile("^" + pattern + "$").MatchString(strings.TrimRight(got[i], " \r")) {
			return false
		}
	}
	return true
}

func TestShellStepsFollowTheConvention(t *testing.T) {
	t.Parallel()
	doc := "text\n" +
		"```sh\n" +
		"# prose at the start\n" +
		"echo a \\\n" +
		"  b      # a trailing comment\n" +
		"# a b\n" +
		"\n" +
		"# prose after a blank line\n" +
		"true\n" +
		"```\n" +
		"```sh norun: serves until stopped\n" +
		"go run ./cmd/gatehouse\n" +
		"```\n" +
		"```go\n" +
		"fmt.Println()\n" +
		"```\n"
	steps, err := shellSteps(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []step{{line: 4, command: "echo a \\\n  b      # a trailing comment", want: []string{"a b"}}, {line: 9, command: "true"}}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Fatalf("steps %+v, want %+v", steps, want)
	}
	if _, err := shellSteps("```bash\ntrue\n```\n"); err == nil {
		t.Fatal("a ```bash block is accepted")
	}
	if !outputMatches([]string{"client_id: 0190ab", "x"}, []string{"client_id: ...", "x"}, strings.NewReplacer()) ||
		outputMatches([]string{"client_id: 0190ab"}, []string{"client_id: ...", "x"}, strings.NewReplacer()) ||
		outputMatches([]string{"a.b"}, []string{"a*b"}, strings.NewReplacer()) {
		t.Fatal("outputMatches")
	}
}
