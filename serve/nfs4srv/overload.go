package nfs4srv

import (
	"net"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// Overloaded implements rpcsrv.Overloader: when every handler slot is busy
// for longer than the transport's QueueTimeout, a 4.1+ COMPOUND that
// starts with SEQUENCE is answered NFS4ERR_DELAY without being run. The
// slot's sequence id is untouched (the SEQUENCE never executed), so the
// client retries the same request on the same slot after backing off
// (RFC 8881 §2.10.6.2, §15.1.1.3): a saturated server sheds load to its
// clients instead of holding their requests.
//
// 4.0 calls, NULL and anything else keep waiting: in 4.0 an NFS4ERR_DELAY
// reply to OPEN, CLOSE or LOCK consumes the open/lock owner's seqid on the
// client (RFC 7530 §9.1.7 lists the errors that do not), so the server
// would have to run the state machine to answer it; those clients are held
// back by the transport's flow control instead.
func (s *Server) Overloaded(call *rpcsrv.Call) (rpcsrv.Reply, bool) {
	if call.Prog != nfs4.Program || call.Vers != nfs4.Version || call.Proc != nfs4.ProcCompound {
		return rpcsrv.Reply{}, false
	}
	var d xdr.Decoder
	d.Reset(call.Args)
	tag, minor, nops, err := nfs4.DecodeCompoundHeader(&d)
	if err != nil || minor < 1 || minor > maxMinor || nops < 1 || nfs4.Op(d.Uint32()) != nfs4.OpSequence || d.Err() != nil {
		return rpcsrv.Reply{}, false
	}
	// COMPOUND4res: status, tag, resarray<1> = { OP_SEQUENCE, NFS4ERR_DELAY }.
	var e xdr.Encoder
	e.Buf = make([]byte, 0, 20+len(tag))
	e.Uint32(uint32(nfs4.ErrDelay))
	e.Opaque(tag)
	e.Uint32(1)
	e.Uint32(uint32(nfs4.OpSequence))
	e.Uint32(uint32(nfs4.ErrDelay))
	s.cfg.Metrics.Op(nfs4.OpSequence, nfs4.ErrDelay, 0)
	return rpcsrv.Reply{Body: net.Buffers{e.Buf}}, true
}
