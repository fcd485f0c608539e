package nfs4srv

import (
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/state"
)

// NFSv4.0 client registration (RFC 7530 §16.33, §16.34, §16.24) and the
// owner seqid machinery of RFC 7530 §9.1.7 shared by OPEN, OPEN_CONFIRM,
// OPEN_DOWNGRADE, CLOSE, LOCK and LOCKU.

func init() {
	handle(nfs4.OpSetClientID, minor0Only, opSetClientID)
	handle(nfs4.OpSetClientIDConfirm, minor0Only, opSetClientIDConfirm)
	handle(nfs4.OpRenew, minor0Only, opRenew)
}

// opSetClientID is SETCLIENTID (RFC 7530 §16.33).
func opSetClientID(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.SetClientIDArgs)
	res := &nfs4.SetClientIDRes{}
	r, err := c.s.state.SetClientID(state.SetClientIDArgs{
		Name:      args.ID,
		Verifier:  args.Verifier,
		Principal: c.princ,
		Callback: state.Callback{
			Program: args.Callback.CBProgram,
			NetID:   string(args.Callback.CBLocation.NetID),
			Addr:    string(args.Callback.CBLocation.Addr),
			Ident:   args.CallbackIdent,
		},
	})
	if err != nil {
		res.Status = statusOf(err)
		if res.Status == nfs4.ErrClidInUse {
			// client_using (§16.33.2): we do not reveal the other
			// client's callback address; the netid alone says "in use".
			res.ClientUsing = nfs4.NetAddr{NetID: []byte("tcp"), Addr: []byte("0.0.0.0.0.0")}
		}
		return res
	}
	res.ClientID, res.SetClientIDConfirm = r.ClientID, r.Confirm
	return res
}

// opSetClientIDConfirm is SETCLIENTID_CONFIRM (RFC 7530 §16.34).
func opSetClientIDConfirm(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.SetClientIDConfirmArgs)
	err := c.s.state.SetClientIDConfirm(args.ClientID, args.SetClientIDConfirm, c.princ)
	if err == nil {
		c.s.cb.probe40(args.ClientID) // callback path for delegations (callback.go)
	}
	return &nfs4.SetClientIDConfirmRes{StatusRes: nfs4.StatusRes{Status: statusOf(err)}}
}

// opRenew is RENEW (RFC 7530 §16.24).
func opRenew(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.RenewArgs)
	err := c.s.state.Renew(args.ClientID)
	if err == nil && c.s.cb.pathDown40(args.ClientID) && c.s.state.ClientHasDelegations(args.ClientID) {
		err = nfs4.ErrCBPathDown // RFC 7530 §16.24.4
	}
	return &nfs4.RenewRes{StatusRes: nfs4.StatusRes{Status: statusOf(err)}}
}

// rawRes is an op result already encoded: a 4.0 owner replay (RFC 7530
// §9.1.7) sends the bytes cached for the original request.
type rawRes struct {
	status nfs4.Status
	b      []byte // the encoded result, status word included
}

func (r *rawRes) Encode(e *xdr.Encoder)  { e.Buf = append(e.Buf, r.b...) }
func (r *rawRes) Decode(*xdr.Decoder)    {}
func (r *rawRes) GetStatus() nfs4.Status { return r.status }

// seqOwner is one owner whose 4.0 seqid an op consumes.
type seqOwner struct {
	o      *state.Owner
	seqid  uint32
	isOpen bool // OPEN: a bad seqid on an unconfirmed owner starts it afresh
	// noCheck: the seqid is not checked, only recorded when the op is done
	// (the lock_seqid of open_to_lock_owner4 starts the lock owner's
	// sequence, RFC 7530 §16.10.5; a client retries it after DENIED).
	noCheck bool
}

// seqRun runs op under the 4.0 owner sequencing rules (RFC 7530 §9.1.7):
// every owner in owners must accept its seqid; a retransmission of the
// last request of the first owner gets the cached result (and the current
// filehandle it left, for OPEN) without running op again. errRes builds
// the result for a sequencing error. The cached form is the wire
// filehandle (opaque, possibly empty) followed by the encoded result.
func (c *compound) seqRun(owners []seqOwner, errRes func(nfs4.Status) nfs4.Res, op func() nfs4.Res) nfs4.Res {
	m := c.s.state
	for i, so := range owners {
		if so.noCheck {
			continue
		}
		check := m.CheckSeqIDStrict
		if so.isOpen {
			check = m.CheckSeqID
		}
		chk, cached, err := check(so.o, so.seqid)
		if err == nil && chk == state.SeqReplay {
			if i == 0 {
				return c.replayOwner(cached, errRes)
			}
			// The first owner saw a new request but this one a replay:
			// the two disagree, which only a misbehaving client does.
			err = nfs4.ErrBadSeqID
		}
		if err != nil {
			for _, p := range owners[:i] {
				// Not advancing: BAD_SEQID is not seqid-mutating.
				if !p.noCheck {
					m.SeqIDDone(p.o, p.seqid, nfs4.ErrBadSeqID, nil)
				}
			}
			return errRes(statusOf(err))
		}
	}
	res := op()
	st := res.GetStatus()
	var blob []byte
	if state.SeqIDAdvances(st) {
		var e xdr.Encoder
		var fh []byte
		if _, isOpen := res.(*nfs4.OpenRes); isOpen && st == nfs4.OK {
			fh = c.cur.wire
		}
		e.Uint32(uint32(seqOpOf(res)))
		e.Opaque(fh)
		res.Encode(&e)
		blob = e.Buf
	}
	for _, so := range owners {
		m.SeqIDDone(so.o, so.seqid, st, blob)
	}
	return res
}

// seqOpOf names the op of a seqid-mutating result: the cached reply of an
// owner is only a reply to the same op. The same seqid on another op is not
// a retransmission but a client error (NFS4ERR_BAD_SEQID), and replaying
// the cached bytes would give that op a result of another op's shape.
func seqOpOf(r nfs4.Res) nfs4.Op {
	switch r.(type) {
	case *nfs4.OpenRes:
		return nfs4.OpOpen
	case *nfs4.OpenConfirmRes:
		return nfs4.OpOpenConfirm
	case *nfs4.OpenDowngradeRes:
		return nfs4.OpOpenDowngrade
	case *nfs4.CloseRes:
		return nfs4.OpClose
	case *nfs4.LockRes:
		return nfs4.OpLock
	case *nfs4.LockURes:
		return nfs4.OpLockU
	}
	return nfs4.OpIllegal
}

// replayOwner turns a cached seqid reply back into a result; errRes
// builds the running op's result (BAD_SEQID if the cache is another op's).
func (c *compound) replayOwner(cached []byte, errRes func(nfs4.Status) nfs4.Res) nfs4.Res {
	d := xdr.NewDecoder(cached)
	if op := nfs4.Op(d.Uint32()); d.Err() == nil && op != seqOpOf(errRes(nfs4.OK)) {
		return errRes(nfs4.ErrBadSeqID)
	}
	fh := d.Opaque("cached fh", nfs4.FHSize)
	rest := d.Rest()
	if d.Err() != nil || len(rest) < 4 {
		var e xdr.Encoder
		e.Uint32(uint32(nfs4.ErrServerFault))
		return &rawRes{status: nfs4.ErrServerFault, b: e.Buf}
	}
	st := nfs4.Status(uint32(rest[0])<<24 | uint32(rest[1])<<16 | uint32(rest[2])<<8 | uint32(rest[3]))
	if len(fh) > 0 {
		c.cur.set(append([]byte(nil), fh...))
	}
	return &rawRes{status: st, b: rest}
}
