package state

import (
	"slices"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Courteous server (RFC 8881 §8.4.2.1 lets a server keep the state of a
// client whose lease expired while nothing conflicts with it; Linux nfsd
// calls such clients "courtesy clients").
//
// Reap does not expire a client holding opens or locks when its lease runs
// out: the client keeps its state, and if it comes back (RENEW, SEQUENCE,
// any op that renews) it carries on as if nothing happened — a laptop
// resuming from suspend or a partitioned network heals without lost locks.
// It is expired for real (NFS4ERR_EXPIRED afterwards) when
//   - another client's OPEN conflicts with its share reservations, its
//     byte-range locks conflict with another client's LOCK or LOCKT, or
//     another client claims its client owner with another principal;
//   - it stays away longer than Config.CourtesyTime; or
//   - more than MaxCourtesyClients are kept (the longest-gone go first).
// A client without state gains nothing from courtesy and expires at once.
//
// Not covered: processes on the server host are blocked by a courtesy
// client's mirrored (OFD) locks until one of the above happens, and a
// courtesy client's delegations are recalled and revoked like anyone's.

// DefaultCourtesyTime is a sensible Config.CourtesyTime (Linux nfsd's).
const DefaultCourtesyTime = 24 * time.Hour

// MaxCourtesyClients bounds the number of courtesy clients.
const MaxCourtesyClients = 1024

// courtesy reports whether c is a courtesy client: lease lapsed, state kept.
func (m *Manager) courtesy(c *Client) bool { return c.confirmed && !m.leaseValid(c) }

// courtesyTime is the configured bound, or 0 if courtesy is off.
func (m *Manager) courtesyTime() time.Duration { return max(m.cfg.CourtesyTime, 0) }

// keepCourteously decides, in Reap, whether c (lease lapsed) is kept.
func (m *Manager) keepCourteously(c *Client, now time.Time) bool {
	ct := m.courtesyTime()
	return ct > 0 && len(c.states) > 0 && now.Sub(c.lastRenew) < ct
}

// boundCourtesy expires the longest-silent courtesy clients beyond
// MaxCourtesyClients; it returns their IDs.
func (m *Manager) boundCourtesy() []uint64 {
	var cs []*Client
	for _, c := range m.confByID {
		if m.courtesy(c) {
			cs = append(cs, c)
		}
	}
	if len(cs) <= MaxCourtesyClients {
		return nil
	}
	slices.SortFunc(cs, func(a, b *Client) int { return a.lastRenew.Compare(b.lastRenew) })
	var gone []uint64
	for _, c := range cs[:len(cs)-MaxCourtesyClients] {
		gone = append(gone, c.id)
		m.expireClient(c, nfs4.ErrExpired)
	}
	return gone
}

// expireCourtesyOpens expires courtesy clients other than o's whose opens
// of f conflict with access/deny (the share reservation rule of
// RFC 8881 §9.7), so that Open's conflict check no longer sees them.
func (m *Manager) expireCourtesyOpens(f *file, o *Owner, access, deny uint32) {
	var victims []*Client
	for op := range f.opens {
		c := op.owner.client
		if c != o.client && m.courtesy(c) && (op.access&deny != 0 || op.deny&access != 0) {
			victims = append(victims, c)
		}
	}
	m.expireVictims(victims)
}

// expireCourtesyLocks expires courtesy clients whose byte-range locks on f
// conflict with [start,end] of type typ for lock owner k.
func (m *Manager) expireCourtesyLocks(f *file, k ownerKey, start, end uint64, typ uint32) {
	var victims []*Client
	for ls := range f.locks {
		c := ls.owner.client
		if ls.owner.key.clientID == k.clientID || !m.courtesy(c) {
			continue
		}
		for _, r := range ls.ranges {
			if r.start <= end && start <= r.end && (typ == nfs4.WriteLT || r.typ == nfs4.WriteLT) {
				victims = append(victims, c)
				break
			}
		}
	}
	m.expireVictims(victims)
}

func (m *Manager) expireVictims(victims []*Client) {
	for _, c := range victims {
		if c.confirmed { // not already expired through another open
			m.expireClient(c, nfs4.ErrExpired)
		}
	}
}
