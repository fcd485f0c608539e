package krb5

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// krb5MechOID is the DER encoding (without tag and length) of the Kerberos V5
// GSS-API mechanism OID 1.2.840.113554.1.2.2 (RFC 1964 §1, RFC 4121 §4.1).
var krb5MechOID = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}

// Token identifiers (RFC 4121 §4.1, §4.2.6).
var (
	tokAPReq = [2]byte{0x01, 0x00}
	tokAPRep = [2]byte{0x02, 0x00}
	tokMIC   = [2]byte{0x04, 0x04}
	tokWrap  = [2]byte{0x05, 0x04}
)

// Per-message token flags (RFC 4121 §4.2.2).
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

// GSS context flags carried in the 0x8003 authenticator checksum
// (RFC 4121 §4.1.1.1, RFC 2744 values).
const (
	FlagDeleg    = 1
	FlagMutual   = 2
	FlagReplay   = 4
	FlagSequence = 8
	FlagConf     = 16
	FlagInteg    = 32
)

const (
	tokenHeaderLen = 16
	maxTokenLen    = 64 << 10 // context tokens are a few KiB (ticket + authenticator)
)

// Acceptor accepts krb5 security contexts for the service principals in
// Keytab (any principal in the keytab whose key decrypts the ticket; the
// ticket's sname must be in the keytab).
type Acceptor struct {
	Keytab    *Keytab
	Now       func() time.Time // nil: time.Now
	ClockSkew time.Duration    // 0: 5 minutes
}

// Context is an established krb5 GSS security context (acceptor side).
// Its methods are safe for concurrent use.
type Context struct {
	Initiator string    // client principal "name@REALM" ("a/b@REALM" for multi-component)
	Expiry    time.Time // ticket endtime
	Service   string    // the ticket's service principal "nfs/host@REALM"
	Flags     uint32    // GSS flags the initiator requested (Flag*)

	etype      int32
	seqSend    atomic.Uint64 // next acceptor sequence number (RFC 4121 §4.2.3)
	acceptSeal *usageKeys    // usage 22
	acceptSign *usageKeys    // usage 23
	initSeal   *usageKeys    // usage 24
	initSign   *usageKeys    // usage 25
}

func (a *Acceptor) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Acceptor) skew() time.Duration {
	if a.ClockSkew > 0 {
		return a.ClockSkew
	}
	return 5 * time.Minute
}

// Accept takes the initiator's first context token (the RPCSEC_GSS INIT
// argument). It returns the established context and the output token to send
// back (the AP-REP token when the initiator asked for mutual authentication,
// else nil).
func (a *Acceptor) Accept(token []byte) (*Context, []byte, error) {
	if a.Keytab == nil {
		return nil, nil, errors.New("krb5: acceptor has no keytab")
	}
	body, err := unframeInitial(token, tokAPReq)
	if err != nil {
		return nil, nil, err
	}
	req, tkt, err := parseAPReq(body)
	if err != nil {
		return nil, nil, err
	}
	sname := tkt.SName.String(tkt.Realm)
	etp, err := a.decryptTicket(tkt, sname)
	if err != nil {
		return nil, nil, err
	}
	now := a.now()
	skew := a.skew()
	if bitSet(etp.Flags, tktFlagInvalid) {
		return nil, nil, errors.New("krb5: ticket is flagged invalid")
	}
	start := etp.StartTime
	if start.IsZero() {
		start = etp.AuthTime
	}
	if start.After(now.Add(skew)) {
		return nil, nil, fmt.Errorf("krb5: ticket not yet valid (starts %s)", start.UTC().Format(time.RFC3339))
	}
	if now.After(etp.EndTime.Add(skew)) {
		return nil, nil, fmt.Errorf("krb5: ticket expired at %s", etp.EndTime.UTC().Format(time.RFC3339))
	}
	sessKey, err := newKey(etp.Key.KeyType, etp.Key.KeyValue)
	if err != nil {
		return nil, nil, fmt.Errorf("krb5: ticket session key: %w", err)
	}

	// The authenticator is encrypted in the session key, usage 11.
	if req.Authenticator.Etype != sessKey.etype {
		return nil, nil, fmt.Errorf("krb5: authenticator enctype %d differs from session key enctype %d",
			req.Authenticator.Etype, sessKey.etype)
	}
	plain, err := decryptWith(sessKey, usageAPReqAuth, req.Authenticator.Cipher)
	if err != nil {
		return nil, nil, fmt.Errorf("krb5: decrypting authenticator: %w", err)
	}
	var auth authenticator
	if err := unmarshalApp(plain, tagAuthenticator, &auth, "Authenticator"); err != nil {
		return nil, nil, err
	}
	client := etp.CName.String(etp.CRealm)
	if got := auth.CName.String(auth.CRealm); got != client {
		return nil, nil, fmt.Errorf("krb5: authenticator client %q does not match ticket client %q", got, client)
	}
	if d := now.Sub(auth.CTime); d > skew || d < -skew {
		return nil, nil, fmt.Errorf("krb5: clock skew too great (authenticator time %s)", auth.CTime.UTC().Format(time.RFC3339))
	}
	if auth.Cksum.CksumType != cksumGSSAPI {
		return nil, nil, fmt.Errorf("krb5: authenticator checksum type %d, want 0x8003", auth.Cksum.CksumType)
	}
	flags, err := parseGSSChecksum(auth.Cksum.Checksum)
	if err != nil {
		return nil, nil, err
	}

	// Context key (RFC 4121 §2): no acceptor subkey is asserted, so the
	// initiator's subkey when present, else the ticket session key.
	ctxKey := sessKey
	if len(auth.SubKey.KeyValue) != 0 || auth.SubKey.KeyType != 0 {
		if ctxKey, err = newKey(auth.SubKey.KeyType, auth.SubKey.KeyValue); err != nil {
			return nil, nil, fmt.Errorf("krb5: authenticator subkey: %w", err)
		}
	}
	c := &Context{Initiator: client, Expiry: etp.EndTime, Service: sname, Flags: flags, etype: ctxKey.etype}
	for _, d := range []struct {
		dst   **usageKeys
		usage uint32
	}{{&c.acceptSeal, usageAcceptorSeal}, {&c.acceptSign, usageAcceptorSign},
		{&c.initSeal, usageInitiatorSeal}, {&c.initSign, usageInitiatorSign}} {
		if *d.dst, err = ctxKey.derive(d.usage); err != nil {
			return nil, nil, err
		}
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, nil, err
	}
	// Kept below 2^30 like MIT so that peers with signed 32-bit handling of
	// seq-number agree.
	seq := binary.BigEndian.Uint32(rnd[:]) & 0x3fffffff
	c.seqSend.Store(uint64(seq))

	mutual := flags&FlagMutual != 0 || bitSet(req.APOptions, apOptMutualRequired)
	if !mutual {
		return c, nil, nil
	}
	rep, err := marshalAPRep(sessKey, auth.CTime, auth.Cusec, seq)
	if err != nil {
		return nil, nil, err
	}
	return c, frameInitial(tokAPRep, rep), nil
}

// decryptTicket finds the service key for the ticket and decrypts its
// EncTicketPart (usage 2).
func (a *Acceptor) decryptTicket(tkt *ticket, sname string) (*encTicketPart, error) {
	var princ, etypeMatch, kvnoMatch []*KeytabEntry
	for i := range a.Keytab.Entries {
		e := &a.Keytab.Entries[i]
		if e.Principal() != sname {
			continue
		}
		princ = append(princ, e)
		if e.Etype != tkt.EncPart.Etype {
			continue
		}
		etypeMatch = append(etypeMatch, e)
		if int64(e.KVNO) == tkt.EncPart.KVNO {
			kvnoMatch = append(kvnoMatch, e)
		}
	}
	switch {
	case len(princ) == 0:
		return nil, fmt.Errorf("krb5: ticket for %s: principal not in keytab", sname)
	case len(etypeMatch) == 0:
		return nil, fmt.Errorf("krb5: ticket for %s: no key of enctype %d in keytab", sname, tkt.EncPart.Etype)
	}
	// Prefer the exact kvno; a kvno the keytab lacks still gets a try with
	// every key of the enctype (MIT does likewise for kvno 0 tickets).
	cands := kvnoMatch
	if len(cands) == 0 {
		cands = etypeMatch
	}
	var lastErr error
	for _, e := range cands {
		k, err := newKey(e.Etype, e.Key)
		if err != nil {
			lastErr = err
			continue
		}
		plain, err := decryptWith(k, usageTicket, tkt.EncPart.Cipher)
		if err != nil {
			lastErr = err
			continue
		}
		var etp encTicketPart
		if err := unmarshalApp(plain, tagEncTicketPart, &etp, "EncTicketPart"); err != nil {
			return nil, err
		}
		return &etp, nil
	}
	if len(kvnoMatch) == 0 {
		return nil, fmt.Errorf("krb5: ticket for %s kvno %d: keytab has no such kvno and no other key decrypts it (%v)",
			sname, tkt.EncPart.KVNO, lastErr)
	}
	return nil, fmt.Errorf("krb5: ticket for %s kvno %d: %w (wrong service key?)", sname, tkt.EncPart.KVNO, lastErr)
}

// parseGSSChecksum checks the 0x8003 authenticator checksum (RFC 4121
// §4.1.1) and returns its flags. Channel bindings are not checked: the
// acceptor has none (RPCSEC_GSS does not use them).
func parseGSSChecksum(b []byte) (uint32, error) {
	if len(b) < 24 {
		return 0, fmt.Errorf("krb5: GSS checksum is %d bytes, want >= 24", len(b))
	}
	if l := binary.LittleEndian.Uint32(b[0:4]); l != 16 {
		return 0, fmt.Errorf("krb5: GSS checksum binding length %d, want 16", l)
	}
	flags := binary.LittleEndian.Uint32(b[20:24])
	if flags&FlagDeleg != 0 {
		// DlgOpt(2) Dlgth(2) Deleg: only check that it fits.
		if len(b) < 28 {
			return 0, errors.New("krb5: GSS checksum truncated delegation")
		}
		if dl := int(binary.LittleEndian.Uint16(b[26:28])); dl > len(b)-28 {
			return 0, errors.New("krb5: GSS checksum delegation length overruns")
		}
	}
	return flags, nil
}

// frameInitial wraps body as an RFC 2743 §3.1 token: 0x60 len OID TOK_ID body.
func frameInitial(tokID [2]byte, body []byte) []byte {
	inner := 2 + len(krb5MechOID) + 2 + len(body)
	out := make([]byte, 0, inner+8)
	out = append(out, 0x60)
	out = appendDERLen(out, inner)
	out = append(out, 0x06, byte(len(krb5MechOID)))
	out = append(out, krb5MechOID...)
	out = append(out, tokID[:]...)
	return append(out, body...)
}

func appendDERLen(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	case n < 0x10000:
		return append(b, 0x82, byte(n>>8), byte(n))
	default:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// unframeInitial checks the RFC 2743 §3.1 framing, the krb5 OID and the
// TOK_ID and returns the inner message.
func unframeInitial(tok []byte, want [2]byte) ([]byte, error) {
	if len(tok) > maxTokenLen {
		return nil, fmt.Errorf("krb5: context token of %d bytes too large", len(tok))
	}
	if len(tok) < 2 || tok[0] != 0x60 {
		return nil, errors.New("krb5: not a GSS initial context token")
	}
	n, rest, err := readDERLen(tok[1:])
	if err != nil {
		return nil, err
	}
	if n != len(rest) {
		return nil, fmt.Errorf("krb5: GSS token length %d, have %d bytes", n, len(rest))
	}
	if len(rest) < 2 || rest[0] != 0x06 {
		return nil, errors.New("krb5: GSS token lacks mechanism OID")
	}
	oidLen := int(rest[1])
	if oidLen > len(rest)-2 || !bytes.Equal(rest[2:2+oidLen], krb5MechOID) {
		return nil, errors.New("krb5: GSS token mechanism is not Kerberos V5")
	}
	rest = rest[2+oidLen:]
	if len(rest) < 2 {
		return nil, errors.New("krb5: GSS token lacks TOK_ID")
	}
	if rest[0] != want[0] || rest[1] != want[1] {
		return nil, fmt.Errorf("krb5: TOK_ID %02x%02x, want %02x%02x", rest[0], rest[1], want[0], want[1])
	}
	return rest[2:], nil
}

func readDERLen(b []byte) (int, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errors.New("krb5: truncated DER length")
	}
	if b[0] < 0x80 {
		return int(b[0]), b[1:], nil
	}
	nb := int(b[0] & 0x7f)
	if nb == 0 || nb > 3 || nb > len(b)-1 {
		return 0, nil, errors.New("krb5: bad DER length")
	}
	n := 0
	for _, c := range b[1 : 1+nb] {
		n = n<<8 | int(c)
	}
	return n, b[1+nb:], nil
}

// GetMIC returns a MIC token (RFC 4121 §4.2.6.1) over msg from the acceptor:
// header | HMAC(Kc usage 23, msg | header).
func (c *Context) GetMIC(msg []byte) []byte {
	return makeMIC(c.acceptSign, flagSentByAcceptor, c.nextSeq(), msg)
}

// VerifyMIC checks a MIC token made by the initiator over msg (usage 25).
// Sequence numbers are not checked (RPCSEC_GSS has its own window).
func (c *Context) VerifyMIC(msg, token []byte) error {
	return verifyMIC(c.initSign, false, msg, token)
}

// Wrap returns a Wrap token (RFC 4121 §4.2.6.2) from the acceptor (usage
// 22), sealed when conf is set.
func (c *Context) Wrap(msg []byte, conf bool) []byte {
	return makeWrap(c.acceptSeal, flagSentByAcceptor, c.nextSeq(), msg, conf)
}

// Unwrap decodes the initiator's Wrap token (usage 24), undoing any RRC
// rotation (§4.2.5), and returns the message and whether it was sealed.
func (c *Context) Unwrap(token []byte) ([]byte, bool, error) {
	return unwrap(c.initSeal, false, token)
}

// tokenHeader builds the 16-byte MIC/Wrap header of RFC 4121 §4.2.6.
func tokenHeader(id [2]byte, flags byte, ec, rrc uint16, seq uint64) []byte {
	h := make([]byte, tokenHeaderLen)
	h[0], h[1], h[2] = id[0], id[1], flags
	if id == tokMIC {
		copy(h[3:8], []byte{0xff, 0xff, 0xff, 0xff, 0xff})
	} else {
		h[3] = 0xff
		binary.BigEndian.PutUint16(h[4:6], ec)
		binary.BigEndian.PutUint16(h[6:8], rrc)
	}
	binary.BigEndian.PutUint64(h[8:16], seq)
	return h
}

func (c *Context) nextSeq() uint64 { return c.seqSend.Add(1) - 1 }

func makeMIC(u *usageKeys, flags byte, seq uint64, msg []byte) []byte {
	h := tokenHeader(tokMIC, flags, 0, 0, seq)
	return append(h, u.checksum(msg, h)...)
}

// checkPeerFlags validates the flags octet of a received token: the
// SentByAcceptor bit must say it came from the peer (no reflection), and
// AcceptorSubkey must be clear since this acceptor never asserts a subkey.
func checkPeerFlags(f byte, fromAcceptor bool) error {
	if (f&flagSentByAcceptor != 0) != fromAcceptor {
		return errors.New("krb5: token SentByAcceptor flag is wrong (reflected token?)")
	}
	if f&flagAcceptorSubkey != 0 {
		return errors.New("krb5: token claims an acceptor subkey that was never asserted")
	}
	if f&^(flagSentByAcceptor|flagSealed|flagAcceptorSubkey) != 0 {
		return fmt.Errorf("krb5: unknown token flags %#x", f)
	}
	return nil
}

func verifyMIC(u *usageKeys, fromAcceptor bool, msg, token []byte) error {
	if len(token) != tokenHeaderLen+hmacLen {
		return fmt.Errorf("krb5: MIC token is %d bytes, want %d", len(token), tokenHeaderLen+hmacLen)
	}
	h := token[:tokenHeaderLen]
	if h[0] != tokMIC[0] || h[1] != tokMIC[1] {
		return fmt.Errorf("krb5: TOK_ID %02x%02x is not a MIC token", h[0], h[1])
	}
	if err := checkPeerFlags(h[2], fromAcceptor); err != nil {
		return err
	}
	if h[2]&flagSealed != 0 {
		return errors.New("krb5: MIC token has the Sealed flag")
	}
	for _, b := range h[3:8] {
		if b != 0xff {
			return errors.New("krb5: MIC token filler is not 0xff")
		}
	}
	if subtle.ConstantTimeCompare(u.checksum(msg, h), token[tokenHeaderLen:]) != 1 {
		return errIntegrity
	}
	return nil
}

// makeWrap builds a Wrap token with RRC 0. With confidentiality EC is 0 (AES
// CTS needs no padding) and the header copy is encrypted after the message
// (§4.2.4); without, EC is the checksum length and the checksum covers
// msg | header with EC and RRC zeroed.
func makeWrap(u *usageKeys, flags byte, seq uint64, msg []byte, conf bool) []byte {
	if conf {
		h := tokenHeader(tokWrap, flags|flagSealed, 0, 0, seq)
		plain := make([]byte, 0, len(msg)+tokenHeaderLen)
		plain = append(append(plain, msg...), h...)
		return append(h, u.encrypt(plain)...)
	}
	h0 := tokenHeader(tokWrap, flags, 0, 0, seq)
	sum := u.checksum(msg, h0)
	h := tokenHeader(tokWrap, flags, hmacLen, 0, seq)
	out := make([]byte, 0, tokenHeaderLen+len(msg)+hmacLen)
	return append(append(append(out, h...), msg...), sum...)
}

func unwrap(u *usageKeys, fromAcceptor bool, token []byte) ([]byte, bool, error) {
	if len(token) < tokenHeaderLen {
		return nil, false, errors.New("krb5: Wrap token too short")
	}
	h := token[:tokenHeaderLen]
	if h[0] != tokWrap[0] || h[1] != tokWrap[1] {
		return nil, false, fmt.Errorf("krb5: TOK_ID %02x%02x is not a Wrap token", h[0], h[1])
	}
	flags := h[2]
	if err := checkPeerFlags(flags, fromAcceptor); err != nil {
		return nil, false, err
	}
	if h[3] != 0xff {
		return nil, false, errors.New("krb5: Wrap token filler is not 0xff")
	}
	ec := int(binary.BigEndian.Uint16(h[4:6]))
	rrc := int(binary.BigEndian.Uint16(h[6:8]))
	data := token[tokenHeaderLen:]
	if len(data) > 0 && rrc%len(data) != 0 {
		// The sender rotated the data right by RRC; rotate it back left.
		r := rrc % len(data)
		d := make([]byte, len(data))
		copy(d, data[r:])
		copy(d[len(data)-r:], data[:r])
		data = d
	}
	if flags&flagSealed != 0 {
		plain, err := u.decrypt(data)
		if err != nil {
			return nil, false, err
		}
		if len(plain) < ec+tokenHeaderLen {
			return nil, false, errors.New("krb5: sealed Wrap token too short for EC and header")
		}
		// The encrypted copy of the header must match, with RRC zero.
		inner := plain[len(plain)-tokenHeaderLen:]
		want := make([]byte, tokenHeaderLen)
		copy(want, h)
		want[6], want[7] = 0, 0
		if !bytes.Equal(inner, want) {
			return nil, false, errors.New("krb5: Wrap token header does not match its encrypted copy")
		}
		return plain[:len(plain)-tokenHeaderLen-ec], true, nil
	}
	if ec != hmacLen {
		return nil, false, fmt.Errorf("krb5: unsealed Wrap token EC %d, want %d", ec, hmacLen)
	}
	if len(data) < hmacLen {
		return nil, false, errors.New("krb5: Wrap token too short for checksum")
	}
	msg, sum := data[:len(data)-hmacLen], data[len(data)-hmacLen:]
	h0 := make([]byte, tokenHeaderLen)
	copy(h0, h)
	h0[4], h0[5], h0[6], h0[7] = 0, 0, 0, 0
	if subtle.ConstantTimeCompare(u.checksum(msg, h0), sum) != 1 {
		return nil, false, errIntegrity
	}
	return append([]byte(nil), msg...), false, nil
}
