package nfs4srv

import (
	"sync/atomic"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/state"
)

// Directory delegations (RFC 8881 §10.9, §18.39 GET_DIR_DELEGATION, §20.4
// CB_NOTIFY; CB_RECALL §20.2 applies unchanged).
//
// A directory delegation lets a 4.1 client cache a directory's entries
// until told otherwise. It is a read delegation on the directory's handle
// (serve/state/dirdeleg.go), so DELEGRETURN, revocation a lease after an
// unanswered recall, client expiry and DESTROY_CLIENTID treat it like a
// file delegation, a SETATTR of the directory or a local change recalls
// it (localchange.go, through a directory watch of the backend), and the
// metrics count it with the file delegations.
//
// Changes of the entries by another client (CREATE, OPEN creating a file,
// LINK, REMOVE, RENAME in or out) either recall it, the change waiting
// with NFS4ERR_DELAY until it is returned or revoked, or, for an addition
// (CREATE, LINK, OPEN creating) when the holder asked for
// NOTIFY4_ADD_ENTRY, are told to the holder with CB_NOTIFY after they
// were made. That is the only notification offered: a NOTIFY4_REMOVE_ENTRY
// must carry the removed entry's READDIR cookie, which the backends
// cannot give once the entry is gone, and attribute notifications would
// need change tracking of every child. Changes by the holder itself
// conflict with nothing (§10.9.1).
//
// Notifications carry no cookie, no previous entry and no attributes
// (the gddr_child_attributes granted are empty); they are sent in the
// background, one CB_COMPOUND each, so two of them may arrive out of
// order. A notification the client does not acknowledge recalls the
// delegation.

func init() {
	handle(nfs4.OpGetDirDelegation, needFH, opGetDirDelegation)
}

// dirChanging counts the entry changes under way, by a hash of the
// directory's wire handle. A change counts itself before its conflict
// check and until the backend has made it; a grant that finds a change
// under way on its directory is undone. Without this, a delegation granted
// between a change's check and the change itself would let its holder
// cache a listing the change then silently invalidates. Either the change
// counted itself before the grant looked (the grant is undone) or its
// check came after the grant (and recalls). Sharded by hash: a collision
// only makes a grant unavailable.
type dirChanges [64]atomic.Int32

func dirShard(key string) int {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % uint32(len(dirChanges{})))
}

// dirChg is a change under way to the entries of one directory: the
// holders to notify once it is made. end must be called once the change
// is made or abandoned.
type dirChg struct {
	ns  []state.DirNotice
	ctr *atomic.Int32 // the shard of Server.dirChanging counted; nil: nothing counted
}

func (s *Server) beginDirChange(key string) dirChg {
	ctr := &s.dirChanging[dirShard(key)]
	ctr.Add(1)
	return dirChg{ctr: ctr}
}

func (d dirChg) end() {
	if d.ctr != nil {
		d.ctr.Add(-1)
	}
}

// dirNotifyOffered are the notification types we send (as bits).
const dirNotifyOffered = 1 << nfs4.NotifyAddEntry

// opGetDirDelegation is GET_DIR_DELEGATION (RFC 8881 §18.39).
func opGetDirDelegation(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.GetDirDelegationArgs)
	res := &nfs4.GetDirDelegationRes{}
	at, st := c.curAttr()
	if st == nfs4.OK && at.Type != fsadapters.TypeDir {
		st = nfs4.ErrNotDir
	}
	if st == nfs4.OK && fsadapters.AccessAllowed(&at, &c.cred, fsadapters.MayRead) != fsadapters.MayRead {
		st = nfs4.ErrAccess // the entries (and notifications of them) are not the client's to see
	}
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	// GDD4_UNAVAIL: we never signal availability later (no
	// CB_RECALLABLE_OBJ_AVAIL), so gddrnf_will_signal_deleg_avail is false.
	res.NonFatal = nfs4.GDD4Unavail
	fs := c.fs()
	if _, pseudo := fs.(*pseudoFS); pseudo || c.seq == nil || !c.s.delegationsOn() {
		return res // the pseudo filesystem changes with exports: no recall there
	}
	id := c.seq.clientID
	if !c.s.cb.pathOK(id, c.minor) {
		return res
	}
	key := c.fhKey()
	// Watch for local changes before granting (localchange.go).
	release, ok := c.s.holdLocalWatch(fs, c.cur.ex, c.cur.h, key, false)
	if !ok {
		return res
	}
	defer release()
	var notify uint32
	for _, t := range []int{nfs4.NotifyAddEntry} {
		if args.NotificationTypes.Has(t) && dirNotifyOffered&(1<<t) != 0 {
			notify |= 1 << t
		}
	}
	sid, ok := c.s.state.GrantDirDelegation(id, key, notify, c.minor)
	if !ok {
		return res
	}
	if c.s.dirChanging[dirShard(key)].Load() > 0 {
		// A change may have passed its check before the grant.
		c.s.state.ReturnDelegation(sid, key, id, c.minor)
		return res
	}
	// The cookie verifier the holder's cached READDIR cookies belong to.
	verf, _, err := fs.ReadDir(c.ctx, &c.cred, c.cur.h, 0, fsadapters.CookieVerf{},
		func(*fsadapters.DirEntry) bool { return false })
	if err == nil {
		res.CookieVerf = nfs4.Verifier(verf)
	}
	res.NonFatal = nfs4.GDD4OK
	res.StateID = sid
	res.Notification = nfs4.Bitmap{notify}
	res.ChildAttributes = nfs4.Bitmap{}
	res.DirAttributes = nfs4.Bitmap{}
	return res
}

// dirChange is the directory delegation check of a change to the entries
// of directory dirKey (a wire handle) by this compound's client:
// NFS4ERR_DELAY while delegations of other clients are recalled. The
// holders to notify once the change is made are returned (notifyType is
// the NOTIFY4_* type of the change, -1 if it is not one we notify).
func (c *compound) dirChange(dirKey string, notifyType int, except uint64) (dirChg, nfs4.Status) {
	ch := c.s.beginDirChange(dirKey)
	if !c.s.state.HasDirDelegations() {
		return ch, nfs4.OK
	}
	if c.seq != nil {
		except = c.seq.clientID
	}
	var err error
	ch.ns, err = c.s.state.BreakDirDelegations(dirKey, except, notifyType)
	if err != nil {
		ch.end()
		return dirChg{}, statusOf(err)
	}
	return ch, nfs4.OK
}

// openCreateDirChange is dirChange for an OPEN that may create its name in
// the current directory: only when the name does not exist yet. The name
// is looked up only when some directory delegation exists: otherwise
// there is nothing to recall or notify, and the change is only counted
// (in the same order as dirChange: counted, then the delegations read),
// which makes a concurrent GET_DIR_DELEGATION of the directory back off.
func (c *compound) openCreateDirChange(args *nfs4.OpenArgs, o *state.Owner) (dirChg, nfs4.Status) {
	if args.OpenHow.OpenType != nfs4.OpenCreate || args.Claim.Claim != nfs4.ClaimNull ||
		checkName(args.Claim.File) != nfs4.OK {
		return dirChg{}, nfs4.OK
	}
	ch := c.s.beginDirChange(c.fhKey())
	if !c.s.state.HasDirDelegations() {
		return ch, nfs4.OK
	}
	ch.end()
	if _, _, err := c.fs().Lookup(c.ctx, &c.cred, c.cur.h, string(args.Claim.File)); err == nil {
		// Opens an existing file, or fails with NFS4ERR_EXIST: the
		// directory does not change, and nothing is recalled.
		return dirChg{}, nfs4.OK
	}
	return c.dirChange(c.fhKey(), nfs4.NotifyAddEntry, c.delegClientID(o))
}

// notifyAdded sends CB_NOTIFY NOTIFY4_ADD_ENTRY for name to the holders
// in ns (RFC 8881 §20.4), in the background.
func (c *compound) notifyAdded(ch dirChg, name []byte) {
	ns := ch.ns
	if len(ns) == 0 {
		return
	}
	n := nfs4.MakeNotify(&nfs4.NotifyValues{Add: &nfs4.NotifyAdd{
		NewEntry: nfs4.NotifyEntry{Name: append([]byte(nil), name...), Attrs: nfs4.Fattr{Mask: nfs4.Bitmap{}}}}})
	for _, dn := range ns {
		go c.s.sendNotify(dn, []nfs4.Notify{n})
	}
}

// sendNotify sends one CB_NOTIFY. A holder that does not acknowledge it
// may go on trusting stale entries: its delegation is recalled.
func (s *Server) sendNotify(dn state.DirNotice, changes []nfs4.Notify) {
	args := &nfs4.CBNotifyArgs{StateID: dn.StateID, FH: []byte(dn.FHKey), Changes: changes}
	res, err := s.cb.call(dn.ClientID, dn.Minor, []nfs4.CBArgOp{{Op: nfs4.CBOpNotify, Args: args}})
	if err == nil && res.Status == nfs4.OK {
		s.log.Debug("CB_NOTIFY sent", "clientid", dn.ClientID)
		return
	}
	if err != nil {
		s.log.Info("CB_NOTIFY failed: recalling the directory delegation", "clientid", dn.ClientID, "err", err)
	} else {
		s.log.Info("CB_NOTIFY refused: recalling the directory delegation", "clientid", dn.ClientID,
			"status", res.Status.Error())
	}
	s.state.RecallDelegation(dn.StateID)
}
