// Command gatehouse is the Gatehouse authentication server and its
// administration commands. With no subcommand it serves.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}
