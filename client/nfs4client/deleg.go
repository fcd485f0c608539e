package nfs4client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// File delegations, client side (RFC 8881 §10.2, §10.4).
//
// With EnableDelegations, 4.1 OPENs ask for a delegation (read opens
// OPEN4_SHARE_ACCESS_WANT_READ_DELEG, write opens no preference, which
// lets the server grant a write delegation when nobody else has the file,
// RFC 8881 §18.16.3) and the open_delegation4 of each OPEN result is
// recorded here, keyed by file handle. While a delegation is held the
// holder (mount) may use cached data and attributes without asking the
// server (§10.4.1, §10.4.2); when the server recalls it (CB_RECALL,
// callback.go) the holder's DelegHandler flushes and invalidates, then
// DELEGRETURN (§18.6) gives it back. Without EnableDelegations every OPEN
// says OPEN4_SHARE_ACCESS_WANT_NO_DELEG.

// Delegation is a delegation this client holds on one file.
type Delegation struct {
	FH      []byte
	StateID nfs4.StateID
	Type    uint32 // nfs4.DelegateRead or nfs4.DelegateWrite

	mu       sync.Mutex
	size     uint64 // for CB_GETATTR (write delegations, §10.4.3)
	change   uint64
	recalled bool // being returned: no longer to be relied on
}

// Write reports whether d is a write delegation.
func (d *Delegation) Write() bool { return d.Type == nfs4.DelegateWrite }

// Valid reports whether d may still be relied on (not recalled or being
// returned).
func (d *Delegation) Valid() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.recalled
}

// SetAttrs records the size and change attribute the holder knows for the
// file, which CB_GETATTR reports for a write delegation (RFC 8881 §10.4.3).
func (d *Delegation) SetAttrs(size, change uint64) {
	d.mu.Lock()
	d.size, d.change = size, change
	d.mu.Unlock()
}

// Attrs returns what SetAttrs recorded (at first, the attributes of the
// OPEN that brought the delegation).
func (d *Delegation) Attrs() (size, change uint64) { return d.attrs() }

func (d *Delegation) attrs() (size, change uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.size, d.change
}

// markRecalled flags d as being returned and reports whether it was not
// already.
func (d *Delegation) markRecalled() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	first := !d.recalled
	d.recalled = true
	return first
}

// DelegHandler is told what happens to delegations. Its methods run on
// their own goroutine, never inside a COMPOUND of the caller's.
type DelegHandler interface {
	// DelegRecall runs before d is returned, because the server recalled
	// it (CB_RECALL, CB_RECALL_ANY) or the client gives it back: flush
	// data written under a write delegation, re-establish local opens
	// on the server (OpenDelegCur), and invalidate what was cached on
	// the strength of d. DELEGRETURN follows when it returns.
	DelegRecall(ctx context.Context, d *Delegation)
	// DelegLost says d ended without a return (the server restarted or
	// revoked it): cached data can no longer be trusted.
	DelegLost(d *Delegation)
}

// delegState is the Client's delegation table and back-channel state.
type delegState struct {
	mu      sync.Mutex
	want    bool
	handler DelegHandler
	byFH    map[string]*Delegation
	byOther map[[nfs4.OtherSize]byte]*Delegation // the same delegations, by stateid (CB_RECALL)
	// early are recalls of stateids not (yet) in the table: a CB_RECALL
	// can overtake the reply of the OPEN that granted the delegation
	// (RFC 8881 §2.10.6.3). A delegation granted later with such a
	// stateid is returned at once.
	early map[[nfs4.OtherSize]byte]time.Time
	// backChan: the session's connection is bound to the back channel
	// (CREATE_SESSION4_FLAG_CONN_BACK_CHAN was granted), so recalls can
	// reach us.
	backChan bool

	dir       dirDelegs   // directory delegations (dirdeleg.go)
	cb        cbSlot      // callback.go
	rebinding atomic.Bool // a BIND_CONN_TO_SESSION is under way
	testing   atomic.Bool // a TEST_STATEID for revoked delegations is under way
}

// earlyRecallTTL bounds how long an early recall is remembered, and
// maxEarly how many.
const (
	earlyRecallTTL = 30 * time.Second
	maxEarly       = 64
)

// EnableDelegations makes OPEN ask for delegations and h handle their
// recalls. Call it before opening files.
func (c *Client) EnableDelegations(h DelegHandler) {
	c.dg.mu.Lock()
	c.dg.want, c.dg.handler = true, h
	c.dg.mu.Unlock()
}

// DelegationsEnabled reports whether OPENs ask for delegations and the
// server can call us back (a back channel was granted).
func (c *Client) DelegationsEnabled() bool {
	c.dg.mu.Lock()
	defer c.dg.mu.Unlock()
	return c.dg.want && c.dg.backChan && c.Minor >= 1
}

// Delegation returns the valid delegation held for fh, or nil.
func (c *Client) Delegation(fh []byte) *Delegation {
	c.dg.mu.Lock()
	d := c.dg.byFH[string(fh)]
	c.dg.mu.Unlock()
	if d == nil || !d.Valid() {
		return nil
	}
	return d
}

// Delegations returns every delegation in the table.
func (c *Client) Delegations() []*Delegation {
	c.dg.mu.Lock()
	defer c.dg.mu.Unlock()
	l := make([]*Delegation, 0, len(c.dg.byFH))
	for _, d := range c.dg.byFH {
		l = append(l, d)
	}
	return l
}

// wantBits are the OPEN4_SHARE_ACCESS_WANT_* bits for an OPEN with share
// access and claim (4.1 only): the delegation preference when enabled,
// else WANT_NO_DELEG so the server need not offer one. Opens that are
// not plain (reclaims, opens under a delegation) never ask.
func (c *Client) wantBits(access uint32, claim uint32) uint32 {
	if !c.DelegationsEnabled() || (claim != nfs4.ClaimNull && claim != nfs4.ClaimFH) {
		return nfs4.ShareAccessWantNoDeleg
	}
	if access&nfs4.ShareAccessWrite != 0 {
		return nfs4.ShareAccessWantNoPreference
	}
	return nfs4.ShareAccessWantReadDeleg
}

// gotDelegation records the delegation an OPEN of fh returned.
func (c *Client) gotDelegation(fh []byte, od *nfs4.OpenDelegation, a *nfs4.Attrs) {
	if od.DelegationType != nfs4.DelegateRead && od.DelegationType != nfs4.DelegateWrite {
		return
	}
	d := &Delegation{FH: append([]byte(nil), fh...), StateID: od.StateID, Type: od.DelegationType}
	if a != nil {
		d.size, d.change = a.Size, a.Change
	}
	c.dg.mu.Lock()
	if _, ok := c.dg.early[d.StateID.Other]; ok {
		// Recalled before we knew we had it: give it back now.
		delete(c.dg.early, d.StateID.Other)
		d.recalled = true
		c.dg.mu.Unlock()
		go c.returnDeleg(d, false)
		return
	}
	old := c.dg.byFH[string(fh)]
	switch {
	case old == nil:
	case old.StateID.Other == d.StateID.Other:
		// The same delegation again (RFC 8881 §10.2: the server
		// may hand out the same stateid): keep the newest seqid.
		old.StateID = d.StateID
		c.dg.mu.Unlock()
		return
	case !old.Valid():
		// The old one is on its way back; the new one replaces it
		// (returnDeleg removes only its own entry).
	default:
		// A second, different delegation for one file: keep one.
		c.dg.mu.Unlock()
		d.recalled = true
		go c.returnDeleg(d, false)
		return
	}
	if c.dg.byFH == nil {
		c.dg.byFH = map[string]*Delegation{}
		c.dg.byOther = map[[nfs4.OtherSize]byte]*Delegation{}
	}
	if old != nil {
		delete(c.dg.byOther, old.StateID.Other)
	}
	c.dg.byFH[string(fh)] = d
	c.dg.byOther[d.StateID.Other] = d
	c.dg.mu.Unlock()
}

// noteEarlyRecallLocked remembers the recall of a stateid we do not
// hold (yet); c.dg.mu held.
func (c *Client) noteEarlyRecallLocked(other [nfs4.OtherSize]byte) {
	now := time.Now()
	for k, t := range c.dg.early {
		if now.Sub(t) > earlyRecallTTL {
			delete(c.dg.early, k)
		}
	}
	if len(c.dg.early) >= maxEarly {
		return
	}
	if c.dg.early == nil {
		c.dg.early = map[[nfs4.OtherSize]byte]time.Time{}
	}
	c.dg.early[other] = now
}

// recallTimeout bounds the holder's flush and the DELEGRETURN of one
// recalled delegation; the server revokes it a lease after the recall
// anyway (RFC 8881 §10.4.6).
const recallTimeout = 60 * time.Second

// returnDeleg runs the holder's recall handling (when notify) and sends
// DELEGRETURN for d, which has been marked recalled.
func (c *Client) returnDeleg(d *Delegation, notify bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), recallTimeout)
	defer cancel()
	if notify {
		c.dg.mu.Lock()
		h := c.dg.handler
		c.dg.mu.Unlock()
		if h != nil {
			h.DelegRecall(ctx, d)
		}
	}
	_, err := c.Do(ctx, PutFH(d.FH), nfs4.ArgOp{Op: nfs4.OpDelegReturn,
		Args: &nfs4.DelegReturnArgs{DelegStateID: d.StateID}})
	c.dropDeleg(d)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nfs4.ErrBadStateID), errors.Is(err, nfs4.ErrStaleStateID),
		errors.Is(err, nfs4.ErrExpired), errors.Is(err, nfs4.ErrDelegRevoked):
		return nil // nothing left to return
	}
	return err
}

// dropDeleg removes d from the table (if it is still the entry).
func (c *Client) dropDeleg(d *Delegation) {
	c.dg.mu.Lock()
	if c.dg.byFH[string(d.FH)] == d {
		delete(c.dg.byFH, string(d.FH))
		delete(c.dg.byOther, d.StateID.Other)
	}
	c.dg.mu.Unlock()
}

// recallDeleg starts returning d because the server asked (CB_RECALL).
func (c *Client) recallDeleg(d *Delegation) {
	if d.markRecalled() {
		go c.returnDeleg(d, true)
	}
}

// ReturnDelegation gives d back now (DELEGRETURN), after the holder's
// DelegRecall.
func (c *Client) ReturnDelegation(ctx context.Context, d *Delegation) error {
	if !d.markRecalled() {
		return nil // already on its way back
	}
	return c.returnDeleg(d, true)
}

// ReturnAllDelegations returns every delegation held, directory
// delegations included, e.g. before
// unmounting (Shutdown calls it).
func (c *Client) ReturnAllDelegations(ctx context.Context) {
	var wg sync.WaitGroup
	for _, d := range c.Delegations() {
		if d.markRecalled() {
			wg.Go(func() { c.returnDeleg(d, true) })
		}
	}
	for _, d := range c.dirDelegations() { // dirdeleg.go
		if d.markRecalled() {
			wg.Go(func() { c.returnDirDeleg(d, false) })
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// dropAllDelegations forgets every delegation without returning it: the
// server restarted (its delegations are gone, RFC 8881 §10.2.1) or
// revoked them. The holder hears DelegLost for each.
func (c *Client) dropAllDelegations() {
	c.dg.mu.Lock()
	all := c.dg.byFH
	c.dg.byFH, c.dg.byOther = nil, nil
	h := c.dg.handler
	c.dropAllDirDelegsLocked() // dirdeleg.go
	c.dg.mu.Unlock()
	for _, d := range all {
		d.markRecalled()
		if h != nil {
			go h.DelegLost(d)
		}
	}
}

// OpenDelegCur opens fh with share access under the delegation d it holds
// (OPEN CLAIM_DELEG_CUR_FH, RFC 8881 §18.16.3): how a holder that opened
// the file locally under d gets a real open before returning d.
func (c *Client) OpenDelegCur(ctx context.Context, d *Delegation, access uint32) (*OpenFile, error) {
	return c.openClaim(ctx, d.FH, nfs4.OpenClaim{Claim: nfs4.ClaimDelegCurFH, DelegateStateID: d.StateID},
		access, nfs4.OpenFlag{OpenType: nfs4.OpenNoCreate})
}

// OpenLocal returns an open of d's file made locally under d, without a
// round trip (RFC 8881 §10.4: a delegation lets the client handle OPEN
// and CLOSE itself). Its I/O uses the delegation stateid and CloseFile
// sends nothing. Before d is returned the holder must make it a real open
// with ConvertLocal. a, if not nil, becomes f.Attrs.
func (c *Client) OpenLocal(d *Delegation, access uint32, a *nfs4.Attrs) *OpenFile {
	return &OpenFile{FH: d.FH, StateID: d.StateID, Attrs: a, access: access, local: true}
}

func (f *OpenFile) isLocal() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.local
}

// Local reports whether f is a local open under a delegation.
func (f *OpenFile) Local() bool { return f.isLocal() }

// ConvertLocal turns the local open f into an open on the server (OPEN
// with CLAIM_DELEG_CUR_FH under d, RFC 8881 §10.4.1, §18.16.3), keeping
// the same *OpenFile, so I/O through it goes on after d is returned. When
// the server refuses the claim, an ordinary OPEN is tried.
func (c *Client) ConvertLocal(ctx context.Context, f *OpenFile, d *Delegation) error {
	if !f.isLocal() {
		return nil
	}
	f.mu.Lock()
	access := f.access
	f.mu.Unlock()
	g, err := c.OpenDelegCur(ctx, d, access)
	if err != nil {
		if g, err = c.OpenFH(ctx, d.FH, access); err != nil {
			return err
		}
	}
	// g's state now belongs to f: recovery after a server restart
	// reopens f.
	c.untrack(g)
	f.mu.Lock()
	if !f.local {
		// Converted meanwhile by someone else (a lock and a recall).
		f.mu.Unlock()
		return c.CloseFile(ctx, g)
	}
	f.StateID, f.Res, f.local = g.StateID, g.Res, false
	f.mu.Unlock()
	c.track(f)
	return nil
}
