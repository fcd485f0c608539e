package nfs4client

import (
	"context"
	"errors"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Byte-range locks (RFC 8881 §18.10–§18.12), minor version ≥ 1: lock-owner
// seqids are not used there (§8.13), so a lock needs only the open (or
// lock) stateid. 4.0 clients of this library do not lock. Granted locks
// are recorded and reclaimed after a server restart (lockreclaim.go).

// ErrLockMinor0 is returned by the lock calls on a minor-version-0 client.
var ErrLockMinor0 = errors.New("nfs4client: byte-range locks need minor version 1 or later")

// Denied is the conflict a LOCK or LOCKT reported (NFS4ERR_DENIED).
type Denied struct{ nfs4.LockDenied }

func (d *Denied) Error() string { return "nfs4: lock denied" }

// Unwrap lets errors.Is(err, nfs4.ErrDenied) work.
func (d *Denied) Unwrap() error { return nfs4.ErrDenied }

// Lock acquires or changes a lock for owner on fh. With a zero lockSID the
// owner is new on this file: the request carries the open stateid and
// creates the lock stateid (open_to_lock_owner4); otherwise lockSID is the
// owner's lock stateid (exist_lock_owner4). It returns the lock stateid, or
// a *Denied error on conflict.
func (c *Client) Lock(ctx context.Context, fh []byte, openSID, lockSID nfs4.StateID, owner []byte,
	typ uint32, off, length uint64) (nfs4.StateID, error) {
	if c.Minor == 0 {
		return nfs4.StateID{}, ErrLockMinor0
	}
	l := nfs4.Locker{LockStateID: lockSID}
	if lockSID == (nfs4.StateID{}) {
		l = nfs4.Locker{NewLockOwner: true, OpenStateID: openSID,
			LockOwner: nfs4.LockOwner{ClientID: c.ClientID, Owner: owner}}
	}
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpLock, &nfs4.LockArgs{LockType: typ, Offset: off, Length: length, Locker: l}))
	if err != nil {
		if res != nil && len(res.Results) == 2 {
			if lr, ok := res.Results[1].Res.(*nfs4.LockRes); ok && lr.Status == nfs4.ErrDenied {
				return nfs4.StateID{}, &Denied{lr.Denied}
			}
		}
		return nfs4.StateID{}, err
	}
	nsid := result[*nfs4.LockRes](res, 1).LockStateID
	c.lockGranted(openSID, lockSID, owner, nsid, typ, off, length) // for reclaim (lockreclaim.go)
	return nsid, nil
}

// LockT tests whether owner could lock the range: nil, or a *Denied.
func (c *Client) LockT(ctx context.Context, fh []byte, owner []byte, typ uint32, off, length uint64) error {
	if c.Minor == 0 {
		return ErrLockMinor0
	}
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpLockT, &nfs4.LockTArgs{LockType: typ, Offset: off, Length: length,
		Owner: nfs4.LockOwner{ClientID: c.ClientID, Owner: owner}}))
	if err != nil && res != nil && len(res.Results) == 2 {
		if lr, ok := res.Results[1].Res.(*nfs4.LockTRes); ok && lr.Status == nfs4.ErrDenied {
			return &Denied{lr.Denied}
		}
	}
	return err
}

// LockU releases a range and returns the updated lock stateid.
func (c *Client) LockU(ctx context.Context, fh []byte, lockSID nfs4.StateID, typ uint32, off, length uint64) (nfs4.StateID, error) {
	if c.Minor == 0 {
		return nfs4.StateID{}, ErrLockMinor0
	}
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpLockU, &nfs4.LockUArgs{LockType: typ, LockStateID: lockSID, Offset: off, Length: length}))
	if err != nil {
		return nfs4.StateID{}, err
	}
	nsid := result[*nfs4.LockURes](res, 1).StateID
	c.lockReleased(lockSID, nsid, off, length)
	return nsid, nil
}

// FreeStateID releases a stateid the client no longer needs (RFC 8881
// §18.38), e.g. a lock stateid whose owner holds nothing any more.
func (c *Client) FreeStateID(ctx context.Context, sid nfs4.StateID) error {
	_, err := c.Do(ctx, op(nfs4.OpFreeStateID, &nfs4.FreeStateIDArgs{StateID: sid}))
	if err == nil {
		c.lockFreed(sid)
	}
	return err
}
