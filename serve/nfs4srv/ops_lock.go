package nfs4srv

import (
	"errors"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/state"
)

// Byte-range locks (RFC 7530 §16.10–§16.12, §16.37; RFC 8881 §18.10–§18.12).

func init() {
	handle(nfs4.OpLock, needFH, opLock)
	handle(nfs4.OpLockT, needFH, opLockT)
	handle(nfs4.OpLockU, needFH, opLockU)
	handle(nfs4.OpReleaseLockOwner, minor0Only, opReleaseLockOwner)
}

// deniedOf fills a LOCK4denied from state's conflict description.
func deniedOf(err error, d *nfs4.LockDenied) nfs4.Status {
	var ld *state.LockDenied
	if errors.As(err, &ld) {
		*d = nfs4.LockDenied{Offset: ld.Offset, Length: ld.Length, LockType: ld.Type,
			Owner: nfs4.LockOwner{ClientID: ld.ClientID, Owner: ld.Owner}}
		return nfs4.ErrDenied
	}
	return statusOf(err)
}

// lockFileCheck: locks apply to regular files only (RFC 7530 §16.10.5).
func (c *compound) lockFileCheck() nfs4.Status {
	at, st := c.curAttr()
	if st != nfs4.OK {
		return st
	}
	switch at.Type {
	case fsadapters.TypeRegular:
		return nfs4.OK
	case fsadapters.TypeDir:
		return nfs4.ErrIsDir
	case fsadapters.TypeSymlink:
		return nfs4.ErrSymlink
	}
	return nfs4.ErrInval
}

// opLock is LOCK (RFC 7530 §16.10, RFC 8881 §18.10). In 4.0 a new lock
// owner (open_to_lock_owner4) consumes the open owner's seqid and starts
// the lock owner's; an existing one consumes the lock owner's
// (RFC 7530 §16.10.5).
func opLock(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.LockArgs)
	l := &args.Locker
	errRes := func(st nfs4.Status) nfs4.Res { return &nfs4.LockRes{Status: st} }
	if st := c.lockFileCheck(); st != nfs4.OK {
		return errRes(st)
	}
	m := c.s.state
	sid := l.LockStateID
	if l.NewLockOwner {
		sid = l.OpenStateID
	}
	if c.minor >= 1 {
		var st nfs4.Status
		if sid, st = c.resolveStateID(sid); st != nfs4.OK {
			return errRes(st)
		}
	}
	var owners []seqOwner
	var lo *state.Owner
	if l.NewLockOwner {
		// The lock owner belongs to the open's client (4.1: the session's).
		oo, st := c.openStateOwner(sid)
		if st != nfs4.OK {
			return errRes(st)
		}
		clientID := c.clientOf(l.LockOwner.ClientID)
		if c.minor == 0 && clientID != oo.ClientID() {
			return errRes(nfs4.ErrBadStateID)
		}
		var err error
		if lo, err = m.LockOwner(clientID, l.LockOwner.Owner, c.minor); err != nil {
			return errRes(statusOf(err))
		}
		owners = []seqOwner{{o: oo, seqid: l.OpenSeqID}, {o: lo, seqid: l.LockSeqID, noCheck: true}}
	} else if c.minor == 0 {
		o, err := m.StateOwner(sid)
		if err != nil {
			return errRes(statusOf(err))
		}
		if !o.IsLockOwner() {
			return errRes(nfs4.ErrBadStateID)
		}
		owners = []seqOwner{{o: o, seqid: l.LockSeqID}}
	}
	run := func() nfs4.Res {
		res := &nfs4.LockRes{}
		// Reclaim and grace rules: serve/state/grace.go.
		nsid, err := m.Lock(state.LockArgs{StateID: sid, NewOwner: lo, FHKey: c.fhKey(),
			Type: args.LockType, Offset: args.Offset, Length: args.Length, Minor: c.minor,
			Reclaim: args.Reclaim})
		if err != nil {
			res.Status = deniedOf(err, &res.Denied)
			return res
		}
		res.LockStateID = nsid
		if c.minor >= 1 {
			c.setCurrentStateID(nsid)
		}
		return res
	}
	if c.minor >= 1 {
		return run()
	}
	return c.seqRun(owners, errRes, run)
}

// opLockT is LOCKT (RFC 7530 §16.11, RFC 8881 §18.11).
func opLockT(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.LockTArgs)
	res := &nfs4.LockTRes{}
	if st := c.lockFileCheck(); st != nfs4.OK {
		res.Status = st
		return res
	}
	if c.s.state.InGrace() {
		// Locks still to be reclaimed are unknown (RFC 7530 §16.11.5).
		res.Status = nfs4.ErrGrace
		return res
	}
	clientID := c.clientOf(args.Owner.ClientID)
	err := c.s.state.LockT(c.fhKey(), clientID, args.Owner.Owner, args.LockType, args.Offset, args.Length)
	if err == nil {
		err = c.s.locks.test(c, clientID, args.Owner.Owner, args.LockType, args.Offset, args.Length)
	}
	if err != nil {
		res.Status = deniedOf(err, &res.Denied)
	}
	return res
}

// opLockU is LOCKU (RFC 7530 §16.12, RFC 8881 §18.12).
func opLockU(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.LockUArgs)
	errRes := func(st nfs4.Status) nfs4.Res { return &nfs4.LockURes{StateIDRes: nfs4.StateIDRes{Status: st}} }
	run := func(sid nfs4.StateID) nfs4.Res {
		nsid, err := c.s.state.LockU(sid, c.fhKey(), args.LockType, args.Offset, args.Length, c.minor)
		if err == nil && c.minor >= 1 {
			c.setCurrentStateID(nsid)
		}
		return &nfs4.LockURes{StateIDRes: stateIDRes(nsid, err)}
	}
	if c.minor >= 1 {
		sid, st := c.resolveStateID(args.LockStateID)
		if st != nfs4.OK {
			return errRes(st)
		}
		return run(sid)
	}
	o, err := c.s.state.StateOwner(args.LockStateID)
	if err != nil {
		return errRes(statusOf(err))
	}
	if !o.IsLockOwner() {
		return errRes(nfs4.ErrBadStateID)
	}
	return c.seqRun([]seqOwner{{o: o, seqid: args.SeqID}}, errRes, func() nfs4.Res { return run(args.LockStateID) })
}

// opReleaseLockOwner is RELEASE_LOCKOWNER (RFC 7530 §16.37).
func opReleaseLockOwner(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.ReleaseLockOwnerArgs)
	err := c.s.state.ReleaseLockOwner(args.LockOwner.ClientID, args.LockOwner.Owner)
	return &nfs4.ReleaseLockOwnerRes{StatusRes: nfs4.StatusRes{Status: statusOf(err)}}
}
