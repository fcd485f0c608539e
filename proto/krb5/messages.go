package krb5

import (
	"encoding/asn1"
	"fmt"
	"strings"
	"time"
)

// Kerberos ASN.1 messages used by the acceptor (RFC 4120 §5). Parsing uses
// encoding/asn1 (which reads GeneralString, tag 27, as an 8-bit string); the
// only structure encoded is the AP-REP.

// Application tags (RFC 4120 §5.10 table).
const (
	tagTicket        = 1
	tagAuthenticator = 2
	tagEncTicketPart = 3
	tagAPReq         = 14
	tagAPRep         = 15
	tagEncAPRepPart  = 27
)

const (
	msgTypeAPReq = 14
	msgTypeAPRep = 15
)

type principalName struct {
	NameType   int32    `asn1:"explicit,tag:0"`
	NameString []string `asn1:"explicit,tag:1"`
}

func (p principalName) String(realm string) string {
	return strings.Join(p.NameString, "/") + "@" + realm
}

type encryptedData struct {
	Etype  int32  `asn1:"explicit,tag:0"`
	KVNO   int64  `asn1:"optional,explicit,tag:1"`
	Cipher []byte `asn1:"explicit,tag:2"`
}

type encryptionKey struct {
	KeyType  int32  `asn1:"explicit,tag:0"`
	KeyValue []byte `asn1:"explicit,tag:1"`
}

type checksum struct {
	CksumType int32  `asn1:"explicit,tag:0"`
	Checksum  []byte `asn1:"explicit,tag:1"`
}

// ticket is Ticket ::= [APPLICATION 1] SEQUENCE (RFC 4120 §5.3).
type ticket struct {
	TktVNO  int32         `asn1:"explicit,tag:0"`
	Realm   string        `asn1:"explicit,tag:1"`
	SName   principalName `asn1:"explicit,tag:2"`
	EncPart encryptedData `asn1:"explicit,tag:3"`
}

// apReq is AP-REQ ::= [APPLICATION 14] SEQUENCE (RFC 4120 §5.5.1).
type apReq struct {
	PVNO          int32          `asn1:"explicit,tag:0"`
	MsgType       int32          `asn1:"explicit,tag:1"`
	APOptions     asn1.BitString `asn1:"explicit,tag:2"`
	Ticket        asn1.RawValue  `asn1:"explicit,tag:3"` // Bytes is the [APPLICATION 1] Ticket
	Authenticator encryptedData  `asn1:"explicit,tag:4"`
}

// AP options bit (RFC 4120 §5.5.1).
const apOptMutualRequired = 2

// encTicketPart is EncTicketPart ::= [APPLICATION 3] SEQUENCE (RFC 4120 §5.3).
type encTicketPart struct {
	Flags     asn1.BitString `asn1:"explicit,tag:0"`
	Key       encryptionKey  `asn1:"explicit,tag:1"`
	CRealm    string         `asn1:"explicit,tag:2"`
	CName     principalName  `asn1:"explicit,tag:3"`
	Transited asn1.RawValue  `asn1:"explicit,tag:4"`
	AuthTime  time.Time      `asn1:"generalized,explicit,tag:5"`
	StartTime time.Time      `asn1:"generalized,optional,explicit,tag:6"`
	EndTime   time.Time      `asn1:"generalized,explicit,tag:7"`
	RenewTill time.Time      `asn1:"generalized,optional,explicit,tag:8"`
	CAddr     asn1.RawValue  `asn1:"optional,explicit,tag:9"`
	AuthzData asn1.RawValue  `asn1:"optional,explicit,tag:10"`
}

// Ticket flag bit (RFC 4120 §5.3).
const tktFlagInvalid = 7

// authenticator is Authenticator ::= [APPLICATION 2] SEQUENCE (RFC 4120 §5.5.1).
type authenticator struct {
	VNO       int32         `asn1:"explicit,tag:0"`
	CRealm    string        `asn1:"explicit,tag:1"`
	CName     principalName `asn1:"explicit,tag:2"`
	Cksum     checksum      `asn1:"optional,explicit,tag:3"`
	Cusec     int32         `asn1:"explicit,tag:4"`
	CTime     time.Time     `asn1:"generalized,explicit,tag:5"`
	SubKey    encryptionKey `asn1:"optional,explicit,tag:6"`
	SeqNumber int64         `asn1:"optional,explicit,tag:7"`
	AuthzData asn1.RawValue `asn1:"optional,explicit,tag:8"`
}

// apRep is AP-REP ::= [APPLICATION 15] SEQUENCE (RFC 4120 §5.5.2).
type apRep struct {
	PVNO    int32         `asn1:"explicit,tag:0"`
	MsgType int32         `asn1:"explicit,tag:1"`
	EncPart encryptedData `asn1:"explicit,tag:2"`
}

// encAPRepPart is EncAPRepPart ::= [APPLICATION 27] SEQUENCE (RFC 4120 §5.5.2).
// The subkey is never asserted (RFC 4121 §2 lets the acceptor omit it).
type encAPRepPart struct {
	CTime     time.Time `asn1:"generalized,explicit,tag:0"`
	Cusec     int32     `asn1:"explicit,tag:1"`
	SeqNumber int64     `asn1:"explicit,tag:3"`
}

// unmarshalApp parses b as [APPLICATION tag] wrapping v, rejecting trailing
// bytes.
func unmarshalApp(b []byte, tag int, v any, what string) error {
	rest, err := asn1.UnmarshalWithParams(b, v, fmt.Sprintf("application,explicit,tag:%d", tag))
	if err != nil {
		return fmt.Errorf("krb5: bad %s: %v", what, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("krb5: %d trailing bytes after %s", len(rest), what)
	}
	return nil
}

func parseAPReq(b []byte) (*apReq, *ticket, error) {
	var req apReq
	if err := unmarshalApp(b, tagAPReq, &req, "AP-REQ"); err != nil {
		return nil, nil, err
	}
	if req.PVNO != 5 || req.MsgType != msgTypeAPReq {
		return nil, nil, fmt.Errorf("krb5: AP-REQ has pvno %d msg-type %d", req.PVNO, req.MsgType)
	}
	var tkt ticket
	if err := unmarshalApp(req.Ticket.Bytes, tagTicket, &tkt, "Ticket"); err != nil {
		return nil, nil, err
	}
	if tkt.TktVNO != 5 {
		return nil, nil, fmt.Errorf("krb5: ticket version %d", tkt.TktVNO)
	}
	return &req, &tkt, nil
}

// kerberosTime truncates to whole seconds in UTC, as KerberosTime has no
// fractional part (RFC 4120 §5.2.3).
func kerberosTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func marshalAPRep(sessionKey key, ctime time.Time, cusec int32, seq uint32) ([]byte, error) {
	part, err := asn1.MarshalWithParams(encAPRepPart{
		CTime: kerberosTime(ctime), Cusec: cusec, SeqNumber: int64(seq),
	}, fmt.Sprintf("application,explicit,tag:%d", tagEncAPRepPart))
	if err != nil {
		return nil, err
	}
	u, err := sessionKey.derive(usageAPRepEncPart)
	if err != nil {
		return nil, err
	}
	rep := apRep{PVNO: 5, MsgType: msgTypeAPRep,
		EncPart: encryptedData{Etype: sessionKey.etype, Cipher: u.encrypt(part)}}
	return asn1.MarshalWithParams(rep, fmt.Sprintf("application,explicit,tag:%d", tagAPRep))
}

// bitSet reports whether KerberosFlags bit n is set (bit 0 is the MSB of the
// first octet).
func bitSet(bs asn1.BitString, n int) bool {
	if n >= bs.BitLength {
		return false
	}
	return bs.At(n) == 1
}
