package nfs4srv

import (
	"bytes"
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/state"
)

// OPEN and the ops that change or end an open (RFC 7530 §16.16–§16.19,
// §16.2, §16.7; RFC 8881 §18.16–§18.18, §18.2, §18.6).

func init() {
	handle(nfs4.OpOpen, needFH, opOpen)
	handle(nfs4.OpOpenConfirm, needFH|minor0Only, opOpenConfirm)
	handle(nfs4.OpOpenDowngrade, needFH, opOpenDowngrade)
	handle(nfs4.OpClose, needFH, opClose)
	handle(nfs4.OpDelegReturn, needFH, opDelegReturn)
	handle(nfs4.OpOpenAttr, needFH, func(c *compound, a nfs4.Args) nfs4.Res {
		// Named attributes are not supported (RFC 7530 §16.17.4).
		return &nfs4.OpenAttrRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrNotSupp}}
	})
}

// defaultCreateMode is the mode of a file created without a mode attribute.
const defaultCreateMode = 0o644

// clientOf returns the client ID state belongs to: the session's in 4.1
// (RFC 8881 §18.16.3: the clientid in open_owner4 is ignored), else the
// one the client sent.
func (c *compound) clientOf(sent uint64) uint64 {
	if c.minor >= 1 && c.seq != nil {
		return c.seq.clientID
	}
	return sent
}

// opOpen is OPEN (RFC 7530 §16.16, RFC 8881 §18.16).
func opOpen(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.OpenArgs)
	o, err := c.s.state.OpenOwner(c.clientOf(args.Owner.ClientID), args.Owner.Owner, c.minor)
	if err != nil {
		return &nfs4.OpenRes{Status: statusOf(err)}
	}
	if c.minor >= 1 {
		return c.doOpen(args, o)
	}
	return c.seqRun([]seqOwner{{o: o, seqid: args.SeqID, isOpen: true}},
		func(st nfs4.Status) nfs4.Res { return &nfs4.OpenRes{Status: st} },
		func() nfs4.Res { return c.doOpen(args, o) })
}

// openTarget is the file an OPEN resolved (and maybe created).
type openTarget struct {
	fh      fsadapters.FileHandle
	attr    fsadapters.Attr
	created bool
	cinfo   nfs4.ChangeInfo
	attrset nfs4.Bitmap
	// file is the created file as the backend opened it
	// (fsadapters.CreateOpener), until attachOpenFile takes it; doOpen
	// closes it if the OPEN fails before.
	file      fsadapters.File
	fileFlags fsadapters.OpenFlags // file's access
}

func (c *compound) doOpen(args *nfs4.OpenArgs, o *state.Owner) nfs4.Res {
	res := &nfs4.OpenRes{}
	access := args.ShareAccess &^ (nfs4.ShareAccessWantDelegMask |
		nfs4.ShareAccessWantSignalDelegWhenResrcAvail | nfs4.ShareAccessWantPushDelegWhenUncontended)
	if c.minor == 0 && access != args.ShareAccess {
		res.Status = nfs4.ErrInval // want bits are 4.1 only (RFC 7530 §16.16.2)
		return res
	}
	if access == 0 || access > nfs4.ShareAccessBoth || args.ShareDeny > nfs4.ShareDenyBoth {
		res.Status = nfs4.ErrInval
		return res
	}
	// Grace rules (serve/state/grace.go): during the server's grace period
	// only reclaims; a 4.1 client must finish reclaiming (RECLAIM_COMPLETE)
	// before new opens (RFC 8881 §18.51.3). Checked before a file is made.
	reclaim := args.Claim.Claim == nfs4.ClaimPrevious
	if err := c.s.state.CheckOpen(o.ClientID(), reclaim); err != nil {
		res.Status = statusOf(err)
		return res
	}
	var t openTarget
	var st nfs4.Status
	var dirCh dirChg
	defer func() {
		dirCh.end()
		if t.file != nil {
			t.file.Close()
		}
	}()
	switch args.Claim.Claim {
	case nfs4.ClaimNull:
		if st = c.truncateBreak(args, o); st == nfs4.OK { // deleg.go
			if dirCh, st = c.openCreateDirChange(args, o); st == nfs4.OK { // dirdeleg.go
				t, st = c.openByName(args, access)
			}
		}
	case nfs4.ClaimFH:
		if c.minor == 0 {
			st = nfs4.ErrInval
			break
		}
		if args.OpenHow.OpenType == nfs4.OpenCreate {
			st = nfs4.ErrInval
			break
		}
		t.fh = c.cur.h
		t.attr, st = c.curAttr()
	case nfs4.ClaimPrevious:
		// Reclaim after a server restart: the current filehandle is the
		// file (RFC 7530 §16.16.5, RFC 8881 §18.16.3); creating is not
		// reclaiming. A delegation claimed with it is not granted again:
		// the reply says OPEN_DELEGATE_NONE and the client does without.
		if args.OpenHow.OpenType == nfs4.OpenCreate {
			st = nfs4.ErrInval
			break
		}
		t.fh = c.cur.h
		t.attr, st = c.curAttr()
	case nfs4.ClaimDelegateCur, nfs4.ClaimDelegCurFH:
		t, st = c.openDelegCur(args, o) // deleg.go
	case nfs4.ClaimDelegatePrev, nfs4.ClaimDelegPrevFH:
		// Reclaiming delegations across client restarts is optional
		// (RFC 8881 §18.16.3).
		st = nfs4.ErrNotSupp
	default:
		st = nfs4.ErrInval
	}
	if st == nfs4.OK {
		st = c.openTypeCheck(t.attr.Type)
	}
	if st == nfs4.OK && access&nfs4.ShareAccessWrite != 0 && c.curExport().caps.ReadOnly {
		st = nfs4.ErrROFS
	}
	if st == nfs4.OK && !t.created {
		st = c.openPermission(t.fh, &t.attr, access)
	}
	if t.created {
		c.notifyAdded(dirCh, args.Claim.File) // dirdeleg.go
	}
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	wire := wireFH(c.cur.ex, t.fh)
	r, err := c.s.state.Open(state.OpenArgs{Owner: o, FHKey: string(wire), Access: access, Deny: args.ShareDeny,
		Reclaim: reclaim})
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	if st := c.attachOpenFile(r, wire, &t, access); st != nfs4.OK {
		res.Status = st
		return res
	}
	ex := c.cur.ex
	c.cur = fhRef{wire: wire, ex: ex, h: t.fh}
	if c.minor >= 1 {
		c.setCurrentStateID(r.StateID)
	}
	res.StateID = r.StateID
	res.CInfo = t.cinfo
	res.RFlags = r.Flags | nfs4.OpenResultLockType
	res.AttrSet = t.attrset
	if res.AttrSet == nil {
		res.AttrSet = nfs4.Bitmap{}
	}
	res.Delegation = c.offerDelegation(args, o, r, string(wire)) // deleg.go
	return res
}

// noDelegation is the open_delegation4 of an OPEN: we grant none. A 4.1
// client that expressed a want gets OPEN_DELEGATE_NONE_EXT saying why
// (RFC 8881 §18.16.3).
func (c *compound) noDelegation(shareAccess uint32) nfs4.OpenDelegation {
	d := nfs4.OpenDelegation{DelegationType: nfs4.DelegateNone}
	if c.minor == 0 {
		return d
	}
	switch shareAccess & nfs4.ShareAccessWantDelegMask {
	case nfs4.ShareAccessWantNoPreference:
		return d
	case nfs4.ShareAccessWantNoDeleg:
		d.Why = nfs4.WNDNotWanted
	case nfs4.ShareAccessWantCancel:
		d.Why = nfs4.WNDCancelled
	default:
		d.Why = nfs4.WNDResource
	}
	d.DelegationType = nfs4.DelegateNoneExt
	return d
}

// openTypeCheck: only regular files can be opened (RFC 7530 §16.16.5,
// RFC 8881 §18.16.4). pynfs expects NFS4ERR_SYMLINK for every other
// non-directory type in 4.0; 4.1 has NFS4ERR_WRONG_TYPE for them.
func (c *compound) openTypeCheck(t fsadapters.FileType) nfs4.Status {
	switch t {
	case fsadapters.TypeRegular:
		return nfs4.OK
	case fsadapters.TypeDir:
		return nfs4.ErrIsDir
	case fsadapters.TypeSymlink:
		return nfs4.ErrSymlink
	}
	if c.minor >= 1 {
		return nfs4.ErrWrongType
	}
	return nfs4.ErrSymlink
}

// openPermission checks the POSIX permission the requested share access
// needs: read for OPEN4_SHARE_ACCESS_READ, write for WRITE.
func (c *compound) openPermission(fh fsadapters.FileHandle, at *fsadapters.Attr, access uint32) nfs4.Status {
	var want uint32
	if access&nfs4.ShareAccessRead != 0 {
		want |= fsadapters.MayRead
	}
	if access&nfs4.ShareAccessWrite != 0 {
		want |= fsadapters.MayWrite
	}
	if c.accessAllowed(fh, at, want) != want { // the file's ACL, if any (acl.go)
		return nfs4.ErrAccess
	}
	return nfs4.OK
}

// openByName resolves (and for OPEN4_CREATE creates) the CLAIM_NULL name in
// the current directory. A backend that can (fsadapters.CreateOpener)
// hands back a file it creates open for the share access, as
// attachOpenFile would open it.
func (c *compound) openByName(args *nfs4.OpenArgs, access uint32) (openTarget, nfs4.Status) {
	var t openTarget
	dirAttr, st := c.curDir()
	if st != nfs4.OK {
		return t, st
	}
	if st := checkName(args.Claim.File); st != nfs4.OK {
		return t, st
	}
	name := string(args.Claim.File)
	fs := c.fs()
	if args.OpenHow.OpenType != nfs4.OpenCreate {
		fh, at, err := fs.Lookup(c.ctx, &c.cred, c.cur.h, name)
		if err != nil {
			return t, statusOf(err)
		}
		t.fh, t.attr = fh, at
		t.cinfo = nfs4.ChangeInfo{Before: dirAttr.Change, After: dirAttr.Change}
		return t, nfs4.OK
	}
	if c.curExport().caps.ReadOnly {
		return t, nfs4.ErrROFS
	}
	how := &args.OpenHow.CreateHow
	req := fsadapters.CreateReq{}
	var sa fsadapters.SetAttr
	switch how.Mode {
	case nfs4.Unchecked4, nfs4.Guarded4:
		if sa, st = setAttrsOf(&how.CreateAttrs); st != nfs4.OK {
			return t, st
		}
		req.Mode = fsadapters.CreateUnchecked
		if how.Mode == nfs4.Guarded4 {
			req.Mode = fsadapters.CreateGuarded
		}
	case nfs4.Exclusive4:
		req.Mode, req.Verf = fsadapters.CreateExclusive, fsadapters.CreateVerf(how.CreateVerf)
	case nfs4.Exclusive4_1:
		if c.minor == 0 {
			return t, nfs4.ErrInval
		}
		// Only suppattr_exclcreat may accompany the verifier
		// (RFC 8881 §18.16.3).
		if !how.CreateAttrs.Mask.SubsetOf(exclCreatAttrs) {
			return t, nfs4.ErrInval
		}
		if sa, st = setAttrsOf(&how.CreateAttrs); st != nfs4.OK {
			return t, st
		}
		req.Mode, req.Verf = fsadapters.CreateExclusive, fsadapters.CreateVerf(how.CreateVerf)
	default:
		return t, nfs4.ErrInval
	}
	req.Attrs = sa
	// UNCHECKED4 on an existing file applies only size 0 (truncation,
	// RFC 7530 §16.16.5; pynfs OPEN2): a non-zero size is applied below
	// only if the file is new.
	lateSize := req.Mode == fsadapters.CreateUnchecked && sa.Valid&fsadapters.SetSize != 0 && sa.Size != 0
	if lateSize {
		req.Attrs.Valid &^= fsadapters.SetSize
	}
	if req.Attrs.Valid&fsadapters.SetMode == 0 {
		req.Attrs.Valid |= fsadapters.SetMode
		req.Attrs.Mode = defaultCreateMode
	}
	var fh fsadapters.FileHandle
	var at fsadapters.Attr
	var created bool
	var err error
	if co, ok := fs.(fsadapters.CreateOpener); ok {
		t.fileFlags = createdOpenFlags(access)
		fh, at, created, t.file, err = co.CreateOpen(c.ctx, &c.cred, c.cur.h, name, &req, t.fileFlags)
	} else {
		fh, at, created, err = fs.Create(c.ctx, &c.cred, c.cur.h, name, &req)
	}
	if err != nil {
		return t, statusOf(err)
	}
	t.fh, t.attr, t.created = fh, at, created
	t.cinfo.Before = dirAttr.Change
	t.cinfo.After = dirAttr.Change
	if created {
		if da, err := fs.GetAttr(c.ctx, c.cur.h); err == nil {
			t.cinfo.After = da.Change
		}
	}
	switch {
	case !created && req.Mode == fsadapters.CreateUnchecked:
		// An existing file: only a truncation is applied.
		if sa.Valid&fsadapters.SetSize != 0 && !lateSize {
			t.attrset.Set(nfs4.AttrSize)
		}
	case lateSize:
		size := fsadapters.SetAttr{Valid: fsadapters.SetSize, Size: sa.Size}
		if at, err := fs.SetAttr(c.ctx, &c.cred, fh, &size); err != nil {
			return t, statusOf(err)
		} else {
			t.attr = at
		}
		t.attrset = append(nfs4.Bitmap(nil), how.CreateAttrs.Mask...)
	case !created:
		// EXCLUSIVE retransmission: the attributes were applied by the
		// original request.
		if how.Mode == nfs4.Exclusive4_1 {
			t.attrset = append(nfs4.Bitmap(nil), how.CreateAttrs.Mask...)
		}
	case req.Mode == fsadapters.CreateExclusive:
		// The backend set mode; apply the rest of the EXCLUSIVE4_1 attrs.
		rest := sa
		rest.Valid &^= fsadapters.SetMode
		if rest.Valid != 0 {
			if at, err := fs.SetAttr(c.ctx, &c.cred, fh, &rest); err != nil {
				return t, statusOf(err)
			} else {
				t.attr = at
			}
		}
		t.attrset = append(nfs4.Bitmap(nil), how.CreateAttrs.Mask...)
	default:
		t.attrset = append(nfs4.Bitmap(nil), how.CreateAttrs.Mask...)
	}
	return t, nfs4.OK
}

// createdOpenFlags is how attachOpenFile opens a file the OPEN created
// with share access: read-write if write is asked (the creator may read
// it whatever its mode), else read-only.
func createdOpenFlags(access uint32) fsadapters.OpenFlags {
	if access&nfs4.ShareAccessWrite != 0 {
		return fsadapters.OpenRead | fsadapters.OpenWrite
	}
	return fsadapters.OpenRead
}

// attachOpenFile opens the backend file for a new open, or reopens it when
// an upgrade needs more access than the open's File has, and attaches it to
// the open (see openFile: read-write whenever write is asked and reading
// is permitted). A file the OPEN created and the backend returned open
// (t.file) is used when it has exactly that access. On failure the state
// change is reverted.
func (c *compound) attachOpenFile(r state.OpenResult, wire []byte, t *openTarget, access uint32) nfs4.Status {
	var need fsadapters.OpenFlags
	if r.Access&nfs4.ShareAccessRead != 0 {
		need |= fsadapters.OpenRead
	}
	if r.Access&nfs4.ShareAccessWrite != 0 {
		need |= fsadapters.OpenWrite
	}
	cur, _ := r.Handle.(*openFile)
	if cur != nil {
		need |= cur.flags
		if need&^cur.flags == 0 {
			return nfs4.OK
		}
	}
	cred := &c.cred
	if t.created {
		// The creator may use the file it just made whatever its mode,
		// as open(2) with O_CREAT allows.
		cred = &fsadapters.Root
	}
	if need&fsadapters.OpenWrite != 0 && need&fsadapters.OpenRead == 0 &&
		(t.created || fsadapters.AccessAllowed(&t.attr, &c.cred, fsadapters.MayRead) != 0) {
		need |= fsadapters.OpenRead
	}
	var f fsadapters.File
	var err error
	if t.file != nil && cur == nil && need == t.fileFlags {
		f, t.file = t.file, nil
	} else {
		f, err = c.fs().Open(c.ctx, cred, t.fh, need)
	}
	if err != nil {
		if h, ok := c.s.state.RevertOpen(r).(*openFile); ok && h != nil {
			h.close()
		}
		return statusOf(err)
	}
	// t.fh may alias the request buffer (PUTFH is decoded zero-copy) and
	// the openFile outlives the request: copy it.
	of := &openFile{f: f, flags: need, ex: c.cur.ex, fh: bytes.Clone(t.fh), key: string(wire)}
	old, err := c.s.state.SetOpenHandle(r.StateID, of)
	if err != nil {
		f.Close()
		return statusOf(err)
	}
	if o, ok := old.(*openFile); ok && o != nil && o != of {
		o.close()
	}
	return nfs4.OK
}

// openStateOwner finds the owner whose seqid a 4.0 op on sid consumes; it
// must be an open owner for OPEN_CONFIRM/OPEN_DOWNGRADE/CLOSE.
func (c *compound) openStateOwner(sid nfs4.StateID) (*state.Owner, nfs4.Status) {
	o, err := c.s.state.StateOwner(sid)
	if err != nil {
		return nil, statusOf(err)
	}
	if o.IsLockOwner() {
		return nil, nfs4.ErrBadStateID
	}
	return o, nfs4.OK
}

// checkSIDFile rejects a stateid of another file (RFC 7530 §9.1.4: the
// stateid must be for the current filehandle).
func (c *compound) checkSIDFile(sid nfs4.StateID) nfs4.Status {
	info, err := c.s.state.LookupStateID(sid, c.minor)
	if err != nil {
		return statusOf(err)
	}
	if info.FHKey != c.fhKey() {
		return nfs4.ErrBadStateID
	}
	return nfs4.OK
}

func stateIDRes(sid nfs4.StateID, err error) nfs4.StateIDRes {
	if err != nil {
		return nfs4.StateIDRes{Status: statusOf(err)}
	}
	return nfs4.StateIDRes{StateID: sid}
}

// opOpenConfirm is OPEN_CONFIRM (RFC 7530 §16.18).
func opOpenConfirm(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.OpenConfirmArgs)
	o, st := c.openStateOwner(args.OpenStateID)
	if st != nfs4.OK {
		return &nfs4.OpenConfirmRes{StateIDRes: nfs4.StateIDRes{Status: st}}
	}
	return c.seqRun([]seqOwner{{o: o, seqid: args.SeqID}},
		func(st nfs4.Status) nfs4.Res { return &nfs4.OpenConfirmRes{StateIDRes: nfs4.StateIDRes{Status: st}} },
		func() nfs4.Res {
			sid, err := c.s.state.OpenConfirm(args.OpenStateID)
			return &nfs4.OpenConfirmRes{StateIDRes: stateIDRes(sid, err)}
		})
}

// opOpenDowngrade is OPEN_DOWNGRADE (RFC 7530 §16.19, RFC 8881 §18.18).
// The backend File keeps its access: it is only ever used for I/O the
// stateid allows.
func opOpenDowngrade(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.OpenDowngradeArgs)
	run := func(sid nfs4.StateID) nfs4.Res {
		if st := c.checkSIDFile(sid); st != nfs4.OK {
			return &nfs4.OpenDowngradeRes{StateIDRes: nfs4.StateIDRes{Status: st}}
		}
		nsid, err := c.s.state.OpenDowngrade(sid, args.ShareAccess, args.ShareDeny, c.minor)
		if err == nil && c.minor >= 1 {
			c.setCurrentStateID(nsid)
		}
		return &nfs4.OpenDowngradeRes{StateIDRes: stateIDRes(nsid, err)}
	}
	return c.stateOp(args.OpenStateID, args.SeqID, func(st nfs4.Status) nfs4.Res {
		return &nfs4.OpenDowngradeRes{StateIDRes: nfs4.StateIDRes{Status: st}}
	}, run)
}

// stateOp runs an op on an open stateid: 4.1 resolves the current
// stateid; 4.0 sequences on the stateid's open owner.
func (c *compound) stateOp(sid nfs4.StateID, seqid uint32, errRes func(nfs4.Status) nfs4.Res, run func(nfs4.StateID) nfs4.Res) nfs4.Res {
	if c.minor >= 1 {
		sid, st := c.resolveStateID(sid)
		if st != nfs4.OK {
			return errRes(st)
		}
		return run(sid)
	}
	o, st := c.openStateOwner(sid)
	if st != nfs4.OK {
		return errRes(st)
	}
	return c.seqRun([]seqOwner{{o: o, seqid: seqid}}, errRes, func() nfs4.Res { return run(sid) })
}

// opClose is CLOSE (RFC 7530 §16.2, RFC 8881 §18.2). The backend File is
// closed once state has forgotten the open.
func opClose(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.CloseArgs)
	return c.stateOp(args.OpenStateID, args.SeqID, func(st nfs4.Status) nfs4.Res {
		return &nfs4.CloseRes{StateIDRes: nfs4.StateIDRes{Status: st}}
	}, func(sid nfs4.StateID) nfs4.Res {
		if st := c.checkSIDFile(sid); st != nfs4.OK {
			return &nfs4.CloseRes{StateIDRes: nfs4.StateIDRes{Status: st}}
		}
		r, err := c.s.state.Close(sid, c.minor)
		if err != nil {
			return &nfs4.CloseRes{StateIDRes: nfs4.StateIDRes{Status: statusOf(err)}}
		}
		if of, ok := r.Handle.(*openFile); ok && of != nil {
			of.close()
		}
		if c.minor >= 1 {
			c.setCurrentStateID(r.StateID)
		}
		return &nfs4.CloseRes{StateIDRes: nfs4.StateIDRes{StateID: r.StateID}}
	})
}
