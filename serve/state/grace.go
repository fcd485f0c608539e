package state

import (
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Server restart recovery: the grace period and reclaims (RFC 7530 §9.6.2,
// §9.6.3; RFC 8881 §8.4.2, §8.4.3, §18.51).
//
// A Manager started with a Store and the previous instance's records
// (Config.PrevClients) begins in a grace period of Config.GraceTime:
//   - reclaims (OPEN CLAIM_PREVIOUS, LOCK reclaim=TRUE) from clients in
//     those records are allowed and recreate the state with new stateids;
//     from any other client they are NFS4ERR_RECLAIM_BAD; a conflict
//     between reclaims is NFS4ERR_RECLAIM_CONFLICT;
//   - non-reclaim OPEN, LOCK and LOCKT get NFS4ERR_GRACE: the server does
//     not know what the previous instance granted, so anything could
//     conflict with a lock still to be reclaimed.
//
// The grace period ends after GraceTime, or as soon as every 4.1+ client of
// the records has sent RECLAIM_COMPLETE (4.0 has no such op, so a 4.0
// record keeps the period running to its end). While clients are still
// reclaiming (one did in the last reclaimSlack) it is stretched, up to
// twice GraceTime in all, as Linux nfsd does: a client that started late is
// not cut off halfway. With no records there is no grace period at all. Afterwards reclaims are NFS4ERR_NO_GRACE, as is a
// reclaim by a 4.1 client after its own RECLAIM_COMPLETE.
//
// Independently of the server's grace period, a 4.1 client's non-reclaim
// OPEN/LOCK before its RECLAIM_COMPLETE is NFS4ERR_GRACE (RFC 8881
// §18.51.3).
//
// What is persisted is the set of clients that hold state in this instance
// or (4.1) sent RECLAIM_COMPLETE — they may get state without a further
// write, and a client with nothing to reclaim still holds the grace period
// open for the others, as pynfs's reboot tests expect — plus, while the grace period lasts, the previous instance's records (a
// second restart during grace must still let those clients reclaim; no
// conflicting state was granted meanwhile). Clients leave the set when
// their state is torn down (expiry, DESTROY_CLIENTID, client restart); at
// the end of grace, records of clients that did not come back are dropped,
// so they can never reclaim later (the edge conditions of RFC 8881 §8.4.3).

// recovery is the Manager's restart-recovery state, guarded by Manager.mu.
type recovery struct {
	store *Store
	cur   map[string]ClientRecord // clients of this instance holding state
	prev  map[string]*prevClient  // previous instance's clients; nil after grace
	// notDone counts prev clients yet to finish (4.0 ones never do).
	notDone     int
	grace       bool
	graceEnd    time.Time
	graceMax    time.Time // graceEnd stretched by reclaims at most to this
	lastReclaim time.Time
	gen         uint64 // bumped on every change of the persisted set
	dirty       bool
}

type prevClient struct {
	rec  ClientRecord
	done bool
}

func (m *Manager) initRecovery(now time.Time) {
	r := &m.rec
	r.store = m.cfg.Store
	r.cur = map[string]ClientRecord{}
	if r.store == nil || len(m.cfg.PrevClients) == 0 || m.cfg.GraceTime < 0 {
		return
	}
	gt := m.cfg.GraceTime
	if gt == 0 {
		gt = m.cfg.LeaseTime
	}
	r.prev = map[string]*prevClient{}
	for _, pc := range m.cfg.PrevClients {
		if _, dup := r.prev[pc.Name]; dup {
			continue
		}
		r.prev[pc.Name] = &prevClient{rec: pc}
		r.notDone++
	}
	r.grace, r.graceEnd, r.graceMax = true, now.Add(gt), now.Add(2*gt)
}

// reclaimSlack: a reclaim this recent keeps the grace period going.
const reclaimSlack = 2 * time.Second

// graceActive reports whether the grace period is on, ending it (and
// dropping the records of clients that did not reclaim) when its time is up.
func (m *Manager) graceActive() bool {
	r := &m.rec
	if !r.grace {
		return false
	}
	if now := m.now(); r.notDone > 0 && (now.Before(r.graceEnd) ||
		(now.Sub(r.lastReclaim) < reclaimSlack && now.Before(r.graceMax))) {
		return true
	}
	m.endGrace()
	return false
}

func (m *Manager) endGrace() {
	r := &m.rec
	r.grace, r.prev, r.notDone = false, nil, 0
	m.recordsChanged()
}

func (m *Manager) recordsChanged() {
	if m.rec.store != nil {
		m.rec.gen++
		m.rec.dirty = true
	}
}

// recordClient puts c in the persisted set when it first gets state; the
// record reaches disk before the reply that hands out the state (unlock
// writes it).
func (m *Manager) recordClient(c *Client) {
	r := &m.rec
	if r.store == nil || c.recorded {
		return
	}
	if _, ok := r.cur[c.name]; !ok && len(r.cur) >= MaxClientRecords {
		return // bounded: this client will not be able to reclaim
	}
	c.recorded = true
	epoch := m.epoch
	p := r.prev[c.name]
	if p != nil {
		epoch = p.rec.Epoch
	}
	r.cur[c.name] = ClientRecord{Name: c.name, Minor: c.minor, Epoch: epoch}
	if p == nil { // else the persisted set is the same
		m.recordsChanged()
	}
}

// forgetClient removes c from the persisted set (its state is gone).
func (m *Manager) forgetClient(c *Client) {
	if !c.recorded {
		return
	}
	c.recorded = false
	delete(m.rec.cur, c.name)
	if m.rec.prev[c.name] == nil { // else the persisted set is the same
		m.recordsChanged()
	}
}

// persistSnapshot returns what to write, if anything changed; called
// under mu, written by unlock without it.
func (m *Manager) persistSnapshot() (gen uint64, recs []ClientRecord, ok bool) {
	r := &m.rec
	if !r.dirty {
		return 0, nil, false
	}
	r.dirty = false
	recs = make([]ClientRecord, 0, len(r.cur)+len(r.prev))
	for _, cr := range r.cur {
		recs = append(recs, cr)
	}
	for name, p := range r.prev {
		if _, ok := r.cur[name]; !ok {
			recs = append(recs, p.rec)
		}
	}
	return r.gen, recs, true
}

// persist writes a snapshot taken by persistSnapshot. On failure the set is
// marked dirty again so a later change retries.
func (m *Manager) persist(gen uint64, recs []ClientRecord) {
	if err := m.rec.store.save(gen, m.epoch, recs); err != nil {
		m.mu.Lock()
		if m.rec.gen == gen {
			m.rec.dirty = true
		}
		m.mu.Unlock()
	}
}

// reclaimCheck applies the reclaim rules to c: nil if c may reclaim now.
func (m *Manager) reclaimCheck(c *Client) error {
	if c.minor >= 1 && c.reclaimDone {
		return nfs4.ErrNoGrace // RFC 8881 §18.51.3
	}
	if !m.graceActive() {
		return nfs4.ErrNoGrace
	}
	if m.rec.prev[c.name] == nil {
		// No state at the previous instance (RFC 8881 §8.4.3).
		return nfs4.ErrReclaimBad
	}
	m.rec.lastReclaim = m.now()
	return nil
}

// newStateCheck applies the grace rules to a non-reclaim OPEN or LOCK.
func (m *Manager) newStateCheck(c *Client) error {
	if c.minor >= 1 && !c.reclaimDone {
		return nfs4.ErrGrace // RFC 8881 §18.51.3
	}
	if m.graceActive() {
		return nfs4.ErrGrace
	}
	return nil
}

// CheckOpen tells the engine, before it resolves or creates the file,
// whether an OPEN of clientID may go ahead: reclaim says it is CLAIM_PREVIOUS.
// Errors: NFS4ERR_GRACE, NFS4ERR_NO_GRACE, NFS4ERR_RECLAIM_BAD, or the
// client's own error (STALE_CLIENTID).
func (m *Manager) CheckOpen(clientID uint64, reclaim bool) error {
	m.lock()
	defer m.unlock()
	c, err := m.confirmedClient(clientID)
	if err != nil {
		return err
	}
	if reclaim {
		return m.reclaimCheck(c)
	}
	return m.newStateCheck(c)
}

// InGrace reports whether the server is in its grace period. LOCKT answers
// NFS4ERR_GRACE then (RFC 7530 §16.11.5): it cannot know the locks yet to
// be reclaimed.
func (m *Manager) InGrace() bool {
	m.lock()
	defer m.unlock()
	return m.graceActive()
}

// GraceEnd is when the grace period ends (zero if there is none now).
func (m *Manager) GraceEnd() time.Time {
	m.lock()
	defer m.unlock()
	if !m.graceActive() {
		return time.Time{}
	}
	return m.rec.graceEnd
}

// clientReclaimDone marks c finished with reclaims (RECLAIM_COMPLETE) and
// ends the grace period early once every recorded client has finished.
func (m *Manager) clientReclaimDone(c *Client) {
	r := &m.rec
	if !r.grace {
		return
	}
	if p := r.prev[c.name]; p != nil && !p.done && c.minor >= 1 {
		p.done = true
		r.notDone--
	}
	m.graceActive()
}

// PersistedClients returns the set of client records this instance has
// persisted or will persist (for tests and diagnostics).
func (m *Manager) PersistedClients() []ClientRecord {
	m.lock()
	defer m.unlock()
	r := &m.rec
	var out []ClientRecord
	for _, cr := range r.cur {
		out = append(out, cr)
	}
	for name, p := range r.prev {
		if _, ok := r.cur[name]; !ok {
			out = append(out, p.rec)
		}
	}
	return out
}
