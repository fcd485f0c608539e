package dir

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// The "local process" of these tests is a child (sh): fanotify events of
// this process are fs_serv's own and are dropped by design.

func watchOrSkip(t *testing.T, fs *FS, fh fsadapters.FileHandle, write bool) (<-chan fsadapters.Change, func()) {
	t.Helper()
	ch := make(chan fsadapters.Change, 64)
	cancel, err := fs.Watch(fh, write, func(c fsadapters.Change) {
		select {
		case ch <- c:
		default:
		}
	})
	if errors.Is(err, fsadapters.ErrWatchUnavailable) {
		t.Skipf("fanotify unavailable: %v", err)
	}
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(cancel)
	return ch, cancel
}

func sh(t *testing.T, dir, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh -c %q: %v: %s", script, err, out)
	}
}

func expectChange(t *testing.T, ch <-chan fsadapters.Change, want fsadapters.Change, what string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("%s: change %v, want %v", what, got, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("%s: no change reported", what)
	}
}

func expectQuiet(t *testing.T, ch <-chan fsadapters.Change, what string) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("%s: unexpected change %v", what, got)
	case <-time.After(300 * time.Millisecond):
	}
}

func newWatchFile(t *testing.T) (*FS, string, fsadapters.FileHandle) {
	t.Helper()
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "f"), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := newTestFS(t, d)
	fh, _ := mustLookup(t, fs, fs.Root(), "f")
	return fs, d, fh
}

// Each local change to a watched file is reported as ChangeModify. In
// fd mode (no FAN_REPORT_FID) only data changes are.
func TestWatchLocalChanges(t *testing.T) {
	for _, fdMode := range []bool{false, true} {
		for _, tc := range []struct {
			name, script string
			needFID      bool
		}{
			{"append", "echo more >> f", false},
			{"truncate", ": > f", false},
			{"chmod", "chmod 600 f", true},
			{"touch", "touch -m -d @1000 f", false}, // fd mode: touch opens for write
			{"rename", "mv f g", true},
			{"rename over", "echo x > g && mv g f", true},
			{"unlink", "rm f", true},
		} {
			name := tc.name
			if fdMode {
				name += " fd mode"
			}
			t.Run(name, func(t *testing.T) {
				testNoFID = fdMode
				defer func() { testNoFID = false }()
				fs, d, fh := newWatchFile(t)
				ch, _ := watchOrSkip(t, fs, fh, false)
				if w := fs.watcher(); w.fid == fdMode {
					t.Fatalf("FID mode %v, want %v", w.fid, !fdMode)
				}
				sh(t, d, tc.script)
				if fdMode && tc.needFID {
					expectQuiet(t, ch, tc.script+" (not detectable in fd mode)")
					return
				}
				expectChange(t, ch, fsadapters.ChangeModify, tc.script)
			})
		}
	}
}

// Reads by local processes matter only to write watches; our own I/O and
// changes after cancel are never reported.
func TestWatchAccessOwnPidCancel(t *testing.T) {
	fs, d, fh := newWatchFile(t)
	p := filepath.Join(d, "f")
	rch, rcancel := watchOrSkip(t, fs, fh, false)
	wch, wcancel := watchOrSkip(t, fs, fh, true)

	// Our own process: nothing, whatever we do (fs_serv's own I/O).
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("own\n")
	f.Read(make([]byte, 10))
	f.Close()
	os.Chmod(p, 0o640)
	expectQuiet(t, rch, "own write (read watch)")
	expectQuiet(t, wch, "own write (write watch)")

	// Through the backend too (an NFS WRITE).
	of, err := fs.Open(ctx, root, fh, fsadapters.OpenRead|fsadapters.OpenWrite)
	if err != nil {
		t.Fatal(err)
	}
	of.WriteAt([]byte("nfs"), 0, false)
	of.ReadAt(make([]byte, 3), 0)
	of.Close()
	expectQuiet(t, wch, "backend write")

	sh(t, d, "cat f > /dev/null")
	expectChange(t, wch, fsadapters.ChangeAccess, "local read (write watch)")
	expectQuiet(t, rch, "local read (read watch)")

	// Without the write watch, reads are no longer even marked.
	wcancel()
	wcancel() // idempotent
	drain(wch)
	sh(t, d, "cat f > /dev/null")
	expectQuiet(t, wch, "local read after cancel")
	expectQuiet(t, rch, "local read after the write watch's cancel")
	sh(t, d, "echo x >> f")
	expectChange(t, rch, fsadapters.ChangeModify, "local write")
	expectQuiet(t, wch, "local write after cancel")

	rcancel()
	drain(rch)
	sh(t, d, "echo y >> f")
	expectQuiet(t, rch, "local write after cancel")
	if n := marks(t, fs); n != 0 {
		t.Fatalf("%d fanotify marks left after all cancels", n)
	}
}

func drain(ch <-chan fsadapters.Change) {
	for {
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// marks counts the inode marks of fs's fanotify group (fdinfo(5)).
func marks(t *testing.T, fs *FS) int {
	t.Helper()
	w := fs.watcher()
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(w.fd))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "fanotify ino:")
}

// Two watches of one file share a mark; Close ends the reader and the
// group, and a watch's cancel after Close is harmless.
func TestWatchSharedAndClose(t *testing.T) {
	fs, d, fh := newWatchFile(t)
	ch1, _ := watchOrSkip(t, fs, fh, false)
	ch2, cancel2 := watchOrSkip(t, fs, fh, false)
	if n := marks(t, fs); n != 1 {
		t.Fatalf("%d marks for one file, want 1", n)
	}
	sh(t, d, "echo x >> f")
	expectChange(t, ch1, fsadapters.ChangeModify, "first watch")
	expectChange(t, ch2, fsadapters.ChangeModify, "second watch")
	cancel2()
	drain(ch1)
	drain(ch2)
	sh(t, d, "chmod 600 f")
	expectChange(t, ch1, fsadapters.ChangeModify, "remaining watch")
	expectQuiet(t, ch2, "cancelled watch")

	w := fs.watcher()
	fs.Close()
	select {
	case <-w.done:
	case <-time.After(2 * time.Second):
		t.Fatal("reader still running after Close")
	}
	// The group's fd is closed (its number may have been reused since).
	if l, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(w.fd)); err == nil && strings.Contains(l, "fanotify") {
		t.Fatalf("fanotify group still open after Close: %s", l)
	}
	drain(ch1)
	sh(t, d, "echo z >> f")
	expectQuiet(t, ch1, "after Close")
}

// A watch of something other than a regular file or a directory is
// refused (directories: watchdir_test.go).
func TestWatchNonRegular(t *testing.T) {
	fs, d, _ := newWatchFile(t)
	if err := os.Symlink("f", filepath.Join(d, "l")); err != nil {
		t.Fatal(err)
	}
	lh, _ := mustLookup(t, fs, fs.Root(), "l")
	_, err := fs.Watch(lh, false, func(fsadapters.Change) {})
	if errors.Is(err, fsadapters.ErrWatchUnavailable) {
		t.Skip(err)
	}
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("Watch(symlink): %v, want EINVAL", err)
	}
	if _, err := fs.Watch(fsadapters.FileHandle("garbage-handle-bytes"), false, func(fsadapters.Change) {}); !errors.Is(err, fsadapters.ErrBadHandle) {
		t.Fatalf("Watch(garbage): %v, want ErrBadHandle", err)
	}
}
