package mount

import (
	"context"
	"log"
	"strconv"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// Attribute changes behind the data.
//
// tar, cp -p and rsync end every file with futimens, fchown and fchmod
// after its last write(2). Each was a SETATTR round trip the program
// waited for (PUTFH WRITE SETATTR GETATTR for the first, which takes the
// gathered data along). Under a write delegation no other client can open
// the file, and fs_serv recalls the delegation before it answers another
// client's GETATTR of these attributes (nfs4srv getattrBreak), so the
// changes can wait behind the data like a write does: they join the
// file's gathered, unsent write and go out in its COMPOUND (PUTFH WRITE
// SETATTR GETATTR, several changes merged into one SETATTR) when anything
// waits for the data — close(2), fsync, stat, a recall — or gatherDelay
// after the first piece. The kernel is answered at once with the
// attributes the server will have (predicted from the last ones known),
// for no cache time, so the next stat asks again and gets the server's.
//
// A change is deferred only when the server will take it, as far as the
// client can tell: the file was created through this open by the same
// AUTH_SYS user and the server made that user its owner (so the server
// does not map the user to someone else, as root squashing does); the
// user is root, or owns the file and changes neither owner nor group;
// and no set-user-ID, set-group-ID or sticky bit is involved (chown
// clears them, chmod may silently drop them, so order and outcome would
// be the server's to decide). Everything else is sent as before. Should
// the server still refuse (an ACL that denies the owner WRITE_ATTRIBUTES,
// say), the error is returned by the file's close(2), fsync(2) or next
// write(2), as a failed background write's is, and the kernel's
// attributes of the file are dropped.

// deferSetattr takes the attribute change set (SETATTR without a size)
// behind n's gathered write when it may (see above), answering the kernel
// in out; false: send it now.
func (n *Node) deferSetattr(cctx context.Context, set *nfs4.Attrs, out *fuse.AttrOut) bool {
	if n.fsys.Opts.NoWriteBehind || !set.Present.SubsetOf(deferrableAttrs) {
		return false
	}
	d := n.deleg()
	if d == nil || !d.Write() || !d.Valid() {
		return false
	}
	cred, ok := nfs4client.CredFrom(cctx)
	if !ok || cred.Flavor != rpc.AuthSys {
		return false
	}
	n.mu.Lock()
	last := n.lastAttrs
	n.mu.Unlock()
	w := &n.writes
	w.lock()
	g := w.g
	inFlight := 1
	if g != nil && g.set != nil {
		inFlight = 2 // its data and its attribute entry
	}
	if g == nil || len(w.ws) != inFlight || !g.h.createdBy(cred) || !sameCred(g.ctx, cctx) {
		w.mu.Unlock()
		return false
	}
	base := last
	if g.set != nil {
		base = g.pred
	}
	if base == nil || !setAllowed(cred.Sys.UID, base, set) {
		w.mu.Unlock()
		return false
	}
	size, change := d.Attrs()
	pred := predictAttrs(base, set, size, time.Now())
	if g.set == nil {
		g.set = &nfs4.Attrs{}
		g.setSeq = w.next
		w.next++
		w.ws = append(w.ws, behindWrite{seq: g.setSeq, attrs: true})
		// Lookups and listings of the file wait for it (freshAttrs);
		// under w.mu, so it is counted before sendAttrsBehind ends it.
		n.fsys.touched.busy(n, +1, n.fsys.lookaheadTTL())
	}
	mergeSet(g.set, set)
	g.pred = pred
	w.mu.Unlock()
	d.SetAttrs(size, change+1) // CB_GETATTR: changed (§10.4.3)
	n.dropAttrs()
	n.mu.Lock()
	n.lastAttrs = pred
	n.mu.Unlock()
	fillAttr(pred, &out.Attr)
	n.fsys.Opts.mapOwner(&out.Attr)
	out.SetTimeout(0)
	return true
}

// predictedGetattr answers a GETATTR of n from the attributes its
// deferred changes will give it, without sending them, when they fix the
// modification time (which the data landing on the server would move
// otherwise): the kernel asks before every chown (fuse_setattr refreshes
// i_mode to clear set-user-ID bits), which would send the changes one by
// one. The answer carries no cache time.
func (n *Node) predictedGetattr(out *fuse.AttrOut) bool {
	w := &n.writes
	w.lock()
	g := w.g
	if g == nil || g.set == nil || !g.set.Present.Has(nfs4.AttrTimeModifySet) || len(w.ws) != 2 {
		w.mu.Unlock()
		return false
	}
	pred := g.pred
	w.mu.Unlock()
	d := n.deleg()
	if d == nil || !d.Valid() {
		return false
	}
	p := *pred
	p.Size, _ = d.Attrs()
	fillAttr(&p, &out.Attr)
	n.fsys.Opts.mapOwner(&out.Attr)
	out.SetTimeout(0)
	return true
}

// deferrableAttrs are what deferSetattr may take behind the data.
var deferrableAttrs = func() nfs4.Bitmap {
	var b nfs4.Bitmap
	for _, a := range []int{nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrOwnerGroup,
		nfs4.AttrTimeAccessSet, nfs4.AttrTimeModifySet} {
		b.Set(a)
	}
	return b
}()

// createdBy reports whether h created its file for the AUTH_SYS user of
// cred and the server made that user the owner.
func (h *fileHandle) createdBy(cred rpc.Auth) bool {
	return h.created && h.opener.Flavor == rpc.AuthSys && h.opener.Sys.UID == cred.Sys.UID
}

// setAllowed reports whether POSIX lets user uid apply set to a file with
// the attributes a, with no special mode bit involved.
func setAllowed(uid uint32, a *nfs4.Attrs, set *nfs4.Attrs) bool {
	if a.Mode&07000 != 0 || (set.Present.Has(nfs4.AttrMode) && set.Mode&07000 != 0) {
		return false
	}
	if uid == 0 {
		return true
	}
	owner, group := nfs4client.OwnerID(a.Owner), nfs4client.OwnerID(a.OwnerGroup)
	return owner == uid &&
		(!set.Present.Has(nfs4.AttrOwner) || set.UID == owner) &&
		(!set.Present.Has(nfs4.AttrOwnerGroup) || set.GID == group)
}

// predictAttrs is a with set applied at now, the file's size being size.
func predictAttrs(a *nfs4.Attrs, set *nfs4.Attrs, size uint64, now time.Time) *nfs4.Attrs {
	p := *a
	p.Size = size
	if set.Present.Has(nfs4.AttrMode) {
		p.Mode = set.Mode
	}
	if set.Present.Has(nfs4.AttrOwner) {
		p.Owner = strconv.AppendUint(nil, uint64(set.UID), 10)
	}
	if set.Present.Has(nfs4.AttrOwnerGroup) {
		p.OwnerGroup = strconv.AppendUint(nil, uint64(set.GID), 10)
	}
	t := nfs4.Time{Seconds: now.Unix(), NSeconds: uint32(now.Nanosecond())}
	if set.Present.Has(nfs4.AttrTimeAccessSet) {
		p.TimeAccess = setTime(set.TimeAccessSet, t)
	}
	if set.Present.Has(nfs4.AttrTimeModifySet) {
		p.TimeModify = setTime(set.TimeModifySet, t)
	}
	p.TimeMetadata = t
	return &p
}

func setTime(s nfs4.SetTime, now nfs4.Time) nfs4.Time {
	if s.How == nfs4.SetToServerTime {
		return now
	}
	return s.Time
}

// mergeSet adds the changes of set to into, later values winning.
func mergeSet(into, set *nfs4.Attrs) {
	p := set.Present
	if p.Has(nfs4.AttrMode) {
		into.Mode = set.Mode
	}
	if p.Has(nfs4.AttrOwner) {
		into.UID = set.UID
	}
	if p.Has(nfs4.AttrOwnerGroup) {
		into.GID = set.GID
	}
	if p.Has(nfs4.AttrTimeAccessSet) {
		into.TimeAccessSet = set.TimeAccessSet
	}
	if p.Has(nfs4.AttrTimeModifySet) {
		into.TimeModifySet = set.TimeModifySet
	}
	for i, w := range p {
		for len(into.Present) <= i {
			into.Present = append(into.Present, 0)
		}
		into.Present[i] |= w
	}
}

// sendAttrsBehind sends g's data and its deferred attribute changes in
// one COMPOUND (setAttrsAfter) and records the outcome before the changes
// count as done: a failure is the file's next write, close or fsync
// error.
func (n *Node) sendAttrsBehind(g *gathering) {
	a, err := n.setAttrsAfter(g.ctx, g, nfs4.StateID{}, g.set)
	n.attrsSent(g, a, err)
}

// attrsSent records the outcome of g's deferred changes (a: the file's
// attributes after them, if known) and ends them.
func (n *Node) attrsSent(g *gathering, a *nfs4.Attrs, err error) {
	h := g.h
	if err != nil {
		log.Printf("mount: deferred SETATTR of a written file failed: %v (reported at its close or fsync)", err)
		h.mu.Lock()
		if h.behindErr == 0 {
			h.behindErr = ToErrno(err)
		}
		h.mu.Unlock()
	} else if a != nil {
		n.mu.Lock()
		n.lastAttrs = a
		n.mu.Unlock()
		if d := n.deleg(); d != nil && d.Write() {
			size, change := d.Attrs()
			d.SetAttrs(max(size, a.Size), max(change, a.Change))
		}
	}
	// Not cached: writes acknowledged meanwhile are not in a.
	n.dropAttrs()
	n.fsys.touched.busy(n, -1, n.fsys.lookaheadTTL())
	n.writes.done(g.setSeq)
	if err != nil {
		n.NotifyContent(-1, 0) // the kernel's attributes were the predicted ones
	}
}
