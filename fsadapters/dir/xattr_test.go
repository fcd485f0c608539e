package dir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Wire names are the export's user.* xattrs, in both directions; other
// namespaces stay invisible.
func TestXattrUserNamespace(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	fs := newTestFS(t, root)
	p := filepath.Join(root, "f")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fh, _, err := fs.Lookup(ctx, &fsadapters.Root, fs.Root(), "f")
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.SetXattr(ctx, &fsadapters.Root, fh, "k", []byte("v"), fsadapters.XattrEither); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := unix.Getxattr(p, "user.k", buf); err != nil || string(buf[:n]) != "v" {
		t.Fatalf("user.k: %q %v", buf[:max(n, 0)], err)
	}
	for _, kv := range [][2]string{{"user.local", "l"}, {"trusted.t", "t"}} {
		if err := unix.Setxattr(p, kv[0], []byte(kv[1]), 0); err != nil {
			t.Fatal(err)
		}
	}
	if names, err := fs.ListXattrs(ctx, &fsadapters.Root, fh); err != nil || !slices.Equal(names, []string{"k", "local"}) {
		t.Fatalf("ListXattrs: %q %v", names, err)
	}
	if _, err := fs.GetXattr(ctx, &fsadapters.Root, fh, "trusted.t"); !errors.Is(err, unix.ENODATA) {
		t.Fatalf("GetXattr trusted.t (user.trusted.t): %v", err)
	}
	// The root directory carries the handle key in trusted.*; it must
	// not show.
	if names, err := fs.ListXattrs(ctx, &fsadapters.Root, fs.Root()); err != nil || len(names) != 0 {
		t.Fatalf("ListXattrs of the root: %q %v", names, err)
	}
	// A FIFO is reached without opening it (an open would block).
	if err := unix.Mkfifo(filepath.Join(root, "p"), 0o666); err != nil {
		t.Fatal(err)
	}
	pfh, _, err := fs.Lookup(ctx, &fsadapters.Root, fs.Root(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.SetXattr(ctx, &fsadapters.Root, pfh, "k", nil, fsadapters.XattrEither); !errors.Is(err, unix.EPERM) {
		t.Fatalf("SetXattr on a FIFO: %v", err)
	}
}
