package mount

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/internal/testbin"
)

// Byte-range locks across a server restart (nfs4client lockreclaim.go,
// lock.go resync): reclaimed when the mount comes back in the grace period,
// reported as EIO when it cannot.

func needFuseRoot(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
}

// lockServer runs fs_serv with a short lease and grace period on port
// ("0": any) and the test's state directory, so a restart is reclaimable.
func lockServer(t *testing.T, port, export string) *testbin.Server {
	return testbin.StartFsServ(t, "-p", port, "--listen", "127.0.0.1", "--lease", "2s", "--grace", "4s", export)
}

// mountLockT mounts addr like mountAtT, but returns the unmount for the
// test to defer: it must run while the restarted server is still up (its
// cleanup runs before mountAtT's), since the kernel's RELEASE of the
// closed files, which unmounting waits for, still CLOSEs on the server.
func mountLockT(t *testing.T, addr, machine string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tgt := Target{Addr: addr}
	c, root, err := Connect(ctx, tgt, machine)
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	fuseSrv, err := Mount(mnt, &FS{C: c, Root: root}, tgt.String())
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	return mnt, func() {
		if err := fuseSrv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	}
}

// pastBootSecond: see client/nfs4client/lockreclaim_test.go (fs_serv's
// boot epoch is a Unix second; a restart within it reuses client IDs).
func pastBootSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
}

// openRW opens p read-write; the caller closes it (deferred, so before
// the cleanups kill the restarted server: a close flushes through it).
func openRW(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestLockReclaimedAfterRestart: a process holds an fcntl write lock
// through a mount; fs_serv is killed (-9) and restarted. The mount reclaims
// the lock in the grace period: another client still cannot take it, the
// holder can extend it and unlock, and then the other client can.
func TestLockReclaimedAfterRestart(t *testing.T) {
	needFuseRoot(t)
	export := t.TempDir()
	srv := lockServer(t, "0", export)
	_, port, _ := net.SplitHostPort(srv.Addr)
	a, unmountA := mountLockT(t, srv.Addr, "holder")
	defer unmountA()
	b, unmountB := mountLockT(t, srv.Addr, "checker")
	defer unmountB()
	if err := os.WriteFile(filepath.Join(a, "f"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	fa, fb := openRW(t, filepath.Join(a, "f")), openRW(t, filepath.Join(b, "f"))
	defer fa.Close()
	defer fb.Close()
	if err := setlk(fa, unix.F_SETLK, unix.F_WRLCK, 0, 100); err != nil {
		t.Fatalf("holder lock: %v", err)
	}
	if err := setlk(fb, unix.F_SETLK, unix.F_WRLCK, 10, 1); !isBusy(err) {
		t.Fatalf("other client before the restart: %v, want EAGAIN", err)
	}

	pastBootSecond()
	srv.Kill()
	srv = lockServer(t, port, export)
	// The holder's mount notices the restart on its next request (or
	// lease renewal) and recovers, reclaiming the lock.
	within(t, 20*time.Second, "write through the holder after the restart", func() error {
		return os.WriteFile(filepath.Join(a, "poke"), []byte("x"), 0o644)
	})
	within(t, 30*time.Second, "other client's lock after the restart", func() error {
		if err := setlk(fb, unix.F_SETLK, unix.F_WRLCK, 10, 1); !isBusy(err) {
			t.Errorf("other client after the restart: %v, want EAGAIN (lock not reclaimed?)", err)
		}
		return nil
	})
	fl := unix.Flock_t{Type: unix.F_WRLCK, Start: 0, Len: 1}
	if err := unix.FcntlFlock(fb.Fd(), unix.F_GETLK, &fl); err != nil || fl.Type != unix.F_WRLCK {
		t.Errorf("F_GETLK by the other client: type %d, %v; want the holder's write lock", fl.Type, err)
	}
	// The holder goes on with its reclaimed lock stateid.
	within(t, 20*time.Second, "holder extends its lock", func() error {
		return setlk(fa, unix.F_SETLK, unix.F_WRLCK, 100, 100)
	})
	if err := setlk(fb, unix.F_SETLK, unix.F_WRLCK, 150, 1); !isBusy(err) {
		t.Errorf("other client on the extension: %v, want EAGAIN", err)
	}
	within(t, 20*time.Second, "holder unlocks", func() error {
		return setlk(fa, unix.F_SETLK, unix.F_UNLCK, 0, 0)
	})
	within(t, 20*time.Second, "other client after the unlock", func() error {
		return setlk(fb, unix.F_SETLK, unix.F_WRLCK, 0, 0)
	})
	if err := setlk(fa, unix.F_SETLK, unix.F_WRLCK, 0, 1); !isBusy(err) {
		t.Errorf("holder after the other client locked: %v, want EAGAIN", err)
	}
}

// gateProxy forwards TCP connections to a backend; closed, it stops
// listening (connections are refused) and cuts what it carried.
type gateProxy struct {
	addr, backend string
	mu            sync.Mutex
	l             net.Listener
	conns         []net.Conn
}

func newGateProxy(t *testing.T, backend string) *gateProxy {
	p := &gateProxy{addr: "127.0.0.1:0", backend: backend}
	p.open(t)
	t.Cleanup(p.close)
	return p
}

func (p *gateProxy) open(t *testing.T) {
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.l, p.addr = l, l.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.backend)
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
}

func (p *gateProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestLockLostAfterRestart: the holder's mount cannot reach the restarted
// server until its grace period is over, so its lock cannot be reclaimed
// and another client takes the range. The holder's next lock call gets
// EIO (the lock is lost), the one after that is an ordinary conflict, and
// the file itself keeps working.
func TestLockLostAfterRestart(t *testing.T) {
	needFuseRoot(t)
	export := t.TempDir()
	srv := lockServer(t, "0", export)
	_, port, _ := net.SplitHostPort(srv.Addr)
	proxy := newGateProxy(t, srv.Addr)
	a, unmountA := mountLockT(t, proxy.addr, "holder")
	defer unmountA()
	b, unmountB := mountLockT(t, srv.Addr, "checker")
	defer unmountB()
	if err := os.WriteFile(filepath.Join(a, "f"), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	fa, fb := openRW(t, filepath.Join(a, "f")), openRW(t, filepath.Join(b, "f"))
	defer fa.Close()
	defer fb.Close()
	if err := setlk(fa, unix.F_SETLK, unix.F_WRLCK, 0, 100); err != nil {
		t.Fatalf("holder lock: %v", err)
	}

	proxy.close()
	pastBootSecond()
	srv.Kill()
	srv = lockServer(t, port, export)
	// The grace period (4 s) ends without the holder; then the other
	// client gets the lock.
	within(t, 30*time.Second, "other client's lock after the grace period", func() error {
		for {
			err := setlk(fb, unix.F_SETLK, unix.F_WRLCK, 0, 100)
			if !isBusy(err) {
				return err
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	proxy.open(t)
	within(t, 30*time.Second, "holder's lock call after the loss", func() error {
		if err := setlk(fa, unix.F_SETLK, unix.F_WRLCK, 0, 100); !errors.Is(err, unix.EIO) {
			t.Errorf("holder's first lock call after the loss: %v, want EIO", err)
		}
		return nil
	})
	if err := setlk(fa, unix.F_SETLK, unix.F_WRLCK, 0, 100); !isBusy(err) {
		t.Errorf("holder's next lock call: %v, want EAGAIN (the other client holds it)", err)
	}
	buf := make([]byte, 7)
	if _, err := fa.ReadAt(buf, 0); err != nil || string(buf) != "content" {
		t.Errorf("read through the holder's descriptor: %q, %v", buf, err)
	}
	if err := setlk(fb, unix.F_SETLK, unix.F_UNLCK, 0, 0); err != nil {
		t.Fatal(err)
	}
	within(t, 20*time.Second, "holder locks again", func() error {
		return setlk(fa, unix.F_SETLK, unix.F_WRLCK, 0, 100)
	})
}
