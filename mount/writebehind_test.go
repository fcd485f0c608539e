package mount

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
// WRITE, the writes go out with nothing waiting for them, and everything
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
	// Nothing waits for them: they go out gathered once gatherDelay
	// has passed.
	waitFor(t, "the WRITE of three write(2)s sent", func() bool { return g.held.Load() >= 1 })

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

// countOps counts the COMPOUNDs in seen that contain op.
// closeReleased closes f and waits for its release's CLOSE; it returns
// the COMPOUNDs sent since the n0th.
func closeReleased(t *testing.T, f *os.File, cnt *compoundCounter, n0 int) []string {
	t.Helper()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var seen []string
	waitFor(t, "the release's CLOSE", func() bool {
		seen, _ = cnt.since(n0)
		return countOps(seen, "CLOSE") > 0
	})
	return seen
}

// writePieces writes data to f in write(2)s of size bytes.
func writePieces(t *testing.T, f *os.File, data []byte, size int) {
	t.Helper()
	for off := 0; off < len(data); off += size {
		if _, err := f.Write(data[off:min(off+size, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
}

func countOps(seen []string, op string) int {
	n := 0
	for _, s := range seen {
		if slices.Contains(strings.Fields(s), op) {
			n++
		}
	}
	return n
}

// TestWriteGathering: write(2)s that continue each other go out as one
// WRITE when something waits for them (close) or once they fill the WRITE
// size; a write that does not continue them sends them first. The
// release COMMITs and CLOSEs in one COMPOUND.
func TestWriteGathering(t *testing.T) {
	addr, export, cnt := serveCountT(t)
	mnt, fsys, _ := mountOptsT(t, addr, "gather-test", Options{NoDeleg: true, GatherDelay: time.Hour})
	write := func(name string, pieces func(f *os.File) []byte) []string {
		t.Helper()
		f, err := os.Create(filepath.Join(mnt, name))
		if err != nil {
			t.Fatal(err)
		}
		_, n0 := cnt.since(0)
		want := pieces(f)
		seen := closeReleased(t, f, cnt, n0)
		if got := readFile(t, filepath.Join(export, name)); !bytes.Equal(got, want) {
			t.Fatalf("%s: the server has %d bytes, not the %d written", name, len(got), len(want))
		}
		return seen
	}

	// tar's way: 10 KiB records, then close.
	seen := write("small", func(f *os.File) []byte {
		data := randData(20 * 10240)
		for off := 0; off < len(data); off += 10240 {
			if _, err := f.Write(data[off : off+10240]); err != nil {
				t.Fatal(err)
			}
		}
		return data
	})
	if n := countOps(seen, "WRITE"); n != 1 {
		t.Errorf("20 write(2)s of 10 KiB: %d WRITEs, want 1 (%q)", n, seen)
	}
	if !slices.Contains(seen, "PUTFH COMMIT CLOSE") || countOps(seen, "COMMIT") != 1 {
		t.Errorf("release: %q, want one PUTFH COMMIT CLOSE", seen)
	}

	// tar's way to finish a file: its times, owner and mode set through
	// the open descriptor before close. The data goes with the first.
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	seen = write("tarred", func(f *os.File) []byte {
		data := randData(3 * 10240)
		writePieces(t, f, data, 10240)
		ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
		if err := unix.UtimesNanoAt(int(f.Fd()), "", ts, unix.AT_EMPTY_PATH); err != nil {
			// Older kernels: by name.
			if err := os.Chtimes(f.Name(), mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Chmod(0o600); err != nil {
			t.Fatal(err)
		}
		return data
	})
	if !slices.Contains(seen, "PUTFH WRITE SETATTR GETATTR") || countOps(seen, "WRITE") != 1 {
		t.Errorf("write(2)s then utimens: %q, want the data in the SETATTR's COMPOUND", seen)
	}
	if fi, err := os.Stat(filepath.Join(export, "tarred")); err != nil || !fi.ModTime().Equal(mtime) || fi.Mode().Perm() != 0o600 {
		t.Errorf("server's file: %v, %v; want mtime %v, mode 0600", fi, err, mtime)
	}

	// 3 MiB in 64 KiB pieces: full WRITEs go out as they fill up.
	ws := int(fsys.C.WSize)
	seen = write("big", func(f *os.File) []byte {
		data := randData(3 << 20)
		for off := 0; off < len(data); off += 64 << 10 {
			if _, err := f.Write(data[off : off+64<<10]); err != nil {
				t.Fatal(err)
			}
		}
		return data
	})
	if n, want := countOps(seen, "WRITE"), (3<<20+ws-1)/ws; n != want {
		t.Errorf("3 MiB in 64 KiB write(2)s: %d WRITEs, want %d of %d bytes", n, want, ws)
	}

	// Writes that do not continue each other are not joined.
	seen = write("holes", func(f *os.File) []byte {
		a, b, c := randData(4096), randData(4096), randData(4096)
		for _, w := range []struct {
			p   []byte
			off int64
		}{{a, 0}, {b, 1 << 20}, {c, 4096}} {
			if _, err := f.WriteAt(w.p, w.off); err != nil {
				t.Fatal(err)
			}
		}
		want := make([]byte, 1<<20+4096)
		copy(want, a)
		copy(want[4096:], c)
		copy(want[1<<20:], b)
		return want
	})
	if n := countOps(seen, "WRITE"); n != 3 {
		t.Errorf("three writes, none continuing the one before: %d WRITEs, want 3 (%q)", n, seen)
	}
}

// TestReleaseResendsAfterVerifierChange: if the COMMIT sent with the
// release's CLOSE answers a new write verifier (the server restarted and
// may have lost the UNSTABLE data), the data is written again under a new
// OPEN. The test's server really loses it: the file is truncated as the
// COMMIT arrives, and the verifier in the answer is changed.
func TestReleaseResendsAfterVerifierChange(t *testing.T) {
	needMountT(t)
	var export string
	var lost atomic.Bool
	addr, export := startServerT(t, nfs4srv.Config{}, func(nfs rpcsrv.Handler) rpcsrv.Handler {
		return rpcsrv.HandlerFunc(func(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
			if c.Prog != nfs4.Program || c.Proc != nfs4.ProcCompound {
				return nfs.ServeRPC(ctx, c)
			}
			var a nfs4.CompoundArgs
			a.Decode(xdr.NewDecoder(append([]byte(nil), c.Args...)))
			var ops []nfs4.Op
			for _, op := range a.Ops {
				ops = append(ops, op.Op)
			}
			if !slices.Contains(ops, nfs4.OpCommit) || !slices.Contains(ops, nfs4.OpClose) || lost.Load() {
				return nfs.ServeRPC(ctx, c)
			}
			lost.Store(true)
			os.Truncate(filepath.Join(export, "f"), 0)
			r := nfs.ServeRPC(ctx, c)
			var body []byte
			for _, b := range r.Body {
				body = append(body, b...)
			}
			if r.Release != nil {
				r.Release()
			}
			var res nfs4.CompoundRes
			res.Decode(xdr.NewDecoder(body))
			for _, ro := range res.Results {
				if cr, ok := ro.Res.(*nfs4.CommitRes); ok {
					cr.WriteVerf[0] ^= 0xff
				}
			}
			var e xdr.Encoder
			res.Encode(&e)
			return rpcsrv.Success(e.Buf)
		})
	})
	mnt := mountAtT(t, addr, "resend-test")
	data := randData(100 << 10)
	if err := os.WriteFile(filepath.Join(mnt, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the release's COMMIT", lost.Load)
	waitFor(t, "the data written again", func() bool {
		return bytes.Equal(readFile(t, filepath.Join(export, "f")), data)
	})
}
