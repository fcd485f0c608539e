package nfs4srv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// Delegations recalled for changes by local processes on the server host
// (localchange.go). The local process is a child (sh): this test process
// is fs_serv itself, whose own changes are not reported.

// lockedBuf (metrics_test.go) collects the logs.

func startLocalServer(t *testing.T, fs fsadapters.FS, lease time.Duration) (string, *Server, *lockedBuf) {
	t.Helper()
	logs := &lockedBuf{}
	addr, s := serveTCP(t, Config{FS: fs, LeaseTime: lease, Log: slog.New(slog.NewTextHandler(logs, nil))})
	return addr, s, logs
}

// startDirServer serves a new directory with two files, f and g.
func startDirServer(t *testing.T, lease time.Duration) (addr, export string, s *Server) {
	t.Helper()
	export = t.TempDir()
	for _, n := range []string{"f", "g"} {
		if err := os.WriteFile(filepath.Join(export, n), []byte("data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := dir.New(export, dir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	cancel, err := fs.Watch(mustHandle(t, fs, "f"), false, func(fsadapters.Change) {})
	if errors.Is(err, fsadapters.ErrWatchUnavailable) {
		t.Skipf("fanotify unavailable: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	cancel()
	addr, s, _ = startLocalServer(t, fs, lease)
	return addr, export, s
}

func mustHandle(t *testing.T, fs fsadapters.FS, name string) fsadapters.FileHandle {
	t.Helper()
	fh, _, err := fs.Lookup(context.Background(), &fsadapters.Root, fs.Root(), name)
	if err != nil {
		t.Fatal(err)
	}
	return fh
}

// localSh runs script in dir as another process.
func localSh(t *testing.T, dir, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh -c %q: %v: %s", script, err, out)
	}
}

// delegClient is a 4.1 client whose callbacks go to k.
func delegClient(t *testing.T, addr string) (*nfs4client.Client, *cbCatcher, []byte) {
	t.Helper()
	a := dialDeleg(t, addr, 1)
	k := newCatcher()
	a.RPC.HandleCallbacks(func(ctx context.Context, h *rpc.CallHeader, args []byte) (rpc.AcceptStat, []byte) {
		return k.answer(h.Cred, h.Proc, args)
	})
	root, err := a.RootFH(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	return a, k, root
}

// openDeleg opens name with access (4.1 wants in it) and returns the
// delegation and the file handle.
func openDeleg(t *testing.T, a *nfs4client.Client, root []byte, owner, name string, access uint32) (nfs4.OpenDelegation, []byte) {
	t.Helper()
	res, err := a.Do(ctx10(t), nfs4client.PutFH(root), openArgs(1, 0, owner, 0, access, name, false), nfs4client.GetFH())
	if err != nil {
		t.Fatal(err)
	}
	return res.Results[1].Res.(*nfs4.OpenRes).Delegation, res.Results[2].Res.(*nfs4.GetFHRes).Object
}

func noRecall(t *testing.T, k *cbCatcher, what string) {
	t.Helper()
	select {
	case r := <-k.ch:
		t.Fatalf("%s: unexpected CB_RECALL %+v", what, r.args)
	case <-time.After(500 * time.Millisecond):
	}
}

// A local append recalls a read delegation; DELEGRETURN ends the watch.
func TestLocalChangeRecallsReadDeleg(t *testing.T) {
	addr, export, s := startDirServer(t, 20*time.Second)
	a, k, root := delegClient(t, addr)
	d, fh := openDeleg(t, a, root, "rd", "f", nfs4.ShareAccessRead|nfs4.ShareAccessWantReadDeleg)
	if d.DelegationType != nfs4.DelegateRead {
		t.Fatalf("no read delegation: %+v", d)
	}
	if n := s.localWatchCount(); n != 1 {
		t.Fatalf("%d watches with one delegated file", n)
	}
	// fs_serv's own change (this process) recalls nothing.
	if err := os.WriteFile(filepath.Join(export, "f"), []byte("own\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noRecall(t, k, "change by fs_serv's own process")

	localSh(t, export, "echo more >> f")
	r := k.wait(t)
	if r.args.StateID != d.StateID || !bytes.Equal(r.args.FH, fh) {
		t.Fatalf("CB_RECALL %+v, want stateid %v fh %x", r.args, d.StateID, fh)
	}
	// No new delegation on the file while recalled (as for any recall).
	if d2, _ := openDeleg(t, a, root, "rd2", "f", nfs4.ShareAccessRead|nfs4.ShareAccessWantReadDeleg); d2.DelegationType == nfs4.DelegateRead {
		t.Fatal("delegation granted again while under recall")
	}
	if _, err := a.Do(ctx10(t), nfs4client.PutFH(fh), nfs4.ArgOp{Op: nfs4.OpDelegReturn,
		Args: &nfs4.DelegReturnArgs{DelegStateID: d.StateID}}); err != nil {
		t.Fatalf("DELEGRETURN: %v", err)
	}
	if n := s.localWatchCount(); n != 0 {
		t.Fatalf("%d watches left after DELEGRETURN", n)
	}
}

// A write delegation is recalled by a local read too; a read delegation
// is not.
func TestLocalChangeWriteDelegRecalledByRead(t *testing.T) {
	addr, export, _ := startDirServer(t, 20*time.Second)
	a, k, root := delegClient(t, addr)
	dr, _ := openDeleg(t, a, root, "r", "g", nfs4.ShareAccessRead|nfs4.ShareAccessWantReadDeleg)
	dw, fh := openDeleg(t, a, root, "w", "f", nfs4.ShareAccessBoth)
	if dr.DelegationType != nfs4.DelegateRead || dw.DelegationType != nfs4.DelegateWrite {
		t.Fatalf("delegations %d, %d; want read, write", dr.DelegationType, dw.DelegationType)
	}
	localSh(t, export, "cat g > /dev/null")
	noRecall(t, k, "local read of a read-delegated file")
	localSh(t, export, "cat f > /dev/null")
	r := k.wait(t)
	if r.args.StateID != dw.StateID || !bytes.Equal(r.args.FH, fh) {
		t.Fatalf("CB_RECALL %+v, want the write delegation %v", r.args, dw.StateID)
	}
}

// A delegation recalled for a local change and never returned is revoked
// a lease later, and its watch goes with it.
func TestLocalChangeRevokeDropsWatch(t *testing.T) {
	const lease = 2 * time.Second
	addr, export, s := startDirServer(t, lease)
	a, k, root := delegClient(t, addr)
	a.StartRenewal(lease)
	d, fh := openDeleg(t, a, root, "rd", "f", nfs4.ShareAccessRead|nfs4.ShareAccessWantReadDeleg)
	if d.DelegationType != nfs4.DelegateRead {
		t.Fatalf("no read delegation: %+v", d)
	}
	localSh(t, export, "rm f")
	k.wait(t)
	for deadline := time.Now().Add(4 * lease); s.localWatchCount() != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("watch still there after the revocation")
		}
	}
	_, err := a.Do(ctx10(t), nfs4client.PutFH(fh), nfs4.ArgOp{Op: nfs4.OpDelegReturn,
		Args: &nfs4.DelegReturnArgs{DelegStateID: d.StateID}})
	if !errors.Is(err, nfs4.ErrDelegRevoked) {
		t.Fatalf("DELEGRETURN after revocation: %v, want DELEG_REVOKED", err)
	}
}

// unwatchable is a backend that could be changed locally but cannot watch.
type unwatchable struct{ *mem.FS }

func (unwatchable) Watch(fsadapters.FileHandle, bool, func(fsadapters.Change)) (func(), error) {
	return nil, errors.Join(fsadapters.ErrWatchUnavailable, errors.New("test"))
}

// A backend that cannot watch gets no delegations, logged once.
func TestLocalWatchUnavailableNoDelegations(t *testing.T) {
	addr, _, logs := startLocalServer(t, unwatchable{mem.New()}, 20*time.Second)
	a, _, root := delegClient(t, addr)
	if _, err := a.Do(ctx10(t), nfs4client.PutFH(root), openArgs(1, 0, "c", 0,
		nfs4.ShareAccessRead|nfs4.ShareAccessWantNoDeleg, "f", true)); err != nil {
		t.Fatal(err)
	}
	for i, owner := range []string{"o1", "o2", "o3"} {
		d, _ := openDeleg(t, a, root, owner, "f", nfs4.ShareAccessRead|nfs4.ShareAccessWantReadDeleg)
		if d.DelegationType != nfs4.DelegateNoneExt || d.Why != nfs4.WNDResource {
			t.Fatalf("open %d: delegation %+v, want NONE_EXT/WND4_RESOURCE", i, d)
		}
	}
	all := strings.Join(logs.lines(), "\n")
	if n := strings.Count(all, "no delegations on this export"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, all)
	}
}

// The delegated (watched) files are bounded: past the bound a file gets no
// delegation and the least recently granted one is recalled to make room.
func TestLocalWatchBound(t *testing.T) {
	addr, export, s := startDirServer(t, 20*time.Second)
	lw := s.local(true)
	lw.mu.Lock()
	s.maxWatches = 3
	lw.mu.Unlock()
	for i := range 5 {
		if err := os.WriteFile(filepath.Join(export, fmt.Sprintf("b%d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, k, root := delegClient(t, addr)
	var first nfs4.OpenDelegation
	for i := range 5 {
		d, _ := openDeleg(t, a, root, fmt.Sprintf("o%d", i), fmt.Sprintf("b%d", i), nfs4.ShareAccessRead|nfs4.ShareAccessWantReadDeleg)
		if got := d.DelegationType == nfs4.DelegateRead; got != (i < 3) {
			t.Fatalf("file %d: delegation %v, want one only for the first 3", i, d.DelegationType)
		}
		if i == 0 {
			first = d
		}
	}
	if n := s.localWatchCount(); n != 3 {
		t.Fatalf("%d watches, want the bound 3", n)
	}
	if r := k.wait(t); r.args.StateID != first.StateID {
		t.Fatalf("recalled %v, want the oldest delegation %v", r.args.StateID, first.StateID)
	}
}
