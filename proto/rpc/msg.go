package rpc

import (
	"errors"
	"fmt"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// RPCVersion is the only rpcvers this package speaks (RFC 5531 §9).
const RPCVersion = 2

// MsgType is msg_type (RFC 5531 §9).
type MsgType uint32

const (
	Call  MsgType = 0
	Reply MsgType = 1
)

// ReplyStat is reply_stat.
type ReplyStat uint32

const (
	MsgAccepted ReplyStat = 0
	MsgDenied   ReplyStat = 1
)

// AcceptStat is accept_stat.
type AcceptStat uint32

const (
	Success      AcceptStat = 0 // RPC executed successfully
	ProgUnavail  AcceptStat = 1 // remote hasn't exported program
	ProgMismatch AcceptStat = 2 // remote can't support version #
	ProcUnavail  AcceptStat = 3 // program can't support procedure
	GarbageArgs  AcceptStat = 4 // procedure can't decode params
	SystemErr    AcceptStat = 5 // e.g. memory allocation failure
)

func (s AcceptStat) String() string {
	switch s {
	case Success:
		return "SUCCESS"
	case ProgUnavail:
		return "PROG_UNAVAIL"
	case ProgMismatch:
		return "PROG_MISMATCH"
	case ProcUnavail:
		return "PROC_UNAVAIL"
	case GarbageArgs:
		return "GARBAGE_ARGS"
	case SystemErr:
		return "SYSTEM_ERR"
	}
	return fmt.Sprintf("accept_stat(%d)", uint32(s))
}

// RejectStat is reject_stat.
type RejectStat uint32

const (
	RPCMismatch RejectStat = 0 // RPC version number != 2
	AuthError   RejectStat = 1 // remote can't authenticate caller
)

func (s RejectStat) String() string {
	switch s {
	case RPCMismatch:
		return "RPC_MISMATCH"
	case AuthError:
		return "AUTH_ERROR"
	}
	return fmt.Sprintf("reject_stat(%d)", uint32(s))
}

// AuthStat is auth_stat (RFC 5531 §9, RPCSEC_GSS values from RFC 2203).
type AuthStat uint32

const (
	AuthOK               AuthStat = 0
	AuthBadCred          AuthStat = 1  // bad credential (seal broken)
	AuthRejectedCred     AuthStat = 2  // client must begin new session
	AuthBadVerf          AuthStat = 3  // bad verifier (seal broken)
	AuthRejectedVerf     AuthStat = 4  // verifier expired or replayed
	AuthTooWeak          AuthStat = 5  // rejected for security reasons
	AuthInvalidResp      AuthStat = 6  // bogus response verifier
	AuthFailed           AuthStat = 7  // reason unknown
	AuthKerbGeneric      AuthStat = 8  // kerberos generic error
	AuthTimeExpire       AuthStat = 9  // time of credential expired
	AuthTktFile          AuthStat = 10 // problem with ticket file
	AuthDecode           AuthStat = 11 // can't decode authenticator
	AuthNetAddr          AuthStat = 12 // wrong net address in ticket
	RPCSecGSSCredProblem AuthStat = 13 // no credentials for user
	RPCSecGSSCtxProblem  AuthStat = 14 // problem with context
)

func (s AuthStat) String() string {
	names := [...]string{"AUTH_OK", "AUTH_BADCRED", "AUTH_REJECTEDCRED", "AUTH_BADVERF",
		"AUTH_REJECTEDVERF", "AUTH_TOOWEAK", "AUTH_INVALIDRESP", "AUTH_FAILED",
		"AUTH_KERB_GENERIC", "AUTH_TIMEEXPIRE", "AUTH_TKT_FILE", "AUTH_DECODE",
		"AUTH_NET_ADDR", "RPCSEC_GSS_CREDPROBLEM", "RPCSEC_GSS_CTXPROBLEM"}
	if int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("auth_stat(%d)", uint32(s))
}

// ---------------------------------------------------------------- errors

// ErrRPCVersion is returned by DecodeCall when rpcvers != 2. The XID in the
// returned header is valid, so the server can answer RPC_MISMATCH (§9).
var ErrRPCVersion = errors.New("rpc: unsupported RPC version")

// ErrNotCall is returned by DecodeCall for a message whose msg_type is not CALL.
var ErrNotCall = errors.New("rpc: message is not a CALL")

// ErrNotReply is returned by ReplyHeader.Decode for a non-REPLY message.
var ErrNotReply = errors.New("rpc: message is not a REPLY")

// BadAuthError reports a credential or verifier that is present but
// malformed. The XID (and program numbers) of the header are valid; the
// server answers MSG_DENIED/AUTH_ERROR with Stat (AUTH_BADCRED or
// AUTH_BADVERF).
type BadAuthError struct {
	Stat AuthStat
	Err  error
}

func (e *BadAuthError) Error() string { return "rpc: " + e.Stat.String() + ": " + e.Err.Error() }
func (e *BadAuthError) Unwrap() error { return e.Err }

// AcceptedError is the error a client gets for a reply that was accepted
// with a status other than SUCCESS. Low and High are set for PROG_MISMATCH.
type AcceptedError struct {
	Stat      AcceptStat
	Low, High uint32
}

func (e *AcceptedError) Error() string {
	if e.Stat == ProgMismatch {
		return fmt.Sprintf("rpc: PROG_MISMATCH (supported versions %d-%d)", e.Low, e.High)
	}
	return "rpc: call accepted with " + e.Stat.String()
}

// DeniedError is the error a client gets for a MSG_DENIED reply. Low and
// High are set for RPC_MISMATCH, AuthStat for AUTH_ERROR.
type DeniedError struct {
	Stat      RejectStat
	Low, High uint32
	AuthStat  AuthStat
}

func (e *DeniedError) Error() string {
	if e.Stat == RPCMismatch {
		return fmt.Sprintf("rpc: RPC_MISMATCH (supported versions %d-%d)", e.Low, e.High)
	}
	return "rpc: call denied: " + e.AuthStat.String()
}

// ---------------------------------------------------------------- call

// CallHeader is an rpc_msg with mtype CALL up to, not including, the
// procedure arguments (RFC 5531 §9). rpcvers is always 2 (see ErrRPCVersion).
type CallHeader struct {
	XID              uint32
	Prog, Vers, Proc uint32
	Cred             Auth
	Verf             Auth
}

// Encode appends the call header.
func (h *CallHeader) Encode(e *xdr.Encoder) {
	e.Uint32(h.XID)
	e.Uint32(uint32(Call))
	e.Uint32(RPCVersion)
	e.Uint32(h.Prog)
	e.Uint32(h.Vers)
	e.Uint32(h.Proc)
	h.Cred.Encode(e)
	h.Verf.Encode(e)
}

// Decode reads a call header from d, leaving d at the procedure arguments.
// The credential is parsed (AUTH_SYS) and checked; the verifier is kept raw.
// On ErrRPCVersion and *BadAuthError the XID (and, for the latter, the
// program numbers) are valid for building the rejection.
func (h *CallHeader) Decode(d *xdr.Decoder) error {
	*h = CallHeader{}
	h.XID = d.Uint32()
	mt := d.Uint32()
	vers := d.Uint32()
	if err := d.Err(); err != nil {
		return err
	}
	if MsgType(mt) != Call {
		return ErrNotCall
	}
	if vers != RPCVersion {
		return ErrRPCVersion
	}
	h.Prog = d.Uint32()
	h.Vers = d.Uint32()
	h.Proc = d.Uint32()
	if err := d.Err(); err != nil {
		return err
	}
	if err := h.Cred.decodeRaw(d); err != nil {
		return err
	}
	if err := h.Verf.decodeRaw(d); err != nil {
		return err
	}
	if err := h.Cred.parse(); err != nil {
		return &BadAuthError{Stat: AuthBadCred, Err: err}
	}
	return nil
}

// DecodeCall decodes the call header at the start of msg and returns it
// with the procedure arguments (a sub-slice of msg).
func DecodeCall(msg []byte) (h CallHeader, args []byte, err error) {
	var d xdr.Decoder
	d.Reset(msg)
	if err = h.Decode(&d); err != nil {
		return h, nil, err
	}
	return h, d.Rest(), nil
}

// PeekHeader returns the xid and msg_type at the start of a message.
func PeekHeader(msg []byte) (xid uint32, mt MsgType, ok bool) {
	if len(msg) < 8 {
		return 0, 0, false
	}
	xid = uint32(msg[0])<<24 | uint32(msg[1])<<16 | uint32(msg[2])<<8 | uint32(msg[3])
	mt = MsgType(uint32(msg[4])<<24 | uint32(msg[5])<<16 | uint32(msg[6])<<8 | uint32(msg[7]))
	return xid, mt, true
}

// ---------------------------------------------------------------- reply

// ReplyHeader is an rpc_msg with mtype REPLY up to, not including, the
// procedure results (RFC 5531 §9). Which fields are meaningful depends on
// Stat: for MSG_ACCEPTED, Verf and Accept (and Low/High for PROG_MISMATCH);
// for MSG_DENIED, Reject (and Low/High for RPC_MISMATCH, AuthStat for
// AUTH_ERROR).
type ReplyHeader struct {
	XID       uint32
	Stat      ReplyStat
	Verf      Auth
	Accept    AcceptStat
	Reject    RejectStat
	AuthStat  AuthStat
	Low, High uint32
}

// Encode appends the reply header. It does not allocate once e.Buf has room.
func (h *ReplyHeader) Encode(e *xdr.Encoder) {
	e.Uint32(h.XID)
	e.Uint32(uint32(Reply))
	e.Uint32(uint32(h.Stat))
	if h.Stat == MsgAccepted {
		h.Verf.Encode(e)
		e.Uint32(uint32(h.Accept))
		if h.Accept == ProgMismatch {
			e.Uint32(h.Low)
			e.Uint32(h.High)
		}
		return
	}
	e.Uint32(uint32(h.Reject))
	if h.Reject == RPCMismatch {
		e.Uint32(h.Low)
		e.Uint32(h.High)
	} else {
		e.Uint32(uint32(h.AuthStat))
	}
}

// Decode reads a reply header from d, leaving d at the results (meaningful
// for SUCCESS only). Unknown reply_stat/reject_stat values are errors;
// unknown accept_stat values are returned as is (they have no body).
func (h *ReplyHeader) Decode(d *xdr.Decoder) error {
	*h = ReplyHeader{}
	h.XID = d.Uint32()
	mt := d.Uint32()
	h.Stat = ReplyStat(d.Uint32())
	if err := d.Err(); err != nil {
		return err
	}
	if MsgType(mt) != Reply {
		return ErrNotReply
	}
	switch h.Stat {
	case MsgAccepted:
		if err := h.Verf.decodeRaw(d); err != nil {
			return err
		}
		h.Accept = AcceptStat(d.Uint32())
		if h.Accept == ProgMismatch {
			h.Low = d.Uint32()
			h.High = d.Uint32()
		}
	case MsgDenied:
		h.Reject = RejectStat(d.Uint32())
		switch h.Reject {
		case RPCMismatch:
			h.Low = d.Uint32()
			h.High = d.Uint32()
		case AuthError:
			h.AuthStat = AuthStat(d.Uint32())
		default:
			d.SetErr(fmt.Errorf("rpc: unknown reject_stat %d", uint32(h.Reject)))
		}
	default:
		d.SetErr(fmt.Errorf("rpc: unknown reply_stat %d", uint32(h.Stat)))
	}
	return d.Err()
}

// Err returns nil for an accepted SUCCESS reply, else *AcceptedError or
// *DeniedError describing it.
func (h *ReplyHeader) Err() error {
	if h.Stat == MsgAccepted {
		if h.Accept == Success {
			return nil
		}
		return &AcceptedError{Stat: h.Accept, Low: h.Low, High: h.High}
	}
	return &DeniedError{Stat: h.Reject, Low: h.Low, High: h.High, AuthStat: h.AuthStat}
}

// DecodeReply decodes the reply header at the start of msg and returns it
// with the results (a sub-slice of msg).
func DecodeReply(msg []byte) (h ReplyHeader, body []byte, err error) {
	var d xdr.Decoder
	d.Reset(msg)
	if err = h.Decode(&d); err != nil {
		return h, nil, err
	}
	return h, d.Rest(), nil
}

// ReplyBody decodes a reply and returns its result body, or the reply's
// error (*AcceptedError, *DeniedError) when it is not a SUCCESS.
func ReplyBody(msg []byte) ([]byte, error) {
	h, body, err := DecodeReply(msg)
	if err != nil {
		return nil, err
	}
	if err := h.Err(); err != nil {
		return nil, err
	}
	return body, nil
}
