package nfs4srv

import (
	"math"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/state"
)

// File delegations (RFC 7530 §10.2–§10.4, RFC 8881 §10.2–§10.4,
// §18.6, §18.5, §18.49, §20.2). serve/state decides grants and conflicts;
// this file offers delegations on OPEN, answers DELEGRETURN, DELEGPURGE and
// WANT_DELEGATION, sends CB_RECALL (callback.go) when a conflicting request
// put a delegation under recall, and revokes delegations not returned
// within a lease of their recall.

func init() {
	handle(nfs4.OpDelegPurge, 0, opDelegPurge)
	handle(nfs4.OpWantDelegation, needFH, opWantDelegation)
}

// initDelegations wires delegations into the state configuration.
func (s *Server) initDelegations(cfg *state.Config) {
	s.cb = newCallbacks(s)
	cfg.OnRecall = s.onRecall
	stop := s.stop
	go func() {
		<-stop
		s.cb.closeAll()
		s.closeLocalWatches() // localchange.go
	}()
}

// delegationsOn reports whether delegations may be granted at all.
func (s *Server) delegationsOn() bool { return !s.cfg.NoDelegations }

// onRecall sends CB_RECALL for each delegation a conflicting request put
// under recall (state.Config.OnRecall; runs without the state lock).
func (s *Server) onRecall(rs []state.Recall) {
	for _, r := range rs {
		go s.recall(r)
	}
}

// recall sends one CB_RECALL (RFC 7530 §16.2.3 CB_RECALL, RFC 8881 §20.2).
// Whatever happens, the delegation stays recalled: it ends with
// DELEGRETURN, or with revocation a lease after the recall.
func (s *Server) recall(r state.Recall) {
	args := &nfs4.CBRecallArgs{StateID: r.StateID, FH: []byte(r.FHKey)}
	res, err := s.cb.call(r.ClientID, r.Minor, []nfs4.CBArgOp{{Op: nfs4.CBOpRecall, Args: args}})
	switch {
	case err != nil:
		s.log.Info("CB_RECALL failed", "clientid", r.ClientID, "err", err)
	case res.Status != nfs4.OK:
		s.log.Info("CB_RECALL refused", "clientid", r.ClientID, "status", res.Status.Error())
	default:
		s.log.Debug("CB_RECALL sent", "clientid", r.ClientID)
	}
}

// revokeDelegations revokes delegations recalled a lease ago and not
// returned (RFC 7530 §10.4.6, RFC 8881 §10.4.6); reap calls it.
func (s *Server) revokeDelegations(now time.Time) {
	for _, r := range s.state.RevokeRecalled(now) {
		s.log.Info("delegation revoked: not returned after recall", "clientid", r.ClientID)
	}
	s.sweepLocalWatches() // localchange.go
}

// delegClientID is the client a delegation request is for.
func (c *compound) delegClientID(o *state.Owner) uint64 {
	if c.seq != nil {
		return c.seq.clientID
	}
	return o.ClientID()
}

// offerDelegation decides the open_delegation4 of a successful OPEN
// (RFC 7530 §16.16.5, RFC 8881 §18.16.3) with the share access now held:
// a delegation when policy (state.GrantDelegation) allows and the
// client's callback path is confirmed; else none, and for a 4.1 client
// that expressed a want, OPEN_DELEGATE_NONE_EXT saying why.
func (c *compound) offerDelegation(args *nfs4.OpenArgs, o *state.Owner, r state.OpenResult, fhKey string) nfs4.OpenDelegation {
	want := args.ShareAccess & nfs4.ShareAccessWantDelegMask
	if c.minor == 0 {
		want = nfs4.ShareAccessWantNoPreference
	}
	switch {
	case want == nfs4.ShareAccessWantNoDeleg || want == nfs4.ShareAccessWantCancel:
		return c.noDelegation(args.ShareAccess)
	case !c.s.delegationsOn(),
		r.Flags&nfs4.OpenResultConfirm != 0, // 4.0 owner not confirmed yet
		args.Claim.Claim != nfs4.ClaimNull && args.Claim.Claim != nfs4.ClaimFH:
		return c.noDelegWhy(want, nfs4.WNDResource)
	}
	id := c.delegClientID(o)
	if !c.s.cb.pathOK(id, c.minor) {
		return c.noDelegWhy(want, nfs4.WNDResource)
	}
	// Watch for local changes before granting (localchange.go).
	write := r.Access&nfs4.ShareAccessWrite != 0 || want == nfs4.ShareAccessWantWriteDeleg
	release, ok := c.s.holdLocalWatch(c.fs(), c.cur.ex, c.cur.h, fhKey, write)
	if !ok {
		return c.noDelegWhy(want, nfs4.WNDResource)
	}
	defer release()
	g := c.s.state.GrantDelegation(state.GrantArgs{ClientID: id, FHKey: fhKey, Minor: c.minor,
		Access: r.Access, Want: want})
	if g.Type == nfs4.DelegateNone {
		return c.noDelegWhy(want, g.Why)
	}
	return delegation(g)
}

// delegation encodes a granted delegation: recall=false; the ACE grants
// nothing, so the client still asks ACCESS of the server (RFC 7530
// §16.16.5); a write delegation has no space limit.
func delegation(g state.Grant) nfs4.OpenDelegation {
	d := nfs4.OpenDelegation{DelegationType: g.Type, StateID: g.StateID,
		Permissions: nfs4.ACE{Type: 0 /* ACE4_ACCESS_ALLOWED_ACE_TYPE */, Who: []byte{}}}
	if g.Type == nfs4.DelegateWrite {
		d.SpaceLimit = nfs4.SpaceLimit{LimitBy: nfs4.LimitSize, FileSize: math.MaxUint64}
	}
	return d
}

// noDelegWhy is no delegation: plain OPEN_DELEGATE_NONE unless a 4.1
// client asked for one (then NONE_EXT with the reason, RFC 8881 §18.16.3).
func (c *compound) noDelegWhy(want, why uint32) nfs4.OpenDelegation {
	if c.minor == 0 || want == nfs4.ShareAccessWantNoPreference {
		return nfs4.OpenDelegation{DelegationType: nfs4.DelegateNone}
	}
	return nfs4.OpenDelegation{DelegationType: nfs4.DelegateNoneExt, Why: why}
}

// openDelegCur resolves an OPEN with CLAIM_DELEGATE_CUR (by name in the
// current directory) or CLAIM_DELEG_CUR_FH (the current filehandle): the
// client opens under a delegation it holds, typically while returning it
// (RFC 7530 §16.16.5, RFC 8881 §18.16.3). The delegation must be the
// client's and for that file.
func (c *compound) openDelegCur(args *nfs4.OpenArgs, o *state.Owner) (openTarget, nfs4.Status) {
	var t openTarget
	if args.OpenHow.OpenType == nfs4.OpenCreate {
		return t, nfs4.ErrInval
	}
	if args.Claim.Claim == nfs4.ClaimDelegCurFH {
		if c.minor == 0 {
			return t, nfs4.ErrInval
		}
		var st nfs4.Status
		t.fh = c.cur.h
		if t.attr, st = c.curAttr(); st != nfs4.OK {
			return t, st
		}
	} else {
		dirAttr, st := c.curDir()
		if st == nfs4.OK {
			st = checkName(args.Claim.File)
		}
		if st != nfs4.OK {
			return t, st
		}
		fh, at, err := c.fs().Lookup(c.ctx, &c.cred, c.cur.h, string(args.Claim.File))
		if err != nil {
			return t, statusOf(err)
		}
		t.fh, t.attr = fh, at
		t.cinfo = nfs4.ChangeInfo{Before: dirAttr.Change, After: dirAttr.Change}
	}
	sid := args.Claim.DelegateStateID
	if c.minor >= 1 {
		var st nfs4.Status
		if sid, st = c.resolveStateID(sid); st != nfs4.OK {
			return t, st
		}
	}
	key := string(wireFH(c.cur.ex, t.fh))
	if err := c.s.state.CheckDelegation(sid, key, c.delegClientID(o), c.minor); err != nil {
		return t, statusOf(err)
	}
	return t, nfs4.OK
}

// breakDelegations is the delegation conflict check of an operation that
// changes file fh of the current export (REMOVE, RENAME, LINK, SETATTR):
// NFS4ERR_DELAY while delegations of other clients are recalled
// (RFC 8881 §10.4.4; RFC 7530 §10.4.4). In 4.0 the requester is unknown
// unless except (a client ID from a stateid) says so, and every
// delegation conflicts.
func (c *compound) breakDelegations(fhKey string, except uint64) nfs4.Status {
	if !c.s.state.HasDelegations() {
		return nfs4.OK
	}
	if c.seq != nil {
		except = c.seq.clientID
	}
	return statusOf(c.s.state.BreakDelegations(fhKey, except, true))
}

// breakDelegationsByName is breakDelegations for the object name in
// directory dir (REMOVE, RENAME source and target): the name is looked up
// only when some delegation exists. A directory removed or renamed loses
// its directory delegations (dirdeleg.go).
func (c *compound) breakDelegationsByName(dir fsadapters.FileHandle, name []byte) nfs4.Status {
	if !c.s.state.HasDelegations() || checkName(name) != nfs4.OK {
		return nfs4.OK
	}
	fh, at, err := c.fs().Lookup(c.ctx, &c.cred, dir, string(name))
	if err != nil || (at.Type != fsadapters.TypeRegular && at.Type != fsadapters.TypeDir) {
		return nfs4.OK // the operation itself will report it
	}
	return c.breakDelegations(string(wireFH(c.cur.ex, fh)), 0)
}

// setattrClient is the client a SETATTR comes from, when known: 4.1's
// session, or the holder of a regular stateid (its own delegation does
// not conflict, e.g. a truncate under a write delegation).
func (c *compound) setattrClient(sid nfs4.StateID) uint64 {
	if c.seq != nil {
		return c.seq.clientID
	}
	if state.Classify(sid) != state.Regular {
		return 0
	}
	info, err := c.s.state.LookupStateID(sid, c.minor)
	if err != nil {
		return 0
	}
	return info.ClientID
}

// opDelegReturn is DELEGRETURN (RFC 7530 §16.7, RFC 8881 §18.6).
func opDelegReturn(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.DelegReturnArgs)
	res := &nfs4.DelegReturnRes{}
	sid, st := c.resolveStateID(args.DelegStateID)
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	var client uint64
	if c.seq != nil {
		client = c.seq.clientID
	}
	res.Status = statusOf(c.s.state.ReturnDelegation(sid, c.fhKey(), client, c.minor))
	if res.Status == nfs4.OK {
		c.s.dropIdleWatch(c.fhKey()) // localchange.go
	}
	return res
}

// opDelegPurge is DELEGPURGE (RFC 7530 §16.6, RFC 8881 §18.5). It only
// matters to servers that keep delegations for CLAIM_DELEGATE_PREV
// across client restarts, which we do not: NFS4ERR_NOTSUPP, as the RFCs
// require of such servers.
func opDelegPurge(c *compound, a nfs4.Args) nfs4.Res {
	return &nfs4.DelegPurgeRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrNotSupp}}
}

// opWantDelegation is WANT_DELEGATION (RFC 8881 §18.49) for CLAIM_FH:
// a delegation on the current file without an OPEN. CLAIM_DELEG_PREV_FH
// (reclaim after a client restart) is not supported.
func opWantDelegation(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.WantDelegationArgs)
	res := &nfs4.WantDelegationRes{}
	switch args.Claim.Claim {
	case nfs4.ClaimFH:
	case nfs4.ClaimDelegPrevFH:
		res.Status = nfs4.ErrNotSupp
		return res
	default:
		res.Status = nfs4.ErrInval
		return res
	}
	want := args.Want & nfs4.ShareAccessWantDelegMask
	if args.Want&^(nfs4.ShareAccessWantDelegMask|nfs4.ShareAccessWantSignalDelegWhenResrcAvail|
		nfs4.ShareAccessWantPushDelegWhenUncontended) != 0 || want > nfs4.ShareAccessWantCancel {
		res.Status = nfs4.ErrInval
		return res
	}
	at, st := c.curAttr()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	switch {
	case at.Type == fsadapters.TypeDir:
		res.Delegation = nfs4.OpenDelegation{DelegationType: nfs4.DelegateNoneExt, Why: nfs4.WNDIsDir}
		return res
	case at.Type != fsadapters.TypeRegular:
		res.Delegation = nfs4.OpenDelegation{DelegationType: nfs4.DelegateNoneExt, Why: nfs4.WNDNotSuppFtype}
		return res
	case want == nfs4.ShareAccessWantNoDeleg || want == nfs4.ShareAccessWantNoPreference:
		res.Delegation = nfs4.OpenDelegation{DelegationType: nfs4.DelegateNoneExt, Why: nfs4.WNDNotWanted}
		return res
	case want == nfs4.ShareAccessWantCancel:
		res.Delegation = nfs4.OpenDelegation{DelegationType: nfs4.DelegateNoneExt, Why: nfs4.WNDCancelled}
		return res
	}
	id := c.seq.clientID
	if !c.s.delegationsOn() || !c.s.cb.pathOK(id, c.minor) {
		res.Delegation = nfs4.OpenDelegation{DelegationType: nfs4.DelegateNoneExt, Why: nfs4.WNDResource}
		return res
	}
	// Permission as for an OPEN with the matching access.
	access := uint32(nfs4.ShareAccessRead)
	if want == nfs4.ShareAccessWantWriteDeleg {
		access = nfs4.ShareAccessWrite
	}
	if st := c.openPermission(c.cur.h, &at, access); st != nfs4.OK {
		res.Status = st
		return res
	}
	release, ok := c.s.holdLocalWatch(c.fs(), c.cur.ex, c.cur.h, c.fhKey(), want == nfs4.ShareAccessWantWriteDeleg)
	if !ok {
		res.Delegation = nfs4.OpenDelegation{DelegationType: nfs4.DelegateNoneExt, Why: nfs4.WNDResource}
		return res
	}
	defer release()
	g := c.s.state.GrantDelegation(state.GrantArgs{ClientID: id, FHKey: c.fhKey(), Minor: c.minor, Want: want})
	if g.Type == nfs4.DelegateNone {
		res.Delegation = nfs4.OpenDelegation{DelegationType: nfs4.DelegateNoneExt, Why: g.Why}
		return res
	}
	res.Delegation = delegation(g)
	return res
}

// truncateBreak recalls conflicting delegations before an OPEN that may
// truncate an existing file (UNCHECKED4 with a size; GUARDED4 and the
// EXCLUSIVE modes never change an existing file): the truncation happens
// before the open's own conflict check in state.Open.
func (c *compound) truncateBreak(args *nfs4.OpenArgs, o *state.Owner) nfs4.Status {
	if !c.s.state.HasDelegations() || args.OpenHow.OpenType != nfs4.OpenCreate ||
		args.OpenHow.CreateHow.Mode != nfs4.Unchecked4 ||
		!args.OpenHow.CreateHow.CreateAttrs.Mask.Has(nfs4.AttrSize) {
		return nfs4.OK
	}
	if checkName(args.Claim.File) != nfs4.OK {
		return nfs4.OK
	}
	fh, _, err := c.fs().Lookup(c.ctx, &c.cred, c.cur.h, string(args.Claim.File))
	if err != nil {
		return nfs4.OK
	}
	return statusOf(c.s.state.BreakDelegations(string(wireFH(c.cur.ex, fh)), c.delegClientID(o), true))
}
