package nfs4srv

import (
	"context"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/metrics"
	"github.com/fsbridge/fsbridge/serve/rpcgss"
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
	gss, isGSS := rpcgss.FromContext(ctx)
	switch call.Cred.Flavor {
	case rpc.AuthNone, rpc.AuthSys:
	case rpc.RPCSecGSS:
		if !isGSS {
			// No rpcgss.Handler in front (no keytab): a credential we
			// cannot use (RFC 5531 §9; Linux nfsd answers the same).
			m.Rejected(metrics.RejectAuth)
			return rpcsrv.AuthError(rpc.AuthBadCred)
		}
	default:
		// AUTH_DH and others: SECINFO offers none of them.
		m.Rejected(metrics.RejectAuth)
		return rpcsrv.AuthError(rpc.AuthTooWeak)
	}
	switch call.Proc {
	case nfs4.ProcNull:
		return rpcsrv.Success()
	case nfs4.ProcCompound:
		var conn any // a nil *rpcsrv.Conn must stay a nil interface
		if call.Conn != nil {
			conn = call.Conn
		}
		if isGSS && call.Cred.Flavor == rpc.RPCSecGSS {
			body, release := s.compoundGSS(ctx, gss, conn, call.Args) // gss.go
			return rpcsrv.Reply{Body: body, Release: release}
		}
		body, release := s.Compound(ctx, &call.Cred, conn, call.Args)
		return rpcsrv.Reply{Body: body, Release: release}
	}
	m.Rejected(metrics.RejectProcUnavail)
	return rpcsrv.Accepted(rpc.ProcUnavail)
}
