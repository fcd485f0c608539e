package state

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const lease = 10 * time.Second

type env struct {
	m        *Manager
	clk      *fakeClock
	mu       sync.Mutex
	released []Released
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clk: &fakeClock{t: time.Unix(1_000_000, 0)}}
	e.m = NewManager(Config{LeaseTime: lease, Clock: e.clk, OnRelease: func(r Released) {
		e.mu.Lock()
		e.released = append(e.released, r)
		e.mu.Unlock()
	}})
	return e
}

func (e *env) releasedHandles() []any {
	e.mu.Lock()
	defer e.mu.Unlock()
	var hs []any
	for _, r := range e.released {
		hs = append(hs, r.Handles...)
	}
	return hs
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Fatalf("%s: got error %v, want success", what, got)
		}
		return
	}
	if !errors.Is(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func verf(b byte) nfs4.Verifier { return nfs4.Verifier{b, b, b, b, b, b, b, b} }

// client40 registers and confirms a 4.0 client.
func (e *env) client40(t *testing.T, name, principal string, v byte) uint64 {
	t.Helper()
	r, err := e.m.SetClientID(SetClientIDArgs{Name: []byte(name), Verifier: verf(v), Principal: principal})
	wantErr(t, "SETCLIENTID", err, nil)
	wantErr(t, "SETCLIENTID_CONFIRM", e.m.SetClientIDConfirm(r.ClientID, r.Confirm, principal), nil)
	return r.ClientID
}

// client41 runs EXCHANGE_ID + CREATE_SESSION.
func (e *env) client41(t *testing.T, name string, conn any) (uint64, SessionID) {
	t.Helper()
	x, err := e.m.ExchangeID(ExchangeIDArgs{OwnerID: []byte(name), Verifier: verf(1), Principal: "p"})
	wantErr(t, "EXCHANGE_ID", err, nil)
	cs, err := e.m.CreateSession(CreateSessionArgs{ClientID: x.ClientID, Sequence: x.SequenceID,
		Fore: ChannelAttrs{MaxRequests: 8}, Principal: "p", Conn: conn,
		Flags: nfs4.CreateSessionFlagConnBackChan})
	wantErr(t, "CREATE_SESSION", err, nil)
	return x.ClientID, cs.SessionID
}

// open40 opens and confirms fh for a 4.0 owner, attaching handle h.
func (e *env) open40(t *testing.T, cid uint64, owner, fh string, access, deny uint32, h any) (*Owner, nfs4.StateID) {
	t.Helper()
	o, err := e.m.OpenOwner(cid, []byte(owner), 0)
	wantErr(t, "OpenOwner", err, nil)
	r, err := e.m.Open(OpenArgs{Owner: o, FHKey: fh, Access: access, Deny: deny})
	wantErr(t, "OPEN", err, nil)
	if h != nil {
		if _, err := e.m.SetOpenHandle(r.StateID, h); err != nil {
			t.Fatal(err)
		}
	}
	sid := r.StateID
	if r.Flags&nfs4.OpenResultConfirm != 0 {
		sid, err = e.m.OpenConfirm(sid)
		wantErr(t, "OPEN_CONFIRM", err, nil)
	}
	return o, sid
}
