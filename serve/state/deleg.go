package state

import (
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Delegations (RFC 7530 §10.2, §10.4; RFC 8881 §10.2, §10.4).
//
// The Manager decides whether a delegation may be granted and which
// requests conflict with one; it never talks to clients. A conflicting
// request (OPEN of another client, REMOVE, RENAME, LINK, SETATTR, I/O with
// a special stateid) gets NFS4ERR_DELAY and the delegation is marked as
// being recalled: the engine hears of it through Config.OnRecall (run after
// the Manager's lock is released) and sends CB_RECALL. DELEGRETURN
// (ReturnDelegation) ends it; RevokeRecalled revokes those not returned
// within a lease of the recall.

// Recall asks the engine to send CB_RECALL for one delegation.
type Recall struct {
	ClientID uint64
	Minor    uint32 // minor version the delegation was granted in
	StateID  nfs4.StateID
	FHKey    string // the file (its wire handle)
	Type     uint32 // nfs4.DelegateRead / DelegateWrite
}

// GrantArgs describe a request for a delegation: at the end of an OPEN or
// by WANT_DELEGATION.
type GrantArgs struct {
	ClientID uint64
	FHKey    string
	Minor    uint32
	// Access is the share access the client holds on the file
	// (OPEN4_SHARE_ACCESS_*); 0 for WANT_DELEGATION without an open.
	Access uint32
	// Want is the OPEN4_SHARE_ACCESS_WANT_* value (4.1); 0 is "no
	// preference": a write delegation for a write open, else a read one.
	Want uint32
}

// Grant is the outcome of GrantDelegation. Type is nfs4.DelegateNone when
// nothing was granted; Why then gives the WND4_* reason.
type Grant struct {
	Type    uint32
	StateID nfs4.StateID
	Why     uint32
}

// countDeleg counts live delegations (n is +1 or -1 for d);
// HasDelegations and HasDirDelegations read the counts without the lock
// so the hot paths (REMOVE, SETATTR, OPEN creating…) skip lookups when
// there are none.
func (m *Manager) countDeleg(d *Delegation, n int64) {
	m.ndelegs.Add(n)
	if d.dir {
		m.ndirdelegs.Add(n)
	}
}

// HasDelegations reports whether any delegation is outstanding.
func (m *Manager) HasDelegations() bool { return m.ndelegs.Load() > 0 }

// HasDirDelegations reports whether any directory delegation is
// outstanding (a live one, recalled or not). The count is raised before
// GrantDirDelegation returns, so a change that counted itself under way
// before reading false either is seen by the grant's own check or saw
// the grant (nfs4srv/dirdeleg.go).
func (m *Manager) HasDirDelegations() bool { return m.ndirdelegs.Load() > 0 }

// GrantDelegation grants a delegation when the policy allows it
// (RFC 8881 §10.4): a write delegation when the client wants one (or has
// the file open for write without preference) and no other client has the
// file open or delegated; a read delegation when no other client has it
// open for write or holds a write delegation. A client holds at most one
// delegation per file; a file whose delegations are being recalled gets
// no new one. The caller has checked that the client's callback path works.
func (m *Manager) GrantDelegation(a GrantArgs) Grant {
	m.lock()
	defer m.unlock()
	none := func(why uint32) Grant { return Grant{Type: nfs4.DelegateNone, Why: why} }
	c := m.confByID[a.ClientID]
	if c == nil {
		return none(nfs4.WNDResource)
	}
	f := m.getFile(a.FHKey)
	defer m.gcFile(f)
	otherDeleg := false
	for d := range f.delegs {
		if d.rec.client == c {
			// Already delegated to this client: no second one, and
			// no upgrade (RFC 8881 §18.16.3, WND4_NOT_SUPP_UPGRADE).
			return none(nfs4.WNDNotSuppUpgrade)
		}
		if d.recalled || d.Type == nfs4.DelegateWrite {
			return none(nfs4.WNDContention)
		}
		otherDeleg = true
	}
	otherOpen, otherWrite := false, false
	for op := range f.opens {
		if op.owner.client != c {
			otherOpen = true
			if op.access&nfs4.ShareAccessWrite != 0 {
				otherWrite = true
			}
		}
	}
	want := a.Want & nfs4.ShareAccessWantDelegMask
	typ := uint32(nfs4.DelegateNone)
	switch want {
	case nfs4.ShareAccessWantWriteDeleg:
		if !otherOpen && !otherDeleg {
			typ = nfs4.DelegateWrite
		}
	case nfs4.ShareAccessWantReadDeleg:
		if !otherWrite {
			typ = nfs4.DelegateRead
		}
	case nfs4.ShareAccessWantNoPreference, nfs4.ShareAccessWantAnyDeleg:
		switch {
		case a.Access&nfs4.ShareAccessWrite != 0 && !otherOpen && !otherDeleg:
			typ = nfs4.DelegateWrite
		case a.Access&nfs4.ShareAccessWrite != 0 && want == nfs4.ShareAccessWantNoPreference:
			// A writer that cannot have a write delegation gains
			// little from a read one (its writes go to the server).
		case !otherWrite:
			typ = nfs4.DelegateRead
		}
	default:
		return none(nfs4.WNDNotWanted)
	}
	if typ == nfs4.DelegateNone {
		return none(nfs4.WNDContention)
	}
	d := &Delegation{file: f, Type: typ, minor: a.Minor}
	d.rec = m.newState(KindDeleg, c, nil)
	d.rec.deleg = d
	f.delegs[d] = struct{}{}
	m.countDeleg(d, 1)
	c.lastRenew = m.now()
	return Grant{Type: typ, StateID: d.rec.stateID()}
}

// breakDelegs marks for recall the delegations on f that conflict with a
// request: held by a client other than except (nil: every client), and,
// unless write, only write delegations (a reader does not disturb read
// delegations). It reports whether any conflicting delegation exists;
// the request then gets NFS4ERR_DELAY (RFC 8881 §10.4.4 ff.). Recalls
// are queued for OnRecall, which unlock delivers.
func (m *Manager) breakDelegs(f *file, except *Client, write bool) bool {
	conflict := false
	for d := range f.delegs {
		if d.rec.client == except || (!write && d.Type != nfs4.DelegateWrite) {
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
	return conflict
}

// BreakDelegations is the conflict check of operations other than OPEN:
// REMOVE, RENAME and LINK of the file, SETATTR, I/O with a special stateid
// (RFC 8881 §10.4.4, RFC 7530 §10.4.?). Delegations of exceptClient (the
// requester, when it is known; 0 for none) do not conflict; write says the
// request changes the file (else only write delegations conflict). It
// returns NFS4ERR_DELAY while conflicting delegations exist, after queuing
// their recall.
func (m *Manager) BreakDelegations(fhKey string, exceptClient uint64, write bool) error {
	if !m.HasDelegations() {
		return nil
	}
	m.lock()
	defer m.unlock()
	f := m.files[fhKey]
	if f == nil {
		return nil
	}
	if m.breakDelegs(f, m.confByID[exceptClient], write) {
		return nfs4.ErrDelay
	}
	return nil
}

// FileDelegated reports whether file fhKey has a live delegation
// (recalled or not). The engine keeps its watch for local changes
// (nfs4srv/localchange.go) only while this holds.
func (m *Manager) FileDelegated(fhKey string) bool {
	if !m.HasDelegations() {
		return false
	}
	m.lock()
	defer m.unlock()
	f := m.files[fhKey]
	return f != nil && len(f.delegs) > 0
}

// delegRec looks sid up as a live delegation of file fhKey.
func (m *Manager) delegRec(sid nfs4.StateID, fhKey string, minor uint32) (*stateRec, error) {
	r, err := m.lookup(sid, minor)
	if err != nil {
		return nil, err
	}
	if r.deleg == nil || r.deleg.file.key != fhKey {
		return nil, nfs4.ErrBadStateID
	}
	return r, nil
}

// ReturnDelegation implements DELEGRETURN (RFC 7530 §16.7, RFC 8881
// §18.6): sid must be a delegation stateid for file fhKey, held by
// clientID when that is known (4.1; 0 in 4.0). A revoked delegation
// answers its status (NFS4ERR_DELEG_REVOKED) and stays for FREE_STATEID.
func (m *Manager) ReturnDelegation(sid nfs4.StateID, fhKey string, clientID uint64, minor uint32) error {
	m.lock()
	defer m.unlock()
	if Classify(sid) != Regular {
		return nfs4.ErrBadStateID
	}
	r, err := m.delegRec(sid, fhKey, minor)
	if err != nil {
		return err
	}
	if clientID != 0 && r.client.id != clientID {
		return nfs4.ErrBadStateID
	}
	m.dropState(r)
	return nil
}

// CheckDelegation validates the delegation stateid of an OPEN with
// CLAIM_DELEGATE_CUR / CLAIM_DELEG_CUR_FH (RFC 7530 §16.16.5, RFC 8881
// §18.16.3): a live delegation of clientID on file fhKey.
func (m *Manager) CheckDelegation(sid nfs4.StateID, fhKey string, clientID uint64, minor uint32) error {
	m.lock()
	defer m.unlock()
	if Classify(sid) != Regular {
		return nfs4.ErrBadStateID
	}
	r, err := m.delegRec(sid, fhKey, minor)
	if err != nil {
		return err
	}
	if r.client.id != clientID {
		return nfs4.ErrBadStateID
	}
	return nil
}

// dropDeleg detaches a delegation being forgotten (returned, freed, its
// client expired). Called by dropState.
func (m *Manager) dropDeleg(r *stateRec) {
	d := r.deleg
	if _, live := d.file.delegs[d]; live {
		delete(d.file.delegs, d)
		m.countDeleg(d, -1)
	}
	if r.revoked != 0 && r.client.delegRevoked > 0 {
		r.client.delegRevoked--
	}
	m.gcFile(d.file)
}

// revokeDeleg revokes a delegation (RFC 8881 §10.2.1): it no longer
// conflicts with anything. A 4.1 stateid stays known as revoked
// (NFS4ERR_DELEG_REVOKED, SEQ4_STATUS_RECALLABLE_STATE_REVOKED) until
// FREE_STATEID; 4.0 has neither, so the stateid is simply forgotten
// (NFS4ERR_BAD_STATEID afterwards).
func (m *Manager) revokeDeleg(r *stateRec) {
	d := r.deleg
	if d.minor == 0 {
		m.dropState(r)
		return
	}
	if _, live := d.file.delegs[d]; live {
		delete(d.file.delegs, d)
		m.countDeleg(d, -1)
	}
	m.gcFile(d.file)
	r.revoked = nfs4.ErrDelegRevoked
	r.client.delegRevoked++
}

// RevokeRecalled revokes every delegation recalled at least a lease
// period before now and not returned (RFC 7530 §10.4.6, RFC 8881
// §10.4.6). The engine calls it periodically. It returns what was revoked.
func (m *Manager) RevokeRecalled(now time.Time) []Recall {
	if !m.HasDelegations() {
		return nil
	}
	m.lock()
	defer m.unlock()
	var out []Recall
	for _, f := range m.files {
		for d := range f.delegs {
			if d.recalled && now.Sub(d.recallAt) >= m.cfg.LeaseTime {
				out = append(out, Recall{ClientID: d.rec.client.id, Minor: d.minor,
					StateID: d.rec.stateID(), FHKey: f.key, Type: d.Type})
				m.revokeDeleg(d.rec)
			}
		}
	}
	return out
}

// RevokeDelegation revokes one delegation at once, e.g. when its holder
// cannot be reached or denies having it.
func (m *Manager) RevokeDelegation(sid nfs4.StateID) error {
	m.lock()
	defer m.unlock()
	r := m.states[sid.Other]
	if r == nil || r.deleg == nil || r.revoked != 0 {
		return nfs4.ErrBadStateID
	}
	m.revokeDeleg(r)
	return nil
}

// ClientHasDelegations reports whether the client holds a live delegation
// (RENEW answers NFS4ERR_CB_PATH_DOWN only then, RFC 7530 §16.24.4).
func (m *Manager) ClientHasDelegations(clientID uint64) bool {
	if !m.HasDelegations() {
		return false
	}
	m.lock()
	defer m.unlock()
	c := m.confByID[clientID]
	if c == nil {
		return false
	}
	for _, r := range c.states {
		if r.deleg != nil && r.revoked == 0 {
			return true
		}
	}
	return false
}

// ClientCallback returns the 4.0 callback information of a confirmed
// client (SETCLIENTID's cb_client4 and callback_ident).
func (m *Manager) ClientCallback(clientID uint64) (Callback, bool) {
	m.lock()
	defer m.unlock()
	c := m.confByID[clientID]
	if c == nil || c.minor != 0 {
		return Callback{}, false
	}
	return c.cb, true
}

// delegSeqFlags are the SEQUENCE status flags for c's delegations.
func (m *Manager) delegSeqFlags(c *Client) uint32 {
	if c.delegRevoked > 0 {
		return nfs4.SeqStatusRecallableStateRevoked
	}
	return 0
}
