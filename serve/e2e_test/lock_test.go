package e2e

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
)

const lockTestLease = time.Second

// localLock takes (or, with F_UNLCK, drops) a lock as a process on the
// server host would; it reports whether the kernel granted it. It is an OFD
// lock because the server runs in this test process: a POSIX lock would be
// dropped whenever the server closes any descriptor of the file (POSIX
// locks belong to the process). mount's TestLocksAcrossClients also uses a
// separate process with lockf(3).
func localLock(t *testing.T, f *os.File, typ int16, off, length int64) bool {
	t.Helper()
	fl := unix.Flock_t{Type: typ, Whence: 0, Start: off, Len: length}
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &fl)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return false
	}
	if err != nil {
		t.Fatalf("fcntl(F_OFD_SETLK): %v", err)
	}
	return true
}

// TestLocksSeenByLocalProcesses: NFS byte-range locks are OFD locks on the
// server host, so a local process's fcntl lock and a client's LOCK exclude
// each other in both directions, and LOCKT reports the local holder.
func TestLocksSeenByLocalProcesses(t *testing.T) {
	root := t.TempDir()
	fs, err := dir.New(root, dir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := startServerConfig(t, nfs4srv.Config{FS: fs, LeaseTime: lockTestLease})
	c := dial(t, addr, 1)
	ctx := ctxT(t)
	rootFH, _ := c.RootFH(ctx)
	of, err := c.Create(ctx, rootFH, "locked", nfs4client.CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	local, err := os.OpenFile(filepath.Join(root, "locked"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()

	// Client write-locks [0,100): the local process cannot lock inside it.
	lsid, err := c.Lock(ctx, of.FH, of.StateID, nfs4.StateID{}, []byte("owner-1"), nfs4.WriteLT, 0, 100)
	if err != nil {
		t.Fatalf("LOCK: %v", err)
	}
	if localLock(t, local, unix.F_RDLCK, 10, 10) {
		t.Fatal("local read lock granted inside the client's write lock")
	}
	if !localLock(t, local, unix.F_WRLCK, 200, 100) {
		t.Fatal("local lock outside the client's range refused")
	}

	// The local lock on [200,300) denies the client, and LOCKT says who.
	_, err = c.Lock(ctx, of.FH, nfs4.StateID{}, lsid, nil, nfs4.WriteLT, 250, 10)
	var d *nfs4client.Denied
	if !errors.As(err, &d) {
		t.Fatalf("LOCK over a local lock: %v, want DENIED", err)
	}
	if d.Offset != 200 || d.Length != 100 || d.LockType != nfs4.WriteLT || !strings.Contains(string(d.Owner.Owner), "local") {
		t.Errorf("denied = %+v %q", d.LockDenied, d.Owner.Owner)
	}
	if err := c.LockT(ctx, of.FH, []byte("owner-2"), nfs4.ReadLT, 299, 5); !errors.As(err, &d) {
		t.Fatalf("LOCKT over a local lock: %v, want DENIED", err)
	}
	// The owner's own range is not a conflict for LOCKT.
	if err := c.LockT(ctx, of.FH, []byte("owner-1"), nfs4.WriteLT, 0, 50); err != nil {
		t.Fatalf("LOCKT of the owner's own range: %v", err)
	}
	// After the local process unlocks, the client gets it; upgrade/extend
	// in one range to EOF works and keeps the local process out.
	localLock(t, local, unix.F_UNLCK, 200, 100)
	if lsid, err = c.Lock(ctx, of.FH, nfs4.StateID{}, lsid, nil, nfs4.WriteLT, 250, math.MaxUint64); err != nil {
		t.Fatalf("LOCK after the local unlock: %v", err)
	}
	if localLock(t, local, unix.F_WRLCK, 1<<40, 1) {
		t.Fatal("local lock granted inside the client's lock to EOF")
	}
	// LOCKU of everything: the local process can lock it all.
	if lsid, err = c.LockU(ctx, of.FH, lsid, nfs4.WriteLT, 0, math.MaxUint64); err != nil {
		t.Fatalf("LOCKU: %v", err)
	}
	if !localLock(t, local, unix.F_WRLCK, 0, 0) {
		t.Fatal("local lock refused after LOCKU")
	}
	localLock(t, local, unix.F_UNLCK, 0, 0)

	// A lock held by a client that goes away is released with its state.
	if _, err = c.Lock(ctx, of.FH, nfs4.StateID{}, lsid, nil, nfs4.ReadLT, 0, 10); err != nil {
		t.Fatal(err)
	}
	if localLock(t, local, unix.F_WRLCK, 0, 1) {
		t.Fatal("local write lock granted over the client's read lock")
	}
	if !localLock(t, local, unix.F_RDLCK, 0, 1) {
		t.Fatal("local read lock refused beside the client's read lock")
	}
	localLock(t, local, unix.F_UNLCK, 0, 0)
	// The client stops renewing: at lease expiry its state, and with it the
	// lock on the server host, is released.
	c.Close()
	deadline := time.Now().Add(10 * lockTestLease)
	for !localLock(t, local, unix.F_WRLCK, 0, 1) {
		if time.Now().After(deadline) {
			t.Fatal("client lease expired but its lock is still held on the server host")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
