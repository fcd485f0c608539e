package state

import (
	"testing"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

func TestSetClientIDCases(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"new client confirm and renew", func(t *testing.T, e *env) {
			id := e.client40(t, "c", "sys:0@a", 1)
			wantErr(t, "RENEW", e.m.Renew(id), nil)
		}},
		{"confirm with wrong verifier", func(t *testing.T, e *env) {
			r, _ := e.m.SetClientID(SetClientIDArgs{Name: []byte("c"), Verifier: verf(1), Principal: "p"})
			wantErr(t, "confirm", e.m.SetClientIDConfirm(r.ClientID, verf(9), "p"), nfs4.ErrStaleClientID)
			wantErr(t, "renew unconfirmed", e.m.Renew(r.ClientID), nfs4.ErrStaleClientID)
		}},
		{"confirm retransmitted", func(t *testing.T, e *env) {
			r, _ := e.m.SetClientID(SetClientIDArgs{Name: []byte("c"), Verifier: verf(1), Principal: "p"})
			wantErr(t, "confirm", e.m.SetClientIDConfirm(r.ClientID, r.Confirm, "p"), nil)
			wantErr(t, "confirm again", e.m.SetClientIDConfirm(r.ClientID, r.Confirm, "p"), nil)
		}},
		{"confirm by another principal", func(t *testing.T, e *env) {
			r, _ := e.m.SetClientID(SetClientIDArgs{Name: []byte("c"), Verifier: verf(1), Principal: "p"})
			wantErr(t, "confirm", e.m.SetClientIDConfirm(r.ClientID, r.Confirm, "q"), nfs4.ErrClidInUse)
		}},
		{"callback update keeps client ID and state", func(t *testing.T, e *env) {
			id := e.client40(t, "c", "p", 1)
			_, sid := e.open40(t, id, "o", "f", nfs4.ShareAccessRead, 0, "h")
			r, err := e.m.SetClientID(SetClientIDArgs{Name: []byte("c"), Verifier: verf(1), Principal: "p",
				Callback: Callback{Program: 7}})
			wantErr(t, "SETCLIENTID", err, nil)
			if r.ClientID != id {
				t.Fatalf("callback update changed client ID %x → %x", id, r.ClientID)
			}
			wantErr(t, "confirm", e.m.SetClientIDConfirm(r.ClientID, r.Confirm, "p"), nil)
			if e.m.confByID[id].cb.Program != 7 {
				t.Fatal("callback not updated")
			}
			if _, err := e.m.CheckIO(sid, "f", false, 0); err != nil {
				t.Fatalf("state lost on callback update: %v", err)
			}
		}},
		{"principal collision while state held", func(t *testing.T, e *env) {
			id := e.client40(t, "c", "p", 1)
			e.open40(t, id, "o", "f", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "h1")
			_, err := e.m.SetClientID(SetClientIDArgs{Name: []byte("c"), Verifier: verf(2), Principal: "q"})
			wantErr(t, "SETCLIENTID", err, nfs4.ErrClidInUse)
			e.clk.Advance(lease + 1)
			e.m.Reap(e.clk.Now())
			r, err := e.m.SetClientID(SetClientIDArgs{Name: []byte("c"), Verifier: verf(2), Principal: "q"})
			wantErr(t, "SETCLIENTID after lease", err, nil)
			wantErr(t, "confirm", e.m.SetClientIDConfirm(r.ClientID, r.Confirm, "q"), nil)
		}},
		{"client reboot: new verifier", func(t *testing.T, e *env) {
			old := e.client40(t, "c", "p", 1)
			_, sid := e.open40(t, old, "o", "f", nfs4.ShareAccessRead, nfs4.ShareDenyWrite, "h1")
			r, err := e.m.SetClientID(SetClientIDArgs{Name: []byte("c"), Verifier: verf(2), Principal: "p"})
			wantErr(t, "SETCLIENTID", err, nil)
			if r.ClientID == old {
				t.Fatal("reboot reused client ID")
			}
			// Old state stays until the new record is confirmed.
			if _, err := e.m.CheckIO(sid, "f", false, 0); err != nil {
				t.Fatalf("old state gone before confirm: %v", err)
			}
			wantErr(t, "confirm", e.m.SetClientIDConfirm(r.ClientID, r.Confirm, "p"), nil)
			wantErr(t, "old renew", e.m.Renew(old), nfs4.ErrStaleClientID)
			_, err = e.m.CheckIO(sid, "f", false, 0)
			wantErr(t, "old stateid", err, nfs4.ErrExpired) // pynfs CID1
			if hs := e.releasedHandles(); len(hs) != 1 || hs[0] != "h1" {
				t.Fatalf("released handles %v, want [h1]", hs)
			}
			// The share reservation is gone with it.
			_, _ = e.open40(t, r.ClientID, "o2", "f", nfs4.ShareAccessWrite, 0, nil)
		}},
		{"unconfirmed replaced by second SETCLIENTID", func(t *testing.T, e *env) {
			r1, _ := e.m.SetClientID(SetClientIDArgs{Name: []byte("c"), Verifier: verf(1), Principal: "p"})
			r2, _ := e.m.SetClientID(SetClientIDArgs{Name: []byte("c"), Verifier: verf(1), Principal: "p"})
			wantErr(t, "confirm first", e.m.SetClientIDConfirm(r1.ClientID, r1.Confirm, "p"), nfs4.ErrStaleClientID)
			wantErr(t, "confirm second", e.m.SetClientIDConfirm(r2.ClientID, r2.Confirm, "p"), nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newEnv(t)) })
	}
}

func TestExchangeIDCases(t *testing.T) {
	type step struct {
		owner     string
		v         byte
		principal string
		flags     uint32
		want      error
		sameAs    int  // index of the step whose client ID must be returned (-1: must differ from all)
		confirmed bool // EXCHGID4_FLAG_CONFIRMED_R expected
		session   bool // run CREATE_SESSION after this step
	}
	const upd = nfs4.ExchGIDFlagUpdConfirmedRecA
	tests := []struct {
		name  string
		steps []step
	}{
		{"case 1 new owner", []step{{"a", 1, "p", 0, nil, -1, false, false}}},
		{"case 2 existing confirmed", []step{
			{"a", 1, "p", 0, nil, -1, false, true},
			{"a", 1, "p", 0, nil, 0, true, false}}},
		{"case 3 collision", []step{
			{"a", 1, "p", 0, nil, -1, false, true},
			{"a", 1, "q", 0, nfs4.ErrClidInUse, 0, false, false}}},
		{"case 4 replace unconfirmed", []step{
			{"a", 1, "p", 0, nil, -1, false, false},
			{"a", 2, "p", 0, nil, -1, false, true}}},
		{"case 5 client restart", []step{
			{"a", 1, "p", 0, nil, -1, false, true},
			{"a", 2, "p", 0, nil, -1, false, true}}},
		{"case 6 update", []step{
			{"a", 1, "p", 0, nil, -1, false, true},
			{"a", 1, "p", upd, nil, 0, true, false}}},
		{"case 7 update wrong verifier", []step{
			{"a", 1, "p", 0, nil, -1, false, true},
			{"a", 2, "p", upd, nfs4.ErrNotSame, 0, false, false}}},
		{"case 8 update wrong principal", []step{
			{"a", 1, "p", 0, nil, -1, false, true},
			{"a", 1, "q", upd, nfs4.ErrPerm, 0, false, false}}},
		{"case 9 update unconfirmed", []step{
			{"a", 1, "p", 0, nil, -1, false, false},
			{"a", 1, "p", upd, nfs4.ErrNoEnt, 0, false, false}}},
		{"CONFIRMED_R from client", []step{
			{"a", 1, "p", nfs4.ExchGIDFlagConfirmedR, nfs4.ErrInval, 0, false, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var ids []uint64
			for i, s := range tc.steps {
				r, err := e.m.ExchangeID(ExchangeIDArgs{OwnerID: []byte(s.owner), Verifier: verf(s.v),
					Principal: s.principal, Flags: s.flags})
				wantErr(t, "EXCHANGE_ID", err, s.want)
				ids = append(ids, r.ClientID)
				if err != nil {
					continue
				}
				if s.sameAs >= 0 && r.ClientID != ids[s.sameAs] {
					t.Fatalf("step %d: client ID %x, want %x", i, r.ClientID, ids[s.sameAs])
				}
				if s.sameAs < 0 {
					for _, p := range ids[:i] {
						if p == r.ClientID {
							t.Fatalf("step %d: reused client ID", i)
						}
					}
				}
				if got := r.Flags&nfs4.ExchGIDFlagConfirmedR != 0; got != s.confirmed {
					t.Fatalf("step %d: CONFIRMED_R = %v", i, got)
				}
				if s.session {
					_, err := e.m.CreateSession(CreateSessionArgs{ClientID: r.ClientID, Sequence: r.SequenceID,
						Principal: s.principal})
					wantErr(t, "CREATE_SESSION", err, nil)
				}
			}
		})
	}
}

func TestExchangeIDRestartDropsOldClient(t *testing.T) {
	e := newEnv(t)
	old, _ := e.client41(t, "a", nil)
	o, err := e.m.OpenOwner(old, []byte("o"), 1)
	wantErr(t, "owner", err, nil)
	r, err := e.m.Open(OpenArgs{Owner: o, FHKey: "f", Access: nfs4.ShareAccessRead})
	wantErr(t, "open", err, nil)
	e.m.SetOpenHandle(r.StateID, "h")
	x, err := e.m.ExchangeID(ExchangeIDArgs{OwnerID: []byte("a"), Verifier: verf(2), Principal: "p"})
	wantErr(t, "EXCHANGE_ID", err, nil)
	wantErr(t, "old still valid", e.m.ClientIDValid(old), nil)
	_, err = e.m.CreateSession(CreateSessionArgs{ClientID: x.ClientID, Sequence: x.SequenceID, Principal: "p"})
	wantErr(t, "CREATE_SESSION", err, nil)
	wantErr(t, "old gone", e.m.ClientIDValid(old), nfs4.ErrStaleClientID)
	if hs := e.releasedHandles(); len(hs) != 1 || hs[0] != "h" {
		t.Fatalf("released %v", hs)
	}
}

func TestDestroyClientID(t *testing.T) {
	e := newEnv(t)
	id, sess := e.client41(t, "a", nil)
	wantErr(t, "busy", e.m.DestroyClientID(id), nfs4.ErrClientIDBusy)
	wantErr(t, "destroy session", e.m.DestroySession(sess), nil)
	wantErr(t, "destroy session twice", e.m.DestroySession(sess), nfs4.ErrBadSession)
	wantErr(t, "destroy", e.m.DestroyClientID(id), nil)
	wantErr(t, "destroy again", e.m.DestroyClientID(id), nfs4.ErrStaleClientID)
}

func TestLeaseExpiry(t *testing.T) {
	e := newEnv(t)
	a := e.client40(t, "a", "p", 1)
	b := e.client40(t, "b", "p", 1)
	_, sa := e.open40(t, a, "o", "fa", nfs4.ShareAccessRead, nfs4.ShareDenyWrite, "ha")
	_, sb := e.open40(t, b, "o", "fb", nfs4.ShareAccessRead, 0, "hb")
	c41, sess := e.client41(t, "c", nil)

	e.clk.Advance(lease / 2)
	wantErr(t, "renew b", e.m.Renew(b), nil)
	sr, err := e.m.Sequence(SequenceArgs{SessionID: sess, SeqID: 1})
	if err != nil {
		t.Fatal(err)
	}
	sr.Slot.StoreReply(nil)
	e.clk.Advance(lease/2 + 1)
	// b: implicit renewal through its stateid keeps it alive too.
	if _, err := e.m.CheckIO(sb, "fb", false, 0); err != nil {
		t.Fatal(err)
	}
	gone := e.m.Reap(e.clk.Now())
	if len(gone) != 1 || gone[0] != a {
		t.Fatalf("Reap expired %x, want [%x]", gone, a)
	}
	if hs := e.releasedHandles(); len(hs) != 1 || hs[0] != "ha" {
		t.Fatalf("released %v, want [ha]", hs)
	}
	wantErr(t, "renew a", e.m.Renew(a), nfs4.ErrExpired)
	_, err = e.m.CheckIO(sa, "fa", false, 0)
	wantErr(t, "expired stateid", err, nfs4.ErrExpired)
	// a's deny-write reservation is gone.
	if _, err := e.m.CheckIO(nfs4.AnonStateID, "fa", true, 0); err != nil {
		t.Fatalf("anonymous write after expiry: %v", err)
	}
	if _, err := e.m.CheckIO(sb, "fb", false, 0); err != nil {
		t.Fatalf("renewed client lost state: %v", err)
	}
	wantErr(t, "4.1 client alive", e.m.ClientIDValid(c41), nil)

	// The 4.1 client stops sending SEQUENCE: expired, session gone.
	e.clk.Advance(lease)
	e.m.Reap(e.clk.Now())
	_, err = e.m.Sequence(SequenceArgs{SessionID: sess, SeqID: 2})
	wantErr(t, "sequence after expiry", err, nfs4.ErrBadSession)
}

func TestStaleAfterReboot(t *testing.T) {
	e := newEnv(t)
	id := e.client40(t, "a", "p", 1)
	_, sid := e.open40(t, id, "o", "f", nfs4.ShareAccessRead, 0, nil)
	m2 := NewManager(Config{LeaseTime: lease, Clock: e.clk})
	if m2.BootVerifier() == e.m.BootVerifier() {
		t.Fatal("boot verifier unchanged across boots")
	}
	wantErr(t, "renew", m2.Renew(id), nfs4.ErrStaleClientID)
	wantErr(t, "confirm", m2.SetClientIDConfirm(id, verf(0), "p"), nfs4.ErrStaleClientID)
	_, err := m2.CreateSession(CreateSessionArgs{ClientID: id, Sequence: 1})
	wantErr(t, "create session", err, nfs4.ErrStaleClientID)
	_, err = m2.CheckIO(sid, "f", false, 0)
	wantErr(t, "stateid", err, nfs4.ErrStaleStateID)
	_, err = m2.LookupStateID(sid, 1)
	wantErr(t, "lookup", err, nfs4.ErrStaleStateID)
	if st := m2.TestStateIDs(id, []nfs4.StateID{sid}); st[0] != nfs4.ErrStaleStateID {
		t.Fatalf("TEST_STATEID %v", st)
	}
}
