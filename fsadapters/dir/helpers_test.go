package dir

import (
	"testing"
)

func newTestFS(t *testing.T, root string) *FS {
	t.Helper()
	fs, err := New(root, Options{})
	if err != nil {
		t.Fatalf("New(%q): %v", root, err)
	}
	t.Cleanup(func() { fs.Close() })
	return fs
}
