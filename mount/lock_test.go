package mount

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func setlk(f *os.File, cmd int, typ int16, start, length int64) error {
	fl := unix.Flock_t{Type: typ, Start: start, Len: length}
	return unix.FcntlFlock(f.Fd(), cmd, &fl)
}

func isBusy(err error) bool { return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) }

// TestLocksAcrossClients: two mounts of one server are two NFS clients;
// fcntl and flock locks taken through one exclude the other, F_GETLK
// reports the holder's range, F_SETLKW waits for the unlock, close(2)
// releases, and a process on the server host takes part too.
func TestLocksAcrossClients(t *testing.T) {
	addr, export := serveT(t)
	a := mountAtT(t, addr, "client-a")
	b := mountAtT(t, addr, "client-b")
	if err := os.WriteFile(filepath.Join(a, "f"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	open := func(dir string) *os.File {
		f, err := os.OpenFile(filepath.Join(dir, "f"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	fa, fb := open(a), open(b)

	// fcntl: A write-locks [100, 200); B cannot lock inside, can outside.
	if err := setlk(fa, unix.F_SETLK, unix.F_WRLCK, 100, 100); err != nil {
		t.Fatalf("F_SETLK on A: %v", err)
	}
	if err := setlk(fb, unix.F_SETLK, unix.F_RDLCK, 150, 1); !isBusy(err) {
		t.Fatalf("F_SETLK on B inside A's lock: %v, want EAGAIN", err)
	}
	if err := setlk(fb, unix.F_SETLK, unix.F_WRLCK, 300, 10); err != nil {
		t.Fatalf("F_SETLK on B outside A's lock: %v", err)
	}
	fl := unix.Flock_t{Type: unix.F_WRLCK, Start: 0, Len: 0}
	if err := unix.FcntlFlock(fb.Fd(), unix.F_GETLK, &fl); err != nil {
		t.Fatalf("F_GETLK on B: %v", err)
	}
	if fl.Type != unix.F_WRLCK || fl.Start != 100 || fl.Len != 100 {
		t.Errorf("F_GETLK on B = type %d [%d,+%d), want A's write lock [100,+100)", fl.Type, fl.Start, fl.Len)
	}
	// A process on the server host sees A's lock and B's.
	local, err := os.OpenFile(filepath.Join(export, "f"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if err := setlk(local, unix.F_OFD_SETLK, unix.F_WRLCK, 120, 1); !isBusy(err) {
		t.Fatalf("local lock inside A's lock: %v, want EAGAIN", err)
	}
	if err := setlk(local, unix.F_OFD_SETLK, unix.F_WRLCK, 305, 1); !isBusy(err) {
		t.Fatalf("local lock inside B's lock: %v, want EAGAIN", err)
	}
	// F_SETLKW on B waits until A unlocks.
	got := make(chan error, 1)
	go func() { got <- setlk(fb, unix.F_SETLKW, unix.F_WRLCK, 100, 10) }()
	select {
	case err := <-got:
		t.Fatalf("F_SETLKW on B returned (%v) while A holds the lock", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := setlk(fa, unix.F_SETLK, unix.F_UNLCK, 0, 0); err != nil {
		t.Fatalf("unlock on A: %v", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("F_SETLKW on B after A's unlock: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("F_SETLKW on B still waiting 5 s after A unlocked")
	}
	// close(2) on B drops B's locks: A can take everything.
	fb.Close()
	if err := setlk(fa, unix.F_SETLK, unix.F_WRLCK, 0, 0); err != nil {
		t.Fatalf("A locking the whole file after B closed: %v", err)
	}
	setlk(fa, unix.F_SETLK, unix.F_UNLCK, 0, 0)

	// A local process's lock blocks the client.
	if err := setlk(local, unix.F_OFD_SETLK, unix.F_RDLCK, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := setlk(fa, unix.F_SETLK, unix.F_WRLCK, 5, 1); !isBusy(err) {
		t.Fatalf("client lock over a local read lock: %v, want EAGAIN", err)
	}
	if err := setlk(fa, unix.F_SETLK, unix.F_RDLCK, 5, 1); err != nil {
		t.Fatalf("client read lock beside a local read lock: %v", err)
	}
	setlk(local, unix.F_OFD_SETLK, unix.F_UNLCK, 0, 0)
	setlk(fa, unix.F_SETLK, unix.F_UNLCK, 0, 0)

	// A separate process on the server host holding lockf(3) (a POSIX
	// lock) blocks the client until it exits. (Locks above use OFD locks in
	// this process: it also hosts the server, whose closes would drop a
	// POSIX lock of ours.)
	if py, err := exec.LookPath("python3"); err == nil {
		cmd := exec.Command(py, "-c", `import fcntl, sys
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX, 10, 0)
print("locked", flush=True)
sys.stdin.read()`, filepath.Join(export, "f"))
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line := make([]byte, 7)
		if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "locked\n" {
			t.Fatalf("lockf helper: %q %v", line, err)
		}
		if err := setlk(fa, unix.F_SETLK, unix.F_WRLCK, 0, 10); !isBusy(err) {
			t.Errorf("client lock over another process's lockf: %v, want EAGAIN", err)
		}
		stdin.Close()
		cmd.Wait()
		if err := setlk(fa, unix.F_SETLK, unix.F_WRLCK, 0, 10); err != nil {
			t.Errorf("client lock after the lockf process exited: %v", err)
		}
		setlk(fa, unix.F_SETLK, unix.F_UNLCK, 0, 0)
	}

	// flock: exclusive on A excludes B until A's descriptor closes.
	fb2 := open(b)
	if err := unix.Flock(int(fa.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("flock on A: %v", err)
	}
	if err := unix.Flock(int(fb2.Fd()), unix.LOCK_SH|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatalf("flock on B while A holds LOCK_EX: %v, want EWOULDBLOCK", err)
	}
	fa.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := unix.Flock(int(fb2.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flock on B 5 s after A closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
