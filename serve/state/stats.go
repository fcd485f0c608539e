package state

// Stats is a snapshot of how much state the Manager holds, for metrics
// (serve/metrics) and operators: a client that piles up opens or locks
// shows here.
type Stats struct {
	Clients     int // confirmed client records (RFC 7530 §9.1.1, RFC 8881 §2.4)
	Unconfirmed int // unconfirmed client records
	Courtesy    int // confirmed clients whose lease lapsed, state kept (courtesy.go)
	Sessions    int // 4.1 sessions (RFC 8881 §2.10)
	// Live (not revoked) stateids by kind.
	Opens       int // open stateids
	LockStates  int // lock stateids (one per lock owner and file)
	LockRanges  int // byte ranges held under those lock stateids
	Delegations int // delegations, including those being recalled
	Recalling   int // delegations under recall, not yet returned
	Revoked     int // stateids revoked but not yet freed by the client (any kind)
	Grace       bool
}

// Stats counts the Manager's state. It walks every stateid under the
// Manager's lock, so it is meant for a metrics scrape, not a hot path.
func (m *Manager) Stats() Stats {
	m.lock()
	defer m.unlock()
	st := Stats{
		Clients:     len(m.confByID),
		Unconfirmed: len(m.unconfByID),
		Sessions:    len(m.sessions),
		Grace:       m.graceActive(),
	}
	for _, c := range m.confByID {
		if m.courtesy(c) {
			st.Courtesy++
		}
	}
	for _, r := range m.states {
		if r.revoked != 0 {
			st.Revoked++
			continue
		}
		switch r.kind {
		case KindOpen:
			st.Opens++
		case KindLock:
			st.LockStates++
			if r.lock != nil {
				st.LockRanges += len(r.lock.ranges)
			}
		case KindDeleg:
			st.Delegations++
			if r.deleg != nil && r.deleg.recalled {
				st.Recalling++
			}
		}
	}
	return st
}
