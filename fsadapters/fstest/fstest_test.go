package fstest_test

import (
	"context"
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/fstest"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"golang.org/x/sys/unix"
)

// roFS is a read-only view of a backend, to exercise RunReadOnly.
type roFS struct{ fsadapters.FS }

func (r roFS) Caps() fsadapters.Caps { c := r.FS.Caps(); c.ReadOnly = true; return c }
func (roFS) SetAttr(context.Context, *fsadapters.Cred, fsadapters.FileHandle, *fsadapters.SetAttr) (fsadapters.Attr, error) {
	return fsadapters.Attr{}, unix.EROFS
}
func (r roFS) Open(ctx context.Context, c *fsadapters.Cred, fh fsadapters.FileHandle, fl fsadapters.OpenFlags) (fsadapters.File, error) {
	if fl&fsadapters.OpenWrite != 0 {
		return nil, unix.EROFS
	}
	return r.FS.Open(ctx, c, fh, fl)
}
func (roFS) Create(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, *fsadapters.CreateReq) (fsadapters.FileHandle, fsadapters.Attr, bool, error) {
	return nil, fsadapters.Attr{}, false, unix.EROFS
}
func (roFS) Mkdir(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	return nil, fsadapters.Attr{}, unix.EROFS
}
func (roFS) Symlink(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, string, *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	return nil, fsadapters.Attr{}, unix.EROFS
}
func (roFS) Mknod(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, fsadapters.FileType, uint32, uint32, *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	return nil, fsadapters.Attr{}, unix.EROFS
}
func (roFS) Link(context.Context, *fsadapters.Cred, fsadapters.FileHandle, fsadapters.FileHandle, string) error {
	return unix.EROFS
}
func (roFS) Remove(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string) error {
	return unix.EROFS
}
func (roFS) Rename(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, fsadapters.FileHandle, string, bool) error {
	return unix.EROFS
}

func populated(t *testing.T) *mem.FS {
	fs := mem.New()
	ctx := t.Context()
	sa := fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o644}
	if _, _, _, err := fs.Create(ctx, &fsadapters.Root, fs.Root(), "file", &fsadapters.CreateReq{Attrs: sa}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fs.Mkdir(ctx, &fsadapters.Root, fs.Root(), "dir", &sa); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestRunReadOnly(t *testing.T) {
	fstest.RunReadOnly(t, func(t *testing.T) fsadapters.FS { return roFS{populated(t)} })
}
