package nfs4client

import (
	"context"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// The server side of the 4.1 back channel, in the client (RFC 8881
// §2.10.3.1, §20). CREATE_SESSION asks for CONN_BACK_CHAN, so the server
// sends CB_COMPOUNDs over the connection the client opened (through NAT
// and tunnels); rpcclient hands them to handleCallback. The back channel
// has one slot (ca_maxrequests 1) with a one-entry reply cache.

// CBProgram is the callback program number given in CREATE_SESSION and
// BACKCHANNEL_CTL (any number the client likes; this is the one Linux
// uses). cbVersion is its version.
const (
	CBProgram = 0x40000000
	cbVersion = 1
)

// cbMaxOps bounds the ops of one CB_COMPOUND (ca_maxoperations of the
// back channel we ask for).
const cbMaxOps = 16

// cbSlot is the back channel's only slot (RFC 8881 §2.10.6.1 applied to
// the back channel, §20.9.3).
type cbSlot struct {
	session nfs4.SessionID
	seq     uint32 // last sequence id seen on slot 0 of session
	reply   []byte // the reply to it, for a retransmission
}

// backChanAttrs are the back channel attributes asked for in
// CREATE_SESSION: one slot, small messages.
func backChanAttrs() nfs4.ChannelAttrs {
	return nfs4.ChannelAttrs{MaxRequestSize: 1 << 14, MaxResponseSize: 1 << 14,
		MaxResponseSizeCached: 1 << 14, MaxOperations: cbMaxOps, MaxRequests: 1}
}

// cbSecParms are the callback security parameters (RFC 8881 §18.36.3):
// AUTH_SYS as root, else AUTH_NONE. The callback handler itself accepts
// any credential (it only acts on the state the server gave us).
func cbSecParms() []nfs4.CallbackSecParms {
	return []nfs4.CallbackSecParms{
		{Flavor: nfs4.AuthSys, Sys: nfs4.AuthSysParms{MachineName: "nfs4client"}},
		{Flavor: nfs4.AuthNone},
	}
}

// setBackChannel records whether the current session has a back channel.
func (c *Client) setBackChannel(on bool) {
	c.dg.mu.Lock()
	c.dg.backChan = on
	c.dg.mu.Unlock()
}

// bindBackChannel binds connection rc to the session's back channel (and
// fore channel) with BIND_CONN_TO_SESSION CDFC4_BACK_OR_BOTH (RFC 8881
// §18.34): after a reconnection the server has no way to call us until
// then. It is sent on rc directly, alone in its COMPOUND (§18.34.3).
// A session the server no longer knows (restart) is re-created by the
// next call, with a back channel.
func (c *Client) bindBackChannel(ctx context.Context, rc *rpcclient.Client) error {
	s := c.session()
	if s == nil || c.Minor == 0 {
		return nil
	}
	var e xdr.Encoder
	(&nfs4.CompoundArgs{MinorVersion: c.Minor, Ops: []nfs4.ArgOp{{Op: nfs4.OpBindConnToSession,
		Args: &nfs4.BindConnToSessionArgs{SessionID: s.ID, Dir: nfs4.CDFCBackOrBoth}}}}).Encode(&e)
	body, err := rc.Call(ctx, nfs4.Program, nfs4.Version, nfs4.ProcCompound, c.Cred, [][]byte{e.Buf})
	if err != nil {
		return err
	}
	res := new(nfs4.CompoundRes)
	d := xdr.NewDecoder(body)
	res.Decode(d)
	if err := resErr(res, d.Err()); err != nil {
		c.setBackChannel(false)
		return err
	}
	br := res.Results[0].Res.(*nfs4.BindConnToSessionRes)
	c.setBackChannel(br.Dir == nfs4.CDFSBoth || br.Dir == nfs4.CDFSBackChan)
	return nil
}

// rebindAfterReconnect is the hook reconnect calls with the new
// connection.
func (c *Client) rebindAfterReconnect(rc *rpcclient.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.bindBackChannel(ctx, rc)
}

// handleCallback answers one CALL from the server (rpcclient.CallbackFunc).
func (c *Client) handleCallback(ctx context.Context, h *rpc.CallHeader, args []byte) (rpc.AcceptStat, []byte) {
	if h.Prog != CBProgram {
		return rpc.ProgUnavail, nil
	}
	if h.Vers != cbVersion {
		return rpc.ProgUnavail, nil // no mismatch info can be sent from here
	}
	switch h.Proc {
	case nfs4.CBProcNull:
		return rpc.Success, nil
	case nfs4.CBProcCompound:
		body, ok := c.cbCompound(args)
		if !ok {
			return rpc.GarbageArgs, nil
		}
		return rpc.Success, body
	}
	return rpc.ProcUnavail, nil
}

// cbCompound runs a CB_COMPOUND (RFC 8881 §20.2 framing, §20.9
// CB_SEQUENCE) and returns the encoded CB_COMPOUND4res; ok is false when
// the header cannot be decoded (GARBAGE_ARGS).
func (c *Client) cbCompound(args []byte) (body []byte, ok bool) {
	d := xdr.NewDecoder(args)
	tag, minor, _, nops, err := nfs4.DecodeCBCompoundHeader(d)
	if err != nil {
		return nil, false
	}
	res := nfs4.CBCompoundRes{Tag: append([]byte(nil), tag...)}
	encode := func() []byte {
		var e xdr.Encoder
		res.Encode(&e)
		return e.Buf
	}
	if minor == 0 || minor != c.Minor {
		// 4.0 callbacks come over their own connection, which we do
		// not offer; other versions are not ours (§20.2.3).
		res.Status = nfs4.ErrMinorVersMismatch
		return encode(), true
	}
	if nops > cbMaxOps {
		res.Status = nfs4.ErrTooManyOps
		return encode(), true
	}

	c.dg.mu.Lock()
	defer c.dg.mu.Unlock()
	var slotSeq uint32
	seqOK := false
	for i := range nops {
		op := nfs4.CBOp(d.Uint32())
		if d.Err() != nil {
			res.Status = nfs4.ErrBadXDR
			break
		}
		a := nfs4.NewCBArgs(op)
		var r nfs4.Res
		switch {
		case a == nil || op == nfs4.CBOpIllegal:
			// Defined by RFC 8881 but not implemented here:
			// NOTSUPP; anything else is ILLEGAL (§20.13).
			if op >= nfs4.CBOpGetattr && op <= nfs4.CBOpOffload && op != nfs4.CBOpIllegal {
				r = &nfs4.StatusRes{Status: nfs4.ErrNotSupp}
			} else {
				op, r = nfs4.CBOpIllegal, &nfs4.CBIllegalRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrOpIllegal}}
			}
		case i == 0 && op != nfs4.CBOpSequence:
			r = &nfs4.StatusRes{Status: nfs4.ErrOpNotInSession}
		case i > 0 && op == nfs4.CBOpSequence:
			r = &nfs4.StatusRes{Status: nfs4.ErrSequencePos}
		default:
			if a.Decode(d); d.Err() != nil {
				r = &nfs4.StatusRes{Status: nfs4.ErrBadXDR}
				break
			}
			if op == nfs4.CBOpSequence {
				sa := a.(*nfs4.CBSequenceArgs)
				var replay []byte
				r, replay = c.cbSequence(sa)
				if replay != nil {
					return replay, true
				}
				if r.GetStatus() == nfs4.OK {
					seqOK, slotSeq = true, sa.SequenceID
				}
				break
			}
			r = c.cbOp(op, a)
		}
		res.Results = append(res.Results, nfs4.CBResOp{Op: op, Res: r})
		if res.Status = r.GetStatus(); res.Status != nfs4.OK {
			break
		}
	}
	body = encode()
	if seqOK {
		// The slot's reply cache: a retransmission of this sequence id
		// gets this reply again (§20.9.3).
		c.dg.cb.seq, c.dg.cb.reply = slotSeq, body
	}
	return body, true
}

// cbSequence checks CB_SEQUENCE against the one back-channel slot
// (RFC 8881 §20.9.3, §2.10.6.1); replay is the cached reply of a
// retransmitted request. Called with c.dg.mu held.
func (c *Client) cbSequence(a *nfs4.CBSequenceArgs) (r *nfs4.CBSequenceRes, replay []byte) {
	r = &nfs4.CBSequenceRes{}
	s := c.session()
	switch {
	case s == nil || s.ID != a.SessionID:
		r.Status = nfs4.ErrBadSession
		return r, nil
	case a.SlotID != 0:
		r.Status = nfs4.ErrBadSlot
		return r, nil
	case a.HighestSlotID != 0:
		r.Status = nfs4.ErrBadHighSlot
		return r, nil
	}
	cb := &c.dg.cb
	if cb.session != a.SessionID {
		// A new session: its slot starts afresh (seqid 1 first).
		*cb = cbSlot{session: a.SessionID}
	}
	switch a.SequenceID {
	case cb.seq + 1:
	case cb.seq:
		if cb.reply != nil {
			return nil, cb.reply
		}
		r.Status = nfs4.ErrSeqMisordered
		return r, nil
	default:
		r.Status = nfs4.ErrSeqMisordered
		return r, nil
	}
	r.SessionID, r.SequenceID, r.SlotID = a.SessionID, a.SequenceID, 0
	r.HighestSlotID, r.TargetHighestSlotID = 0, 0
	return r, nil
}

// RCA4_TYPE_MASK bits of CB_RECALL_ANY (RFC 8881 §20.6.1).
const (
	rcaReadDeleg  = 0
	rcaWriteDeleg = 1
)

// cbOp runs one callback op other than CB_SEQUENCE. Recalls only start
// the return: the flush and DELEGRETURN happen after the reply, so the
// server is not kept waiting (RFC 8881 §20.2.3). Called with c.dg.mu held.
func (c *Client) cbOp(op nfs4.CBOp, a nfs4.Args) nfs4.Res {
	switch op {
	case nfs4.CBOpRecall:
		ra := a.(*nfs4.CBRecallArgs)
		if dd := c.dirDelegByOtherLocked(ra.StateID.Other); dd != nil {
			return c.cbDirRecallLocked(dd, ra.FH) // dirdeleg.go
		}
		d := c.delegByOtherLocked(ra.StateID.Other)
		if d == nil {
			// Not (yet) ours: the OPEN reply granting it may still be
			// on its way (§2.10.6.3). Remember, and return it when it
			// arrives.
			c.noteEarlyRecallLocked(ra.StateID.Other)
			return &nfs4.CBRecallRes{}
		}
		if string(d.FH) != string(ra.FH) {
			return &nfs4.CBRecallRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrBadHandle}}
		}
		c.recallDeleg(d)
		return &nfs4.CBRecallRes{}

	case nfs4.CBOpGetattr:
		// Only for a file we hold a write delegation on (§20.1.3):
		// the size and change attribute as we know them.
		ga := a.(*nfs4.CBGetattrArgs)
		d := c.dg.byFH[string(ga.FH)]
		if d == nil || d.Type != nfs4.DelegateWrite {
			return &nfs4.CBGetattrRes{Status: nfs4.ErrBadHandle}
		}
		var at nfs4.Attrs
		at.Size, at.Change = d.attrs()
		for _, b := range []int{nfs4.AttrChange, nfs4.AttrSize} {
			if ga.AttrRequest.Has(b) {
				at.Present.Set(b)
			}
		}
		var e xdr.Encoder
		if err := nfs4.AppendAttrVals(&e, at.Present, &at); err != nil {
			return &nfs4.CBGetattrRes{Status: nfs4.ErrServerFault}
		}
		return &nfs4.CBGetattrRes{ObjAttributes: nfs4.Fattr{Mask: at.Present, Vals: e.Buf}}

	case nfs4.CBOpRecallAny:
		// Return delegations of the asked types beyond the number the
		// server lets us keep (§20.6.3).
		ra := a.(*nfs4.CBRecallAnyArgs)
		keep := ra.ObjectsToKeep
		for _, d := range c.dg.byFH {
			if !d.Valid() {
				continue
			}
			if !(d.Type == nfs4.DelegateRead && ra.TypeMask.Has(rcaReadDeleg) ||
				d.Type == nfs4.DelegateWrite && ra.TypeMask.Has(rcaWriteDeleg)) {
				continue
			}
			if keep > 0 {
				keep--
				continue
			}
			c.recallDeleg(d)
		}
		return &nfs4.CBRecallAnyRes{}

	case nfs4.CBOpRecallSlot:
		// Use fewer fore-channel slots (§20.8.3).
		if s := c.session(); s != nil {
			s.setTarget(a.(*nfs4.CBRecallSlotArgs).TargetHighestSlotID)
		}
		return &nfs4.CBRecallSlotRes{}

	case nfs4.CBOpNotify:
		return c.cbNotifyLocked(a.(*nfs4.CBNotifyArgs)) // dirdeleg.go

	case nfs4.CBOpNotifyLock:
		// Blocked locks are polled (lock.go): the hint needs no action.
		return &nfs4.CBNotifyLockRes{}
	}
	return &nfs4.StatusRes{Status: nfs4.ErrNotSupp}
}

func (c *Client) delegByOtherLocked(other [nfs4.OtherSize]byte) *Delegation {
	return c.dg.byOther[other]
}

// seqStatus acts on the status flags of a SEQUENCE reply (RFC 8881
// §18.46.3): a back channel the server finds down is bound again, and
// revoked delegations are found and freed. Both run in the background,
// one at a time.
func (c *Client) seqStatus(flags uint32) {
	if flags&(nfs4.SeqStatusCBPathDown|nfs4.SeqStatusCBPathDownSession) != 0 {
		c.dg.mu.Lock()
		want := c.dg.want
		c.dg.mu.Unlock()
		if want && c.dg.rebinding.CompareAndSwap(false, true) {
			go func() {
				defer time.AfterFunc(time.Second, func() { c.dg.rebinding.Store(false) })
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c.bindBackChannel(ctx, c.conn())
			}()
		}
	}
	if flags&nfs4.SeqStatusRecallableStateRevoked != 0 && c.dg.testing.CompareAndSwap(false, true) {
		go func() {
			defer c.dg.testing.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c.freeRevoked(ctx)
			c.freeRevokedDirs(ctx) // dirdeleg.go
		}()
	}
}

// freeRevoked tells the holder which of our delegations the server revoked
// and frees them (sweepRevoked), which clears the SEQUENCE flag.
func (c *Client) freeRevoked(ctx context.Context) {
	all := c.Delegations()
	c.dg.mu.Lock()
	h := c.dg.handler
	c.dg.mu.Unlock()
	c.sweepRevoked(ctx, stateIDsOf(all, func(d *Delegation) nfs4.StateID { return d.StateID }), func(i int) {
		d := all[i]
		d.markRecalled()
		c.dropDeleg(d)
		if h != nil {
			h.DelegLost(d)
		}
	})
}

// sweepRevoked asks TEST_STATEID (RFC 8881 §18.48) about sids; for each
// one the server no longer honours it calls lost(i), then frees it
// (FREE_STATEID, §18.38) if it was revoked or expired.
func (c *Client) sweepRevoked(ctx context.Context, sids []nfs4.StateID, lost func(i int)) {
	if len(sids) == 0 {
		return
	}
	res, err := c.Do(ctx, nfs4.ArgOp{Op: nfs4.OpTestStateID, Args: &nfs4.TestStateIDArgs{StateIDs: sids}})
	if err != nil {
		return
	}
	for i, st := range res.Results[0].Res.(*nfs4.TestStateIDRes).StatusCodes {
		if i >= len(sids) || st == nfs4.OK {
			continue
		}
		lost(i)
		if st == nfs4.ErrDelegRevoked || st == nfs4.ErrAdminRevoked || st == nfs4.ErrExpired {
			c.Do(ctx, nfs4.ArgOp{Op: nfs4.OpFreeStateID, Args: &nfs4.FreeStateIDArgs{StateID: sids[i]}})
		}
	}
}

// stateIDsOf lists the stateids of a delegation table.
func stateIDsOf[T any](all []T, sid func(T) nfs4.StateID) []nfs4.StateID {
	sids := make([]nfs4.StateID, len(all))
	for i, d := range all {
		sids[i] = sid(d)
	}
	return sids
}
