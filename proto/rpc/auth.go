package rpc

import (
	"errors"
	"fmt"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// AuthFlavor is auth_flavor (RFC 5531 §8.2, IANA registry).
type AuthFlavor uint32

const (
	AuthNone  AuthFlavor = 0
	AuthSys   AuthFlavor = 1 // AUTH_UNIX
	AuthShort AuthFlavor = 2
	AuthDH    AuthFlavor = 3
	RPCSecGSS AuthFlavor = 6 // RFC 2203
	AuthTLS   AuthFlavor = 7 // RFC 9289 §4.1: only in the STARTTLS probe
)

// StartTLS is the verifier body of a server's answer to the AUTH_TLS
// probe that accepts RPC-with-TLS (RFC 9289 §4.1).
const StartTLS = "STARTTLS"

func (f AuthFlavor) String() string {
	switch f {
	case AuthNone:
		return "AUTH_NONE"
	case AuthSys:
		return "AUTH_SYS"
	case AuthShort:
		return "AUTH_SHORT"
	case AuthDH:
		return "AUTH_DH"
	case RPCSecGSS:
		return "RPCSEC_GSS"
	case AuthTLS:
		return "AUTH_TLS"
	}
	return fmt.Sprintf("auth_flavor(%d)", uint32(f))
}

// Limits from RFC 5531 §8.2 and appendix A.
const (
	MaxAuthBytes   = 400 // opaque_auth body
	MaxMachineName = 255 // authsys_parms.machinename
	MaxAuthSysGids = 16  // authsys_parms.gids
)

// AuthSysParams is authsys_parms (RFC 5531 appendix A).
type AuthSysParams struct {
	Stamp       uint32
	MachineName string
	UID, GID    uint32
	GIDs        []uint32
}

// Encode appends the authsys_parms body (without the opaque_auth wrapper).
func (p *AuthSysParams) Encode(e *xdr.Encoder) {
	e.Uint32(p.Stamp)
	e.String(p.MachineName)
	e.Uint32(p.UID)
	e.Uint32(p.GID)
	e.Uint32s(p.GIDs)
}

// Decode reads authsys_parms, enforcing the machinename and gids limits.
func (p *AuthSysParams) Decode(d *xdr.Decoder) {
	p.Stamp = d.Uint32()
	p.MachineName = d.String("authsys machinename", MaxMachineName)
	p.UID = d.Uint32()
	p.GID = d.Uint32()
	p.GIDs = d.Uint32s("authsys gids", MaxAuthSysGids)
}

// Auth is an opaque_auth (RFC 5531 §8.2) with, for AUTH_SYS, the parsed
// body.
//
// Body is the raw body; after decoding it aliases the message. For
// encoding: a flavour AUTH_SYS with a nil Body is encoded from Sys,
// anything else is encoded as Flavor plus Body. The zero value is AUTH_NONE.
type Auth struct {
	Flavor AuthFlavor
	Body   []byte
	Sys    AuthSysParams // valid when Flavor == AuthSys (credentials only)
}

// NewAuthSys returns an AUTH_SYS credential.
func NewAuthSys(p AuthSysParams) Auth { return Auth{Flavor: AuthSys, Sys: p} }

// Encode appends the opaque_auth.
func (a *Auth) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(a.Flavor))
	if a.Flavor == AuthSys && a.Body == nil {
		m := e.BeginOpaque()
		a.Sys.Encode(e)
		e.EndOpaque(m)
		return
	}
	e.Opaque(a.Body)
}

var errTrailing = errors.New("rpc: trailing bytes in auth body")

// decodeRaw reads flavor and body (≤ MaxAuthBytes) without parsing it.
func (a *Auth) decodeRaw(d *xdr.Decoder) error {
	a.Flavor = AuthFlavor(d.Uint32())
	a.Body = d.Opaque("opaque_auth body", MaxAuthBytes)
	return d.Err()
}

// parse decodes the body of the flavours this package understands. AUTH_SYS
// must be exactly one authsys_parms with nothing after it (appendix A). An
// AUTH_NONE body is ignored, as RFC 5531 §10.1 allows. Other flavours stay
// raw for the server to accept or reject.
func (a *Auth) parse() error {
	if a.Flavor != AuthSys {
		return nil
	}
	var d xdr.Decoder
	d.Reset(a.Body)
	a.Sys.Decode(&d)
	if err := d.Err(); err != nil {
		return err
	}
	if d.Remaining() != 0 {
		return errTrailing
	}
	return nil
}

// DecodeAuth reads an opaque_auth and, for AUTH_SYS, parses its body. A
// malformed AUTH_SYS body is reported as *BadAuthError (AUTH_BADCRED).
func DecodeAuth(d *xdr.Decoder) (Auth, error) {
	var a Auth
	if err := a.decodeRaw(d); err != nil {
		return a, err
	}
	if err := a.parse(); err != nil {
		return a, &BadAuthError{Stat: AuthBadCred, Err: err}
	}
	return a, nil
}
