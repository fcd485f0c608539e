package state

import (
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// file is the per-file state, keyed by the file handle bytes.
type file struct {
	key    string
	opens  map[*Open]struct{}
	locks  map[*lockState]struct{}
	delegs map[*Delegation]struct{}
}

func (m *Manager) getFile(key string) *file {
	f := m.files[key]
	if f == nil {
		f = &file{key: key, opens: map[*Open]struct{}{}, locks: map[*lockState]struct{}{},
			delegs: map[*Delegation]struct{}{}}
		m.files[key] = f
	}
	return f
}

func (m *Manager) gcFile(f *file) {
	if len(f.opens) == 0 && len(f.locks) == 0 && len(f.delegs) == 0 && m.files[f.key] == f {
		delete(m.files, f.key)
	}
}

// Open is the open state of one open owner on one file (RFC 7530 §9.1.5:
// repeated OPENs by an owner share one stateid).
type Open struct {
	rec    *stateRec
	owner  *Owner
	file   *file
	access uint32 // OPEN4_SHARE_ACCESS_* currently held
	deny   uint32 // OPEN4_SHARE_DENY_* currently held
	// Values used by OPENs since the last downgrade, as bit sets (1<<value);
	// OPEN_DOWNGRADE may only go back to one of them (RFC 7530 §16.19.4).
	accessSet, denySet uint8
	handle             any
	locks              map[*lockState]struct{}
}

// OpenArgs describe an OPEN after the engine resolved the file.
type OpenArgs struct {
	Owner  *Owner
	FHKey  string
	Access uint32 // share_access (4.1 want bits are ignored)
	Deny   uint32
	// Reclaim: OPEN CLAIM_PREVIOUS after a server restart (grace.go).
	Reclaim bool
}

// OpenResult is the outcome of Open.
type OpenResult struct {
	StateID nfs4.StateID
	Flags   uint32 // OPEN4_RESULT_CONFIRM for a 4.0 owner not yet confirmed
	New     bool   // a new open state (no handle yet); else an upgrade
	Handle  any    // the handle already attached (upgrade)
	Access  uint32 // the access now held (the union on upgrade)

	prev struct {
		access, deny       uint32
		accessSet, denySet uint8
		seq                uint32
	}
}

// shareConflict applies the share reservation rule of RFC 7530 §9.9 /
// RFC 8881 §9.7 against every open of another owner (with the combined
// access/deny of an upgrade). An owner's own deny also refuses it new
// access it would deny others (RFC 7530 §16.16.5; pynfs OPEN21/25/30).
func shareConflict(f *file, o *Owner, access, deny, reqAccess uint32) bool {
	for op := range f.opens {
		if op.owner != o && (op.access&deny != 0 || op.deny&access != 0) {
			return true
		}
		if op.owner == o && op.deny&reqAccess != 0 {
			return true
		}
	}
	return false
}

// Open records an OPEN (RFC 7530 §16.16, RFC 8881 §18.16). A second OPEN
// by the same owner upgrades: access and deny are or-ed in, the stateid is
// kept and its seqid bumped. Conflicting share reservations of other owners
// give NFS4ERR_SHARE_DENIED. For a new open the engine opens its backend file
// and calls SetOpenHandle; if it fails, or an upgrade's reopen fails, it
// calls RevertOpen with the result.
func (m *Manager) Open(a OpenArgs) (OpenResult, error) {
	m.lock()
	defer m.unlock()
	access := a.Access &^ (nfs4.ShareAccessWantDelegMask | nfs4.ShareAccessWantSignalDelegWhenResrcAvail |
		nfs4.ShareAccessWantPushDelegWhenUncontended)
	if access == 0 || access > nfs4.ShareAccessBoth || a.Deny > nfs4.ShareDenyBoth {
		return OpenResult{}, nfs4.ErrInval
	}
	o := a.Owner
	if m.owners[o.key] != o {
		return OpenResult{}, nfs4.ErrStaleClientID // owner's client went away
	}
	if a.Reclaim {
		if err := m.reclaimCheck(o.client); err != nil {
			return OpenResult{}, err
		}
	}
	o.lastUsed = m.now()
	o.client.lastRenew = o.lastUsed
	if f := m.files[a.FHKey]; f != nil {
		// Before getFile: expiring them may drop the file record.
		ac, dn := access, a.Deny
		if op := o.opens[a.FHKey]; op != nil {
			ac, dn = ac|op.access, dn|op.deny
		}
		m.expireCourtesyOpens(f, o, ac, dn) // courtesy.go
	}
	f := m.getFile(a.FHKey)
	op := o.opens[a.FHKey]
	var res OpenResult
	newAccess, newDeny := access, a.Deny
	if op != nil {
		newAccess |= op.access
		newDeny |= op.deny
	}
	if shareConflict(f, o, newAccess, newDeny, access) {
		m.gcFile(f)
		if a.Reclaim {
			return OpenResult{}, nfs4.ErrReclaimConflict // RFC 7530 §9.6.3.4
		}
		return OpenResult{}, nfs4.ErrShareDenied
	}
	// Other clients' delegations conflicting with this open are recalled
	// and the open waits for them (RFC 8881 §10.4.4); a reader conflicts
	// only with write delegations, unless it denies reading.
	if m.breakDelegs(f, o.client, newAccess&nfs4.ShareAccessWrite != 0 || newDeny&nfs4.ShareDenyRead != 0) {
		m.gcFile(f)
		return OpenResult{}, nfs4.ErrDelay
	}
	if a.Reclaim {
		// The owner was confirmed before the restart: a reclaim needs no
		// OPEN_CONFIRM (as Linux nfsd does).
		o.confirmed = true
	}
	if op == nil {
		op = &Open{owner: o, file: f, locks: map[*lockState]struct{}{}}
		op.rec = m.newState(KindOpen, o.client, o)
		op.rec.open = op
		f.opens[op] = struct{}{}
		o.opens[a.FHKey] = op
		res.New = true
	} else {
		res.prev.access, res.prev.deny = op.access, op.deny
		res.prev.accessSet, res.prev.denySet = op.accessSet, op.denySet
		res.prev.seq = op.rec.seq
		op.rec.bump()
		res.Handle = op.handle
	}
	op.access, op.deny = newAccess, newDeny
	op.accessSet |= 1 << access
	op.denySet |= 1 << a.Deny
	res.StateID = op.rec.stateID()
	res.Access = newAccess
	if !o.confirmed {
		res.Flags |= nfs4.OpenResultConfirm
	}
	return res, nil
}

// RevertOpen undoes Open after a backend failure: a new open disappears
// (its handle, if any, is returned to be closed), an upgrade gets its
// previous access, deny and seqid back.
func (m *Manager) RevertOpen(r OpenResult) any {
	m.lock()
	defer m.unlock()
	rec := m.states[r.StateID.Other]
	if rec == nil || rec.open == nil {
		return nil
	}
	op := rec.open
	if r.New {
		h := op.handle
		m.dropState(rec)
		return h
	}
	op.access, op.deny = r.prev.access, r.prev.deny
	op.accessSet, op.denySet = r.prev.accessSet, r.prev.denySet
	rec.seq = r.prev.seq
	return nil
}

// SetOpenHandle attaches the engine's backend file to an open and returns
// the one it replaces (for the engine to close), e.g. after an upgrade
// reopened the file read-write.
func (m *Manager) SetOpenHandle(sid nfs4.StateID, h any) (old any, err error) {
	m.lock()
	defer m.unlock()
	r := m.states[sid.Other]
	if r == nil || r.open == nil {
		return nil, nfs4.ErrBadStateID
	}
	old, r.open.handle = r.open.handle, h
	return old, nil
}

// OpenConfirm implements OPEN_CONFIRM (RFC 7530 §16.18): confirms the open
// owner and returns the stateid with its seqid bumped.
func (m *Manager) OpenConfirm(sid nfs4.StateID) (nfs4.StateID, error) {
	m.lock()
	defer m.unlock()
	r, err := m.lookup(sid, 0)
	if err != nil {
		return nfs4.StateID{}, err
	}
	if r.open == nil || r.owner.confirmed {
		return nfs4.StateID{}, nfs4.ErrBadStateID
	}
	r.owner.confirmed = true
	r.bump()
	return r.stateID(), nil
}

// openRec looks up sid as a usable open stateid.
func (m *Manager) openRec(sid nfs4.StateID, minor uint32) (*stateRec, error) {
	r, err := m.lookup(sid, minor)
	if err != nil {
		return nil, err
	}
	if r.open == nil || !r.owner.confirmed {
		return nil, nfs4.ErrBadStateID
	}
	return r, nil
}

// OpenDowngrade implements OPEN_DOWNGRADE (RFC 7530 §16.19, RFC 8881
// §18.18): the new access/deny must be a subset of what is held and a value
// some OPEN of this owner used, else NFS4ERR_INVAL.
func (m *Manager) OpenDowngrade(sid nfs4.StateID, access, deny uint32, minor uint32) (nfs4.StateID, error) {
	m.lock()
	defer m.unlock()
	r, err := m.openRec(sid, minor)
	if err != nil {
		return nfs4.StateID{}, err
	}
	op := r.open
	access &^= nfs4.ShareAccessWantDelegMask
	if access == 0 || access > nfs4.ShareAccessBoth || deny > nfs4.ShareDenyBoth ||
		access&^op.access != 0 || deny&^op.deny != 0 ||
		op.accessSet&(1<<access) == 0 || op.denySet&(1<<deny) == 0 {
		return nfs4.StateID{}, nfs4.ErrInval
	}
	op.access, op.deny = access, deny
	op.accessSet = subsetsOf(op.accessSet, access)
	op.denySet = subsetsOf(op.denySet, deny)
	r.bump()
	return r.stateID(), nil
}

// subsetsOf keeps the values in set that are subsets of v.
func subsetsOf(set uint8, v uint32) uint8 {
	var out uint8
	for x := uint32(0); x < 4; x++ {
		if set&(1<<x) != 0 && x&^v == 0 {
			out |= 1 << x
		}
	}
	return out
}

// CloseResult is the outcome of Close.
type CloseResult struct {
	StateID nfs4.StateID // to return in CLOSE4res
	Handle  any          // the engine closes it (may be nil)
}

// Close implements CLOSE (RFC 7530 §16.2, RFC 8881 §18.2). Byte-range
// locks the open's lock owners still hold on the file are released with it:
// both RFCs (§16.2.4, §18.2.4) let the server "free all outstanding locks
// on CLOSE" instead of answering NFS4ERR_LOCKS_HELD, and a client that
// forgot a LOCKU (or an application that died holding a lock) should not
// leave the file locked for other clients and local processes until its
// lease ends. 4.0 returns the stateid with a bumped seqid; 4.1 returns the
// special invalid stateid (RFC 8881 §18.2.4).
func (m *Manager) Close(sid nfs4.StateID, minor uint32) (CloseResult, error) {
	m.lock()
	defer m.unlock()
	r, err := m.openRec(sid, minor)
	if err != nil {
		return CloseResult{}, err
	}
	res := CloseResult{Handle: r.open.handle}
	r.bump()
	res.StateID = r.stateID()
	if minor >= 1 {
		res.StateID = nfs4.InvalidStateID
	}
	m.dropState(r)
	return res, nil
}

// CheckIO validates the stateid of a READ/WRITE/SETATTR(size) on file
// fhKey (RFC 7530 §9.1.4.3, §16.22.4, §16.36.4; RFC 8881 §8.2.3, §9.1.2)
// and returns the open's handle (nil for special stateids: the engine opens
// the file itself).
//   - anonymous stateid: allowed unless an open denies this access
//     (NFS4ERR_LOCKED); the bypass stateid skips that check for reads;
//   - a stateid for another file: NFS4ERR_BAD_STATEID;
//   - writing without OPEN4_SHARE_ACCESS_WRITE: NFS4ERR_OPENMODE. Reading
//     through a write-only open is allowed (RFC 8881 §18.22.4 lets servers),
//     so the engine should open the backend read-write in that case.
//
// Lock stateids act for their open; delegations check their type.
func (m *Manager) CheckIO(sid nfs4.StateID, fhKey string, write bool, minor uint32) (any, error) {
	m.lock()
	defer m.unlock()
	switch Classify(sid) {
	case Bypass:
		if !write {
			return nil, nil
		}
		fallthrough
	case Anonymous:
		want := uint32(nfs4.ShareDenyRead)
		if write {
			want = nfs4.ShareDenyWrite
		}
		if f := m.files[fhKey]; f != nil {
			for op := range f.opens {
				if op.deny&want != 0 {
					return nil, nfs4.ErrLocked
				}
			}
			// I/O outside any open conflicts with delegations of
			// every client (RFC 8881 §10.4.4).
			if m.breakDelegs(f, nil, write) {
				return nil, nfs4.ErrDelay
			}
		}
		return nil, nil
	case Regular:
	default:
		return nil, nfs4.ErrBadStateID
	}
	r, err := m.lookup(sid, minor)
	if err != nil {
		return nil, err
	}
	var op *Open
	switch {
	case r.open != nil:
		op = r.open
	case r.lock != nil:
		op = r.lock.open
	case r.deleg != nil:
		if r.deleg.file.key != fhKey {
			return nil, nfs4.ErrBadStateID
		}
		if write && r.deleg.Type != nfs4.DelegateWrite {
			return nil, nfs4.ErrOpenMode
		}
		return nil, nil
	}
	if op.file.key != fhKey || !op.owner.confirmed {
		return nil, nfs4.ErrBadStateID
	}
	if write && op.access&nfs4.ShareAccessWrite == 0 {
		return nil, nfs4.ErrOpenMode
	}
	return op.handle, nil
}

// FileHasOpens reports whether any open state exists for fhKey. PUTFH can
// use it to keep accepting the handle of a file unlinked while open (the
// client still has to CLOSE it; pynfs RNM21).
func (m *Manager) FileHasOpens(fhKey string) bool {
	m.lock()
	defer m.unlock()
	f := m.files[fhKey]
	return f != nil && len(f.opens) > 0
}
