package mount

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/internal/testbin"
)

// within runs fn and fails the test if it takes longer than d: a hung
// system call through the mount must fail the test, not wedge it.
func within(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, d)
	}
}

func randData(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestServerKilledAndRestarted: fs_serv is killed with SIGKILL in the
// middle of writing a file and started again on the same port. The mount
// recovers on its own (new session, files reopened), the open descriptor
// keeps working, data written UNSTABLE before the kill is sent again when
// the COMMIT verifier shows the restart, and fsync'd data is intact.
func TestServerKilledAndRestarted(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	export := t.TempDir()
	const lease = "3s"
	srv := testbin.StartFsServ(t, "-p", "0", "--listen", "127.0.0.1", "--lease", lease, export)
	_, port, _ := net.SplitHostPort(srv.Addr)
	// Unmounted at the end of the test, while the restarted server runs
	// (cleanups run last-in first-out: the new server's would go first, and
	// an unmount against a dead server waits out every request's timeout).
	mnt, _, unmount := mountOptsT(t, srv.Addr, "restart-test", Options{})

	f, err := os.OpenFile(filepath.Join(mnt, "big"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	part1, part2, part3 := randData(8<<20), randData(8<<20), randData(4<<20)
	within(t, 30*time.Second, "write+fsync part 1", func() error {
		if _, err := f.Write(part1); err != nil {
			return err
		}
		return f.Sync()
	})
	within(t, 30*time.Second, "write part 2 (unstable)", func() error {
		if _, err := f.Write(part2); err != nil {
			return err
		}
		// fstat waits until the server has answered the background
		// WRITEs (writebehind.go), without a COMMIT. Otherwise they could
		// still be in flight at the kill, and the restart below (an exec
		// from this process, whose implicit close of f waits for them)
		// would wait for them to time out.
		_, err := f.Stat()
		return err
	})

	srv.Kill()
	// fsync'd data is on disk whatever happened to the server.
	if got, err := os.ReadFile(filepath.Join(export, "big")); err != nil || !bytes.Equal(got[:len(part1)], part1) {
		t.Fatalf("fsync'd data not intact after kill -9: %v", err)
	}
	srv = testbin.StartFsServ(t, "-p", port, "--listen", "127.0.0.1", "--lease", lease, export)

	// The mount recovers within a lease: a stat works, the open
	// descriptor writes and syncs (resending part 2), reads back.
	within(t, 10*time.Second, "stat after restart", func() error {
		_, err := os.Stat(filepath.Join(mnt, "big"))
		return err
	})
	within(t, 30*time.Second, "write+fsync part 3 after restart", func() error {
		if _, err := f.Write(part3); err != nil {
			return err
		}
		return f.Sync()
	})
	want := append(append(append([]byte(nil), part1...), part2...), part3...)
	got, err := os.ReadFile(filepath.Join(export, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file on the server after recovery: %d bytes, want %d; equal prefix %d", len(got), len(want), commonPrefix(got, want))
	}
	within(t, 30*time.Second, "read back through the mount", func() error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		back, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		if !bytes.Equal(back, want) {
			t.Errorf("read back %d bytes, not what was written", len(back))
		}
		return nil
	})
	// New opens and creates work too.
	within(t, 10*time.Second, "create after restart", func() error {
		return os.WriteFile(filepath.Join(mnt, "new"), []byte("after restart\n"), 0o644)
	})
	f.Close()
	unmount()
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// cutProxy forwards TCP connections to a backend and can cut them all.
type cutProxy struct {
	l       net.Listener
	backend string
	mu      sync.Mutex
	conns   []net.Conn
}

func newCutProxy(t *testing.T, backend string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, backend: backend}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
	return p
}

// cut closes every proxied connection, as a NAT timeout or a broken link
// would.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestConnectionCut: the TCP connection is cut under an open file; the
// client dials again and carries on (same session: nothing to recover).
func TestConnectionCut(t *testing.T) {
	addr, export := serveT(t)
	proxy := newCutProxy(t, addr)
	mnt := mountAtT(t, proxy.l.Addr().String(), "cut-test")
	f, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, b := randData(1<<20), randData(1<<20)
	if _, err := f.Write(a); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		proxy.cut()
		within(t, 20*time.Second, "write after the cut", func() error {
			_, err := f.WriteAt(b, int64(len(a)))
			return err
		})
	}
	within(t, 20*time.Second, "fsync after the cuts", f.Sync)
	got, err := os.ReadFile(filepath.Join(export, "f"))
	if err != nil || !bytes.Equal(got, append(append([]byte(nil), a...), b...)) {
		t.Fatalf("content after connection cuts: %d bytes, %v", len(got), err)
	}
	within(t, 20*time.Second, "listing after the cuts", func() error {
		_, err := os.ReadDir(mnt)
		return err
	})
}
