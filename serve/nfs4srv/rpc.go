package nfs4srv

import (
	"context"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/metrics"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// ServeRPC implements rpcsrv.Handler for program NFS version 4
// (RFC 7530 §17): NULL and COMPOUND.
func (s *Server) ServeRPC(ctx context.Context, call *rpcsrv.Call) rpcsrv.Reply {
	m := s.cfg.Metrics // nil-safe
	m.RPC(call.Prog, call.Vers, call.Proc)
	if call.Prog != nfs4.Program {
		m.Rejected(metrics.RejectProgUnavail)
		return rpcsrv.Accepted(rpc.ProgUnavail)
	}
	if call.Vers != nfs4.Version {
		m.Rejected(metrics.RejectProgMismatch)
		return rpcsrv.ProgMismatch(nfs4.Version, nfs4.Version)
	}
	switch call.Cred.Flavor {
	case rpc.AuthNone, rpc.AuthSys:
	default:
		// RPCSEC_GSS and others: we offer AUTH_SYS only (SECINFO says so).
		m.Rejected(metrics.RejectAuth)
		return rpcsrv.AuthError(rpc.AuthTooWeak)
	}
	switch call.Proc {
	case nfs4.ProcNull:
		return rpcsrv.Success()
	case nfs4.ProcCompound:
		body, release := s.Compound(ctx, &call.Cred, call.Conn, call.Args)
		return rpcsrv.Reply{Body: body, Release: release}
	}
	m.Rejected(metrics.RejectProcUnavail)
	return rpcsrv.Accepted(rpc.ProcUnavail)
}
