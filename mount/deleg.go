package mount

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Delegations in the mount (RFC 8881 §10.4; nfs4client/deleg.go).
//
// While the client holds a delegation on a file, nobody else can change
// it without the server recalling the delegation first, so:
//   - attribute and entry replies for it carry DelegTimeout instead of
//     the 1 s attr_timeout/entry_timeout, and GETATTRs the kernel still
//     sends are answered from the attributes cached under the delegation
//     (§10.4.2);
//   - opens keep the kernel's page cache (FOPEN_KEEP_CACHE), and a
//     read-only open by a user who has already opened the file on the
//     server under this delegation is done locally, with no OPEN/CLOSE
//     round trip (§10.4: the delegation stateid serves its READs).
//
// On a recall the handler (delegHandler) commits data written under a
// write delegation, turns local opens into server opens (CLAIM_DELEG_CUR_FH),
// drops the cached attributes, invalidates the kernel's pages and
// attributes of the inode and its directory entry (NotifyContent,
// NotifyEntry), and only then lets the client send DELEGRETURN.
// Without a delegation, close-to-open consistency and the short timeouts
// apply as before. -o nodeleg turns all of this off.
//
// A change made by a process on the server host is seen only because the
// server recalls the delegation for it: fs_serv watches delegated files of
// its dir backend with fanotify (serve/nfs4srv/localchange.go) and grants
// no delegations where it cannot. The recall follows the local change
// asynchronously (milliseconds). A server that neither recalls nor
// withholds delegations would leave such a change invisible up to
// DelegTimeout.

// DelegTimeout is the kernel's attribute and entry cache time for a file
// under delegation: the recall, not a timer, ends the caching.
const DelegTimeout = time.Hour

// nodeDeleg is the delegation state of a node (guarded by Node.mu).
type nodeDeleg struct {
	d       *nfs4client.Delegation // the delegation attrs were cached under
	attrs   *nfs4.Attrs            // valid while d is; nil: ask the server
	readers map[string]bool        // credentials (credKey) whose server OPEN for read succeeded under d
	handles map[*fileHandle]struct{}
}

// delegNodes maps file handles to the nodes holding delegations on them.
type delegNodes struct {
	mu sync.Mutex
	m  map[string]*Node
}

func (fsys *FS) enableDelegations() {
	if fsys.Opts.NoDeleg || fsys.C == nil {
		return
	}
	fsys.C.EnableDelegations(delegHandler{fsys})
}

// deleg returns the valid delegation on n, or nil.
func (n *Node) deleg() *nfs4client.Delegation {
	if n.fsys.Opts.NoDeleg {
		return nil
	}
	return n.fsys.C.Delegation(n.fh)
}

// cachedGetattr answers GETATTR from the attributes cached under the
// delegation, if any.
func (n *Node) cachedGetattr(out *fuse.AttrOut) bool {
	d := n.deleg()
	if d == nil {
		return false
	}
	n.noteLongReply()
	if !d.Valid() {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dl.d != d || n.dl.attrs == nil {
		return false
	}
	fillAttr(n.dl.attrs, &out.Attr)
	if n.silly != "" {
		out.Nlink = max(n.dl.attrs.NumLinks, 1) - 1
	}
	n.fsys.Opts.mapOwner(&out.Attr)
	out.SetTimeout(DelegTimeout)
	return true
}

// storeAttrsLocked caches a, fetched while d was the delegation, and
// reports whether replies may carry DelegTimeout: only when n is
// registered for recalls while d is still valid (n.mu held).
func (n *Node) storeAttrsLocked(d *nfs4client.Delegation, a *nfs4.Attrs) bool {
	if d == nil || a == nil || !n.holdDeleg(d) {
		return false
	}
	if n.dl.d != d {
		n.dl = nodeDeleg{d: d, handles: n.dl.handles}
	}
	n.dl.attrs = a
	return true
}

// holdDeleg registers n to be invalidated when d is recalled and reports
// whether d was still valid then. Under fsys.dn.mu, so a recall either
// finds n registered or registration sees d invalid: a long cache time
// is never handed out unseen by the recall.
func (n *Node) holdDeleg(d *nfs4client.Delegation) bool {
	dn := &n.fsys.dn
	dn.mu.Lock()
	defer dn.mu.Unlock()
	n.noteLongReply()
	if !d.Valid() {
		return false
	}
	if dn.m == nil {
		dn.m = map[string]*Node{}
	}
	dn.m[string(n.fh)] = n
	return true
}

// dropAttrs forgets cached attributes after a change of our own, here and
// in directory listings (lookahead.go).
func (n *Node) dropAttrs() {
	n.mu.Lock()
	n.dl.attrs = nil
	n.mu.Unlock()
	n.fsys.touched.touch(n.fh, n.fsys.lookaheadTTL())
}

// wrote notes a WRITE that ended at end: cached attributes are stale, and
// CB_GETATTR must report the new size and a new change (§10.4.3).
func (n *Node) wrote(end uint64) {
	n.dropAttrs()
	n.wroteCached(end)
}

// wroteCached is wrote without the note in touchedFHs, for a background
// write (nodeWrites.start makes that note).
func (n *Node) wroteCached(end uint64) {
	n.mu.Lock()
	n.dl.attrs = nil
	n.mu.Unlock()
	if d := n.deleg(); d != nil && d.Write() {
		size, change := d.Attrs()
		d.SetAttrs(max(size, end), change+1)
	}
}

// setAttrTimeout finishes an attribute reply: long under a delegation
// (long from storeAttrsLocked).
func (n *Node) setAttrTimeout(out *fuse.AttrOut, long bool) {
	if long {
		n.fsys.Opts.mapOwner(&out.Attr)
		out.SetTimeout(DelegTimeout)
		return
	}
	n.fsys.Opts.attrTimeout(out)
}

// entryTimeoutsFor finishes an entry reply for the object fh: long when
// a node registered for recalls caches it under a valid delegation.
func (fsys *FS) entryTimeoutsFor(fh []byte, out *fuse.EntryOut) {
	fsys.Opts.entryTimeouts(out)
	if fsys.Opts.NoDeleg {
		return
	}
	fsys.dn.mu.Lock()
	defer fsys.dn.mu.Unlock()
	n := fsys.dn.m[string(fh)]
	if n == nil {
		return
	}
	n.noteLongReply()
	if fsys.C.Delegation(fh) != nil {
		out.SetAttrTimeout(DelegTimeout)
		out.SetEntryTimeout(DelegTimeout)
	}
}

// openedOnServer records a server OPEN of n by the credential cred
// (credKey; of.Attrs fresh), registering n for recalls when it brought or
// found a delegation.
func (n *Node) openedOnServer(h *fileHandle, cred string, access uint32) {
	d := n.deleg()
	n.mu.Lock()
	if n.dl.handles == nil {
		n.dl.handles = map[*fileHandle]struct{}{}
	}
	n.dl.handles[h] = struct{}{}
	if n.storeAttrsLocked(d, h.of.Attrs) {
		if access&nfs4.ShareAccessRead != 0 && cred != "" {
			if n.dl.readers == nil {
				n.dl.readers = map[string]bool{}
			}
			n.dl.readers[cred] = true
		}
	}
	n.mu.Unlock()
}

// localOpen opens n without a round trip when a delegation allows it: a
// read-only open by a user the server already let open the file for read
// under the same delegation, with the attributes cached (RFC 8881 §10.4).
func (n *Node) localOpen(ctx context.Context, flags uint32) *fileHandle {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil
	}
	d := n.deleg()
	cred := credKey(ctx)
	if d == nil || cred == "" {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dl.d != d || n.dl.attrs == nil || !n.dl.readers[cred] || !d.Valid() {
		return nil
	}
	h := &fileHandle{n: n, of: n.fsys.C.OpenLocal(d, nfs4.ShareAccessRead, n.dl.attrs), stable: stableFor(flags)}
	n.dl.handles[h] = struct{}{}
	n.opens++
	return h
}

// delegWatermark: while the client holds more file delegations than this,
// the last close of a file returns its delegation in the CLOSE's COMPOUND
// (closeOnServer), as the Linux client does past its delegation_watermark.
// A program that unpacks a large tree would otherwise keep one per file
// until the server, at its own bound, recalls them one by one: a
// CB_RECALL and a DELEGRETURN more per file. Below it, delegations stay
// until recalled, for the caching they allow.
const delegWatermark = 4096

// returnOnClose decides, at the release of h, whether n's delegation goes
// back with the CLOSE: only past delegWatermark and when h is n's last
// open. If so the delegation is marked returned, what the kernel cached
// under it is dropped (as a recall does, DelegRecall), and it is returned
// for nfs4client.CloseCommit; else nil.
func (n *Node) returnOnClose(h *fileHandle) *nfs4client.Delegation {
	c := n.fsys.C
	mark := n.fsys.Opts.DelegWatermark
	if mark <= 0 {
		mark = delegWatermark
	}
	if n.fsys.Opts.NoDeleg || c.DelegationCount() <= mark {
		return nil
	}
	d := n.deleg()
	if d == nil {
		return nil
	}
	n.mu.Lock()
	_, mine := n.dl.handles[h]
	last := mine && len(n.dl.handles) == 1
	n.mu.Unlock()
	if !last || !c.BeginReturn(d) {
		return nil
	}
	delegHandler{n.fsys}.node(d.FH) // no longer registered for its recall
	n.invalidate(d)
	return d
}

// released forgets a closed handle.
func (n *Node) released(h *fileHandle) {
	n.mu.Lock()
	delete(n.dl.handles, h)
	n.mu.Unlock()
}

// delegHandler carries out recalls for an FS (nfs4client.DelegHandler).
type delegHandler struct{ fsys *FS }

func (h delegHandler) node(fh []byte) *Node {
	h.fsys.dn.mu.Lock()
	defer h.fsys.dn.mu.Unlock()
	n := h.fsys.dn.m[string(fh)]
	delete(h.fsys.dn.m, string(fh))
	return n
}

// DelegRecall flushes and invalidates before the client's DELEGRETURN.
func (h delegHandler) DelegRecall(ctx context.Context, d *nfs4client.Delegation) {
	n := h.node(d.FH)
	if n == nil {
		return
	}
	n.mu.Lock()
	hs := make([]*fileHandle, 0, len(n.dl.handles))
	for fh := range n.dl.handles {
		hs = append(hs, fh)
	}
	n.mu.Unlock()
	for _, fh := range hs {
		// Data written under a write delegation goes to stable
		// storage before the delegation does (RFC 8881 §10.4.1), and
		// local opens become real ones while d still covers them.
		fh.commit(ctx)
		if fh.of.Local() {
			h.fsys.C.ConvertLocal(ctx, fh.of, d)
		}
	}
	n.invalidate(d)
}

// DelegLost invalidates what was cached under a delegation that ended
// without a recall (server restart, revocation).
func (h delegHandler) DelegLost(d *nfs4client.Delegation) {
	if n := h.node(d.FH); n != nil {
		n.invalidate(d)
	}
}

// invalidate drops the attributes cached under d and the kernel's pages,
// attributes and directory entry of n (go-fuse NotifyContent with offset
// 0 and length 0 covers the whole file, NotifyEntry the name). d is no
// longer valid (marked recalled) when it is called.
//
// A reply that carries DelegTimeout and was decided while d was valid can
// reach the kernel after these notifications: go-fuse writes it once the
// handler has returned. The kernel would then cache for DelegTimeout what
// nothing will invalidate any more. Such handlers note the time first
// (noteLongReply, before they check d): if one was that recent, the
// notifications are sent again once its reply has surely been written.
func (n *Node) invalidate(d *nfs4client.Delegation) {
	n.mu.Lock()
	if n.dl.d == d {
		n.dl.d, n.dl.attrs, n.dl.readers = nil, nil, nil
	}
	n.mu.Unlock()
	n.notifyKernel()
	if time.Since(time.Unix(0, n.longReply.Load())) < lateReplyWindow {
		time.AfterFunc(lateReplyWindow, n.notifyKernel)
	}
}

// lateReplyWindow bounds how long after its handler decided it a reply is
// written to the kernel (invalidate).
const lateReplyWindow = 100 * time.Millisecond

// noteLongReply records that a reply with DelegTimeout may be under way.
func (n *Node) noteLongReply() { n.longReply.Store(time.Now().UnixNano()) }

func (n *Node) notifyKernel() {
	n.NotifyContent(0, 0)
	if name, parent := n.Parent(); parent != nil {
		parent.NotifyEntry(name)
	}
}

// localHandle is a fileHandle opened locally under a delegation. A lock
// request first makes it an open on the server: byte-range locks need a
// real open stateid (open_to_lock_owner4, RFC 8881 §18.10).
type localHandle struct{ *fileHandle }

func (h localHandle) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	if err := h.serverOpen(h.n.call(ctx)); err != nil {
		return ToErrno(err)
	}
	return h.fileHandle.Setlk(ctx, owner, lk, flags)
}

func (h localHandle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	if err := h.serverOpen(h.n.call(ctx)); err != nil {
		return ToErrno(err)
	}
	return h.fileHandle.Setlkw(ctx, owner, lk, flags)
}

// serverOpen makes sure h is an open on the server.
func (h *fileHandle) serverOpen(ctx context.Context) error {
	if !h.of.Local() {
		return nil
	}
	d := h.n.deleg()
	if d == nil {
		return syscall.EIO // returned meanwhile; the recall converted it
	}
	return h.n.fsys.C.ConvertLocal(ctx, h.of, d)
}

// credKey names the full AUTH_SYS identity of a FUSE caller (uid, gid and
// supplementary groups): the server's permission check at OPEN holds for
// that identity only, so a local open must be by the same one ("" for no
// caller).
func credKey(ctx context.Context) string {
	c, ok := fuse.FromContext(ctx)
	if !ok {
		return ""
	}
	return fmt.Sprint(c.Uid, c.Gid, callerGroups.get(c.Pid, c.Uid, c.Gid))
}
