// Package rpcgss implements the server side of RPCSEC_GSS (RFC 2203) as a
// wrapper around an rpcsrv.Handler: context creation (INIT,
// CONTINUE_INIT), per-call verification (DATA) with the sequence window,
// the integrity and privacy services, and DESTROY. The GSS-API mechanism
// (Kerberos v5, RFC 4121) is behind the Mechanism interface; the wrapped
// handler learns who called through FromContext.
package rpcgss

import (
	"errors"
	"fmt"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Proc is rpc_gss_proc_t (RFC 2203 §5).
type Proc uint32

const (
	ProcData         Proc = 0
	ProcInit         Proc = 1
	ProcContinueInit Proc = 2
	ProcDestroy      Proc = 3
)

// Service is rpc_gss_service_t (RFC 2203 §5).
type Service uint32

const (
	ServiceNone      Service = 1
	ServiceIntegrity Service = 2
	ServicePrivacy   Service = 3
)

func (s Service) String() string {
	switch s {
	case ServiceNone:
		return "none"
	case ServiceIntegrity:
		return "integrity"
	case ServicePrivacy:
		return "privacy"
	}
	return fmt.Sprintf("service(%d)", uint32(s))
}

// The Kerberos v5 pseudo-flavors (RFC 2623 §2.1, IANA): RPCSEC_GSS with
// the krb5 mechanism and service none, integrity, privacy. They name a
// (flavor, service) pair in export policy and SECINFO; on the wire the
// flavor is always RPCSEC_GSS.
const (
	Krb5  rpc.AuthFlavor = 390003
	Krb5i rpc.AuthFlavor = 390004
	Krb5p rpc.AuthFlavor = 390005
)

// KerberosOID is the DER encoding (without tag and length) of the
// Kerberos v5 mechanism OID 1.2.840.113554.1.2.2 (RFC 1964 §1), as
// SECINFO's sec_oid4 carries it (RFC 7530 §16.31.4).
var KerberosOID = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}

// PseudoFlavor returns the krb5 pseudo-flavor for a service.
func PseudoFlavor(s Service) rpc.AuthFlavor { return Krb5 + rpc.AuthFlavor(s-ServiceNone) }

// ServiceOf returns the service of a krb5 pseudo-flavor.
func ServiceOf(f rpc.AuthFlavor) (Service, bool) {
	if f < Krb5 || f > Krb5p {
		return 0, false
	}
	return ServiceNone + Service(f-Krb5), true
}

// IsPseudoFlavor reports whether f is one of Krb5, Krb5i, Krb5p.
func IsPseudoFlavor(f rpc.AuthFlavor) bool { _, ok := ServiceOf(f); return ok }

// MaxSeq is MAXSEQ (RFC 2203 §5): a DATA request's seq_num must be below it.
const MaxSeq = 0x80000000

// RPCSEC_GSS_VERS_1, the only credential version (RFC 2203 §5).
const gssVersion = 1

// Bounds for decoding.
const (
	// MaxHandle bounds the context handle in a credential; ours are
	// handleLen bytes. The whole credential is already bounded by
	// rpc.MaxAuthBytes (RFC 5531 §8.2).
	MaxHandle = 64
	// MaxToken bounds an INIT token: a Kerberos AP-REQ with a large PAC
	// is some kilobytes, far below this.
	MaxToken = 64 << 10
	// MaxChecksum bounds the checksum of rpc_gss_integ_data (a MIC).
	MaxChecksum = 1024
)

// GSS-API major status codes (RFC 2744 §3.9.1) used in rpc_gss_init_res.
const (
	gssComplete   = 0
	gssNoContext  = 0x00080000
	gssDefective  = 0x00090000
	gssFailure    = 0x000d0000
	gssCredExpire = 0x000b0000
)

// Cred is rpc_gss_cred_vers_1_t (RFC 2203 §5).
type Cred struct {
	Proc    Proc
	Seq     uint32
	Service Service
	Handle  []byte // aliases the decoded buffer
}

var (
	errVersion = errors.New("rpcgss: unsupported credential version")
	errProc    = errors.New("rpcgss: unknown gss_proc")
	errService = errors.New("rpcgss: unknown service")
	errTrail   = errors.New("rpcgss: trailing bytes in credential")
)

// DecodeCred parses the body of an RPCSEC_GSS credential (rpc_gss_cred_t,
// RFC 2203 §5). Every error is answered AUTH_BADCRED: an unknown version
// per §5.3.3.3 ("AUTH_BADCRED ... version"); an unknown gss_proc or
// service makes the credential as unusable (pynfs GSS5, GSS7, GSS8;
// Linux nfsd does the same).
func DecodeCred(body []byte) (Cred, error) {
	var d xdr.Decoder
	d.Reset(body)
	var c Cred
	v := d.Uint32()
	if d.Err() == nil && v != gssVersion {
		return c, errVersion
	}
	c.Proc = Proc(d.Uint32())
	c.Seq = d.Uint32()
	c.Service = Service(d.Uint32())
	c.Handle = d.Opaque("rpc_gss handle", MaxHandle)
	if err := d.Err(); err != nil {
		return c, err
	}
	if d.Remaining() != 0 {
		return c, errTrail
	}
	if c.Proc > ProcDestroy {
		return c, errProc
	}
	if c.Service < ServiceNone || c.Service > ServicePrivacy {
		return c, errService
	}
	return c, nil
}

// EncodeCred appends a credential body (for clients and tests).
func (c *Cred) Encode(e *xdr.Encoder) {
	e.Uint32(gssVersion)
	e.Uint32(uint32(c.Proc))
	e.Uint32(c.Seq)
	e.Uint32(uint32(c.Service))
	e.Opaque(c.Handle)
}

// InitRes is rpc_gss_init_res (RFC 2203 §5.2.3.1).
type InitRes struct {
	Handle       []byte
	Major, Minor uint32
	Window       uint32
	Token        []byte
}

func (r *InitRes) Encode(e *xdr.Encoder) {
	e.Opaque(r.Handle)
	e.Uint32(r.Major)
	e.Uint32(r.Minor)
	e.Uint32(r.Window)
	e.Opaque(r.Token)
}

func (r *InitRes) Decode(d *xdr.Decoder) {
	r.Handle = d.Opaque("rpc_gss handle", MaxHandle)
	r.Major = d.Uint32()
	r.Minor = d.Uint32()
	r.Window = d.Uint32()
	r.Token = d.Opaque("gss token", MaxToken)
}

// seqBytes is the XDR encoding of a seq_num or seq_window, the message
// whose MIC is a reply verifier (§5.2.3.1, §5.3.3.2).
func seqBytes(n uint32) []byte { return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} }

// callHeaderBytes re-encodes the call header from xid through the
// credential: the message the request verifier's MIC covers (§5.3.1).
// XDR is canonical, so this equals the bytes the client sent, provided it
// zeroed the padding as RFC 4506 §4.10 requires.
func callHeaderBytes(xid, prog, vers, proc uint32, cred *rpc.Auth) []byte {
	e := xdr.Encoder{Buf: make([]byte, 0, 32+xdr.Padded(len(cred.Body)))}
	e.Uint32(xid)
	e.Uint32(uint32(rpc.Call))
	e.Uint32(rpc.RPCVersion)
	e.Uint32(prog)
	e.Uint32(vers)
	e.Uint32(proc)
	e.Uint32(uint32(cred.Flavor))
	e.Opaque(cred.Body)
	return e.Buf
}
