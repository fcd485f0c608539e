package nfs4srv

import (
	"context"
	"net"
	"slices"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/rpcgss"
)

// RPCSEC_GSS requests (RFC 7530 §3.2.1, RFC 2203): rpcgss.Handler has
// verified and unwrapped the call; the COMPOUND runs as the identity the
// initiator principal maps to, with the pseudo-flavor of the request's
// service (krb5, krb5i, krb5p) checked against the export's sec= list.

// gssPrincipalPrefix marks GSS principals in client records, so that a
// Kerberos principal never equals an AUTH_SYS one (RFC 7530 §16.33.5:
// SETCLIENTID_CONFIRM must come from the same principal).
const gssPrincipalPrefix = "gss:"

// compoundGSS is Compound for an RPCSEC_GSS call.
func (s *Server) compoundGSS(ctx context.Context, id *rpcgss.Identity, conn any, body []byte) (net.Buffers, func()) {
	c := &compound{s: s, ctx: ctx, conn: conn}
	c.cred = id.Cred
	if !id.Mapped {
		c.cred = fsadapters.Cred{UID: nobodyID, GID: nobodyID}
	}
	c.princ = gssPrincipalPrefix + id.Principal
	c.setPeer(&rpc.Auth{Flavor: id.Flavor}, conn) // exports.go
	c.pol.unmapped = !id.Mapped
	reply := c.run(body)
	return reply, func() {
		for _, f := range c.release {
			f()
		}
	}
}

// secInfoOf is the SECINFO entry of an accepted flavour: RPCSEC_GSS
// pseudo-flavors are listed as rpcsec_gss_info {Kerberos v5 OID, QOP 0,
// service} (RFC 7530 §16.31.4, RFC 2623 §2.1), others by number.
func secInfoOf(f rpc.AuthFlavor) nfs4.SecInfo {
	if svc, ok := rpcgss.ServiceOf(f); ok {
		return nfs4.SecInfo{Flavor: uint32(rpc.RPCSecGSS), OID: rpcgss.KerberosOID, Service: uint32(svc)}
	}
	return nfs4.SecInfo{Flavor: uint32(f)}
}

// supportedFlavor reports whether an export may list f in sec=.
func supportedFlavor(f rpc.AuthFlavor) bool {
	return f == rpc.AuthSys || f == rpc.AuthNone || rpcgss.IsPseudoFlavor(f)
}

// pseudoFlavors are the flavours the pseudo filesystem accepts: AUTH_SYS
// and AUTH_NONE as always, and every krb5 flavour some export accepts, so
// that a client using it can walk from the root to that export (RFC 7530
// §3.2.1 leaves the pseudo fs policy to the server; Linux nfsd likewise
// lets any flavour browse it).
func pseudoFlavors(list []*export) []rpc.AuthFlavor {
	fl := []rpc.AuthFlavor{rpc.AuthSys, rpc.AuthNone}
	for _, e := range list {
		for _, f := range e.flavors {
			if !slices.Contains(fl, f) {
				fl = append(fl, f)
			}
		}
	}
	return fl
}
