package state

import (
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Directory delegations (RFC 8881 §10.9, §18.39).
//
// A directory delegation is a read delegation on a directory's handle:
// it lives with the file delegations (the same table, stateids, recall,
// DELEGRETURN, revocation a lease after an unanswered recall, cleanup at
// client expiry and DESTROY_CLIENTID), so every conflict check on the
// directory's handle (SETATTR, a local change) recalls it like a read
// delegation. Changes of the directory's entries by another client are
// checked with BreakDirDelegations: a holder that was granted the
// notification type of the change is notified instead (CB_NOTIFY,
// §10.9.1), every other holder's delegation is recalled and the change
// waits (NFS4ERR_DELAY). The holder's own changes conflict with nothing.

// DirNotice names a directory delegation whose holder is to be told of a
// change by CB_NOTIFY instead of losing the delegation.
type DirNotice struct {
	ClientID uint64
	Minor    uint32
	StateID  nfs4.StateID
	FHKey    string
}

// GrantDirDelegation grants clientID (4.1 or later) a delegation on
// directory fhKey with the notification types in notify (a bit per
// NOTIFY4_* value), unless the client already holds one on it or a
// delegation of the directory is being recalled (a conflicting change is
// under way). The caller has checked the client's back channel and that
// fhKey is a directory.
func (m *Manager) GrantDirDelegation(clientID uint64, fhKey string, notify, minor uint32) (nfs4.StateID, bool) {
	m.lock()
	defer m.unlock()
	c := m.confByID[clientID]
	if c == nil || c.minor == 0 || minor == 0 {
		return nfs4.StateID{}, false
	}
	f := m.getFile(fhKey)
	defer m.gcFile(f)
	for d := range f.delegs {
		if d.rec.client == c || d.recalled {
			return nfs4.StateID{}, false
		}
	}
	// Callbacks go out in the minor version of the COMPOUND that got the
	// delegation (the session's), not the one of EXCHANGE_ID.
	d := &Delegation{file: f, Type: nfs4.DelegateRead, minor: minor, dir: true, notify: notify}
	d.rec = m.newState(KindDeleg, c, nil)
	d.rec.deleg = d
	f.delegs[d] = struct{}{}
	m.countDeleg(d, 1)
	c.lastRenew = m.now()
	return d.rec.stateID(), true
}

// BreakDirDelegations is the conflict check of a change to the entries of
// directory dirKey (CREATE, OPEN creating a file, REMOVE, RENAME, LINK) by
// exceptClient (0: unknown, every delegation conflicts). notifyType is the
// NOTIFY4_* type describing the change, or -1 when it cannot be described
// by a notification. Delegations granted that type and not under recall
// are returned, to be notified once the change is made; every other
// delegation of another client is recalled, and then the change must
// wait: NFS4ERR_DELAY, and nothing to notify.
func (m *Manager) BreakDirDelegations(dirKey string, exceptClient uint64, notifyType int) ([]DirNotice, error) {
	if !m.HasDirDelegations() { // only directory delegations are on a directory's key
		return nil, nil
	}
	m.lock()
	defer m.unlock()
	f := m.files[dirKey]
	if f == nil {
		return nil, nil
	}
	except := m.confByID[exceptClient]
	var notices []DirNotice
	conflict := false
	for d := range f.delegs {
		if d.rec.client == except && except != nil {
			continue
		}
		if d.dir && !d.recalled && notifyType >= 0 && notifyType < 32 && d.notify&(1<<notifyType) != 0 {
			notices = append(notices, DirNotice{ClientID: d.rec.client.id, Minor: d.minor, StateID: d.rec.stateID(), FHKey: f.key})
			continue
		}
		conflict = true
		if !d.recalled {
			d.recalled = true
			d.recallAt = m.now()
			m.recalls = append(m.recalls, Recall{ClientID: d.rec.client.id, Minor: d.minor,
				StateID: d.rec.stateID(), FHKey: f.key, Type: d.Type})
		}
	}
	if conflict {
		return nil, nfs4.ErrDelay
	}
	return notices, nil
}

// RecallDelegation puts one live delegation under recall (CB_RECALL
// through OnRecall, revocation a lease later), e.g. a directory delegation
// whose holder did not acknowledge a notification.
func (m *Manager) RecallDelegation(sid nfs4.StateID) {
	m.lock()
	defer m.unlock()
	r := m.states[sid.Other]
	if r == nil || r.deleg == nil || r.revoked != 0 || r.deleg.recalled {
		return
	}
	d := r.deleg
	if _, live := d.file.delegs[d]; !live {
		return
	}
	d.recalled = true
	d.recallAt = m.now()
	m.recalls = append(m.recalls, Recall{ClientID: r.client.id, Minor: d.minor,
		StateID: r.stateID(), FHKey: d.file.key, Type: d.Type})
}
