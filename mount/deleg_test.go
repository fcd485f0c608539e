package mount

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// compoundCounter counts the COMPOUNDs an in-process fs_serv receives,
// and the DELEGRETURNs among their ops.
type compoundCounter struct {
	compounds   atomic.Int64
	delegReturn atomic.Int64
	mu          sync.Mutex
	seen        []string // each COMPOUND's operations, SEQUENCE left out ("PUTFH WRITE")
}

// since returns the COMPOUNDs seen after the first n, and how many there are.
func (c *compoundCounter) since(n int) ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen[min(n, len(c.seen)):]...), len(c.seen)
}

// serveCountT is serveT with a counting wrapper around the server.
func serveCountT(t *testing.T) (addr, export string, cnt *compoundCounter) {
	t.Helper()
	cnt = &compoundCounter{}
	addr, export = startServerT(t, nfs4srv.Config{}, func(nfs rpcsrv.Handler) rpcsrv.Handler {
		return rpcsrv.HandlerFunc(func(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
			if c.Prog == nfs4.Program && c.Proc == nfs4.ProcCompound {
				cnt.compounds.Add(1)
				var a nfs4.CompoundArgs
				a.Decode(xdr.NewDecoder(append([]byte(nil), c.Args...)))
				var ops []string
				for _, op := range a.Ops {
					if op.Op == nfs4.OpDelegReturn {
						cnt.delegReturn.Add(1)
					}
					if op.Op != nfs4.OpSequence {
						ops = append(ops, op.Op.String())
					}
				}
				cnt.mu.Lock()
				cnt.seen = append(cnt.seen, strings.Join(ops, " "))
				cnt.mu.Unlock()
			}
			return nfs.ServeRPC(ctx, c)
		})
	})
	return addr, export, cnt
}

// mountOptsT mounts addr with opts and returns the mount point, the FS
// and an unmount function (also run at cleanup).
func mountOptsT(t testing.TB, addr, machine string, opts Options) (string, *FS, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tgt := Target{Addr: addr}
	c, root, err := Connect(ctx, tgt, machine)
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	fsys := &FS{C: c, Root: root, Opts: opts}
	srv, err := Mount(mnt, fsys, tgt.String())
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	done := false
	unmount := func() {
		if done {
			return
		}
		done = true
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	}
	t.Cleanup(unmount)
	return mnt, fsys, unmount
}

// holdsDeleg waits up to 2 s for fsys to hold a delegation on the file
// with handle fh (or for it not to, when want is false).
func holdsDeleg(fsys *FS, fh []byte, want bool) bool {
	for deadline := time.Now().Add(2 * time.Second); ; {
		if (fsys.C.Delegation(fh) != nil) == want {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close-to-open holds with or without delegations: what A wrote and
// closed, B sees on its next open.
func TestDelegCloseToOpen(t *testing.T) {
	addr, _, _ := serveCountT(t)
	for _, opts := range []Options{{}, {NoDeleg: true}} {
		a, _, _ := mountOptsT(t, addr, "client-a", opts)
		b, _, _ := mountOptsT(t, addr, "client-b", opts)
		name := "cto"
		if opts.NoDeleg {
			name = "cto-nodeleg"
		}
		for i, want := range []string{"first version\n", "second, longer version\n", "3\n"} {
			if err := os.WriteFile(filepath.Join(a, name), []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := string(readFile(t, filepath.Join(b, name))); got != want {
				t.Fatalf("nodeleg=%v round %d: B read %q, want %q", opts.NoDeleg, i, got, want)
			}
		}
	}
}

// With a read delegation B's stats cost no round trips; A's write recalls
// it, and B's open file shows the new data at once (no attribute timeout
// to wait for); the recall ends with DELEGRETURN.
func TestDelegRecallOnWrite(t *testing.T) {
	addr, _, cnt := serveCountT(t)
	a, _, _ := mountOptsT(t, addr, "client-a", Options{})
	b, fsysB, _ := mountOptsT(t, addr, "client-b", Options{})
	pa, pb := filepath.Join(a, "hot"), filepath.Join(b, "hot")
	if err := os.WriteFile(pa, []byte("version one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, pb)); got != "version one\n" {
		t.Fatalf("B read %q", got)
	}
	fh, err := fsysB.C.LookupPath(context.Background(), "hot")
	if err != nil {
		t.Fatal(err)
	}
	if !holdsDeleg(fsysB, fh, true) {
		t.Fatal("B got no read delegation for a file nobody else has open")
	}
	// Stats under the delegation: served from the kernel cache (long
	// timeout) or our cached attributes, never the server.
	before := cnt.compounds.Load()
	for range 200 {
		if st, err := os.Stat(pb); err != nil || st.Size() != 12 {
			t.Fatalf("stat: %v %v", st, err)
		}
	}
	time.Sleep(1200 * time.Millisecond) // past the 1 s attr_timeout
	for range 200 {
		if _, err := os.Stat(pb); err != nil {
			t.Fatal(err)
		}
	}
	if n := cnt.compounds.Load() - before; n > 2 {
		t.Fatalf("400 stats under a delegation cost %d COMPOUNDs", n)
	}

	f, err := os.Open(pb)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64)
	if n, _ := f.ReadAt(buf, 0); string(buf[:n]) != "version one\n" {
		t.Fatalf("B's open file: %q", buf[:n])
	}
	returns := cnt.delegReturn.Load()
	// A's write conflicts: the server recalls B's delegation, A's OPEN
	// waits (NFS4ERR_DELAY) until B returned it.
	if err := os.WriteFile(pa, []byte("version two, longer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cnt.delegReturn.Load() == returns {
		t.Fatal("A's write went through without B returning its delegation")
	}
	if fsysB.C.Delegation(fh) != nil {
		t.Fatal("B still holds the delegation after the recall")
	}
	// Immediately: the recall invalidated B's page and attribute cache.
	n, _ := f.ReadAt(buf, 0)
	if got := string(buf[:n]); got != "version two, longer\n" {
		t.Fatalf("B's open file after the recall: %q", got)
	}
	if st, err := os.Stat(pb); err != nil || st.Size() != 20 {
		t.Fatalf("B's stat after the recall: %v %v", st, err)
	}
}

// Unmounting returns the delegations held (DELEGRETURN before
// DESTROY_SESSION).
func TestDelegReturnOnUnmount(t *testing.T) {
	addr, export, cnt := serveCountT(t)
	if err := os.WriteFile(filepath.Join(export, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, fsysB, unmount := mountOptsT(t, addr, "client-b", Options{})
	readFile(t, filepath.Join(b, "f"))
	fh, err := fsysB.C.LookupPath(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	if !holdsDeleg(fsysB, fh, true) {
		t.Fatal("no delegation")
	}
	before := cnt.delegReturn.Load()
	unmount()
	if got := cnt.delegReturn.Load() - before; got != 1 {
		t.Fatalf("%d DELEGRETURNs at unmount, want 1", got)
	}
}

// With -o nodeleg no delegation is asked for.
func TestDelegNodeleg(t *testing.T) {
	addr, export, _ := serveCountT(t)
	if err := os.WriteFile(filepath.Join(export, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, fsysB, _ := mountOptsT(t, addr, "client-b", Options{NoDeleg: true})
	readFile(t, filepath.Join(b, "f"))
	if n := len(fsysB.C.Delegations()); n != 0 {
		t.Fatalf("nodeleg mount holds %d delegations", n)
	}
}

// A change made on the export directly is seen once the delegation is
// gone. The server here runs in the test's own process, so its fanotify
// watch takes this write for the server's own and recalls nothing; the
// recall for writes by other local processes is localchange_test.go's.
func TestDelegLocalChangeAfterReturn(t *testing.T) {
	addr, export, _ := serveCountT(t)
	p := filepath.Join(export, "f")
	if err := os.WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, fsysB, _ := mountOptsT(t, addr, "client-b", Options{})
	readFile(t, filepath.Join(b, "f"))
	fh, _ := fsysB.C.LookupPath(context.Background(), "f")
	if !holdsDeleg(fsysB, fh, true) {
		t.Fatal("no delegation")
	}
	if err := os.WriteFile(p, []byte("two!"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Give the delegation back ourselves: the caches are invalidated.
	fsysB.C.ReturnAllDelegations(context.Background())
	if got := string(readFile(t, filepath.Join(b, "f"))); got != "two!" {
		t.Fatalf("after the return: %q", got)
	}
}

// The benchmark of issue 5: repeated stat and open+read+close of a hot
// file, with and without delegations, in COMPOUNDs per operation (counted
// at the server) and operations per second.
func TestDelegBenchmark(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark")
	}
	addr, export, cnt := serveCountT(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	if err := os.WriteFile(filepath.Join(export, "hot"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	openPerOp := map[bool]float64{}
	for _, nodeleg := range []bool{false, true} {
		mnt, _, _ := mountOptsT(t, addr, "bench", Options{NoDeleg: nodeleg})
		p := filepath.Join(mnt, "hot")
		readFile(t, p) // warm up (and get the delegation)
		time.Sleep(50 * time.Millisecond)

		// Stats for longer than the 1 s attr_timeout: without a
		// delegation the kernel revalidates every second.
		c0, t0 := cnt.compounds.Load(), time.Now()
		stats := 0
		for time.Since(t0) < 2500*time.Millisecond {
			if _, err := os.Stat(p); err != nil {
				t.Fatal(err)
			}
			stats++
		}
		statC, statD := cnt.compounds.Load()-c0, time.Since(t0)

		buf := make([]byte, len(data))
		c0, t0 = cnt.compounds.Load(), time.Now()
		for range n {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			if k, err := f.ReadAt(buf, 0); k != len(data) {
				t.Fatalf("read %d: %v", k, err)
			}
			f.Close()
		}
		openC, openD := cnt.compounds.Load()-c0, time.Since(t0)
		openPerOp[nodeleg] = float64(openC) / n
		t.Logf("nodeleg=%-5v stat: %d COMPOUNDs in %d ops (%.2f s), %.0f ops/s; open+read 64KiB+close: %.3f COMPOUNDs/op, %.0f ops/s",
			nodeleg, statC, stats, statD.Seconds(), float64(stats)/statD.Seconds(), float64(openC)/n, n/openD.Seconds())
	}
	if openPerOp[false] >= openPerOp[true] {
		t.Fatalf("delegations saved no round trips on open+read: %.3f vs %.3f per op", openPerOp[false], openPerOp[true])
	}
}

// A lock through a file opened locally under a delegation: the open
// becomes a server open first (localHandle).
func TestDelegLocalOpenLock(t *testing.T) {
	addr, export, _ := serveCountT(t)
	if err := os.WriteFile(filepath.Join(export, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, fsysB, _ := mountOptsT(t, addr, "client-b", Options{})
	readFile(t, filepath.Join(b, "f"))
	fh, _ := fsysB.C.LookupPath(context.Background(), "f")
	if !holdsDeleg(fsysB, fh, true) {
		t.Fatal("no delegation")
	}
	f, err := os.Open(filepath.Join(b, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 0, Len: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatalf("read lock on a local open: %v", err)
	}
}

// A write delegation: B creates and writes a file it keeps open; A's
// read recalls the delegation (B commits first) and sees the data; B's
// open goes on working without it.
func TestDelegWriteRecall(t *testing.T) {
	addr, _, cnt := serveCountT(t)
	a, _, _ := mountOptsT(t, addr, "client-a", Options{})
	b, fsysB, _ := mountOptsT(t, addr, "client-b", Options{})
	f, err := os.Create(filepath.Join(b, "w"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("abc"); err != nil {
		t.Fatal(err)
	}
	fh, err := fsysB.C.LookupPath(context.Background(), "w")
	if err != nil {
		t.Fatal(err)
	}
	d := fsysB.C.Delegation(fh)
	if d == nil || !d.Write() {
		t.Fatalf("no write delegation after an uncontended create: %+v", d)
	}
	returns := cnt.delegReturn.Load()
	if got := string(readFile(t, filepath.Join(a, "w"))); got != "abc" {
		t.Fatalf("A read %q", got)
	}
	if cnt.delegReturn.Load() == returns || fsysB.C.Delegation(fh) != nil {
		t.Fatal("A's open did not recall B's write delegation")
	}
	if _, err := f.WriteString("def"); err != nil {
		t.Fatalf("B's write after the return: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, filepath.Join(a, "w"))); got != "abcdef" {
		t.Fatalf("A read %q after B's close", got)
	}
}

// -o nodeleg turns delegations off, -o deleg back on; neither reaches the
// kernel.
func TestDelegOption(t *testing.T) {
	var o Options
	if err := o.ParseOptions("ro,nodeleg"); err != nil || !o.NoDeleg || len(o.Extra) != 0 {
		t.Fatalf("nodeleg: %+v %v", o, err)
	}
	if err := o.ParseOptions("deleg"); err != nil || o.NoDeleg || len(o.Extra) != 0 {
		t.Fatalf("deleg: %+v %v", o, err)
	}
}

// TestDelegReturnOnClose: past the delegation watermark the last close of
// a file returns its delegation in the CLOSE's COMPOUND, with no recall,
// and drops what the kernel cached under it: a change made on the server
// afterwards is seen at once.
func TestDelegReturnOnClose(t *testing.T) {
	addr, export, cnt := serveCountT(t)
	// Without a delegation the kernel asks again at once; with one it
	// caches for DelegTimeout.
	mnt, fsys, _ := mountOptsT(t, addr, "watermark-test",
		Options{DelegWatermark: 2, AttrTimeout: time.Nanosecond, EntryTimeout: time.Nanosecond})
	for i := range 5 {
		name := filepath.Join(mnt, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(name, []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(name); err != nil { // cached under the delegation, if held
			t.Fatal(err)
		}
	}
	var seen []string
	waitFor(t, "the five releases", func() bool {
		seen, _ = cnt.since(0)
		return countOps(seen, "CLOSE") >= 5
	})
	if n := countOps(seen, "DELEGRETURN"); n < 2 {
		t.Errorf("%d delegations returned, want at least 2: %q", n, seen)
	}
	for _, s := range seen {
		if strings.Contains(s, "DELEGRETURN") && s != "PUTFH COMMIT CLOSE DELEGRETURN" {
			t.Errorf("a delegation went back in %q, not with its CLOSE", s)
		}
	}
	// (The client forgets a delegation once its CLOSE is answered.)
	waitFor(t, "at most 3 delegations held with a watermark of 2", func() bool {
		return fsys.C.DelegationCount() <= 3
	})
	// A file whose delegation went back with its close: a change on the
	// server shows within lateReplyWindow (an attribute reply racing the
	// return is invalidated again then), although the kernel had cached
	// the file's attributes for DelegTimeout.
	returned := ""
	for i := range 5 {
		if name := fmt.Sprintf("f%d", i); fsys.C.Delegation(lookupFH(t, fsys, name)) == nil {
			returned = name
		}
	}
	if returned == "" {
		t.Fatal("every file still delegated")
	}
	changed := []byte("changed on the server")
	if err := os.WriteFile(filepath.Join(export, returned), changed, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(lateReplyWindow + time.Second)
	for {
		fi, err := os.Stat(filepath.Join(mnt, returned))
		if err == nil && fi.Size() == int64(len(changed)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stat after the return: %v, %v; want the server's size", fi, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lookupFH(t *testing.T, fsys *FS, name string) []byte {
	t.Helper()
	fh, err := fsys.C.LookupPath(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return fh
}
