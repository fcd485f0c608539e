package state

import (
	"encoding/binary"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

type ownerKey struct {
	clientID uint64
	lock     bool
	owner    string
}

// Owner is an open-owner or lock-owner (RFC 7530 §9.1.5, RFC 8881 §8.2):
// the unit of 4.0 sequencing and of share/lock conflict.
type Owner struct {
	key       ownerKey
	client    *Client
	minor     uint32
	confirmed bool // 4.0 open owners need OPEN_CONFIRM first (RFC 7530 §16.18)

	hasSeq   bool // a seqid-mutating request has completed
	seqid    uint32
	reply    []byte // encoded reply of that request, for replays
	busy     bool
	lastUsed time.Time

	states map[[nfs4.OtherSize]byte]*stateRec
	opens  map[string]*Open      // open owner: by file key
	locks  map[string]*lockState // lock owner: by file key

	retired [][nfs4.OtherSize]byte // freed stateids still mapped to o (4.0 replays)
}

// ClientID is the owner's client.
func (o *Owner) ClientID() uint64 { return o.key.clientID }

// Name is the owner's opaque name (open_owner4.owner / lock_owner4.owner).
func (o *Owner) Name() []byte { return []byte(o.key.owner) }

// IsLockOwner tells lock owners from open owners.
func (o *Owner) IsLockOwner() bool { return o.key.lock }

func (m *Manager) owner(clientID uint64, name []byte, lock bool, minor uint32) (*Owner, error) {
	c, err := m.confirmedClient(clientID)
	if err != nil {
		return nil, err
	}
	now := m.now()
	c.lastRenew = now
	k := ownerKey{clientID, lock, string(name)}
	o := m.owners[k]
	if o == nil {
		o = &Owner{key: k, client: c, minor: minor,
			confirmed: lock || minor >= 1, // RFC 8881 §18.16.3: 4.1 never confirms
			states:    map[[nfs4.OtherSize]byte]*stateRec{},
			opens:     map[string]*Open{},
			locks:     map[string]*lockState{}}
		m.owners[k] = o
		c.owners[k] = o
	}
	o.lastUsed = now
	return o, nil
}

// OpenOwner finds or creates the open owner (clientID, name), renewing the
// client's lease. A client ID of another boot or unknown one is
// NFS4ERR_STALE_CLIENTID.
func (m *Manager) OpenOwner(clientID uint64, name []byte, minor uint32) (*Owner, error) {
	m.lock()
	defer m.unlock()
	return m.owner(clientID, name, false, minor)
}

// LockOwner finds or creates the lock owner (clientID, name).
func (m *Manager) LockOwner(clientID uint64, name []byte, minor uint32) (*Owner, error) {
	m.lock()
	defer m.unlock()
	return m.owner(clientID, name, true, minor)
}

// SeqCheck is the outcome of CheckSeqID.
type SeqCheck uint8

const (
	SeqNew    SeqCheck = iota + 1 // execute; then call SeqIDDone
	SeqReplay                     // retransmission: send the returned reply
)

// CheckSeqID applies the 4.0 owner sequencing rules (RFC 7530 §9.1.7):
// seqid = last+1 is a new request (the owner is then busy until SeqIDDone);
// seqid = last is a retransmission answered with the cached reply; anything
// else is NFS4ERR_BAD_SEQID. An owner's first request may use any seqid, and
// so may a request on an open owner never confirmed (RFC 7530 §16.16.5: the
// server treats it as a new owner; its unconfirmed opens are dropped).
// NFSv4.1 ignores seqids (RFC 8881 §8.13); the engine does not call this.
func (m *Manager) CheckSeqID(o *Owner, seqid uint32) (SeqCheck, []byte, error) {
	return m.checkSeqID(o, seqid, true)
}

// CheckSeqIDStrict is CheckSeqID for ops other than OPEN: an unconfirmed
// open owner is not reset by a bad seqid (OPEN_CONFIRM with a wrong seqid is
// NFS4ERR_BAD_SEQID, RFC 7530 §16.18.5; pynfs OPCF4).
func (m *Manager) CheckSeqIDStrict(o *Owner, seqid uint32) (SeqCheck, []byte, error) {
	return m.checkSeqID(o, seqid, false)
}

func (m *Manager) checkSeqID(o *Owner, seqid uint32, isOpen bool) (SeqCheck, []byte, error) {
	m.lock()
	defer m.unlock()
	if o.busy {
		return 0, nil, nfs4.ErrDelay
	}
	o.lastUsed = m.now()
	o.client.lastRenew = o.lastUsed
	switch {
	case o.hasSeq && seqid == o.seqid && o.reply != nil:
		return SeqReplay, o.reply, nil
	case !o.hasSeq || seqid == o.seqid+1:
	case isOpen && !o.key.lock && !o.confirmed:
		m.dropUnconfirmedOpens(o)
	default:
		return 0, nil, nfs4.ErrBadSeqID
	}
	o.busy = true
	return SeqNew, nil, nil
}

func (m *Manager) dropUnconfirmedOpens(o *Owner) {
	rel := Released{ClientID: o.key.clientID, Reason: nfs4.ErrBadSeqID}
	for _, op := range o.opens {
		if op.handle != nil {
			rel.Handles = append(rel.Handles, op.handle)
		}
		m.dropState(op.rec)
	}
	if len(rel.Handles) > 0 {
		m.pending = append(m.pending, rel)
	}
}

// SeqIDAdvances reports whether a reply with status consumes the owner's
// seqid: all do except the errors listed in RFC 7530 §9.1.7.
func SeqIDAdvances(status nfs4.Status) bool {
	switch status {
	case nfs4.ErrStaleClientID, nfs4.ErrStaleStateID, nfs4.ErrBadStateID,
		nfs4.ErrBadSeqID, nfs4.ErrBadXDR, nfs4.ErrResource,
		nfs4.ErrNoFileHandle, nfs4.ErrMoved:
		return false
	}
	return true
}

// SeqIDDone ends a request CheckSeqID admitted as new. If status advances
// the seqid (SeqIDAdvances), seqid becomes the owner's last and reply (the
// encoded result of the op, owned by the Manager from now on) its cached
// reply.
func (m *Manager) SeqIDDone(o *Owner, seqid uint32, status nfs4.Status, reply []byte) {
	m.lock()
	defer m.unlock()
	o.busy = false
	if SeqIDAdvances(status) {
		o.hasSeq, o.seqid, o.reply = true, seqid, reply
	}
}

// StateOwner returns the owner whose seqid governs an op on sid (the open
// owner for an open stateid, the lock owner for a lock stateid), so the
// engine can run CheckSeqID before OPEN_CONFIRM, OPEN_DOWNGRADE, CLOSE,
// LOCK and LOCKU. The stateid's seqid is not checked, and stateids already
// closed still map to their owner while it lives: a retransmitted CLOSE must
// reach the replay cache (RFC 7530 §9.1.7) before any stateid check.
func (m *Manager) StateOwner(sid nfs4.StateID) (*Owner, error) {
	m.lock()
	defer m.unlock()
	if Classify(sid) != Regular {
		return nil, nfs4.ErrBadStateID
	}
	if binary.BigEndian.Uint32(sid.Other[:4]) != m.epoch {
		return nil, nfs4.ErrStaleStateID
	}
	if r := m.states[sid.Other]; r != nil {
		if r.owner == nil {
			return nil, nfs4.ErrBadStateID
		}
		return r.owner, nil
	}
	if o := m.retired[sid.Other]; o != nil {
		return o, nil
	}
	if _, gone := m.expiredStates[sid.Other]; gone {
		return nil, nfs4.ErrExpired
	}
	return nil, nfs4.ErrBadStateID
}

// forgetOwner removes an owner and its retired stateids.
func (m *Manager) forgetOwner(o *Owner) {
	delete(m.owners, o.key)
	delete(o.client.owners, o.key)
	for _, other := range o.retired {
		delete(m.retired, other)
	}
	o.retired = nil
}
