package state

import (
	"errors"
	"math"
	"slices"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// LockRange is a byte range with a lock type (nfs4.ReadLT / WriteLT).
// Length math.MaxUint64 means "to end of file" (RFC 7530 §16.10.4).
type LockRange struct {
	Offset, Length uint64
	Type           uint32
}

// LockHook mirrors lock changes to a backend (OFD locks on the dir
// backend, so processes on the server host and NFS clients see each other's
// locks). Both methods are called with the Manager's lock held, so they must
// not block (non-blocking F_OFD_SETLK qualifies).
//
// SetLock applies one change to the owner's ranges on a file, exactly as
// POSIX fcntl(F_SETLK) would (split/merge/upgrade/downgrade): [start, end]
// inclusive becomes typ (nfs4.ReadLT, nfs4.WriteLT, or 0 to unlock). It must
// be atomic: on error nothing changed. An error fails LOCK/LOCKU and is
// returned as is (a *LockDenied for a conflict with a local process).
//
// Drop says the owner's lock state on the file is gone (unlocked, released
// or expired): everything it held there is released.
type LockHook interface {
	SetLock(fhKey string, open any, owner *Owner, start, end uint64, typ uint32) error
	Drop(fhKey string, owner *Owner)
}

// LockDenied is the NFS4ERR_DENIED result of LOCK/LOCKT (LOCK4denied,
// RFC 7530 §16.10.2). errors.Is(err, nfs4.ErrDenied) holds.
type LockDenied struct {
	LockRange
	ClientID uint64
	Owner    []byte
}

func (d *LockDenied) Error() string { return "state: lock denied" }
func (d *LockDenied) Unwrap() error { return nfs4.ErrDenied }

// lockRange is a range with inclusive end.
type lockRange struct {
	start, end uint64
	typ        uint32
}

func (r lockRange) export() LockRange {
	l := LockRange{Offset: r.start, Type: r.typ, Length: math.MaxUint64}
	if r.end != math.MaxUint64 {
		l.Length = r.end - r.start + 1
	}
	return l
}

// lockState is the byte-range state of one lock owner on one file; its
// stateid is tied to the open it was created under (RFC 7530 §9.1.5).
type lockState struct {
	rec    *stateRec
	owner  *Owner
	open   *Open
	file   *file
	ranges []lockRange // sorted, disjoint, adjacent same-type ranges merged
}

// rangeOf checks offset/length (RFC 7530 §16.10.4: length 0, or a range
// past 2^64-1, is NFS4ERR_INVAL).
func rangeOf(off, length uint64) (uint64, uint64, error) {
	if length == 0 {
		return 0, 0, nfs4.ErrInval
	}
	if length == math.MaxUint64 {
		return off, math.MaxUint64, nil
	}
	if length-1 > math.MaxUint64-off {
		return 0, 0, nfs4.ErrInval
	}
	return off, off + length - 1, nil
}

func lockType(t uint32) (uint32, error) {
	switch t {
	case nfs4.ReadLT, nfs4.ReadWLT:
		return nfs4.ReadLT, nil
	case nfs4.WriteLT, nfs4.WriteWLT:
		return nfs4.WriteLT, nil
	}
	return 0, nfs4.ErrInval
}

// conflict finds a range of another owner on f that conflicts with
// [start,end] of type typ: overlapping, and at least one is a write lock.
func conflict(f *file, k ownerKey, start, end uint64, typ uint32) *LockDenied {
	for ls := range f.locks {
		if ls.owner.key == k {
			continue
		}
		for _, r := range ls.ranges {
			if r.start <= end && start <= r.end && (typ == nfs4.WriteLT || r.typ == nfs4.WriteLT) {
				return &LockDenied{LockRange: r.export(), ClientID: ls.owner.key.clientID,
					Owner: []byte(ls.owner.key.owner)}
			}
		}
	}
	return nil
}

// setRange sets [start,end] to typ (0: unlocked) in a sorted range list,
// splitting and merging as POSIX locks do.
func setRange(in []lockRange, start, end uint64, typ uint32) []lockRange {
	out := make([]lockRange, 0, len(in)+2)
	for _, r := range in {
		if r.end < start || r.start > end {
			out = append(out, r)
			continue
		}
		if r.start < start {
			out = append(out, lockRange{r.start, start - 1, r.typ})
		}
		if r.end > end {
			out = append(out, lockRange{end + 1, r.end, r.typ})
		}
	}
	if typ != 0 {
		out = append(out, lockRange{start, end, typ})
	}
	slices.SortFunc(out, func(a, b lockRange) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 {
			p := &merged[n-1]
			if p.typ == r.typ && p.end != math.MaxUint64 && p.end+1 == r.start {
				p.end = r.end
				continue
			}
		}
		merged = append(merged, r)
	}
	return merged
}

func exportRanges(rs []lockRange) []LockRange {
	out := make([]LockRange, len(rs))
	for i, r := range rs {
		out[i] = r.export()
	}
	return out
}

func (m *Manager) hook(ls *lockState, start, end uint64, typ uint32) error {
	if m.cfg.Locks == nil {
		return nil
	}
	return m.cfg.Locks.SetLock(ls.file.key, ls.open.handle, ls.owner, start, end, typ)
}

// dropLockState forgets a lock state, releasing its ranges in the backend.
func (m *Manager) dropLockState(ls *lockState) {
	m.unindex(ls.rec)
	delete(ls.file.locks, ls)
	if ls.owner.locks[ls.file.key] == ls {
		delete(ls.owner.locks, ls.file.key)
	}
	delete(ls.open.locks, ls)
	ls.ranges = nil
	if m.cfg.Locks != nil {
		m.cfg.Locks.Drop(ls.file.key, ls.owner)
	}
	m.gcFile(ls.file)
}

// LockArgs describe a LOCK (RFC 7530 §16.10, RFC 8881 §18.10).
type LockArgs struct {
	// For new_lock_owner TRUE: NewOwner is the lock owner (LockOwner) and
	// StateID the open stateid. Otherwise StateID is the lock stateid.
	StateID  nfs4.StateID
	NewOwner *Owner
	FHKey    string
	Type     uint32
	Offset   uint64
	Length   uint64
	Minor    uint32
	// Reclaim: LOCK reclaim=TRUE after a server restart (grace.go).
	Reclaim bool
}

// Lock acquires or changes (upgrade, downgrade, split, merge) a byte-range
// lock and returns the lock stateid. A conflict with another lock owner is
// a *LockDenied; a lock type the open does not allow is NFS4ERR_OPENMODE.
func (m *Manager) Lock(a LockArgs) (nfs4.StateID, error) {
	m.lock()
	defer m.unlock()
	typ, err := lockType(a.Type)
	if err != nil {
		return nfs4.StateID{}, err
	}
	start, end, err := rangeOf(a.Offset, a.Length)
	if err != nil {
		return nfs4.StateID{}, err
	}
	var ls *lockState
	created := false
	if lo := a.NewOwner; lo != nil {
		r, err := m.openRec(a.StateID, a.Minor)
		if err != nil {
			return nfs4.StateID{}, err
		}
		if !lo.key.lock || lo.key.clientID != r.client.id || m.owners[lo.key] != lo ||
			r.open.file.key != a.FHKey {
			return nfs4.StateID{}, nfs4.ErrBadStateID
		}
		ls = lo.locks[a.FHKey]
		if ls == nil {
			ls = &lockState{owner: lo, open: r.open, file: r.open.file}
			ls.rec = m.newState(KindLock, r.client, lo)
			ls.rec.lock = ls
			ls.file.locks[ls] = struct{}{}
			lo.locks[a.FHKey] = ls
			r.open.locks[ls] = struct{}{}
			created = true
		}
		lo.lastUsed = m.now()
	} else {
		r, err := m.lookup(a.StateID, a.Minor)
		if err != nil {
			return nfs4.StateID{}, err
		}
		if r.lock == nil || r.lock.file.key != a.FHKey {
			return nfs4.StateID{}, nfs4.ErrBadStateID
		}
		ls = r.lock
	}
	fail := func(err error) (nfs4.StateID, error) {
		if created {
			m.dropLockState(ls)
		}
		return nfs4.StateID{}, err
	}
	need := uint32(nfs4.ShareAccessRead)
	if typ == nfs4.WriteLT {
		need = nfs4.ShareAccessWrite
	}
	if ls.open.access&need == 0 {
		return fail(nfs4.ErrOpenMode)
	}
	if a.Reclaim {
		if err := m.reclaimCheck(ls.rec.client); err != nil {
			return fail(err)
		}
	} else if m.graceActive() {
		return fail(nfs4.ErrGrace) // RFC 7530 §9.6.2, RFC 8881 §8.4.2
	}
	m.expireCourtesyLocks(ls.file, ls.owner.key, start, end, typ) // courtesy.go
	if d := conflict(ls.file, ls.owner.key, start, end, typ); d != nil {
		if a.Reclaim {
			return fail(nfs4.ErrReclaimConflict)
		}
		return fail(d)
	}
	if err := m.hook(ls, start, end, typ); err != nil {
		if a.Reclaim && errors.Is(err, nfs4.ErrDenied) {
			// A local process took the range during the restart.
			return fail(nfs4.ErrReclaimConflict)
		}
		return fail(err)
	}
	ls.ranges = setRange(ls.ranges, start, end, typ)
	if !created {
		ls.rec.bump()
	}
	return ls.rec.stateID(), nil
}

// LockT implements LOCKT (RFC 7530 §16.11): nil if the lock could be
// granted to owner (clientID, name), else a *LockDenied.
func (m *Manager) LockT(fhKey string, clientID uint64, name []byte, typ uint32, off, length uint64) error {
	m.lock()
	defer m.unlock()
	t, err := lockType(typ)
	if err != nil {
		return err
	}
	start, end, err := rangeOf(off, length)
	if err != nil {
		return err
	}
	c, err := m.confirmedClient(clientID)
	if err != nil {
		return err
	}
	c.lastRenew = m.now()
	f := m.files[fhKey]
	if f == nil {
		return nil
	}
	m.expireCourtesyLocks(f, ownerKey{clientID, true, string(name)}, start, end, t) // courtesy.go
	if d := conflict(f, ownerKey{clientID, true, string(name)}, start, end, t); d != nil {
		return d
	}
	return nil
}

// LockU implements LOCKU (RFC 7530 §16.12): unlocks a range (splitting as
// needed) and returns the lock stateid with its seqid bumped.
func (m *Manager) LockU(sid nfs4.StateID, fhKey string, typ uint32, off, length uint64, minor uint32) (nfs4.StateID, error) {
	m.lock()
	defer m.unlock()
	if _, err := lockType(typ); err != nil {
		return nfs4.StateID{}, err
	}
	start, end, err := rangeOf(off, length)
	if err != nil {
		return nfs4.StateID{}, err
	}
	r, err := m.lookup(sid, minor)
	if err != nil {
		return nfs4.StateID{}, err
	}
	if r.lock == nil || r.lock.file.key != fhKey {
		return nfs4.StateID{}, nfs4.ErrBadStateID
	}
	ls := r.lock
	if err := m.hook(ls, start, end, 0); err != nil {
		return nfs4.StateID{}, err
	}
	ls.ranges = setRange(ls.ranges, start, end, 0)
	r.bump()
	return r.stateID(), nil
}

// ReleaseLockOwner implements RELEASE_LOCKOWNER (RFC 7530 §16.37):
// NFS4ERR_LOCKS_HELD while the owner holds any lock; otherwise the owner and
// its lock stateids are forgotten. An unknown owner is fine.
func (m *Manager) ReleaseLockOwner(clientID uint64, name []byte) error {
	m.lock()
	defer m.unlock()
	c, err := m.confirmedClient(clientID)
	if err != nil {
		return err
	}
	c.lastRenew = m.now()
	o := m.owners[ownerKey{clientID, true, string(name)}]
	if o == nil {
		return nil
	}
	for _, ls := range o.locks {
		if len(ls.ranges) > 0 {
			return nfs4.ErrLocksHeld
		}
	}
	for _, ls := range o.locks {
		m.dropLockState(ls)
	}
	m.forgetOwner(o)
	return nil
}
