package mount

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSetattrBehind: tar's end of a file (futimens, fchown, fchmod after
// its writes) under a write delegation sends nothing until close, then
// one PUTFH WRITE SETATTR GETATTR; fstat in between shows the new
// attributes; the server ends up with them. A set-user-ID mode and a
// file this open did not create go to the server at once.
func TestSetattrBehind(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (fchown)")
	}
	addr, export, cnt := serveCountT(t)
	mnt, _, _ := mountOptsT(t, addr, "setattr-behind", Options{GatherDelay: time.Hour})
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)

	p := filepath.Join(mnt, "tarred")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	_, n0 := cnt.since(0)
	data := randData(3 * 10240)
	writePieces(t, f, data, 10240)
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(int(f.Fd()), "", ts, unix.AT_EMPTY_PATH); err != nil {
		t.Skipf("futimens by descriptor: %v", err)
	}
	if err := f.Chown(1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o640); err != nil {
		t.Fatal(err)
	}
	check := func(where string, fi os.FileInfo) {
		t.Helper()
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o640 || st.Uid != 1234 || st.Gid != 5678 || !fi.ModTime().Equal(mtime) || fi.Size() != int64(len(data)) {
			t.Errorf("%s: mode %v uid %d gid %d mtime %v size %d; want 0640 1234 5678 %v %d",
				where, fi.Mode(), st.Uid, st.Gid, fi.ModTime(), fi.Size(), mtime, len(data))
		}
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	check("fstat before close", fi)
	if seen, _ := cnt.since(n0); countOps(seen, "SETATTR") != 0 || countOps(seen, "WRITE") != 0 {
		t.Errorf("before close: %q, want the writes and attribute changes held back", seen)
	}
	seen := closeReleased(t, f, cnt, n0)
	if !slices.Contains(seen, "PUTFH WRITE SETATTR GETATTR") || countOps(seen, "SETATTR") != 1 || countOps(seen, "WRITE") != 1 {
		t.Errorf("after close: %q, want one PUTFH WRITE SETATTR GETATTR", seen)
	}
	if fi, err = os.Stat(filepath.Join(export, "tarred")); err != nil {
		t.Fatal(err)
	}
	check("on the server", fi)
	if got := readFile(t, filepath.Join(export, "tarred")); !bytes.Equal(got, data) {
		t.Errorf("server has %d bytes, not the %d written", len(got), len(data))
	}
	if fi, err = os.Stat(p); err != nil {
		t.Fatal(err)
	}
	check("through the mount after close", fi)

	// A write after the deferred times moves the modification time again
	// (it waits for them, so the server applies them in that order).
	k, err := os.Create(filepath.Join(mnt, "rewritten"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Write(randData(10240)); err != nil {
		t.Fatal(err)
	}
	if err := unix.UtimesNanoAt(int(k.Fd()), "", ts, unix.AT_EMPTY_PATH); err != nil {
		t.Fatal(err)
	}
	if _, err := k.WriteAt([]byte("again"), 20480); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(export, "rewritten")); err != nil || fi.ModTime().Equal(mtime) {
		t.Errorf("server's mtime after write, futimens, write: %v, %v; want the last write's", fi, err)
	}

	// Sent at once: a mode with the set-user-ID bit, and a change
	// through an open that did not create the file.
	sentNow := func(name string, f *os.File, change func() error) {
		t.Helper()
		if _, err := f.Write([]byte("some data")); err != nil {
			t.Fatal(err)
		}
		_, n := cnt.since(0)
		if err := change(); err != nil {
			t.Fatal(err)
		}
		if seen, _ := cnt.since(n); countOps(seen, "SETATTR") != 1 {
			t.Errorf("%s: %q, want the SETATTR sent before the call returns", name, seen)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	g, err := os.Create(filepath.Join(mnt, "suid"))
	if err != nil {
		t.Fatal(err)
	}
	sentNow("chmod 04755", g, func() error { return g.Chmod(0o4755 | os.ModeSetuid) })
	if fi, err := os.Stat(filepath.Join(export, "suid")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("server's suid file: %v, %v", fi, err)
	}
	h, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	sentNow("chmod through a second open", h, func() error { return h.Chmod(0o600) })
	if fi, err := os.Stat(filepath.Join(export, "tarred")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("server's file after the second chmod: %v, %v", fi, err)
	}
}
