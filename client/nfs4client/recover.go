package nfs4client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// Reconnection and state recovery.
//
// A lost connection (the server was restarted, a NAT dropped the flow, the
// ssh tunnel died) is not an error the caller sees: the call that finds
// the connection closed dials again (Dial's address, or DialCommand's
// command) and resends the same request. Under a 4.1 session the request
// keeps its slot and sequence id, so a request the server already executed
// is answered from its reply cache, not run twice (RFC 8881 §2.10.6.2).
//
// If the server restarted, SEQUENCE answers NFS4ERR_BADSESSION and
// CREATE_SESSION NFS4ERR_STALE_CLIENTID: recoverClient registers again
// with the same owner and verifier (EXCHANGE_ID), makes a session, reclaims
// every open file with CLAIM_PREVIOUS while the server is in its grace
// period (RFC 8881 §8.4.2.1), sends RECLAIM_COMPLETE, and reopens whatever
// could not be reclaimed with an ordinary OPEN. Each OpenFile gets its new
// stateid (OpenFile.SID). Each reclaimed open's byte-range locks are
// reclaimed right after it, before RECLAIM_COMPLETE (lockreclaim.go);
// locks under an open that could not be reclaimed are lost, and
// LockStateID says so. The Epoch changes once all this is done.

// conn returns the current RPC connection.
func (c *Client) conn() *rpcclient.Client {
	c.rpcMu.RLock()
	defer c.rpcMu.RUnlock()
	return c.RPC
}

// Done is closed when the client is closed (a lost connection is re-dialled
// and does not end the client, unless it cannot reconnect).
func (c *Client) Done() <-chan struct{} { return c.stop }

// Epoch counts state recoveries: it changes when the server restarted and
// this client's state was re-established.
func (c *Client) Epoch() uint64 { return c.epoch.Load() }

// maxReconnectWait bounds the backoff between redial attempts.
const maxReconnectWait = 2 * time.Second

// call sends one RPC, redialling and resending when the connection is found
// closed, until ctx ends.
func (c *Client) call(ctx context.Context, proc uint32, cred rpc.Auth, args net.Buffers) ([]byte, error) {
	for {
		rc := c.conn()
		body, err := rc.Call(ctx, nfs4.Program, nfs4.Version, proc, cred, args)
		if err == nil || !errors.Is(err, rpcclient.ErrClosed) || c.redial == nil || ctx.Err() != nil {
			return body, err
		}
		select {
		case <-c.stop:
			return nil, err // closed by the user
		default:
		}
		if rerr := c.reconnect(ctx, rc); rerr != nil {
			return nil, fmt.Errorf("%w (reconnecting: %v)", err, rerr)
		}
	}
}

// reconnect replaces the dead connection old with a new one, retrying with
// backoff until ctx ends. Concurrent callers wait for one reconnection.
func (c *Client) reconnect(ctx context.Context, old *rpcclient.Client) error {
	c.reconnMu.Lock()
	defer c.reconnMu.Unlock()
	if c.conn() != old {
		return nil // someone else already reconnected
	}
	wait := 50 * time.Millisecond
	for {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rc, err := c.redial(dctx)
		cancel()
		if err == nil {
			if h := old.Callbacks(); h != nil {
				rc.HandleCallbacks(h)
			}
			// A new connection is not on the session's back channel
			// until bound (callback.go, RFC 8881 §18.34).
			c.rebindAfterReconnect(rc)
			c.rpcMu.Lock()
			c.RPC = rc
			c.rpcMu.Unlock()
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-c.stop:
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, maxReconnectWait)
	}
}

func (c *Client) track(f *OpenFile) {
	c.filesMu.Lock()
	defer c.filesMu.Unlock()
	if c.files == nil {
		c.files = map[*OpenFile]struct{}{}
	}
	c.files[f] = struct{}{}
}

func (c *Client) untrack(f *OpenFile) {
	c.filesMu.Lock()
	delete(c.files, f)
	c.filesMu.Unlock()
	c.lockForget(f)
}

// recoverClient re-establishes the client after a server restart; called
// with setupMu held, so it sends with compoundOnce (no session re-creation
// loop).
func (c *Client) recoverClient(ctx context.Context) error {
	fail := func(what string, err error) error {
		return fmt.Errorf("nfs4client: recovering after a server restart: %s: %w", what, err)
	}
	c.sessMu.Lock()
	c.Session = nil
	c.sessMu.Unlock()
	res, err := c.compoundOnce(ctx, c.Minor, []nfs4.ArgOp{{Op: nfs4.OpExchangeID, Args: &nfs4.ExchangeIDArgs{
		ClientOwner:  nfs4.ClientOwner{Verifier: c.verf, OwnerID: append([]byte("nfs4client-"), c.owner...)},
		StateProtect: nfs4.StateProtectA{How: nfs4.SP4None},
	}}})
	if err := resErr(res, err); err != nil {
		return fail("EXCHANGE_ID", err)
	}
	ex := res.Results[0].Res.(*nfs4.ExchangeIDRes)
	res, err = c.compoundOnce(ctx, c.Minor, []nfs4.ArgOp{createSessionOp(ex.ClientID, ex.SequenceID)})
	if err := resErr(res, err); err != nil {
		return fail("CREATE_SESSION", err)
	}
	cs := res.Results[0].Res.(*nfs4.CreateSessionRes)
	s := sessionFrom(cs)
	c.setBackChannel(cs.Flags&nfs4.CreateSessionFlagConnBackChan != 0)
	c.sessMu.Lock()
	c.ClientID, c.Session, c.csSeq = ex.ClientID, s, ex.SequenceID+1
	c.sessMu.Unlock()
	// The restarted server has no delegations of ours (not reclaimed
	// here): what was cached under them must be revalidated (deleg.go).
	c.dropAllDelegations()

	c.filesMu.Lock()
	files := make([]*OpenFile, 0, len(c.files))
	for f := range c.files {
		files = append(files, f)
	}
	c.filesMu.Unlock()

	// Reclaim: OPEN CLAIM_PREVIOUS on the file itself (RFC 8881 §18.16.3).
	var lost []*OpenFile
	for _, f := range files {
		owner := fmt.Appendf(append([]byte(nil), c.owner...), "-%d", c.opens.Add(1))
		args := &nfs4.OpenArgs{ShareAccess: f.access | nfs4.ShareAccessWantNoDeleg, ShareDeny: nfs4.ShareDenyNone,
			Owner:   nfs4.OpenOwner{ClientID: c.ClientID, Owner: owner},
			OpenHow: nfs4.OpenFlag{OpenType: nfs4.OpenNoCreate},
			Claim:   nfs4.OpenClaim{Claim: nfs4.ClaimPrevious, DelegateType: nfs4.DelegateNone}}
		res, err := c.compoundOnce(ctx, c.Minor, []nfs4.ArgOp{PutFH(f.FH), {Op: nfs4.OpOpen, Args: args}})
		if err = resErr(res, err); err == nil {
			osid := result[*nfs4.OpenRes](res, 1).StateID
			f.setSID(osid)
			c.reclaimLocks(ctx, f, osid)
			continue
		}
		// Its locks go with it: a CLAIM_FH open cannot reclaim them.
		c.loseLocks(f, err)
		lost = append(lost, f)
	}
	res, err = c.compoundOnce(ctx, c.Minor, []nfs4.ArgOp{{Op: nfs4.OpReclaimComplete, Args: &nfs4.ReclaimCompleteArgs{}}})
	if err != nil {
		return fail("RECLAIM_COMPLETE", err)
	}
	// Not reclaimable (no grace period, or the file changed hands): an
	// ordinary open by handle, once reclaims are complete.
	for _, f := range lost {
		owner := fmt.Appendf(append([]byte(nil), c.owner...), "-%d", c.opens.Add(1))
		args := &nfs4.OpenArgs{ShareAccess: f.access | nfs4.ShareAccessWantNoDeleg, ShareDeny: nfs4.ShareDenyNone,
			Owner:   nfs4.OpenOwner{ClientID: c.ClientID, Owner: owner},
			OpenHow: nfs4.OpenFlag{OpenType: nfs4.OpenNoCreate},
			Claim:   nfs4.OpenClaim{Claim: nfs4.ClaimFH}}
		for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
			res, err := c.compoundOnce(ctx, c.Minor, []nfs4.ArgOp{PutFH(f.FH), {Op: nfs4.OpOpen, Args: args}})
			if err == nil && res.Status == nfs4.ErrGrace {
				// Ordinary opens wait for the grace period to end.
				select {
				case <-time.After(wait):
					continue
				case <-ctx.Done():
				}
			}
			if resErr(res, err) == nil {
				f.setSID(result[*nfs4.OpenRes](res, 1).StateID)
			}
			break // else: the file is gone; I/O on it gets the server's error
		}
	}
	e := c.epoch.Add(1)
	if c.Recovered != nil {
		c.Recovered(e)
	}
	return nil
}
