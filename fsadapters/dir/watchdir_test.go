package dir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Directory watches (directory delegations, RFC 8881 §10.9): changes of
// the entries or of the directory itself by a local process.

// newWatchDir makes an export with a directory sub holding a file x, and
// a file f at the top.
func newWatchDir(t *testing.T) (*FS, string, fsadapters.FileHandle) {
	t.Helper()
	d := t.TempDir()
	if err := os.Mkdir(filepath.Join(d, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"f", "sub/x"} {
		if err := os.WriteFile(filepath.Join(d, n), []byte("data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := newTestFS(t, d)
	fh, _ := mustLookup(t, fs, fs.Root(), "sub")
	return fs, d, fh
}

func TestWatchDirEntryChanges(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"create", "touch sub/new"},
		{"mkdir", "mkdir sub/d"},
		{"unlink", "rm sub/x"},
		{"move in", "mv f sub/f"},
		{"move out", "mv sub/x x"},
		{"rename inside", "mv sub/x sub/y"},
		{"link in", "ln f sub/l"},
		{"chmod dir", "chmod 700 sub"},
		{"rename dir", "mv sub sub2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, d, fh := newWatchDir(t)
			ch, _ := watchOrSkip(t, fs, fh, false)
			sh(t, d, tc.script)
			expectChange(t, ch, fsadapters.ChangeModify, tc.script)
		})
	}
}

// Changes inside a child, our own changes and changes after cancel are not
// reported; the mark goes with the last cancel.
func TestWatchDirQuiet(t *testing.T) {
	fs, d, fh := newWatchDir(t)
	ch, cancel := watchOrSkip(t, fs, fh, true) // write is meaningless for a directory
	sh(t, d, "echo more >> sub/x; cat sub/x > /dev/null; ls sub > /dev/null")
	expectQuiet(t, ch, "write and read of a child, listing")
	if err := os.WriteFile(filepath.Join(d, "sub", "own"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(d, "sub", "x")); err != nil {
		t.Fatal(err)
	}
	expectQuiet(t, ch, "fs_serv's own create and unlink")
	if n := marks(t, fs); n != 1 {
		t.Fatalf("%d marks, want 1", n)
	}
	cancel()
	drain(ch)
	sh(t, d, "touch sub/later")
	expectQuiet(t, ch, "create after cancel")
	if n := marks(t, fs); n != 0 {
		t.Fatalf("%d marks left after cancel", n)
	}
}

// Without FID reporting entry events do not exist: directories are refused
// with ErrWatchNotSupported (not ErrWatchUnavailable, which would stop
// file delegations too), files still work.
func TestWatchDirFdModeRefused(t *testing.T) {
	testNoFID = true
	defer func() { testNoFID = false }()
	fs, _, fh := newWatchDir(t)
	_, err := fs.Watch(fh, false, func(fsadapters.Change) {})
	if errors.Is(err, fsadapters.ErrWatchUnavailable) {
		t.Skip(err)
	}
	if !errors.Is(err, fsadapters.ErrWatchNotSupported) {
		t.Fatalf("Watch(dir) in fd mode: %v, want ErrWatchNotSupported", err)
	}
	f, _ := mustLookup(t, fs, fs.Root(), "f")
	watchOrSkip(t, fs, f, false)
}
