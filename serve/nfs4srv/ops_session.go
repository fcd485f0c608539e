package nfs4srv

import (
	"os"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/state"
)

// NFSv4.1 client and session ops (RFC 8881 §18.33–§18.51).

func init() {
	handle(nfs4.OpExchangeID, noSeqOK, opExchangeID)
	handle(nfs4.OpCreateSession, noSeqOK, opCreateSession)
	handle(nfs4.OpSequence, 0, opSequence)
	handle(nfs4.OpDestroySession, noSeqOK, opDestroySession)
	handle(nfs4.OpBindConnToSession, noSeqOK, opBindConnToSession)
	handle(nfs4.OpDestroyClientID, noSeqOK, opDestroyClientID)
	handle(nfs4.OpReclaimComplete, 0, opReclaimComplete)
	handle(nfs4.OpBackchannelCtl, 0, opBackchannelCtl)
	handle(nfs4.OpTestStateID, 0, opTestStateID)
	handle(nfs4.OpFreeStateID, 0, opFreeStateID)
}

// serverOwner is server_owner4 / server_scope (RFC 8881 §2.10.4): the host
// name, stable across restarts, so a client trunks connections to this
// server only.
var serverOwner = func() []byte {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "fsbridge"
	}
	return []byte(h)
}()

var serverImplID = nfs4.ImplID{Domain: []byte("fsbridge.dev"), Name: []byte("fsbridge")}

// opExchangeID is EXCHANGE_ID (RFC 8881 §18.35).
func opExchangeID(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.ExchangeIDArgs)
	res := &nfs4.ExchangeIDRes{}
	switch args.StateProtect.How {
	case nfs4.SP4None:
	case nfs4.SP4MachCred:
		// Needs an RPCSEC_GSS machine credential; AUTH_SYS cannot
		// provide one (RFC 8881 §18.35.4: the server may refuse).
		res.Status = nfs4.ErrInval
		return res
	case nfs4.SP4SSV:
		res.Status = nfs4.ErrEncrAlgUnsupp
		return res
	default:
		res.Status = nfs4.ErrInval
		return res
	}
	r, err := c.s.state.ExchangeID(state.ExchangeIDArgs{
		OwnerID:   args.ClientOwner.OwnerID,
		Verifier:  args.ClientOwner.Verifier,
		Flags:     args.Flags,
		Principal: c.princ,
	})
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	res.ClientID, res.SequenceID, res.Flags = r.ClientID, r.SequenceID, r.Flags
	res.StateProtect = nfs4.StateProtectR{How: nfs4.SP4None}
	res.ServerOwner = nfs4.ServerOwner{MinorID: 0, MajorID: serverOwner}
	res.ServerScope = serverOwner
	impl := serverImplID
	res.ServerImplID = &impl
	return res
}

func chanToState(a *nfs4.ChannelAttrs) state.ChannelAttrs {
	return state.ChannelAttrs{
		HeaderPadSize: a.HeaderPadSize, MaxRequestSize: a.MaxRequestSize,
		MaxResponseSize: a.MaxResponseSize, MaxResponseSizeCached: a.MaxResponseSizeCached,
		MaxOperations: a.MaxOperations, MaxRequests: a.MaxRequests,
	}
}

func chanToWire(a *state.ChannelAttrs) nfs4.ChannelAttrs {
	return nfs4.ChannelAttrs{
		HeaderPadSize: a.HeaderPadSize, MaxRequestSize: a.MaxRequestSize,
		MaxResponseSize: a.MaxResponseSize, MaxResponseSizeCached: a.MaxResponseSizeCached,
		MaxOperations: a.MaxOperations, MaxRequests: a.MaxRequests,
	}
}

// copySecParms copies callback_sec_parms4 out of the request buffer,
// which the decoder aliases.
func copySecParms(in []nfs4.CallbackSecParms) []nfs4.CallbackSecParms {
	out := make([]nfs4.CallbackSecParms, len(in))
	for i, p := range in {
		// Sys (rpc.AuthSysParams) decodes into its own string and slice.
		p.GSS.HandleFromServer = append([]byte(nil), p.GSS.HandleFromServer...)
		p.GSS.HandleFromClient = append([]byte(nil), p.GSS.HandleFromClient...)
		out[i] = p
	}
	return out
}

// opCreateSession is CREATE_SESSION (RFC 8881 §18.36).
func opCreateSession(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.CreateSessionArgs)
	res := &nfs4.CreateSessionRes{}
	const knownFlags = nfs4.CreateSessionFlagPersist | nfs4.CreateSessionFlagConnBackChan |
		nfs4.CreateSessionFlagConnRDMA
	if args.Flags&^knownFlags != 0 {
		res.Status = nfs4.ErrInval // pynfs CSESS15
		return res
	}
	// A channel on which no request or reply could fit is useless
	// (RFC 8881 §18.36.3: NFS4ERR_TOOSMALL; pynfs CSESS25/28/29).
	for _, ch := range []*nfs4.ChannelAttrs{&args.ForeChanAttrs, &args.BackChanAttrs} {
		if ch.MaxRequestSize < minChanSize || ch.MaxResponseSize < minChanSize {
			res.Status = nfs4.ErrTooSmall
			return res
		}
	}
	c.watchConn()
	r, err := c.s.state.CreateSession(state.CreateSessionArgs{
		ClientID:  args.ClientID,
		Sequence:  args.Sequence,
		Flags:     args.Flags,
		Fore:      chanToState(&args.ForeChanAttrs),
		Back:      chanToState(&args.BackChanAttrs),
		CBProgram: args.CBProgram,
		CBSec:     copySecParms(args.SecParms),
		Principal: c.princ,
		Conn:      c.conn,
	})
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	res.SessionID = nfs4.SessionID(r.SessionID)
	res.Sequence, res.Flags = r.Sequence, r.Flags
	res.ForeChanAttrs, res.BackChanAttrs = chanToWire(&r.Fore), chanToWire(&r.Back)
	return res
}

// opSequence is SEQUENCE (RFC 8881 §18.46). A retransmission is answered
// with the slot's cached reply (c.replay); a new request claims the slot
// until the compound's reply is stored in it.
func opSequence(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.SequenceArgs)
	res := &nfs4.SequenceRes{}
	c.watchConn()
	r, err := c.s.state.Sequence(state.SequenceArgs{
		SessionID:     state.SessionID(args.SessionID),
		SeqID:         args.SequenceID,
		SlotID:        args.SlotID,
		HighestSlotID: args.HighestSlotID,
		CacheThis:     args.CacheThis,
		Conn:          c.conn,
	})
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	if r.Replay != nil {
		c.replay = r.Replay
		return res
	}
	c.seq = &seqContext{slot: r.Slot, sessionID: r.SessionID, clientID: r.ClientID,
		maxCached: max(int(r.Fore.MaxResponseSizeCached), minCachedReply),
		maxResp:   int(r.Fore.MaxResponseSize), maxRespCached: int(r.Fore.MaxResponseSizeCached),
		cacheThis: args.CacheThis}
	switch {
	case c.nops > int(r.Fore.MaxOperations):
		res.Status = nfs4.ErrTooManyOps
		return res
	case r.Fore.MaxRequestSize > 0 && c.reqLen > int(r.Fore.MaxRequestSize):
		res.Status = nfs4.ErrReqTooBig
		return res
	}
	res.SessionID = nfs4.SessionID(r.SessionID)
	res.SequenceID, res.SlotID = r.SeqID, r.SlotID
	res.HighestSlotID, res.TargetHighestSlotID = r.HighestSlotID, r.TargetHighestSlotID
	res.StatusFlags = r.StatusFlags | c.s.cb.seqFlags(r.ClientID) // callback.go
	return res
}

// minChanSize is the smallest ca_maxrequestsize/ca_maxresponsesize
// accepted: room for a COMPOUND header, SEQUENCE and a small op.
const minChanSize = 256

// minCachedReply is cached even if the client negotiated a smaller
// ca_maxresponsesize_cached: small replies (status-only errors, CLOSE,
// LOCK…) are what exactly-once semantics need most.
const minCachedReply = 1024

// opDestroySession is DESTROY_SESSION (RFC 8881 §18.37).
func opDestroySession(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.DestroySessionArgs)
	sid := state.SessionID(args.SessionID)
	if c.seq != nil && c.seq.sessionID == sid {
		// Destroying the compound's own session: it must be the last op
		// (RFC 8881 §18.37.3).
		if c.opIndex != c.nops-1 {
			return &nfs4.DestroySessionRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrNotOnlyOp}}
		}
	} else if !c.s.state.ConnBound(sid, c.conn) {
		// Otherwise the request must come on a connection bound to the
		// session (RFC 8881 §18.37.3).
		st := nfs4.ErrConnNotBoundToSession
		if _, err := c.s.state.SessionClientID(sid); err != nil {
			st = statusOf(err)
		}
		return &nfs4.DestroySessionRes{StatusRes: nfs4.StatusRes{Status: st}}
	}
	err := c.s.state.DestroySession(sid)
	return &nfs4.DestroySessionRes{StatusRes: nfs4.StatusRes{Status: statusOf(err)}}
}

// opBindConnToSession is BIND_CONN_TO_SESSION (RFC 8881 §18.34).
func opBindConnToSession(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.BindConnToSessionArgs)
	res := &nfs4.BindConnToSessionRes{}
	c.watchConn()
	dir, err := c.s.state.BindConnToSession(state.SessionID(args.SessionID), args.Dir, c.conn)
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	res.SessionID, res.Dir = args.SessionID, dir
	return res
}

// opDestroyClientID is DESTROY_CLIENTID (RFC 8881 §18.50).
func opDestroyClientID(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.DestroyClientIDArgs)
	err := c.s.state.DestroyClientID(args.ClientID)
	return &nfs4.DestroyClientIDRes{StatusRes: nfs4.StatusRes{Status: statusOf(err)}}
}

// opReclaimComplete is RECLAIM_COMPLETE (RFC 8881 §18.51): the client is
// done reclaiming; the grace period may end early (serve/state/grace.go).
func opReclaimComplete(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.ReclaimCompleteArgs)
	res := &nfs4.ReclaimCompleteRes{}
	if args.OneFS {
		// Per-filesystem form: needs a current filehandle; we have one
		// filesystem per export and nothing to reclaim on it.
		if !c.cur.valid() {
			res.Status = nfs4.ErrNoFileHandle
		}
		return res
	}
	res.Status = statusOf(c.s.state.ReclaimComplete(c.seq.clientID))
	return res
}

// opBackchannelCtl is BACKCHANNEL_CTL (RFC 8881 §18.33).
func opBackchannelCtl(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.BackchannelCtlArgs)
	err := c.s.state.BackchannelCtl(c.seq.sessionID, args.CBProgram, copySecParms(args.SecParms))
	return &nfs4.BackchannelCtlRes{StatusRes: nfs4.StatusRes{Status: statusOf(err)}}
}

// opTestStateID is TEST_STATEID (RFC 8881 §18.48).
func opTestStateID(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.TestStateIDArgs)
	return &nfs4.TestStateIDRes{StatusCodes: c.s.state.TestStateIDs(c.seq.clientID, args.StateIDs)}
}

// opFreeStateID is FREE_STATEID (RFC 8881 §18.38).
func opFreeStateID(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.FreeStateIDArgs)
	res := &nfs4.FreeStateIDRes{}
	sid, st := c.resolveStateID(args.StateID)
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	res.Status = statusOf(c.s.state.FreeStateID(c.seq.clientID, sid))
	return res
}
