package state

import "github.com/fsbridge/fsbridge/proto/nfs4"

// ReclaimComplete records RECLAIM_COMPLETE (RFC 8881 §18.51) for the
// client: a second one is NFS4ERR_COMPLETE_ALREADY. The client may not
// reclaim afterwards, and once every client recorded by the previous
// instance has sent it the grace period ends early (grace.go).
func (m *Manager) ReclaimComplete(clientID uint64) error {
	m.lock()
	defer m.unlock()
	c, err := m.confirmedClient(clientID)
	if err != nil {
		return err
	}
	if c.reclaimDone {
		return nfs4.ErrCompleteAlready
	}
	c.reclaimDone = true
	m.recordClient(c)
	m.clientReclaimDone(c)
	return nil
}

// ReclaimDone reports whether the client sent RECLAIM_COMPLETE. Until it
// has, a 4.1 client's non-reclaim OPENs get NFS4ERR_GRACE (RFC 8881
// §18.51.3), as Linux nfsd does.
func (m *Manager) ReclaimDone(clientID uint64) bool {
	m.lock()
	defer m.unlock()
	c, err := m.confirmedClient(clientID)
	return err == nil && c.reclaimDone
}
