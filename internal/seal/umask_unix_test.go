//go:build unix

package seal_test

import (
	"syscall"
	"testing"
)

// typicalUmask sets the umask most systems have, 022, under which a careless
// create would make a file 0644, until t ends.
func typicalUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}
