package fsadapters_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
)

func TestCheckXattrAccess(t *testing.T) {
	user := &fsadapters.Cred{UID: 1000, GID: 1000}
	for _, tc := range []struct {
		typ   fsadapters.FileType
		mode  uint32
		uid   uint32
		write bool
		want  error
	}{
		{fsadapters.TypeRegular, 0o644, 0, false, nil},
		{fsadapters.TypeRegular, 0o600, 0, false, unix.EACCES},
		{fsadapters.TypeRegular, 0o000, 1000, false, nil}, // the owner reads
		{fsadapters.TypeRegular, 0o644, 0, true, unix.EACCES},
		{fsadapters.TypeRegular, 0o666, 0, true, nil},
		{fsadapters.TypeRegular, 0o400, 1000, true, unix.EACCES},
		{fsadapters.TypeDir, 0o777, 0, true, nil},
		{fsadapters.TypeDir, 0o1777, 0, true, unix.EPERM}, // sticky: owner only
		{fsadapters.TypeDir, 0o1700, 1000, true, nil},
		{fsadapters.TypeSymlink, 0o777, 1000, false, unix.ENODATA},
		{fsadapters.TypeSymlink, 0o777, 1000, true, unix.EPERM},
		{fsadapters.TypeFIFO, 0o666, 0, true, unix.EPERM},
	} {
		a := &fsadapters.Attr{Type: tc.typ, Mode: tc.mode, UID: tc.uid, GID: tc.uid}
		if got := fsadapters.CheckXattrAccess(a, user, tc.write); got != tc.want {
			t.Errorf("%v %o uid %d write %v: %v, want %v", tc.typ, tc.mode, tc.uid, tc.write, got, tc.want)
		}
	}
	if err := fsadapters.CheckXattrAccess(&fsadapters.Attr{Type: fsadapters.TypeRegular}, &fsadapters.Root, true); err != nil {
		t.Errorf("root writing a 0000 file: %v", err)
	}
}

func TestCheckXattrName(t *testing.T) {
	for name, want := range map[string]error{
		"a": nil, "": unix.EINVAL, "a\x00b": unix.EINVAL,
		strings.Repeat("n", 250): nil, strings.Repeat("n", 251): unix.ENAMETOOLONG,
	} {
		if got := fsadapters.CheckXattrName(name); got != want {
			t.Errorf("CheckXattrName(%.10q…): %v, want %v", name, got, want)
		}
	}
}

// TestXattrerBackends runs the same checks on every backend with xattrs.
func TestXattrerBackends(t *testing.T) {
	for _, name := range []string{"mem", "dir"} {
		t.Run(name, func(t *testing.T) {
			var fs fsadapters.FS = mem.New()
			if name == "dir" {
				d, err := dir.New(t.TempDir(), dir.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				fs = d
			}
			testXattrer(t, fs)
		})
	}
}

func testXattrer(t *testing.T, fs fsadapters.FS) {
	ctx := context.Background()
	x := fs.(fsadapters.Xattrer)
	root := &fsadapters.Root
	user := &fsadapters.Cred{UID: 1000, GID: 1000}
	f, _, _, err := fs.Create(ctx, root, fs.Root(), "f", &fsadapters.CreateReq{
		Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o644}})
	if err != nil {
		t.Fatal(err)
	}
	is := func(err, want error, what string) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
	}
	_, err = x.GetXattr(ctx, root, f, "a")
	is(err, unix.ENODATA, "get missing")
	is(x.SetXattr(ctx, root, f, "a", []byte("v"), fsadapters.XattrReplace), unix.ENODATA, "replace missing")
	before, _ := fs.GetAttr(ctx, f)
	if err := x.SetXattr(ctx, root, f, "a", []byte("v1"), fsadapters.XattrCreate); err != nil {
		t.Fatal(err)
	}
	if after, _ := fs.GetAttr(ctx, f); after.Change == before.Change {
		t.Error("SetXattr did not move the change attribute")
	}
	is(x.SetXattr(ctx, root, f, "a", []byte("v2"), fsadapters.XattrCreate), unix.EEXIST, "create present")
	if err := x.SetXattr(ctx, root, f, "a", []byte("v2"), fsadapters.XattrReplace); err != nil {
		t.Fatal(err)
	}
	if err := x.SetXattr(ctx, root, f, "b", nil, fsadapters.XattrEither); err != nil {
		t.Fatal(err)
	}
	if v, err := x.GetXattr(ctx, user, f, "a"); err != nil || string(v) != "v2" {
		t.Fatalf("get a: %q %v", v, err)
	}
	if v, err := x.GetXattr(ctx, root, f, "b"); err != nil || len(v) != 0 {
		t.Fatalf("get b: %q %v", v, err)
	}
	if names, err := x.ListXattrs(ctx, user, f); err != nil || !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("list: %q %v", names, err)
	}
	is(x.SetXattr(ctx, user, f, "a", nil, fsadapters.XattrEither), unix.EACCES, "set by a non-writer")
	is(x.RemoveXattr(ctx, user, f, "a"), unix.EACCES, "remove by a non-writer")
	is(x.SetXattr(ctx, root, f, "big", make([]byte, fsadapters.MaxXattrSize+1), fsadapters.XattrEither), unix.E2BIG, "value over 64 KiB")
	is(x.SetXattr(ctx, root, f, "", nil, fsadapters.XattrEither), unix.EINVAL, "empty name")
	if err := x.RemoveXattr(ctx, root, f, "a"); err != nil {
		t.Fatal(err)
	}
	is(x.RemoveXattr(ctx, root, f, "a"), unix.ENODATA, "remove missing")
	if names, err := x.ListXattrs(ctx, root, f); err != nil || !slices.Equal(names, []string{"b"}) {
		t.Fatalf("list after remove: %q %v", names, err)
	}

	l, _, err := fs.Symlink(ctx, root, fs.Root(), "l", "f", &fsadapters.SetAttr{})
	if err != nil {
		t.Fatal(err)
	}
	is(x.SetXattr(ctx, root, l, "a", nil, fsadapters.XattrEither), unix.EPERM, "set on a symlink")
	_, err = x.GetXattr(ctx, root, l, "a")
	is(err, unix.ENODATA, "get on a symlink")
	if names, err := x.ListXattrs(ctx, root, l); err != nil || len(names) != 0 {
		t.Fatalf("list on a symlink: %q %v", names, err)
	}

	d, _, err := fs.Mkdir(ctx, root, fs.Root(), "d", &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o1777})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.SetXattr(ctx, root, d, "a", []byte("d"), fsadapters.XattrEither); err != nil {
		t.Fatal(err)
	}
	is(x.SetXattr(ctx, user, d, "a", nil, fsadapters.XattrEither), unix.EPERM, "set on another's sticky dir")
}
