package nfs4srv

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// opFlags describe the preconditions the engine checks before an op runs,
// so handlers need not repeat them (RFC 7530 §15.2, RFC 8881 §16.2).
type opFlags uint8

const (
	needFH     opFlags = 1 << iota // current filehandle required: else NFS4ERR_NOFILEHANDLE
	needSaved                      // saved filehandle required too (LINK, RENAME)
	minor0Only                     // not valid in minor version ≥ 1 (NFS4ERR_NOTSUPP there, RFC 8881 §18)
	noSeqOK                        // 4.1: may be the first op without SEQUENCE (RFC 8881 §2.10.6.4 / §18.x)
	modifies                       // changes the namespace or data (NFS4ERR_ROFS on read-only exports)
)

type opHandler func(c *compound, args nfs4.Args) nfs4.Res

type opEntry struct {
	fn    opHandler
	flags opFlags
}

// ops is the dispatch table. Handler files add themselves from init().
var ops = map[nfs4.Op]opEntry{}

func handle(op nfs4.Op, flags opFlags, fn opHandler) {
	if _, dup := ops[op]; dup {
		panic("nfs4srv: handler registered twice: " + op.String())
	}
	ops[op] = opEntry{fn: fn, flags: flags}
}

// fhRef is a current or saved filehandle.
type fhRef struct {
	wire []byte // as the client sent/received it
	ex   int
	h    fsadapters.FileHandle
}

func (f *fhRef) set(wire []byte) nfs4.Status {
	ex, h, st := parseFH(wire)
	if st != nfs4.OK {
		return st
	}
	*f = fhRef{wire: wire, ex: ex, h: h}
	return nfs4.OK
}

func (f *fhRef) valid() bool { return f.wire != nil }

// compound is the state of one COMPOUND request while its ops run.
type compound struct {
	s     *Server
	ctx   context.Context
	minor uint32
	cred  fsadapters.Cred
	princ string // client principal for state ownership (AUTH_SYS: "uid@machine")
	conn  any    // transport connection (4.1 session binding, callbacks)

	cur, saved fhRef
	pol        policyState // export table, client address, RPC identity (exports.go)

	// Current and saved stateid (RFC 8881 §16.2.3.1.2), minor version ≥ 1.
	curSID, savedSID       nfs4.StateID
	haveCurSID, haveSavSID bool

	// seq is set by SEQUENCE (minor ≥ 1) and carries the slot whose reply
	// cache receives this reply.
	seq *seqContext
	// nops is the number of ops in the request (SEQUENCE checks it
	// against ca_maxoperations, RFC 8881 §18.46.3).
	nops int
	// opIndex is the position of the op running; reqLen the request's
	// size (SEQUENCE checks it against ca_maxrequestsize).
	opIndex, reqLen int

	// replay, when set by SEQUENCE or an op that detects a retransmission,
	// is a complete cached reply body to send instead of running the rest.
	replay []byte

	// start is when the COMPOUND began; mark when the last op ended (or
	// start), so one clock read per op times it (metrics.go).
	start, mark time.Time

	enc     xdr.Encoder
	segs    net.Buffers // finished reply segments (zero-copy READ payloads)
	segFrom int         // start in enc.Buf of the segment being built
	release []func()    // run after the reply is written
}

// exportFS returns the backend of the current filehandle's export.
func (c *compound) fs() fsadapters.FS { return c.curExport().fs }

// appendPayload adds a zero-copy payload segment to the reply: the bytes
// encoded so far become a segment, then p, then its XDR padding.
func (c *compound) appendPayload(p []byte) {
	c.segs = append(c.segs, c.enc.Buf[c.segFrom:], p)
	if pad := nfs4.ReadPad(len(p)); len(pad) > 0 {
		c.segs = append(c.segs, pad)
	}
	c.segFrom = len(c.enc.Buf)
}

// run executes one COMPOUND (RFC 7530 §15.2, RFC 8881 §16.2) whose
// arguments are body, and returns the encoded COMPOUND4res.
func (c *compound) run(body []byte) net.Buffers {
	c.start = time.Now()
	c.mark = c.start
	defer c.finish()
	d := xdr.NewDecoder(body)
	tag, minor, nops, err := nfs4.DecodeCompoundHeader(d)
	c.minor = minor

	// COMPOUND4res header: status (patched), tag, resarray count (patched).
	statusAt := c.enc.Reserve(4)
	c.enc.Opaque(tag)
	countAt := c.enc.Reserve(4)

	status := nfs4.OK
	count := 0
	var tooMany *xdr.LengthError
	switch {
	case err != nil && !errors.As(err, &tooMany):
		status = nfs4.ErrBadXDR
	case minor > maxMinor:
		status = nfs4.ErrMinorVersMismatch
	case err != nil:
		// More ops than we accept: 4.0 has no better code than RESOURCE
		// (RFC 7530 §15.2); 4.1 answers TOO_MANY_OPS (RFC 8881 §15.1.6).
		status = nfs4.ErrResource
		if minor >= 1 {
			status = nfs4.ErrTooManyOps
		}
	default:
		c.nops, c.reqLen = nops, len(body)
		status, count = c.runOps(d, nops)
	}
	if c.replay != nil {
		return net.Buffers{c.replay}
	}
	c.enc.PutUint32At(statusAt, uint32(status))
	c.enc.PutUint32At(countAt, uint32(count))
	c.segs = append(c.segs, c.enc.Buf[c.segFrom:])
	if c.seq != nil {
		c.seq.store(c.segs)
	}
	return c.segs
}

// runOps decodes and runs ops until one fails; it returns the status of the
// last op run and the number of results encoded.
func (c *compound) runOps(d *xdr.Decoder, nops int) (nfs4.Status, int) {
	for i := range nops {
		opnum := nfs4.Op(d.Uint32())
		if d.Err() != nil {
			return c.result(nfs4.OpIllegal, illegal(nfs4.ErrBadXDR)), i + 1
		}
		ent, known := ops[opnum]
		args := nfs4.NewArgs(opnum)
		if args == nil || !c.validInMinor(opnum, ent.flags, known) {
			// RFC 7530 §15.2.4: an unknown op number gets OP_ILLEGAL,
			// reported as op ILLEGAL.
			return c.result(nfs4.OpIllegal, illegal(nfs4.ErrOpIllegal)), i + 1
		}
		args.Decode(d)
		if d.Err() != nil {
			return c.fail(opnum, nfs4.ErrBadXDR), i + 1
		}
		if st := c.precheck(i, nops, opnum, ent); st != nfs4.OK {
			return c.fail(opnum, st), i + 1
		}
		if !known {
			return c.fail(opnum, nfs4.ErrNotSupp), i + 1
		}
		c.opIndex = i
		res := ent.fn(c, args)
		if c.replay != nil {
			return nfs4.OK, 0
		}
		st := c.result(opnum, res)
		if st != nfs4.OK {
			return st, i + 1
		}
	}
	return nfs4.OK, nops
}

// validInMinor reports whether opnum exists in this minor version.
func (c *compound) validInMinor(op nfs4.Op, f opFlags, known bool) bool {
	switch {
	case op == nfs4.OpIllegal:
		return false
	case c.minor == 0 && op > nfs4.OpReleaseLockOwner:
		return false
	case c.minor == 1 && op > nfs4.OpReclaimComplete:
		return false
	}
	return true
}

// precheck applies the generic rules before an op runs.
func (c *compound) precheck(i, nops int, op nfs4.Op, ent opEntry) nfs4.Status {
	if c.minor >= 1 {
		if st := c.sessionRules(i, nops, op, ent.flags); st != nfs4.OK {
			return st
		}
		if ent.flags&minor0Only != 0 {
			return nfs4.ErrNotSupp
		}
	}
	if ent.flags&needFH != 0 && !c.cur.valid() {
		return nfs4.ErrNoFileHandle
	}
	if ent.flags&needSaved != 0 && !c.saved.valid() {
		return nfs4.ErrNoFileHandle
	}
	if ent.flags&needFH != 0 {
		if st := c.applyPolicy(op); st != nfs4.OK {
			return st
		}
	}
	if ent.flags&modifies != 0 && c.cur.valid() && c.curExport().caps.ReadOnly {
		return nfs4.ErrROFS
	}
	return nfs4.OK
}

// sessionRules are RFC 8881 §2.10.6.4 / §18.46.3: in minor version ≥ 1
// SEQUENCE comes first and only first. EXCHANGE_ID, CREATE_SESSION,
// BIND_CONN_TO_SESSION, DESTROY_SESSION and DESTROY_CLIENTID (noSeqOK) may
// instead stand alone, and must then be the only op (NFS4ERR_NOT_ONLY_OP,
// §18.35.3, §18.36.3, §18.34.3, §18.37.3, §18.50.3).
func (c *compound) sessionRules(i, nops int, op nfs4.Op, f opFlags) nfs4.Status {
	if i == 0 {
		switch {
		case op == nfs4.OpSequence:
			return nfs4.OK
		case f&noSeqOK == 0:
			return nfs4.ErrOpNotInSession
		case nops > 1:
			return nfs4.ErrNotOnlyOp
		}
		return nfs4.OK
	}
	if op == nfs4.OpSequence {
		return nfs4.ErrSequencePos
	}
	return nfs4.OK
}

// fail encodes a result for op carrying only an error status.
func (c *compound) fail(op nfs4.Op, st nfs4.Status) nfs4.Status {
	res := nfs4.NewRes(op)
	if res == nil {
		return c.result(nfs4.OpIllegal, illegal(st))
	}
	setStatus(res, st)
	return c.result(op, res)
}

// result encodes one nfs_resop4, counts it (metrics.go) and returns its
// status.
func (c *compound) result(op nfs4.Op, res nfs4.Res) nfs4.Status {
	st := c.encodeResult(op, res)
	c.observe(op, res, st)
	return st
}

// encodeResult encodes one nfs_resop4 and returns its status.
func (c *compound) encodeResult(op nfs4.Op, res nfs4.Res) nfs4.Status {
	start, nsegs := len(c.enc.Buf), len(c.segs)
	c.enc.Uint32(uint32(op))
	if r, ok := res.(*nfs4.ReadRes); ok && r.Status == nfs4.OK {
		// The READ payload goes out as its own writev segment.
		r.EncodeHeader(&c.enc)
		c.appendPayload(r.Data)
	} else {
		res.Encode(&c.enc)
	}
	if c.seq != nil && len(c.segs) == nsegs {
		// Session reply limits (RFC 8881 §18.46.3, §2.10.6.4): the op
		// that would overflow them answers with only an error instead.
		if st := c.seq.sizeCheck(c.replyLen()); st != nfs4.OK {
			c.enc.Truncate(start)
			c.enc.Uint32(uint32(op))
			c.enc.Uint32(uint32(st))
			return st
		}
	}
	return res.GetStatus()
}

// replyLen is the size of the reply encoded so far.
func (c *compound) replyLen() int {
	n := len(c.enc.Buf) - c.segFrom
	for _, s := range c.segs {
		n += len(s)
	}
	return n
}

func illegal(st nfs4.Status) *nfs4.IllegalRes {
	return &nfs4.IllegalRes{StatusRes: nfs4.StatusRes{Status: st}}
}
