package mount

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// writeGate holds the server's answers to COMPOUNDs with a WRITE while
// closed, so a test can see what the mount does meanwhile.
type writeGate struct {
	mu   sync.Mutex
	open chan struct{} // nil: WRITEs pass; else closed on release
	held atomic.Int64  // WRITE COMPOUNDs waiting at the gate
}

func (g *writeGate) shut() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *writeGate) release() {
	g.mu.Lock()
	if g.open != nil {
		close(g.open)
		g.open = nil
	}
	g.mu.Unlock()
}

// blocksUntilRelease runs call, fails the test if it returns while the
// gate holds WRITEs (300 ms), then releases them and returns call's error.
func (g *writeGate) blocksUntilRelease(t *testing.T, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		t.Fatalf("%s returned (%v) while a WRITE was held", what, err)
	case <-time.After(300 * time.Millisecond):
	}
	g.release()
	return <-done
}

// serveGateT is serveT with a writeGate in front of the server.
func serveGateT(t *testing.T) (addr, export string, g *writeGate) {
	t.Helper()
	g = &writeGate{}
	addr, export = startServerT(t, nfs4srv.Config{}, func(nfs rpcsrv.Handler) rpcsrv.Handler {
		return rpcsrv.HandlerFunc(func(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
			if c.Prog == nfs4.Program && c.Proc == nfs4.ProcCompound {
				var a nfs4.CompoundArgs
				a.Decode(xdr.NewDecoder(append([]byte(nil), c.Args...)))
				for _, op := range a.Ops {
					if op.Op != nfs4.OpWrite {
						continue
					}
					g.mu.Lock()
					open := g.open
					g.mu.Unlock()
					if open != nil {
						g.held.Add(1)
						<-open
						g.held.Add(-1)
					}
					break
				}
			}
			return nfs.ServeRPC(ctx, c)
		})
	})
	return addr, export, g
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWriteBehind: write(2) returns before the server has answered the
// WRITE, the writes of one file are in flight together, and everything
// that depends on the data waits for them: fstat, stat by name (LOOKUP,
// the kernel's entry timeout set to nothing), a read through another
// descriptor, close. The server has the data once close returns.
func TestWriteBehind(t *testing.T) {
	addr, export, g := serveGateT(t)
	mnt, _, _ := mountOptsT(t, addr, "writebehind-test",
		Options{NoDeleg: true, AttrTimeout: time.Nanosecond, EntryTimeout: time.Nanosecond})
	t.Cleanup(g.release) // before the unmount (cleanups run last first)
	p := filepath.Join(mnt, "f")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := randData(3 * 10240) // three tar records

	g.shut()
	within(t, 10*time.Second, "write(2) while the server holds WRITEs", func() error {
		for off := 0; off < len(data); off += 10240 {
			if _, err := f.Write(data[off : off+10240]); err != nil {
				return err
			}
		}
		return nil
	})
	// (The kernel may cut a write(2) in two FUSE WRITEs.)
	waitFor(t, "the WRITEs of three write(2)s in flight together", func() bool { return g.held.Load() >= 3 })

	type result struct {
		what string
		size int64
		data []byte
		err  error
	}
	results := make(chan result, 4)
	statSize := func(what string, stat func() (os.FileInfo, error)) {
		fi, err := stat()
		r := result{what: what, err: err}
		if err == nil {
			r.size = fi.Size()
		}
		results <- r
	}
	go statSize("fstat", f.Stat)
	go statSize("stat by name", func() (os.FileInfo, error) { return os.Stat(p) })
	go func() {
		b, err := os.ReadFile(p)
		results <- result{what: "read through another descriptor", size: int64(len(b)), data: b, err: err}
	}()
	// None of them may answer before the WRITEs are: the server still has
	// an empty file.
	select {
	case r := <-results:
		t.Fatalf("%s returned while the WRITEs were held: size %d, %v", r.what, r.size, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	g.release()
	for range 3 {
		select {
		case r := <-results:
			if r.err != nil || r.size != int64(len(data)) {
				t.Errorf("%s: size %d, %v; want %d", r.what, r.size, r.err, len(data))
			}
			if r.data != nil && !bytes.Equal(r.data, data) {
				t.Errorf("%s: data differs", r.what)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("still blocked 10 s after the WRITEs were released")
		}
	}

	// close waits for the background writes: the server has the data.
	more := randData(10240)
	g.shut()
	if _, err := f.Write(more); err != nil {
		t.Fatal(err)
	}
	if err := g.blocksUntilRelease(t, "close", f.Close); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(export, "f")); !bytes.Equal(got, append(data, more...)) {
		t.Fatalf("server has %d bytes, not what was written", len(got))
	}
}

// TestWriteBehindOverlapsInOrder: writes that overlap are never in flight
// together, so the server applies them in the program's order.
func TestWriteBehindOverlapsInOrder(t *testing.T) {
	mnt, export := mountT(t)
	f, err := os.Create(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 16<<10)
	for i := range 400 {
		// Overlapping 4 KiB pieces at 1 KiB steps, each a new byte.
		off := (i % 13) * 1024
		piece := bytes.Repeat([]byte{byte(i)}, 4096)
		copy(want[off:], piece)
		if _, err := f.WriteAt(piece, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(export, "f")); !bytes.Equal(got, want) {
		t.Fatalf("server's file differs from the writes applied in order (%d bytes)", len(got))
	}
}

// TestWriteBehindError: a WRITE that fails after write(2) returned (the
// export, a 1 MiB tmpfs, is full) is reported by the next writes, by close
// and by fsync (which uses it up); what the kernel cached of the failed
// data is dropped, so reads show what the server has.
func TestWriteBehindError(t *testing.T) {
	needMountT(t)
	export := t.TempDir()
	if err := unix.Mount("tmpfs", export, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(export, unix.MNT_DETACH) })
	addr := startServerAtT(t, export, nfs4srv.Config{}, nil)
	mnt := mountAtT(t, addr, "writebehind-error-test")

	f, err := os.Create(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := randData(64 << 10)
	var writeErr error
	for range 64 { // 4 MiB into 1 MiB
		if _, writeErr = f.Write(chunk); writeErr != nil {
			break
		}
	}
	if writeErr != nil && !errors.Is(writeErr, syscall.ENOSPC) {
		t.Fatalf("write: %v, want ENOSPC or nothing", writeErr)
	}
	// A close of another descriptor of the same open file reports it and
	// leaves it for fsync.
	dup, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Close(dup); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("close of a dup: %v, want ENOSPC", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("fsync: %v, want ENOSPC", err)
	}
	if err := f.Sync(); err != nil {
		t.Errorf("second fsync: %v, want the error used up", err)
	}
	onServer := readFile(t, filepath.Join(export, "f"))
	if len(onServer) >= 64*len(chunk) {
		t.Fatalf("the server took %d bytes of a 1 MiB tmpfs", len(onServer))
	}
	if got := readFile(t, filepath.Join(mnt, "f")); !bytes.Equal(got, onServer) {
		t.Fatalf("the mount shows %d bytes, the server has %d", len(got), len(onServer))
	}
}

// TestNoWriteBehind: with -o nowritebehind a write(2) returns only once
// the server has answered its WRITE.
func TestNoWriteBehind(t *testing.T) {
	addr, export, g := serveGateT(t)
	mnt, _, _ := mountOptsT(t, addr, "nowritebehind-test", Options{NoWriteBehind: true})
	t.Cleanup(g.release)
	f, err := os.Create(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := randData(10240)
	g.shut()
	err = g.blocksUntilRelease(t, "write(2)", func() error {
		_, err := f.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(export, "f")); !bytes.Equal(got, data) {
		t.Fatalf("server has %d bytes once write(2) returned", len(got))
	}
}
