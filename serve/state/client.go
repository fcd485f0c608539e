package state

import (
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Callback is the NFSv4.0 callback information from SETCLIENTID
// (cb_client4 + callback_ident, RFC 7530 §16.33.1). Stored, not used yet.
type Callback struct {
	Program uint32
	NetID   string
	Addr    string
	Ident   uint32
}

// Client is one client record ("client ID"). Records are either
// unconfirmed (after SETCLIENTID / EXCHANGE_ID) or confirmed (after
// SETCLIENTID_CONFIRM / CREATE_SESSION); only confirmed ones hold state.
type Client struct {
	id          uint64
	name        string // nfs_client_id4.id / co_ownerid
	verifier    nfs4.Verifier
	principal   string
	minor       uint32 // 0: SETCLIENTID; 1: EXCHANGE_ID
	confirmed   bool
	confirmVerf nfs4.Verifier // 4.0 setclientid_confirm verifier
	cb          Callback
	created     time.Time
	lastRenew   time.Time

	// 4.1: the single CREATE_SESSION "slot" (RFC 8881 §18.36.4).
	csSeq   uint32
	csCache *CreateSessionResult

	reclaimDone bool // 4.1: RECLAIM_COMPLETE received (RFC 8881 §18.51)
	recorded    bool // in the persisted client records (grace.go)

	delegRevoked int // 4.1 delegations revoked, not yet freed (deleg.go)

	sessions map[SessionID]*Session
	states   map[[nfs4.OtherSize]byte]*stateRec
	owners   map[ownerKey]*Owner
}

func (m *Manager) newClient(name string, v nfs4.Verifier, principal string, minor uint32, id uint64) *Client {
	now := m.now()
	c := &Client{
		id: id, name: name, verifier: v, principal: principal, minor: minor,
		created: now, lastRenew: now,
		sessions: map[SessionID]*Session{},
		states:   map[[nfs4.OtherSize]byte]*stateRec{},
		owners:   map[ownerKey]*Owner{},
	}
	m.unconfByName[name] = c
	m.unconfByID[id] = c
	return c
}

// newClientID builds a client ID from the boot epoch and a counter, so IDs
// from an earlier boot are recognisably stale (RFC 7530 §9.1.2).
func (m *Manager) newClientID() uint64 {
	m.nextClient++
	return uint64(m.epoch)<<32 | uint64(m.nextClient)
}

// leaseValid reports whether c renewed within the lease period.
func (m *Manager) leaseValid(c *Client) bool {
	return m.now().Sub(c.lastRenew) < m.cfg.LeaseTime
}

func (c *Client) hasState() bool { return len(c.states) > 0 || len(c.sessions) > 0 }

func (m *Manager) dropUnconf(c *Client) {
	if m.unconfByName[c.name] == c {
		delete(m.unconfByName, c.name)
	}
	if m.unconfByID[c.id] == c {
		delete(m.unconfByID, c.id)
	}
}

// confirm turns unconfirmed record c into the confirmed one for its name,
// expiring an older confirmed record of the same name (client restart).
func (m *Manager) confirm(c *Client) {
	if old := m.confByName[c.name]; old != nil && old != c {
		m.expireClient(old, nfs4.ErrStaleClientID)
	}
	m.dropUnconf(c)
	c.confirmed = true
	c.lastRenew = m.now()
	m.confByName[c.name] = c
	m.confByID[c.id] = c
}

// confirmedClient finds a confirmed client by ID. IDs from another boot or
// unknown/expired ones are NFS4ERR_STALE_CLIENTID (RFC 7530 §16.24.4).
func (m *Manager) confirmedClient(id uint64) (*Client, error) {
	if uint32(id>>32) != m.epoch {
		return nil, nfs4.ErrStaleClientID
	}
	c := m.confByID[id]
	if c == nil {
		return nil, nfs4.ErrStaleClientID
	}
	return c, nil
}

// SetClientIDArgs are SETCLIENTID4args plus the caller's principal.
type SetClientIDArgs struct {
	Name      []byte // nfs_client_id4.id
	Verifier  nfs4.Verifier
	Principal string
	Callback  Callback
}

// SetClientIDResult is SETCLIENTID4resok.
type SetClientIDResult struct {
	ClientID uint64
	Confirm  nfs4.Verifier
}

// SetClientID implements the record handling of RFC 7530 §16.33.5. It
// always creates a fresh unconfirmed record (replacing any earlier
// unconfirmed one for the name):
//   - confirmed record, same principal, same verifier: callback update,
//     same client ID;
//   - confirmed record, same principal, new verifier: client reboot, new
//     client ID; the old record and its state go when this one is confirmed;
//   - confirmed record, different principal: NFS4ERR_CLID_INUSE while the
//     old client holds state or an unexpired lease, else it is expired;
//   - no confirmed record: new client ID.
func (m *Manager) SetClientID(a SetClientIDArgs) (SetClientIDResult, error) {
	m.lock()
	defer m.unlock()
	name := string(a.Name)
	conf := m.confByName[name]
	if conf != nil && (conf.principal != a.Principal || conf.minor != 0) {
		// RFC 7530 §16.33.5: in use only while the other client holds
		// state (pynfs CID2/CID2a) and is not a courtesy client.
		if conf.hasState() && !m.courtesy(conf) {
			return SetClientIDResult{}, nfs4.ErrClidInUse
		}
		m.expireClient(conf, nfs4.ErrExpired)
		conf = nil
	}
	if u := m.unconfByName[name]; u != nil {
		m.dropUnconf(u)
	}
	var id uint64
	if conf != nil && conf.verifier == a.Verifier {
		id = conf.id
	} else {
		id = m.newClientID()
	}
	c := m.newClient(name, a.Verifier, a.Principal, 0, id)
	c.cb = a.Callback
	c.confirmVerf = m.newVerifier()
	return SetClientIDResult{ClientID: id, Confirm: c.confirmVerf}, nil
}

// SetClientIDConfirm implements RFC 7530 §16.34.4.
//   - unconfirmed record (id, verf) matching: confirm it. If a confirmed
//     record has the same ID this is a callback update; if one has the same
//     name but another ID the client rebooted and the old state is released.
//   - confirmed record (id, verf) and no matching unconfirmed one: a
//     retransmission, OK.
//   - principal mismatch: NFS4ERR_CLID_INUSE; anything else:
//     NFS4ERR_STALE_CLIENTID.
func (m *Manager) SetClientIDConfirm(id uint64, verf nfs4.Verifier, principal string) error {
	m.lock()
	defer m.unlock()
	if uint32(id>>32) != m.epoch {
		return nfs4.ErrStaleClientID
	}
	conf, unconf := m.confByID[id], m.unconfByID[id]
	if (conf != nil && conf.principal != principal) || (unconf != nil && unconf.principal != principal) {
		return nfs4.ErrClidInUse
	}
	if unconf != nil && unconf.confirmVerf == verf {
		if conf != nil { // callback update
			conf.cb = unconf.cb
			conf.confirmVerf = verf
			conf.lastRenew = m.now()
			m.dropUnconf(unconf)
			return nil
		}
		m.confirm(unconf)
		return nil
	}
	if conf != nil && conf.confirmVerf == verf {
		conf.lastRenew = m.now()
		return nil
	}
	return nfs4.ErrStaleClientID
}

// Renew implements RENEW (RFC 7530 §16.24) and is the explicit form of the
// implicit renewal every stateful 4.0 op performs.
func (m *Manager) Renew(id uint64) error {
	m.lock()
	defer m.unlock()
	c, err := m.confirmedClient(id)
	if err != nil {
		if _, gone := m.expiredClients[id]; gone {
			return nfs4.ErrExpired // RFC 7530 §16.24.4
		}
		return err
	}
	c.lastRenew = m.now()
	return nil
}

// ExchangeIDArgs are the parts of EXCHANGE_ID4args the state model needs.
type ExchangeIDArgs struct {
	OwnerID   []byte // co_ownerid
	Verifier  nfs4.Verifier
	Flags     uint32 // eia_flags
	Principal string
}

// ExchangeIDResult holds eir_clientid, eir_sequenceid and eir_flags.
type ExchangeIDResult struct {
	ClientID   uint64
	SequenceID uint32
	Flags      uint32
}

const exchgidValidFlags = nfs4.ExchGIDFlagSuppMovedRefer | nfs4.ExchGIDFlagSuppMovedMigr |
	nfs4.ExchGIDFlagBindPrincStateID | nfs4.ExchGIDFlagMaskPNFS | nfs4.ExchGIDFlagUpdConfirmedRecA

// ExchangeID implements the case table of RFC 8881 §18.35.4 (SP4_NONE).
func (m *Manager) ExchangeID(a ExchangeIDArgs) (ExchangeIDResult, error) {
	m.lock()
	defer m.unlock()
	// eia_flags must not carry CONFIRMED_R or undefined bits (§18.35.3).
	if a.Flags&^exchgidValidFlags != 0 {
		return ExchangeIDResult{}, nfs4.ErrInval
	}
	name := string(a.OwnerID)
	conf := m.confByName[name]
	if conf != nil && conf.minor == 0 {
		// A 4.0 record of the same name: treat like a collision.
		if conf.hasState() && !m.courtesy(conf) {
			return ExchangeIDResult{}, nfs4.ErrClidInUse
		}
		m.expireClient(conf, nfs4.ErrExpired)
		conf = nil
	}
	const flagsOut = nfs4.ExchGIDFlagUseNonPNFS
	confirmedRes := func(c *Client) ExchangeIDResult {
		c.lastRenew = m.now()
		return ExchangeIDResult{ClientID: c.id, SequenceID: c.csSeq + 1,
			Flags: flagsOut | nfs4.ExchGIDFlagConfirmedR}
	}
	if a.Flags&nfs4.ExchGIDFlagUpdConfirmedRecA != 0 {
		switch {
		case conf == nil: // case 9: update of an unconfirmed/absent record
			return ExchangeIDResult{}, nfs4.ErrNoEnt
		case conf.principal != a.Principal: // case 8
			return ExchangeIDResult{}, nfs4.ErrPerm
		case conf.verifier != a.Verifier: // case 7
			return ExchangeIDResult{}, nfs4.ErrNotSame
		}
		return confirmedRes(conf), nil // case 6: update (nothing we track changes)
	}
	if conf != nil {
		switch {
		case conf.principal != a.Principal: // case 3: collision
			if conf.hasState() && !m.courtesy(conf) { // RFC 8881 §18.35.4 case 3; pynfs EID5e/5g
				return ExchangeIDResult{}, nfs4.ErrClidInUse
			}
			m.expireClient(conf, nfs4.ErrExpired)
		case conf.verifier == a.Verifier: // case 2: non-update on existing
			return confirmedRes(conf), nil
		default:
			// case 5: client restart. New unconfirmed record; the old
			// one and its state go when CREATE_SESSION confirms it.
		}
	}
	// case 1 (new owner) and case 4 (replace unconfirmed record).
	if u := m.unconfByName[name]; u != nil {
		m.dropUnconf(u)
	}
	c := m.newClient(name, a.Verifier, a.Principal, 1, m.newClientID())
	return ExchangeIDResult{ClientID: c.id, SequenceID: c.csSeq + 1, Flags: flagsOut}, nil
}

// DestroyClientID implements DESTROY_CLIENTID (RFC 8881 §18.50):
// NFS4ERR_CLIENTID_BUSY while sessions or state remain.
func (m *Manager) DestroyClientID(id uint64) error {
	m.lock()
	defer m.unlock()
	if uint32(id>>32) != m.epoch {
		return nfs4.ErrStaleClientID
	}
	if c := m.confByID[id]; c != nil {
		if c.hasState() {
			return nfs4.ErrClientIDBusy
		}
		m.expireClient(c, nfs4.ErrStaleClientID)
		return nil
	}
	if c := m.unconfByID[id]; c != nil {
		m.dropUnconf(c)
		return nil
	}
	return nfs4.ErrStaleClientID
}

// ClientIDValid reports whether id names a confirmed client of this boot
// (nil) or why not (NFS4ERR_STALE_CLIENTID).
func (m *Manager) ClientIDValid(id uint64) error {
	m.lock()
	defer m.unlock()
	_, err := m.confirmedClient(id)
	return err
}

// maxExpiredRecords bounds the memory of torn-down stateids and clients.
const maxExpiredRecords = 1 << 16

// expireClient removes c and everything it holds. Open handles are queued
// for the OnRelease hook, which unlock() delivers.
func (m *Manager) expireClient(c *Client, reason nfs4.Status) {
	rel := Released{ClientID: c.id, Reason: reason}
	if len(m.expiredStates) > maxExpiredRecords {
		clear(m.expiredStates)
	}
	if len(m.expiredClients) > maxExpiredRecords {
		clear(m.expiredClients)
	}
	if c.confirmed && reason == nfs4.ErrExpired {
		m.expiredClients[c.id] = struct{}{}
	}
	for other := range c.states {
		m.expiredStates[other] = struct{}{}
	}
	for _, s := range c.sessions {
		m.destroySession(s)
	}
	for _, r := range c.states {
		if r.open != nil && r.open.handle != nil {
			rel.Handles = append(rel.Handles, r.open.handle)
		}
		m.dropState(r)
	}
	for _, o := range c.owners {
		m.forgetOwner(o)
	}
	if m.confByName[c.name] == c {
		delete(m.confByName, c.name)
	}
	if m.confByID[c.id] == c {
		delete(m.confByID, c.id)
	}
	m.dropUnconf(c)
	c.confirmed = false
	m.forgetClient(c)
	m.pending = append(m.pending, rel)
}

// Reap expires every client whose lease ran out before now (RFC 7530 §9.6,
// RFC 8881 §8.3), drops stale unconfirmed records, and forgets idle owners
// (no state, unused for a lease: RFC 7530 §9.1.7 keeps them that long for
// replays). The server calls it periodically, e.g. every lease/4. It
// returns the IDs of the clients expired.
func (m *Manager) Reap(now time.Time) []uint64 {
	m.lock()
	defer m.unlock()
	lease := m.cfg.LeaseTime
	m.graceActive() // ends a grace period whose time is up
	var gone []uint64
	for _, c := range m.confByID {
		if now.Sub(c.lastRenew) >= lease && !c.busy() {
			if m.keepCourteously(c, now) {
				continue // courtesy client (courtesy.go)
			}
			gone = append(gone, c.id)
			m.expireClient(c, nfs4.ErrExpired)
		}
	}
	gone = append(gone, m.boundCourtesy()...)
	for _, c := range m.unconfByID {
		if now.Sub(c.created) >= lease {
			m.dropUnconf(c)
		}
	}
	for _, o := range m.owners {
		if len(o.states) == 0 && !o.busy && now.Sub(o.lastUsed) >= lease {
			m.forgetOwner(o)
		}
	}
	return gone
}

// busy reports whether a request of c is being processed on a session slot;
// such a client is not expired under the request's feet.
func (c *Client) busy() bool {
	for _, s := range c.sessions {
		for _, sl := range s.slots {
			if sl.busy {
				return true
			}
		}
	}
	return false
}
