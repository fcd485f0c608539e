package nfs4client

import (
	"context"
	"errors"
	"sync"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Directory delegations, client side (RFC 8881 §10.9, §18.39
// GET_DIR_DELEGATION, §20.4 CB_NOTIFY, §20.2 CB_RECALL).
//
// While a directory delegation is held, the holder may trust its cached
// entries of the directory (READDIR, LOOKUP results, negative lookups):
// the server recalls it before another client changes them, or, for the
// notification types it granted, tells us the change with CB_NOTIFY. Our
// own changes do not end it (§10.9.1), so the holder updates its cache
// itself when it changes the directory.
//
// The holder registers hooks (SetDirDelegHooks). OnRecall runs when the
// server recalls a delegation (or the client loses it: server restart,
// revocation); the delegation is returned (DELEGRETURN) automatically
// once the hook has run. OnNotify runs for each CB_NOTIFY, in the order
// received. Hooks run on a goroutine of their own, never inside a
// callback or a COMPOUND of the caller's.

// ErrDirDelegUnavailable is returned by GetDirDelegation when the server
// grants none (GDD4_UNAVAIL, or NFS4ERR_DIRDELEG_UNAVAIL): the holder
// falls back to close-to-open caching of the directory.
var ErrDirDelegUnavailable = errors.New("nfs4client: directory delegation unavailable")

// DirDeleg is a delegation this client holds on one directory.
type DirDeleg struct {
	FH         []byte
	StateID    nfs4.StateID
	CookieVerf nfs4.Verifier // the READDIR cookie verifier it was granted with
	Notify     nfs4.Bitmap   // the NOTIFY4_* types the server will send

	mu       sync.Mutex
	recalled bool
}

// Valid reports whether d may still be relied on.
func (d *DirDeleg) Valid() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.recalled
}

func (d *DirDeleg) markRecalled() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	first := !d.recalled
	d.recalled = true
	return first
}

// DirDelegHooks are the holder's hooks for directory delegations.
type DirDelegHooks struct {
	// OnRecall: the delegation of dirFH ends (recalled, or lost): drop
	// what was cached of the directory on its strength. DELEGRETURN
	// follows when the hook returns (when there is anything to return).
	OnRecall func(dirFH []byte)
	// OnNotify: the server reports changes to the directory's entries
	// (CB_NOTIFY, §20.4); the delegation stays valid.
	OnNotify func(dirFH []byte, changes []nfs4.NotifyValues)
}

// dirDelegs is the directory delegation table (guarded by delegState.mu).
type dirDelegs struct {
	hooks DirDelegHooks
	byFH  map[string]*DirDeleg
	// queue of hook calls, run in order by one goroutine at a time.
	queue   []func()
	running bool
}

// SetDirDelegHooks installs the holder's hooks. Call it before
// GetDirDelegation.
func (c *Client) SetDirDelegHooks(h DirDelegHooks) {
	c.dg.mu.Lock()
	c.dg.dir.hooks = h
	c.dg.mu.Unlock()
}

// GetDirDelegation asks for a delegation on directory dirFH with the
// notification types in notify (bits NOTIFY4_*, nil for none: then every
// change by another client recalls it). It needs a 4.1 session with a
// back channel. The grant may include fewer notification types than
// asked (DirDeleg.Notify).
func (c *Client) GetDirDelegation(ctx context.Context, dirFH []byte, notify nfs4.Bitmap) (*DirDeleg, error) {
	c.dg.mu.Lock()
	back := c.dg.backChan
	old := c.dg.dir.byFH[string(dirFH)]
	c.dg.mu.Unlock()
	if c.Minor < 1 || !back {
		return nil, ErrDirDelegUnavailable
	}
	if old != nil && old.Valid() {
		return old, nil
	}
	if notify == nil {
		notify = nfs4.Bitmap{}
	}
	res, err := c.Do(ctx, PutFH(dirFH), nfs4.ArgOp{Op: nfs4.OpGetDirDelegation,
		Args: &nfs4.GetDirDelegationArgs{NotificationTypes: notify,
			ChildAttributes: nfs4.Bitmap{}, DirAttributes: nfs4.Bitmap{}}})
	if err != nil {
		if errors.Is(err, nfs4.ErrDirDelegUnavail) {
			return nil, ErrDirDelegUnavailable
		}
		return nil, err
	}
	r := res.Results[1].Res.(*nfs4.GetDirDelegationRes)
	if r.NonFatal != nfs4.GDD4OK {
		return nil, ErrDirDelegUnavailable
	}
	d := &DirDeleg{FH: append([]byte(nil), dirFH...), StateID: r.StateID, CookieVerf: r.CookieVerf,
		Notify: append(nfs4.Bitmap(nil), r.Notification...)}
	c.dg.mu.Lock()
	if _, early := c.dg.early[d.StateID.Other]; early {
		// Recalled before the reply reached us (§2.10.6.3).
		delete(c.dg.early, d.StateID.Other)
		d.recalled = true
		c.dg.mu.Unlock()
		go c.returnDirDeleg(d, false)
		return nil, ErrDirDelegUnavailable
	}
	if c.dg.dir.byFH == nil {
		c.dg.dir.byFH = map[string]*DirDeleg{}
	}
	if cur := c.dg.dir.byFH[string(dirFH)]; cur != nil && cur.Valid() {
		// A concurrent call won; give ours back.
		c.dg.mu.Unlock()
		d.recalled = true
		go c.returnDirDeleg(d, false)
		return cur, nil
	}
	c.dg.dir.byFH[string(dirFH)] = d
	c.dg.mu.Unlock()
	return d, nil
}

// DirDelegation returns the valid delegation held on dirFH, or nil.
func (c *Client) DirDelegation(dirFH []byte) *DirDeleg {
	c.dg.mu.Lock()
	d := c.dg.dir.byFH[string(dirFH)]
	c.dg.mu.Unlock()
	if d == nil || !d.Valid() {
		return nil
	}
	return d
}

// dirDelegations lists the directory delegation table.
func (c *Client) dirDelegations() []*DirDeleg {
	c.dg.mu.Lock()
	defer c.dg.mu.Unlock()
	l := make([]*DirDeleg, 0, len(c.dg.dir.byFH))
	for _, d := range c.dg.dir.byFH {
		l = append(l, d)
	}
	return l
}

// ReturnDirDelegation gives d back now (DELEGRETURN); OnRecall is not
// called.
func (c *Client) ReturnDirDelegation(ctx context.Context, d *DirDeleg) error {
	if !d.markRecalled() {
		return nil
	}
	return c.returnDirDelegCtx(ctx, d)
}

func (c *Client) returnDirDeleg(d *DirDeleg, hook bool) {
	if hook {
		c.dg.mu.Lock()
		h := c.dg.dir.hooks.OnRecall
		c.dg.mu.Unlock()
		if h != nil {
			h(d.FH)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), recallTimeout)
	defer cancel()
	c.returnDirDelegCtx(ctx, d)
}

func (c *Client) returnDirDelegCtx(ctx context.Context, d *DirDeleg) error {
	_, err := c.Do(ctx, PutFH(d.FH), nfs4.ArgOp{Op: nfs4.OpDelegReturn,
		Args: &nfs4.DelegReturnArgs{DelegStateID: d.StateID}})
	c.dropDirDeleg(d)
	switch {
	case err == nil, errors.Is(err, nfs4.ErrBadStateID), errors.Is(err, nfs4.ErrStaleStateID),
		errors.Is(err, nfs4.ErrExpired), errors.Is(err, nfs4.ErrDelegRevoked):
		return nil
	}
	return err
}

func (c *Client) dropDirDeleg(d *DirDeleg) {
	c.dg.mu.Lock()
	if c.dg.dir.byFH[string(d.FH)] == d {
		delete(c.dg.dir.byFH, string(d.FH))
	}
	c.dg.mu.Unlock()
}

// dirDelegByOtherLocked finds a directory delegation by stateid.
func (c *Client) dirDelegByOtherLocked(other [nfs4.OtherSize]byte) *DirDeleg {
	for _, d := range c.dg.dir.byFH {
		if d.StateID.Other == other {
			return d
		}
	}
	return nil
}

// runHookLocked queues fn to run after the hooks queued before it.
func (c *Client) runHookLocked(fn func()) {
	c.dg.dir.queue = append(c.dg.dir.queue, fn)
	if c.dg.dir.running {
		return
	}
	c.dg.dir.running = true
	go func() {
		for {
			c.dg.mu.Lock()
			if len(c.dg.dir.queue) == 0 {
				c.dg.dir.running = false
				c.dg.mu.Unlock()
				return
			}
			f := c.dg.dir.queue[0]
			c.dg.dir.queue = c.dg.dir.queue[1:]
			c.dg.mu.Unlock()
			f()
		}
	}()
}

// cbDirRecallLocked handles CB_RECALL of a directory delegation: the hook
// and DELEGRETURN run after the reply (c.dg.mu held).
func (c *Client) cbDirRecallLocked(d *DirDeleg, fh []byte) nfs4.Res {
	if string(d.FH) != string(fh) {
		return &nfs4.CBRecallRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrBadHandle}}
	}
	if d.markRecalled() {
		c.runHookLocked(func() { c.returnDirDeleg(d, true) })
	}
	return &nfs4.CBRecallRes{}
}

// cbNotifyLocked handles CB_NOTIFY (RFC 8881 §20.4): the changes go to the
// OnNotify hook (c.dg.mu held).
func (c *Client) cbNotifyLocked(a *nfs4.CBNotifyArgs) nfs4.Res {
	fail := func(st nfs4.Status) nfs4.Res { return &nfs4.CBNotifyRes{StatusRes: nfs4.StatusRes{Status: st}} }
	d := c.dirDelegByOtherLocked(a.StateID.Other)
	if d == nil {
		return fail(nfs4.ErrBadStateID)
	}
	if string(d.FH) != string(a.FH) {
		return fail(nfs4.ErrBadHandle)
	}
	changes := make([]nfs4.NotifyValues, 0, len(a.Changes))
	for i := range a.Changes {
		n := nfs4.Notify{Mask: a.Changes[i].Mask, Vals: append([]byte(nil), a.Changes[i].Vals...)}
		v, err := n.Values()
		if err != nil {
			return fail(nfs4.ErrInval)
		}
		changes = append(changes, v)
	}
	if h := c.dg.dir.hooks.OnNotify; h != nil && d.Valid() {
		fh := d.FH
		c.runHookLocked(func() { h(fh, changes) })
	}
	return &nfs4.CBNotifyRes{}
}

// dropAllDirDelegsLocked forgets every directory delegation without
// returning it (the server restarted or revoked them); OnRecall tells the
// holder its caches are no longer covered (c.dg.mu held).
func (c *Client) dropAllDirDelegsLocked() {
	all := c.dg.dir.byFH
	c.dg.dir.byFH = nil
	h := c.dg.dir.hooks.OnRecall
	for _, d := range all {
		d.markRecalled()
		if h != nil {
			fh := d.FH
			c.runHookLocked(func() { h(fh) })
		}
	}
}

// freeRevokedDirs tells the holder which directory delegations the server
// revoked and frees them (sweepRevoked; the SEQUENCE flag
// SEQ4_STATUS_RECALLABLE_STATE_REVOKED covers them too).
func (c *Client) freeRevokedDirs(ctx context.Context) {
	all := c.dirDelegations()
	c.sweepRevoked(ctx, stateIDsOf(all, func(d *DirDeleg) nfs4.StateID { return d.StateID }), func(i int) {
		d := all[i]
		first := d.markRecalled()
		c.dropDirDeleg(d)
		c.dg.mu.Lock()
		if h := c.dg.dir.hooks.OnRecall; h != nil && first {
			c.runHookLocked(func() { h(d.FH) })
		}
		c.dg.mu.Unlock()
	})
}
