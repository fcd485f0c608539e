package nfs4client

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"slices"
	"sync"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Byte-range lock tracking and reclaim after a server restart.
//
// Every LOCK and LOCKU this client's calls get granted is recorded per open
// file and lock-owner as the set of byte ranges held, with POSIX semantics:
// a lock replaces whatever the owner held in its range (a write lock over
// part of a read range splits it), an unlock in the middle splits a range,
// and adjacent ranges of one type merge. After a server restart,
// recoverClient reclaims them with LOCK reclaim=true under the reclaimed
// open (RFC 8881 §8.4.2.1, §18.10.3) before RECLAIM_COMPLETE. An owner
// whose locks cannot all be reclaimed (no grace period, RECLAIM_BAD, a
// conflict, an open that had to be re-opened with CLAIM_FH) has lost them:
// LockStateID reports ErrLockLost, and its holder must tell the process
// (the Linux client gives EIO) rather than let it believe it still holds a
// lock another client may take.

// ErrLockLost means an owner's byte-range locks on a file could not be
// reclaimed after a server restart.
var ErrLockLost = errors.New("nfs4client: byte-range lock lost in a server restart")

// lockRange is the byte range [start, end) held with one lock type; end ==
// math.MaxUint64 means "to the end of the file" (length NFS4_UINT64_MAX).
type lockRange struct {
	start, end uint64
	write      bool
}

// rangeEnd converts an NFS offset and length to an exclusive end. An
// all-ones length, or one that runs past 2^64 (which a server refuses with
// NFS4ERR_INVAL, RFC 8881 §18.10.4), reaches to the end of the file.
func rangeEnd(off, length uint64) uint64 {
	if length == math.MaxUint64 || off+length < off {
		return math.MaxUint64
	}
	return off + length
}

// length is the NFS length of r.
func (r lockRange) length() uint64 {
	if r.end == math.MaxUint64 {
		return math.MaxUint64
	}
	return r.end - r.start
}

// lockRanges is an owner's held set: sorted by start, disjoint, and no two
// adjacent ranges of the same type.
type lockRanges []lockRange

// unlock removes [start, end) from rs, splitting a range it falls inside.
func (rs lockRanges) unlock(start, end uint64) lockRanges {
	if start >= end {
		return rs
	}
	out := make(lockRanges, 0, len(rs)+1)
	for _, r := range rs {
		if r.end <= start || r.start >= end {
			out = append(out, r)
			continue
		}
		if r.start < start {
			out = append(out, lockRange{r.start, start, r.write})
		}
		if r.end > end {
			out = append(out, lockRange{end, r.end, r.write})
		}
	}
	return out
}

// lock records a lock of [start, end), replacing whatever rs held there
// (POSIX: the new type applies to the whole range).
func (rs lockRanges) lock(start, end uint64, write bool) lockRanges {
	if start >= end {
		return rs
	}
	rs = rs.unlock(start, end)
	i, _ := slices.BinarySearchFunc(rs, start, func(r lockRange, s uint64) int {
		switch {
		case r.start < s:
			return -1
		case r.start > s:
			return 1
		}
		return 0
	})
	rs = slices.Insert(rs, i, lockRange{start, end, write})
	if i+1 < len(rs) && rs[i+1].start == rs[i].end && rs[i+1].write == write {
		rs[i].end = rs[i+1].end
		rs = slices.Delete(rs, i+1, i+2)
	}
	if i > 0 && rs[i-1].end == rs[i].start && rs[i-1].write == write {
		rs[i-1].end = rs[i].end
		rs = slices.Delete(rs, i, i+1)
	}
	return rs
}

// lockOwnerState is one lock-owner's locks under one open.
type lockOwnerState struct {
	f     *OpenFile
	owner string
	sid   nfs4.StateID // lock stateid on the current server instance; zero: none
	held  lockRanges
	lost  error // non-nil: lost in a recovery (wraps ErrLockLost)
}

// lockTable is the client's record of granted byte-range locks.
type lockTable struct {
	mu     sync.Mutex
	bySID  map[[nfs4.OtherSize]byte]*lockOwnerState // lock stateid "other" → owner
	byFile map[*OpenFile]map[string]*lockOwnerState
	lostFn func(fh, owner []byte, err error)
}

func lockWrite(typ uint32) bool { return typ == nfs4.WriteLT || typ == nfs4.WriteWLT }

// granted records a successful LOCK: lockSID is what the request carried
// (zero for open_to_lock_owner4 under openSID), nsid what it returned.
func (c *Client) lockGranted(openSID, lockSID nfs4.StateID, owner []byte, nsid nfs4.StateID, typ uint32, off, length uint64) {
	t := &c.lk
	var f *OpenFile
	if lockSID == (nfs4.StateID{}) {
		f = c.fileByOpenSID(openSID)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var los *lockOwnerState
	if lockSID == (nfs4.StateID{}) {
		if f == nil {
			return // not an open this client tracks: nothing to reclaim it under
		}
		if t.byFile == nil {
			t.byFile = map[*OpenFile]map[string]*lockOwnerState{}
			t.bySID = map[[nfs4.OtherSize]byte]*lockOwnerState{}
		}
		if t.byFile[f] == nil {
			t.byFile[f] = map[string]*lockOwnerState{}
		}
		los = t.byFile[f][string(owner)]
		if los == nil {
			los = &lockOwnerState{f: f, owner: string(owner)}
			t.byFile[f][string(owner)] = los
		} else if los.sid != (nfs4.StateID{}) && los.sid.Other != nsid.Other {
			delete(t.bySID, los.sid.Other)
			los.held = nil
		}
		los.lost = nil // the owner starts afresh
	} else if los = t.bySID[lockSID.Other]; los == nil {
		return
	}
	los.sid = nsid
	t.bySID[nsid.Other] = los
	los.held = los.held.lock(off, rangeEnd(off, length), lockWrite(typ))
}

// lockReleased records a successful LOCKU.
func (c *Client) lockReleased(lockSID, nsid nfs4.StateID, off, length uint64) {
	t := &c.lk
	t.mu.Lock()
	defer t.mu.Unlock()
	if los := t.bySID[lockSID.Other]; los != nil {
		los.sid = nsid
		los.held = los.held.unlock(off, rangeEnd(off, length))
	}
}

// lockFreed forgets a lock stateid after FREE_STATEID.
func (c *Client) lockFreed(sid nfs4.StateID) {
	t := &c.lk
	t.mu.Lock()
	defer t.mu.Unlock()
	if los := t.bySID[sid.Other]; los != nil {
		delete(t.bySID, sid.Other)
		if m := t.byFile[los.f]; m[los.owner] == los {
			delete(m, los.owner)
			if len(m) == 0 {
				delete(t.byFile, los.f)
			}
		}
	}
}

// lockForget drops f's lock records (f was closed).
func (c *Client) lockForget(f *OpenFile) {
	t := &c.lk
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, los := range t.byFile[f] {
		if los.sid != (nfs4.StateID{}) {
			delete(t.bySID, los.sid.Other)
		}
	}
	delete(t.byFile, f)
}

// fileByOpenSID finds the tracked open whose open stateid is sid.
func (c *Client) fileByOpenSID(sid nfs4.StateID) *OpenFile {
	c.filesMu.Lock()
	defer c.filesMu.Unlock()
	for f := range c.files {
		if f.SID().Other == sid.Other {
			return f
		}
	}
	return nil
}

// LockStateID returns owner's lock stateid for its locks under the open f
// on the current server instance: after a server restart (Epoch changed)
// the reclaimed one. A zero stateid means the owner holds no lock state
// under f (lock afresh with open_to_lock_owner4); an error wrapping
// ErrLockLost means its locks could not be reclaimed. The loss is cleared
// by the owner's next lock with a zero lock stateid.
func (c *Client) LockStateID(f *OpenFile, owner []byte) (nfs4.StateID, error) {
	t := &c.lk
	t.mu.Lock()
	defer t.mu.Unlock()
	los := t.byFile[f][string(owner)]
	switch {
	case los == nil:
		return nfs4.StateID{}, nil
	case los.lost != nil:
		return nfs4.StateID{}, los.lost
	}
	return los.sid, nil
}

// OnLockLost sets the function told about each owner whose locks are lost
// in a recovery (default: the log package).
func (c *Client) OnLockLost(fn func(fh, owner []byte, err error)) {
	c.lk.mu.Lock()
	c.lk.lostFn = fn
	c.lk.mu.Unlock()
}

// lockSnapshot is one owner's held ranges, copied for reclaiming.
type lockSnapshot struct {
	los  *lockOwnerState
	held lockRanges
}

func (c *Client) lockOwnersOf(f *OpenFile) []lockSnapshot {
	t := &c.lk
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []lockSnapshot
	for _, los := range t.byFile[f] {
		out = append(out, lockSnapshot{los, slices.Clone(los.held)})
	}
	return out
}

// reclaimLocks reclaims f's locks under its reclaimed open stateid osid
// (RFC 8881 §18.10.3): per owner, LOCK reclaim=true with
// open_to_lock_owner4 for the first range, exist_lock_owner4 for the rest.
// Called by recoverClient before RECLAIM_COMPLETE.
func (c *Client) reclaimLocks(ctx context.Context, f *OpenFile, osid nfs4.StateID) {
	for _, s := range c.lockOwnersOf(f) {
		if len(s.held) == 0 {
			c.lockReclaimed(s.los, nfs4.StateID{}) // nothing held: start afresh
			continue
		}
		var sid nfs4.StateID
		var err error
		for i, r := range s.held {
			l := nfs4.Locker{LockStateID: sid}
			if i == 0 {
				l = nfs4.Locker{NewLockOwner: true, OpenStateID: osid,
					LockOwner: nfs4.LockOwner{ClientID: c.ClientID, Owner: []byte(s.los.owner)}}
			}
			typ := uint32(nfs4.ReadLT)
			if r.write {
				typ = nfs4.WriteLT
			}
			res, e := c.compoundOnce(ctx, c.Minor, []nfs4.ArgOp{PutFH(f.FH), op(nfs4.OpLock,
				&nfs4.LockArgs{LockType: typ, Reclaim: true, Offset: r.start, Length: r.length(), Locker: l})})
			if err = resErr(res, e); err != nil {
				break
			}
			sid = result[*nfs4.LockRes](res, 1).LockStateID
		}
		if err != nil {
			if sid != (nfs4.StateID{}) {
				// Partly reclaimed: the owner's locks are lost as a
				// whole, so do not keep the part.
				c.compoundOnce(ctx, c.Minor, []nfs4.ArgOp{PutFH(f.FH), op(nfs4.OpLockU,
					&nfs4.LockUArgs{LockType: nfs4.WriteLT, LockStateID: sid, Offset: 0, Length: math.MaxUint64})})
				c.compoundOnce(ctx, c.Minor, []nfs4.ArgOp{op(nfs4.OpFreeStateID, &nfs4.FreeStateIDArgs{StateID: sid})})
			}
			c.lockLost(s.los, err)
			continue
		}
		c.lockReclaimed(s.los, sid)
	}
}

// lockReclaimed gives los its new lock stateid (zero: none).
func (c *Client) lockReclaimed(los *lockOwnerState, sid nfs4.StateID) {
	t := &c.lk
	t.mu.Lock()
	defer t.mu.Unlock()
	if los.sid != (nfs4.StateID{}) && t.bySID[los.sid.Other] == los {
		delete(t.bySID, los.sid.Other)
	}
	los.sid = sid
	if sid != (nfs4.StateID{}) {
		t.bySID[sid.Other] = los
	}
}

// lockLost marks los lost and reports it.
func (c *Client) lockLost(los *lockOwnerState, why error) {
	t := &c.lk
	t.mu.Lock()
	if los.sid != (nfs4.StateID{}) && t.bySID[los.sid.Other] == los {
		delete(t.bySID, los.sid.Other)
	}
	held := los.held
	los.sid, los.held = nfs4.StateID{}, nil
	los.lost = fmt.Errorf("%w: %v", ErrLockLost, why)
	fn := t.lostFn
	t.mu.Unlock()
	if len(held) == 0 {
		return
	}
	if fn != nil {
		fn(los.f.FH, []byte(los.owner), los.lost)
	} else {
		log.Printf("nfs4client: lock-owner %q lost its locks on file %x: %v", los.owner, los.f.FH, why)
	}
}

// loseLocks marks every owner's locks under f lost (f could not be
// reclaimed).
func (c *Client) loseLocks(f *OpenFile, why error) {
	for _, s := range c.lockOwnersOf(f) {
		if len(s.held) == 0 {
			c.lockReclaimed(s.los, nfs4.StateID{})
			continue
		}
		c.lockLost(s.los, why)
	}
}
