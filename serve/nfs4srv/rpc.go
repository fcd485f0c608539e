package nfs4srv

import (
	"context"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// ServeRPC implements rpcsrv.Handler for program NFS version 4
// (RFC 7530 §17): NULL and COMPOUND.
func (s *Server) ServeRPC(ctx context.Context, call *rpcsrv.Call) rpcsrv.Reply {
	if call.Prog != nfs4.Program {
		return rpcsrv.Accepted(rpc.ProgUnavail)
	}
	if call.Vers != nfs4.Version {
		return rpcsrv.ProgMismatch(nfs4.Version, nfs4.Version)
	}
	switch call.Cred.Flavor {
	case rpc.AuthNone, rpc.AuthSys:
	default:
		// RPCSEC_GSS and others: we offer AUTH_SYS only (SECINFO says so).
		return rpcsrv.AuthError(rpc.AuthTooWeak)
	}
	switch call.Proc {
	case nfs4.ProcNull:
		return rpcsrv.Success()
	case nfs4.ProcCompound:
		body, release := s.Compound(ctx, &call.Cred, call.Conn, call.Args)
		return rpcsrv.Reply{Body: body, Release: release}
	}
	return rpcsrv.Accepted(rpc.ProcUnavail)
}
