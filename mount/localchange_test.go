package mount

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// End to end: a change made on the export by a local process on the
// server host recalls the mount's delegation (fs_serv's dir backend
// watches delegated files with fanotify), so the mount sees it at once
// instead of after DelegTimeout. The local process is a child: changes by
// this process are fs_serv's own and recall nothing.

func localShT(t *testing.T, dir, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh -c %q: %v: %s", script, err, out)
	}
}

// eventually polls cond for up to 3 s.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func TestLocalChangeRecallsMountDeleg(t *testing.T) {
	addr, export, cnt := serveCountT(t)
	for _, n := range []string{"f", "m"} {
		if err := os.WriteFile(filepath.Join(export, n), []byte("one\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, fsysB, _ := mountOptsT(t, addr, "client-b", Options{})
	pf, pm := filepath.Join(b, "f"), filepath.Join(b, "m")

	t.Run("append", func(t *testing.T) {
		if got := string(readFile(t, pf)); got != "one\n" {
			t.Fatalf("read %q", got)
		}
		fh, err := fsysB.C.LookupPath(context.Background(), "f")
		if err != nil {
			t.Fatal(err)
		}
		if !holdsDeleg(fsysB, fh, true) {
			t.Fatal("no read delegation")
		}
		f, err := os.Open(pf)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		returns := cnt.delegReturn.Load()

		localShT(t, export, "echo two >> f")
		if !eventually(func() bool { return cnt.delegReturn.Load() > returns }) {
			t.Fatal("no DELEGRETURN after a local change: the delegation was not recalled")
		}
		if !holdsDeleg(fsysB, fh, false) {
			t.Fatal("delegation still held after the recall")
		}
		// No attribute timeout to wait for: the recall invalidated the
		// mount's caches (DelegTimeout would otherwise be an hour).
		if got := string(readFile(t, pf)); got != "one\ntwo\n" {
			t.Fatalf("read after the local append: %q", got)
		}
		buf := make([]byte, 64)
		if n, _ := f.ReadAt(buf, 0); string(buf[:n]) != "one\ntwo\n" {
			t.Fatalf("open file after the local append: %q", buf[:n])
		}
	})

	t.Run("chmod", func(t *testing.T) {
		readFile(t, pm)
		fh, err := fsysB.C.LookupPath(context.Background(), "m")
		if err != nil {
			t.Fatal(err)
		}
		if !holdsDeleg(fsysB, fh, true) {
			t.Fatal("no read delegation")
		}
		if st, err := os.Stat(pm); err != nil || st.Mode().Perm() != 0o644 {
			t.Fatalf("stat: %v %v", st, err)
		}
		localShT(t, export, "chmod 600 m")
		if !eventually(func() bool {
			st, err := os.Stat(pm)
			return err == nil && st.Mode().Perm() == 0o600
		}) {
			st, _ := os.Stat(pm)
			t.Fatalf("mode through the mount still %v after a local chmod", st.Mode())
		}
	})
}
