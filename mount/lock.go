package mount

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Byte-range locks: fcntl(F_SETLK/F_SETLKW/F_GETLK), flock(2) and
// lockf(3) become NFSv4 LOCK/LOCKU/LOCKT (RFC 8881 §18.10–§18.12). The
// kernel names the owner of each request (a POSIX owner per process, a
// flock owner per open file); each becomes an NFS lock-owner.
//
// Lock state lives on the Node, not the open: POSIX locks belong to the
// process and file, so an unlock may arrive through another descriptor of
// the same file than the lock did (close(2) of any descriptor drops them
// all). Each owner's lock stateid was created under one open; before that
// open is CLOSEd its locks are released (the server would refuse the CLOSE
// with NFS4ERR_LOCKS_HELD otherwise).
//
// close(2) drops a process's POSIX locks on the file, and FUSE says so
// only through FUSE_FLUSH, whose lock owner go-fuse's fs API does not pass
// on: lockFlushFS intercepts FLUSH at the raw level and releases that
// owner's locks on the file first.
//
// After a server restart the client library reclaims every owner's locks
// (nfs4client lockreclaim.go) and the Epoch changes: an owner's next call
// picks up its reclaimed lock stateid (resync). Locks it could not reclaim
// are lost: that owner's next lock call gets EIO once, as from the Linux
// client, then starts afresh; other owners and all other I/O carry on.
//
// F_SETLKW polls: NFS4ERR_DENIED, wait, retry with the blocking lock types
// (READW_LT/WRITEW_LT tell the server someone waits), backing off from
// lockPollMin to lockPollMax, until granted or the caller is interrupted.

var (
	_ fs.FileGetlker  = (*fileHandle)(nil)
	_ fs.FileSetlker  = (*fileHandle)(nil)
	_ fs.FileSetlkwer = (*fileHandle)(nil)
)

const (
	lockPollMin = 20 * time.Millisecond
	lockPollMax = time.Second
)

// lockState is one lock-owner's state on one file.
type lockState struct {
	mu    sync.Mutex // serialises this owner's LOCK/LOCKU
	h     *fileHandle
	sid   nfs4.StateID // lock stateid; zero until the first granted LOCK
	epoch uint64       // client Epoch the stateid belongs to
}

// nodeLocks is the per-file table of lock owners.
type nodeLocks struct {
	mu     sync.Mutex
	owners map[string]*lockState
}

// lookup returns owner's state on the file, or nil.
func (nl *nodeLocks) lookup(owner string) *lockState {
	nl.mu.Lock()
	defer nl.mu.Unlock()
	return nl.owners[owner]
}

// resync brings ls (ls.mu held) to the client's current Epoch: after a
// server restart the owner's lock stateid is the one recovery reclaimed
// (zero if it held nothing). Locks that could not be reclaimed give EIO,
// once; the owner then starts afresh with open_to_lock_owner4.
func (ls *lockState) resync(c *nfs4client.Client, name string) syscall.Errno {
	epoch := c.Epoch()
	if ls.sid == (nfs4.StateID{}) || ls.epoch == epoch {
		return 0
	}
	sid, err := c.LockStateID(ls.h.of, []byte(name))
	ls.sid, ls.epoch = sid, epoch
	if err != nil {
		ls.sid = nfs4.StateID{}
		return syscall.EIO
	}
	return 0
}

func (nl *nodeLocks) get(owner string, h *fileHandle) *lockState {
	nl.mu.Lock()
	defer nl.mu.Unlock()
	if nl.owners == nil {
		nl.owners = map[string]*lockState{}
	}
	ls := nl.owners[owner]
	if ls == nil {
		ls = &lockState{h: h}
		nl.owners[owner] = ls
	}
	return ls
}

// lockOwner is the NFS lock-owner for a kernel lock owner on n; flock and
// POSIX owners are kept apart. One NFS owner per file: locks of one
// process on different files never interact, and some servers (nfs-ganesha)
// refuse a second open_to_lock_owner4 for an owner that holds locks
// elsewhere (NFS4ERR_RESOURCE).
func lockOwner(owner uint64, flags uint32, n *Node) string {
	if flags&fuse.FUSE_LK_FLOCK != 0 {
		return fmt.Sprintf("flock-%x-%x", owner, n.StableAttr().Ino)
	}
	return fmt.Sprintf("posix-%x-%x", owner, n.StableAttr().Ino)
}

// nfsRange converts the kernel's inclusive [Start, End] (End = OFFSET_MAX
// for "to the end") to offset and length.
func nfsRange(lk *fuse.FileLock) (uint64, uint64, syscall.Errno) {
	if lk.End < lk.Start {
		return 0, 0, syscall.EINVAL
	}
	if lk.End >= math.MaxInt64 {
		return lk.Start, math.MaxUint64, 0
	}
	return lk.Start, lk.End - lk.Start + 1, 0
}

func nfsLockType(typ uint32, wait bool) uint32 {
	switch {
	case typ == syscall.F_RDLCK && wait:
		return nfs4.ReadWLT
	case typ == syscall.F_RDLCK:
		return nfs4.ReadLT
	case wait:
		return nfs4.WriteWLT
	}
	return nfs4.WriteLT
}

// current makes a stateid mean "the current seqid" (RFC 8881 §8.2.2), so
// concurrent users of one lock stateid never trip over OLD_STATEID.
func current(sid nfs4.StateID) nfs4.StateID {
	sid.SeqID = 0
	return sid
}

func (h *fileHandle) Getlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	off, length, errno := nfsRange(lk)
	if errno != 0 {
		return errno
	}
	*out = fuse.FileLock{Typ: syscall.F_UNLCK}
	if lk.Typ == syscall.F_UNLCK {
		return 0
	}
	name := lockOwner(owner, flags, h.n)
	if ls := h.n.locks.lookup(name); ls != nil {
		// Locks lost in a server restart are reported here too.
		ls.mu.Lock()
		errno := ls.resync(h.n.fsys.C, name)
		ls.mu.Unlock()
		if errno != 0 {
			return errno
		}
	}
	err := h.n.fsys.C.LockT(h.n.call(ctx), h.of.FH, []byte(name), nfsLockType(lk.Typ, false), off, length)
	if d, ok := err.(*nfs4client.Denied); ok {
		out.Start, out.End, out.Typ = d.Offset, math.MaxInt64, syscall.F_WRLCK
		if d.Length != math.MaxUint64 && d.Length-1 <= math.MaxInt64-d.Offset {
			out.End = d.Offset + d.Length - 1
		}
		if d.LockType == nfs4.ReadLT || d.LockType == nfs4.ReadWLT {
			out.Typ = syscall.F_RDLCK
		}
		out.Pid = 0 // held on another host (or by another client): no local pid
		return 0
	}
	if err != nil {
		return ToErrno(err)
	}
	return 0
}

func (h *fileHandle) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return h.setlk(ctx, owner, lk, flags, false)
}

func (h *fileHandle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	wait := lockPollMin
	for {
		errno := h.setlk(ctx, owner, lk, flags, true)
		if errno != syscall.EAGAIN {
			return errno
		}
		select {
		case <-ctx.Done():
			return syscall.EINTR
		case <-time.After(wait):
		}
		wait = min(2*wait, lockPollMax)
	}
}

func (h *fileHandle) setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, wait bool) syscall.Errno {
	off, length, errno := nfsRange(lk)
	if errno != 0 {
		return errno
	}
	name := lockOwner(owner, flags, h.n)
	c := h.n.fsys.C
	cctx := h.n.call(ctx)
	// Data written under a lock reaches the server before the lock is
	// released, and data written before a lock before it is taken
	// (writebehind.go), as the Linux NFS client flushes around locks.
	h.n.writes.drain()
	ls := h.n.locks.get(name, h)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for try := 0; ; try++ {
		epoch := c.Epoch()
		if errno := ls.resync(c, name); errno != 0 {
			return errno
		}
		var errno syscall.Errno
		if lk.Typ == syscall.F_UNLCK {
			if ls.sid == (nfs4.StateID{}) {
				return 0
			}
			sid, err := c.LockU(cctx, ls.h.of.FH, current(ls.sid), nfs4.WriteLT, off, length)
			if err == nil {
				ls.sid = sid
			}
			errno = ToErrno(err)
		} else {
			errno = h.setlkLocked(ctx, ls, name, owner, lk, flags, wait && !h.n.fsys.noWaitTypes.Load(), off, length, epoch)
		}
		if errno == 0 || try > 0 || c.Epoch() == epoch {
			return errno
		}
		// The server restarted during the call, which carried state of
		// the old instance: once more with the recovered state.
	}
}

// setlkLocked sends the LOCK for setlk (ls.mu held).
func (h *fileHandle) setlkLocked(ctx context.Context, ls *lockState, name string, owner uint64, lk *fuse.FileLock,
	flags uint32, wait bool, off, length uint64, epoch uint64) syscall.Errno {
	c := h.n.fsys.C
	cctx := h.n.call(ctx)
	var sid nfs4.StateID
	var err error
	if ls.sid == (nfs4.StateID{}) {
		// First lock of this owner on the file: open_to_lock_owner4 under
		// the open it arrived through.
		ls.h = h
		sid, err = c.Lock(cctx, h.of.FH, h.of.SID(), nfs4.StateID{}, []byte(name), nfsLockType(lk.Typ, wait), off, length)
	} else {
		sid, err = c.Lock(cctx, ls.h.of.FH, nfs4.StateID{}, current(ls.sid), nil, nfsLockType(lk.Typ, wait), off, length)
	}
	if err != nil && wait && !errors.Is(err, nfs4.ErrDenied) {
		// Some servers refuse the blocking lock types (nfs-ganesha's
		// VFS backend answers NFS4ERR_RESOURCE): they are only a hint,
		// so poll with the plain ones from now on.
		h.n.fsys.noWaitTypes.Store(true)
		return h.setlkLocked(ctx, ls, name, owner, lk, flags, false, off, length, epoch)
	}
	if err != nil {
		return ToErrno(err)
	}
	ls.sid, ls.epoch = sid, epoch
	if flags&fuse.FUSE_LK_FLOCK == 0 {
		h.n.fsys.posix.add(owner, h.n)
	}
	return 0
}

// releaseLocks drops every lock whose state was created under h, before
// h's open is CLOSEd: flock locks end with their open file, and POSIX
// locks were already unlocked by the kernel at close(2) (this also covers
// a process killed mid-way).
func (h *fileHandle) releaseLocks(ctx context.Context) {
	nl := &h.n.locks
	nl.mu.Lock()
	mine := map[string]*lockState{}
	for name, ls := range nl.owners {
		if ls.h == h {
			mine[name] = ls
			delete(nl.owners, name)
		}
	}
	nl.mu.Unlock()
	c := h.n.fsys.C
	for name, ls := range mine {
		ls.mu.Lock()
		ls.resync(c, name) // lost locks: nothing left to release
		if ls.sid != (nfs4.StateID{}) {
			if sid, err := c.LockU(ctx, h.of.FH, current(ls.sid), nfs4.WriteLT, 0, math.MaxUint64); err == nil {
				c.FreeStateID(ctx, sid)
			}
			ls.sid = nfs4.StateID{}
		}
		ls.mu.Unlock()
	}
}

// posixOwners records which files each POSIX lock owner holds locks on, so
// a FLUSH (close) can find them.
type posixOwners struct {
	mu    sync.Mutex
	nodes map[uint64]map[*Node]struct{}
}

func (p *posixOwners) add(owner uint64, n *Node) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nodes == nil {
		p.nodes = map[uint64]map[*Node]struct{}{}
	}
	if p.nodes[owner] == nil {
		p.nodes[owner] = map[*Node]struct{}{}
	}
	p.nodes[owner][n] = struct{}{}
}

// take removes and returns the files owner holds locks on whose inode
// number matches ino.
func (p *posixOwners) take(owner, ino uint64) []*Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Node
	for n := range p.nodes[owner] {
		if n.StableAttr().Ino == ino {
			out = append(out, n)
			delete(p.nodes[owner], n)
		}
	}
	if len(p.nodes[owner]) == 0 {
		delete(p.nodes, owner)
	}
	return out
}

func (p *posixOwners) has(owner uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.nodes[owner]) > 0
}

// lockFlushFS releases a POSIX lock owner's locks on a file when the
// kernel flushes it for that owner (every close(2)), as FUSE expects of
// filesystems that implement locks.
type lockFlushFS struct {
	fuse.RawFileSystem
	fsys *FS
}

func (r *lockFlushFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	if r.fsys.posix.has(in.LockOwner) {
		// The node behind in.NodeId: ask the bridge for its attributes
		// (served from the kernel-facing node, usually without a round
		// trip) and match the inode number.
		var out fuse.AttrOut
		if st := r.RawFileSystem.GetAttr(cancel, &fuse.GetAttrIn{InHeader: in.InHeader}, &out); st == fuse.OK {
			for _, n := range r.fsys.posix.take(in.LockOwner, out.Ino) {
				n.unlockOwner(lockOwner(in.LockOwner, 0, n))
			}
		}
	}
	return r.RawFileSystem.Flush(cancel, in)
}

// unlockOwner releases everything owner holds on n.
func (n *Node) unlockOwner(name string) {
	n.locks.mu.Lock()
	ls := n.locks.owners[name]
	n.locks.mu.Unlock()
	if ls == nil {
		return
	}
	n.writes.drain() // the data written under the locks first (writebehind.go)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.resync(n.fsys.C, name)
	if ls.sid == (nfs4.StateID{}) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if sid, err := n.fsys.C.LockU(n.call(ctx), ls.h.of.FH, current(ls.sid), nfs4.WriteLT, 0, math.MaxUint64); err == nil {
		ls.sid = sid
	}
}
