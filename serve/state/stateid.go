package state

import (
	"encoding/binary"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Kind is what a stateid stands for (RFC 8881 §8.2.1).
type Kind uint8

const (
	KindOpen Kind = iota + 1
	KindLock
	KindDeleg
)

func (k Kind) String() string {
	switch k {
	case KindOpen:
		return "open"
	case KindLock:
		return "lock"
	case KindDeleg:
		return "delegation"
	}
	return "?"
}

// Special classifies the reserved stateid values (RFC 7530 §9.1.4.3,
// RFC 8881 §8.2.3).
type Special uint8

const (
	Regular   Special = iota // not special: look it up
	Anonymous                // all zeros
	Bypass                   // all ones: READ may bypass share deny
	Current                  // 4.1: seqid 1, other 0: the current stateid
	Invalid                  // 4.1: seqid all ones, other 0
)

// Classify tells which special stateid sid is, if any. Resolving the
// current stateid is the engine's business.
func Classify(sid nfs4.StateID) Special {
	switch sid {
	case nfs4.AnonStateID:
		return Anonymous
	case nfs4.BypassStateID:
		return Bypass
	case nfs4.CurrentStateID:
		return Current
	case nfs4.InvalidStateID:
		return Invalid
	}
	// Any other seqid with a reserved "other" is not a valid stateid
	// (RFC 8881 §8.2.3: NFS4ERR_BAD_STATEID).
	if sid.Other == nfs4.AnonStateID.Other || sid.Other == nfs4.BypassStateID.Other {
		return Invalid
	}
	return Regular
}

// stateRec is one stateid's server record.
type stateRec struct {
	kind    Kind
	other   [nfs4.OtherSize]byte
	seq     uint32
	client  *Client
	owner   *Owner // open owner (open), lock owner (lock), nil (deleg)
	open    *Open
	lock    *lockState
	deleg   *Delegation
	revoked nfs4.Status // 0, or ErrAdminRevoked / ErrDelegRevoked / ErrExpired
}

func (r *stateRec) stateID() nfs4.StateID { return nfs4.StateID{SeqID: r.seq, Other: r.other} }

// bump advances the seqid after a change, skipping 0 on wrap (RFC 8881
// §8.2.2: 0 means "current" in 4.1).
func (r *stateRec) bump() {
	r.seq++
	if r.seq == 0 {
		r.seq = 1
	}
}

// newState allocates a stateid: other = boot epoch (4) + counter (8), so
// stateids of an earlier boot are recognisable (NFS4ERR_STALE_STATEID).
func (m *Manager) newState(kind Kind, c *Client, o *Owner) *stateRec {
	m.nextState++
	r := &stateRec{kind: kind, client: c, owner: o, seq: 1}
	binary.BigEndian.PutUint32(r.other[:4], m.epoch)
	binary.BigEndian.PutUint64(r.other[4:], m.nextState)
	m.states[r.other] = r
	c.states[r.other] = r
	m.recordClient(c) // on stable storage before the state is handed out
	if o != nil {
		o.states[r.other] = r
	}
	return r
}

// dropState forgets a stateid and detaches what it describes (an open
// takes its lock states along). Handles are not closed here; callers
// collect them first.
func (m *Manager) dropState(r *stateRec) {
	m.unindex(r)
	switch {
	case r.open != nil:
		op := r.open
		for ls := range op.locks {
			m.dropLockState(ls)
		}
		delete(op.file.opens, op)
		delete(op.owner.opens, op.file.key)
		m.gcFile(op.file)
	case r.lock != nil:
		m.dropLockState(r.lock)
	case r.deleg != nil:
		m.dropDeleg(r)
	}
}

// unindex removes r from the stateid tables. 4.0 owner stateids stay
// mapped to their owner for replays (see StateOwner).
func (m *Manager) unindex(r *stateRec) {
	if m.states[r.other] != r {
		return
	}
	delete(m.states, r.other)
	delete(r.client.states, r.other)
	if o := r.owner; o != nil {
		delete(o.states, r.other)
		if o.minor == 0 && m.owners[o.key] == o {
			m.retired[r.other] = o
			o.retired = append(o.retired, r.other)
		}
	}
}

// lookup finds the record for a regular stateid and applies the checks of
// RFC 7530 §9.1.4 / RFC 8881 §8.2.2 in order: other boot → STALE_STATEID;
// unknown → BAD_STATEID; revoked → its status; seqid 0 (4.1) is "the
// current seqid"; older seqid → OLD_STATEID; newer → BAD_STATEID.
// It renews the holder's lease (implicit renewal, RFC 7530 §9.6).
func (m *Manager) lookup(sid nfs4.StateID, minor uint32) (*stateRec, error) {
	if Classify(sid) != Regular {
		return nil, nfs4.ErrBadStateID
	}
	if binary.BigEndian.Uint32(sid.Other[:4]) != m.epoch {
		return nil, nfs4.ErrStaleStateID
	}
	r := m.states[sid.Other]
	if r == nil {
		if _, gone := m.expiredStates[sid.Other]; gone {
			return nil, nfs4.ErrExpired
		}
		return nil, nfs4.ErrBadStateID
	}
	if r.revoked != 0 {
		return nil, r.revoked
	}
	if err := checkSeq(r, sid.SeqID, minor); err != nil {
		return nil, err
	}
	r.client.lastRenew = m.now()
	return r, nil
}

func checkSeq(r *stateRec, seq uint32, minor uint32) error {
	switch {
	case seq == 0 && minor >= 1:
		return nil
	case seq == r.seq:
		return nil
	case seq < r.seq:
		return nfs4.ErrOldStateID
	}
	return nfs4.ErrBadStateID
}

// StateInfo describes a stateid for the engine.
type StateInfo struct {
	Kind     Kind
	StateID  nfs4.StateID // with the current seqid
	ClientID uint64
	FHKey    string // the file it is for
	Owner    *Owner // open or lock owner; nil for delegations
}

// LookupStateID validates a regular stateid (see lookup for the checks)
// and describes it. For 4.0 an open stateid of a not yet confirmed owner is
// NFS4ERR_BAD_STATEID (RFC 7530 §16.18.4) except to OPEN_CONFIRM.
func (m *Manager) LookupStateID(sid nfs4.StateID, minor uint32) (StateInfo, error) {
	m.lock()
	defer m.unlock()
	r, err := m.lookup(sid, minor)
	if err != nil {
		return StateInfo{}, err
	}
	if r.owner != nil && !r.owner.confirmed {
		return StateInfo{}, nfs4.ErrBadStateID
	}
	return r.info(), nil
}

func (r *stateRec) info() StateInfo {
	si := StateInfo{Kind: r.kind, StateID: r.stateID(), ClientID: r.client.id, Owner: r.owner}
	switch {
	case r.open != nil:
		si.FHKey = r.open.file.key
	case r.lock != nil:
		si.FHKey = r.lock.file.key
	case r.deleg != nil:
		si.FHKey = r.deleg.file.key
	}
	return si
}

// TestStateIDs implements TEST_STATEID (RFC 8881 §18.48): one status per
// stateid; stateids of other clients are NFS4ERR_BAD_STATEID.
func (m *Manager) TestStateIDs(clientID uint64, sids []nfs4.StateID) []nfs4.Status {
	m.lock()
	defer m.unlock()
	out := make([]nfs4.Status, len(sids))
	for i, sid := range sids {
		out[i] = nfs4.OK
		if Classify(sid) != Regular {
			out[i] = nfs4.ErrBadStateID
			continue
		}
		if binary.BigEndian.Uint32(sid.Other[:4]) != m.epoch {
			out[i] = nfs4.ErrStaleStateID
			continue
		}
		r := m.states[sid.Other]
		switch {
		case r == nil || r.client.id != clientID:
			out[i] = nfs4.ErrBadStateID
		case r.revoked != 0:
			out[i] = r.revoked
		default:
			if err := checkSeq(r, sid.SeqID, 1); err != nil {
				out[i] = err.(nfs4.Status)
			}
		}
	}
	return out
}

// FreeStateID implements FREE_STATEID (RFC 8881 §18.38): revoked state and
// lock stateids without locks are freed; an open stateid, a lock stateid
// holding locks or a live delegation gives NFS4ERR_LOCKS_HELD.
func (m *Manager) FreeStateID(clientID uint64, sid nfs4.StateID) error {
	m.lock()
	defer m.unlock()
	if Classify(sid) != Regular {
		return nfs4.ErrBadStateID
	}
	if binary.BigEndian.Uint32(sid.Other[:4]) != m.epoch {
		return nfs4.ErrStaleStateID
	}
	r := m.states[sid.Other]
	if r == nil || r.client.id != clientID {
		return nfs4.ErrBadStateID
	}
	if r.revoked == 0 {
		if err := checkSeq(r, sid.SeqID, 1); err != nil {
			return err
		}
		if r.kind != KindLock || len(r.lock.ranges) > 0 {
			return nfs4.ErrLocksHeld
		}
	}
	var rel Released
	if r.open != nil && r.open.handle != nil {
		rel = Released{ClientID: clientID, Reason: nfs4.ErrAdminRevoked, Handles: []any{r.open.handle}}
		m.pending = append(m.pending, rel)
	}
	m.dropState(r)
	return nil
}

// Delegation is a delegation record (RFC 8881 §10.2); see deleg.go.
type Delegation struct {
	rec      *stateRec
	file     *file
	Type     uint32 // nfs4.DelegateRead / DelegateWrite
	minor    uint32 // minor version of the grant (4.0: no revoked stateids kept)
	recalled bool   // CB_RECALL queued: revoked a lease after recallAt
	recallAt time.Time
	dir      bool   // a directory delegation (dirdeleg.go)
	notify   uint32 // directory: the NOTIFY4_* types granted, as bits
}

// RevokeState marks a stateid's state revoked (administratively, or for a
// delegation not returned); later uses get status (RFC 8881 §8.2.2) until
// FREE_STATEID. It does not yet release the share reservation or locks the
// state holds.
func (m *Manager) RevokeState(sid nfs4.StateID, status nfs4.Status) error {
	m.lock()
	defer m.unlock()
	r := m.states[sid.Other]
	if r == nil || Classify(sid) != Regular {
		return nfs4.ErrBadStateID
	}
	r.revoked = status
	return nil
}
