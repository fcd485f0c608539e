package mount

import (
	"context"
	"log"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// fileHandle is one FUSE open: the NFSv4 open stateid, and the UNSTABLE
// writes that await a COMMIT (RFC 7530 §16.3, §16.36).
//
// Unstable data is only safe once COMMITted with the verifier the WRITEs
// returned. If the verifier changes (the server restarted and may have lost
// them, RFC 8881 §18.32.3), the writes are sent again, FILE_SYNC, from the
// copies kept in pending. pending is bounded by maxPending: beyond it the
// data is COMMITted early and the copies dropped.
type fileHandle struct {
	n      *Node
	of     *nfs4client.OpenFile
	stable uint32 // stable_how for WRITE
	behind bool   // writes are sent in the background (writebehind.go)

	mu           sync.Mutex
	dirty        bool          // unstable data written since the last COMMIT
	verf         nfs4.Verifier // write verifier of the latest of that data
	mixed        bool          // pending holds data written under an older verifier too
	pending      []pendingWrite
	pendingBytes int
	closed       bool
	committing   chan struct{} // a background COMMIT is running until closed (commitAhead)
	behindErr    syscall.Errno // a background write failed: for the next write, close or fsync
	opener       rpc.Auth      // the credential of the OPEN (resendClosed), if hasOpener
	hasOpener    bool
	// created: the OPEN created the file, and the server made the
	// opener (AUTH_SYS) its owner (setattrbehind.go).
	created bool
}

// pendingWrite is a copy of one UNSTABLE write not yet COMMITted.
type pendingWrite struct {
	off  uint64
	data []byte
}

// maxPending bounds the copies of uncommitted data kept per open file:
// writes wait for a COMMIT beyond it. From commitAheadAt on, a COMMIT runs
// in the background while writing goes on (commitAhead), so a long
// sequential write does not stop for a server fsync every maxPending bytes.
const (
	maxPending    = 16 << 20
	commitAheadAt = maxPending / 2
)

func shareAccess(flags uint32) uint32 {
	switch flags & syscall.O_ACCMODE {
	case syscall.O_WRONLY:
		return nfs4.ShareAccessWrite
	case syscall.O_RDWR:
		return nfs4.ShareAccessBoth
	}
	return nfs4.ShareAccessRead
}

func stableFor(flags uint32) uint32 {
	if flags&(syscall.O_SYNC|syscall.O_DSYNC) != 0 {
		return nfs4.FileSync4
	}
	return nfs4.Unstable4
}

// newFileHandle is an open of n on the server with the open flags flags,
// made with the context cctx.
func newFileHandle(n *Node, of *nfs4client.OpenFile, flags uint32, cctx context.Context) *fileHandle {
	stable := stableFor(flags)
	behind := stable == nfs4.Unstable4 && flags&syscall.O_DIRECT == 0 && !n.fsys.Opts.NoWriteBehind
	opener, ok := nfs4client.CredFrom(cctx)
	return &fileHandle{n: n, of: of, stable: stable, behind: behind, opener: opener, hasOpener: ok}
}

// keepCache says whether the kernel may keep its cached pages: yes when
// the change attribute is what it was at the previous open (the
// close-to-open consistency NFS clients give).
func (n *Node) keepCache(a *nfs4.Attrs) uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	keep := n.opened && a != nil && a.Present.Has(nfs4.AttrChange) && a.Change == n.openChange
	if a != nil {
		n.openChange, n.opened = a.Change, true
	}
	if keep {
		return fuse.FOPEN_KEEP_CACHE
	}
	return 0
}

// opened1 counts a new open handle of n.
func (n *Node) opened1(a *nfs4.Attrs) {
	n.mu.Lock()
	n.opens++
	n.lastAttrs = a
	n.mu.Unlock()
}

// forgetCache makes the next open drop cached pages (after our own writes
// the change attribute moves anyway, but be explicit).
func (n *Node) forgetCache() {
	n.mu.Lock()
	n.opened = false
	n.mu.Unlock()
}

// Open opens the node itself by handle (OPEN CLAIM_FH, RFC 8881
// §18.16.3), so a file renamed since it was looked up still opens.
func (n *Node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if h := n.localOpen(ctx, flags); h != nil {
		// Under a delegation: no round trip, cached pages kept (deleg.go).
		return localHandle{h}, fuse.FOPEN_KEEP_CACHE, 0
	}
	cctx := n.call(ctx)
	of, err := n.fsys.C.OpenFH(cctx, n.fh, shareAccess(flags))
	if err != nil {
		return nil, 0, ToErrno(err)
	}
	h := newFileHandle(n, of, flags, cctx)
	n.opened1(of.Attrs)
	n.openedOnServer(h, credKey(ctx), shareAccess(flags))
	if flags&syscall.O_TRUNC != 0 && of.Attrs.Size != 0 && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		n.writes.drain() // other opens' writes land before the truncate
		set := &nfs4.Attrs{Size: 0}
		set.Present.Set(nfs4.AttrSize)
		if _, err := n.fsys.C.SetAttrs(cctx, n.fh, of.StateID, set); err != nil {
			n.fsys.C.CloseFile(cctx, of)
			n.released(h)
			n.closed()
			return nil, 0, ToErrno(err)
		}
		of.Attrs.Size = 0
		n.dropAttrs()
	}
	return h, n.keepCache(of.Attrs), 0
}

// Create is OPEN with OPEN4_CREATE (UNCHECKED4, or GUARDED4 for O_EXCL).
func (n *Node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	cctx := n.call(ctx)
	how := nfs4client.CreateHow{Mode: nfs4.Unchecked4, Attrs: createAttrs(mode), Access: shareAccess(flags)}
	if flags&syscall.O_EXCL != 0 {
		how.Mode = nfs4.Guarded4
	}
	if flags&syscall.O_TRUNC != 0 && how.Mode == nfs4.Unchecked4 {
		// UNCHECKED4 with size 0 truncates an existing file (RFC 7530 §16.16.5).
		how.Attrs.Present.Set(nfs4.AttrSize)
		if ch := n.GetChild(name); ch != nil {
			if cn, ok := ch.Operations().(*Node); ok {
				cn.writes.drain() // its writes land before the truncate
			}
		}
	}
	since := time.Now()
	of, err := n.fsys.C.Create(cctx, n.fh, name, how)
	if err != nil {
		n.listingDrop()
		return nil, nil, 0, ToErrno(err)
	}
	n.listingAdd(name, of.FH, of.Attrs)
	child := n.newChild(ctx, of.FH, of.Attrs, out, since)
	h := newFileHandle(child.Operations().(*Node), of, flags, cctx)
	h.created = h.hasOpener && h.opener.Flavor == rpc.AuthSys && of.Attrs != nil &&
		of.Attrs.Present.Has(nfs4.AttrOwner) && nfs4client.OwnerID(of.Attrs.Owner) == h.opener.Sys.UID
	h.n.opened1(of.Attrs)
	h.n.keepCache(of.Attrs)
	h.n.openedOnServer(h, "", 0) // register for recalls (deleg.go)
	return child, h, 0, 0
}

// Read reads dest's size at off in RSize pieces, stopping at EOF.
func (h *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.n.writes.waitRange(uint64(off), uint64(off)+uint64(len(dest)))
	c := h.n.fsys.C
	cctx := h.n.call(ctx)
	rs := int(c.RSize)
	if rs == 0 {
		rs = 64 << 10
	}
	n := 0
	if len(dest) <= rs {
		// One READ: its data goes to the kernel from the reply buffer.
		pool := &h.n.fsys.readBufs
		rb := pool.get(rs)
		data, eof, err := c.Read(rpcclient.WithReplyBuffer(cctx, rb), h.of.FH, h.of.SID(), uint64(off), uint32(len(dest)))
		if err != nil {
			pool.put(rb)
			return nil, ToErrno(err)
		}
		if eof || len(data) >= len(dest) {
			return &pooledRead{data: data[:min(len(data), len(dest))], rb: rb, pool: pool}, 0
		}
		// A short READ before EOF (a server's own limit): the kernel
		// would take a short reply for EOF, so read on.
		n = copy(dest, data)
		pool.put(rb)
		if len(data) == 0 {
			return fuse.ReadResultData(dest[:0]), 0
		}
	}
	for n < len(dest) {
		want := min(len(dest)-n, rs)
		data, eof, err := c.Read(cctx, h.of.FH, h.of.SID(), uint64(off)+uint64(n), uint32(want))
		if err != nil {
			if n > 0 {
				break
			}
			return nil, ToErrno(err)
		}
		n += copy(dest[n:], data)
		if eof || len(data) < want {
			break
		}
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Write sends data in the background (writebehind.go) or, for O_SYNC,
// O_DSYNC and O_DIRECT opens, before it returns.
func (h *fileHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	cctx := h.n.call(ctx)
	if h.behind && len(data) > 0 {
		return h.writeBehind(cctx, data, off)
	}
	end := uint64(off) + uint64(len(data))
	h.n.writes.waitRange(uint64(off), end) // another open's background writes come first
	committed, verf, err := h.writeAll(cctx, uint64(off), data, h.stable)
	if err != nil {
		return 0, ToErrno(err)
	}
	h.n.forgetCache()
	h.n.wrote(end)
	if committed == nfs4.FileSync4 {
		return uint32(len(data)), 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keepUnstableLocked(uint64(off), h.n.fsys.writeCopies.copy(data), verf)
	if h.pendingBytes > maxPending {
		if errno := h.commitLocked(cctx); errno != 0 {
			return 0, errno
		}
	}
	return uint32(len(data)), 0
}

// writeAll WRITEs data at off with h's open stateid; once more if the
// server restarted meanwhile: the call carried a stateid of the old
// instance (NFS4ERR_STALE_STATEID), and recovery has reclaimed the open
// under a new one since (nfs4client/recover.go).
func (h *fileHandle) writeAll(ctx context.Context, off uint64, data []byte, stable uint32) (uint32, nfs4.Verifier, error) {
	c := h.n.fsys.C
	epoch := c.Epoch()
	committed, verf, err := c.WriteAll(ctx, h.of.FH, h.of.SID(), off, data, stable)
	if err != nil && c.Epoch() != epoch {
		committed, verf, err = c.WriteAll(ctx, h.of.FH, h.of.SID(), off, data, stable)
	}
	return committed, verf, err
}

// keepUnstableLocked keeps the copy data of an UNSTABLE write at off,
// answered with the verifier verf, until a COMMIT (h.mu held). A verifier
// that differs from the earlier writes' means the server restarted in
// between and may have lost them: the next commitLocked sends them again.
func (h *fileHandle) keepUnstableLocked(off uint64, data []byte, verf nfs4.Verifier) {
	if h.dirty && h.verf != verf {
		h.mixed = true
	}
	h.dirty, h.verf = true, verf
	h.pending = append(h.pending, pendingWrite{off, data})
	h.pendingBytes += len(data)
	if h.pendingBytes >= commitAheadAt && h.committing == nil && !h.mixed {
		h.commitAheadLocked()
	}
}

// commitAheadLocked starts a COMMIT in the background (h.mu held). If it
// succeeds with the verifier of the pending writes, the copies of the
// writes made before it was sent are dropped; anything else (an error, a
// server restart) is left to the next commitLocked, which resends.
func (h *fileHandle) commitAheadLocked() {
	n, verf := len(h.pending), h.verf
	done := make(chan struct{})
	h.committing = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		v, err := h.n.fsys.C.Commit(ctx, h.of.FH, 0, 0)
		cancel()
		h.mu.Lock()
		defer h.mu.Unlock()
		h.committing = nil
		close(done)
		if err != nil || v != verf || h.verf != verf || h.mixed || n > len(h.pending) {
			return
		}
		for i, w := range h.pending[:n] {
			h.pendingBytes -= len(w.data)
			h.n.fsys.writeCopies.put(w.data)
			h.pending[i].data = nil
		}
		h.pending = h.pending[n:]
		if len(h.pending) == 0 {
			h.pending, h.dirty = nil, false
		}
	}()
}

// commitTimeout bounds a background COMMIT.
const commitTimeout = 2 * time.Minute

// waitCommitAheadLocked waits for a background COMMIT to end (h.mu held,
// released meanwhile): pending must not change under another COMMIT's
// bookkeeping.
func (h *fileHandle) waitCommitAheadLocked() {
	for h.committing != nil {
		done := h.committing
		h.mu.Unlock()
		<-done
		h.mu.Lock()
	}
}

// resendLocked rewrites every pending write FILE_SYNC through the open
// of, and forgets them once all are stable (h.mu held; no write of h in
// flight, so overlapping data goes out in its order).
func (h *fileHandle) resendLocked(ctx context.Context, of *nfs4client.OpenFile) syscall.Errno {
	h.waitCommitAheadLocked()
	for _, w := range h.pending {
		if _, _, err := h.n.fsys.C.WriteAll(ctx, of.FH, of.SID(), w.off, w.data, nfs4.FileSync4); err != nil {
			return ToErrno(err)
		}
	}
	h.dropPendingLocked()
	return 0
}

// dropPendingLocked forgets the pending copies: they are stable.
func (h *fileHandle) dropPendingLocked() {
	for _, w := range h.pending {
		h.n.fsys.writeCopies.put(w.data)
	}
	h.pending, h.pendingBytes, h.dirty, h.mixed = nil, 0, false, false
}

// commit makes unstable writes durable, background ones included; a
// verifier that changed since they were written means the server may have
// lost them: they are sent again.
func (h *fileHandle) commit(ctx context.Context) syscall.Errno {
	h.n.writes.drain()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.commitLocked(ctx)
}

func (h *fileHandle) commitLocked(ctx context.Context) syscall.Errno {
	h.waitCommitAheadLocked()
	if !h.dirty {
		return 0
	}
	v, err := h.n.fsys.C.Commit(ctx, h.of.FH, 0, 0)
	if err != nil {
		return ToErrno(err)
	}
	if v != h.verf || h.mixed {
		return h.resendLocked(ctx, h.of)
	}
	h.dropPendingLocked()
	return 0
}

// Flush runs at every close(2) of a descriptor: it waits until the server
// has answered every write made before, so other clients that open the
// file after this close see the data (close-to-open consistency, RFC 7530
// §10.3.1), and returns the error of a background write. Durability is
// fsync's business, as on a local filesystem: the COMMIT (a server fsync)
// is left to Release, which the kernel sends after close(2) has returned,
// instead of making every close wait for one. Until it is committed the
// data stays in pending, so a server that restarts in between is sent it
// again.
func (h *fileHandle) Flush(ctx context.Context) syscall.Errno {
	h.n.writes.drain()
	return h.behindError(false)
}

func (h *fileHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	errno := h.commit(h.n.call(ctx))
	if e := h.behindError(true); e != 0 {
		return e
	}
	return errno
}

// Release commits what is left and CLOSEs the open (RFC 7530 §16.2), in
// one COMPOUND where it can (closeOnServer). The kernel has no caller to
// report errors to here.
func (h *fileHandle) Release(ctx context.Context) syscall.Errno {
	bg := context.Background()
	h.n.writes.drain()
	errno := h.behindError(true)
	h.mu.Lock()
	closed := h.closed
	h.closed = true
	h.mu.Unlock()
	if closed {
		return errno
	}
	h.releaseLocks(bg) // LOCKU before CLOSE (NFS4ERR_LOCKS_HELD)
	if e := h.closeOnServer(bg); errno == 0 {
		errno = e
	}
	h.n.released(h)
	h.n.closed()
	return errno
}

// closeOnServer COMMITs h's unstable writes and CLOSEs its open in one
// round trip (nfs4client.CloseCommit), returning the file's delegation in
// it too when this was the last open and the client holds many
// (returnOnClose). Should the COMMIT's verifier show that the server
// restarted after the WRITEs, they are sent again under a new open
// (resendClosed).
func (h *fileHandle) closeOnServer(ctx context.Context) syscall.Errno {
	c := h.n.fsys.C
	h.mu.Lock()
	h.waitCommitAheadLocked()
	var errno syscall.Errno
	if h.mixed {
		// Data written before a restart: resent while the open lasts.
		errno = h.commitLocked(ctx)
	}
	dirty, verf := h.dirty, h.verf
	h.mu.Unlock()
	ret := h.n.returnOnClose(h)
	v, committed, err := c.CloseCommit(ctx, h.of, dirty, ret)
	switch {
	case dirty && !committed:
		// The COMMIT failed and nothing else was done: the slow way.
		h.mu.Lock()
		errno = h.commitLocked(ctx)
		h.mu.Unlock()
		_, _, err = c.CloseCommit(ctx, h.of, false, ret)
	case dirty && v != verf:
		errno = h.resendClosed(ctx)
	case dirty:
		h.mu.Lock()
		h.dropPendingLocked()
		h.mu.Unlock()
	}
	if err != nil && errno == 0 {
		errno = ToErrno(err)
	}
	return errno
}

// resendClosed sends h's uncommitted writes again, FILE_SYNC, under a new
// OPEN with the opener's credential: the server restarted after
// answering them UNSTABLE, and h's own open is closed.
func (h *fileHandle) resendClosed(ctx context.Context) syscall.Errno {
	c := h.n.fsys.C
	if h.hasOpener {
		ctx = nfs4client.WithCred(ctx, h.opener)
	}
	of, err := c.OpenFH(ctx, h.of.FH, nfs4.ShareAccessWrite)
	if err != nil {
		log.Printf("mount: reopening a file to resend writes a restarted server may have lost: %v", err)
		return ToErrno(err)
	}
	h.mu.Lock()
	errno := h.resendLocked(ctx, of)
	h.dropPendingLocked() // on failure too: nothing will send them again
	h.mu.Unlock()
	if err := c.CloseFile(ctx, of); err != nil && errno == 0 {
		errno = ToErrno(err)
	}
	return errno
}
