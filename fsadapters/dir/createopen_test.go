package dir

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// CreateOpen hands back the descriptor the file was created with: usable
// for the access asked even when the final mode forbids it, with the
// owner and mode of a plain Create. No File for an existing file, nor for
// an EXCLUSIVE create opened read-only (O_TMPFILE needs write access).
func TestCreateOpen(t *testing.T) {
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	fs := newTestFS(t, export)
	rw := fsadapters.OpenRead | fsadapters.OpenWrite
	for _, mode := range []fsadapters.CreateMode{fsadapters.CreateGuarded, fsadapters.CreateUnchecked, fsadapters.CreateExclusive} {
		name := []string{"unchecked", "guarded", "exclusive"}[mode]
		req := &fsadapters.CreateReq{Mode: mode, Verf: fsadapters.CreateVerf{7},
			Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o444}}
		fh, a, created, f, err := fs.CreateOpen(ctx, user, fs.Root(), name, req, rw)
		if err != nil || !created || f == nil {
			t.Fatalf("%s: created %v, file %v, %v", name, created, f, err)
		}
		if a.Mode != 0o444 || a.UID != user.UID || a.GID != user.GID || a.Type != fsadapters.TypeRegular {
			t.Errorf("%s: attributes %+v", name, a)
		}
		if n, err := f.WriteAt([]byte("data"), 0, false); n != 4 || err != nil {
			t.Errorf("%s: write through the created file: %d, %v", name, n, err)
		}
		buf := make([]byte, 8)
		if n, _, err := f.ReadAt(buf, 0); n != 4 || err != nil || string(buf[:4]) != "data" {
			t.Errorf("%s: read back %q, %v", name, buf[:n], err)
		}
		f.Close()
		if _, err := fs.Open(ctx, user, fh, fsadapters.OpenWrite); !errors.Is(err, unix.EACCES) {
			t.Errorf("%s: a later write open by the owner of a 0444 file: %v", name, err)
		}
		fi, err := os.Stat(filepath.Join(export, name))
		if err != nil || fi.Size() != 4 || fi.Mode().Perm() != 0o444 || fi.Sys().(*syscall.Stat_t).Uid != user.UID {
			t.Errorf("%s on disk: %v %v", name, fi, err)
		}
		// Again: an existing file (or EEXIST) and never a File.
		_, _, created, f, err = fs.CreateOpen(ctx, user, fs.Root(), name, req, rw)
		if created || f != nil || (mode == fsadapters.CreateGuarded) != errors.Is(err, unix.EEXIST) {
			t.Errorf("%s of an existing name: created %v, file %v, %v", name, created, f, err)
		}
	}
	// EXCLUSIVE read-only: made, but no File.
	req := &fsadapters.CreateReq{Mode: fsadapters.CreateExclusive, Verf: fsadapters.CreateVerf{8}}
	_, _, created, f, err := fs.CreateOpen(ctx, user, fs.Root(), "exro", req, fsadapters.OpenRead)
	if err != nil || !created || f != nil {
		t.Fatalf("read-only EXCLUSIVE: created %v, file %v, %v", created, f, err)
	}
	// Write-only and read-only UNCHECKED: the descriptor's access is what
	// was asked.
	for _, tc := range []struct {
		flags fsadapters.OpenFlags
		acc   int
	}{{fsadapters.OpenWrite, unix.O_WRONLY}, {fsadapters.OpenRead, unix.O_RDONLY}} {
		name := "acc" + string(rune('0'+tc.flags))
		_, _, _, f, err := fs.CreateOpen(ctx, user, fs.Root(), name, &fsadapters.CreateReq{Mode: fsadapters.CreateGuarded}, tc.flags)
		if err != nil || f == nil {
			t.Fatalf("%s: %v", name, err)
		}
		fl, err := unix.FcntlInt(uintptr(f.(*File).fd), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_ACCMODE != tc.acc {
			t.Errorf("%s: flags %#o, %v", name, fl, err)
		}
		f.Close()
	}
}
