package krb5

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// loadCapture returns the token and per-message tokens recorded from the
// real MIT initiator by TestInteropMIT (KRB5_UPDATE_TESTDATA=1) and an
// acceptor whose clock is set to the capture time.
func loadCapture(t testing.TB) (*capture, *Acceptor, []byte) {
	t.Helper()
	b, err := os.ReadFile("testdata/capture.json")
	if err != nil {
		t.Fatal(err)
	}
	var c capture
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	kt, err := LoadKeytab("testdata/nfs.keytab")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := hex.DecodeString(c.Token)
	if err != nil {
		t.Fatal(err)
	}
	return &c, &Acceptor{Keytab: kt, Now: func() time.Time { return c.Time }}, tok
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAcceptCaptured(t *testing.T) {
	c, acc, tok := loadCapture(t)
	ctx, rep, err := acc.Accept(tok)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if ctx.Initiator != "root@FSBRIDGE.TEST" || ctx.Service != "nfs/localhost@FSBRIDGE.TEST" || ctx.Flags&FlagMutual == 0 {
		t.Errorf("context %q %q flags %#x", ctx.Initiator, ctx.Service, ctx.Flags)
	}
	if d := ctx.Expiry.Sub(c.Time); d < 9*time.Hour || d > 10*time.Hour+time.Minute {
		t.Errorf("expiry %v after capture, want the realm's 10h max_life", d)
	}

	// The AP-REP must decrypt under the ticket session key (usage 12) and
	// echo the authenticator's ctime/cusec (RFC 4120 §3.2.4).
	body, err := unframeInitial(rep, tokAPRep)
	if err != nil {
		t.Fatal(err)
	}
	req, tkt, _ := parseAPReq(mustUnframe(t, tok))
	etp, err := acc.decryptTicket(tkt, tkt.SName.String(tkt.Realm))
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := newKey(etp.Key.KeyType, etp.Key.KeyValue)
	authPlain, err := decryptWith(sk, usageAPReqAuth, req.Authenticator.Cipher)
	if err != nil {
		t.Fatal(err)
	}
	var auth authenticator
	if err := unmarshalApp(authPlain, tagAuthenticator, &auth, "Authenticator"); err != nil {
		t.Fatal(err)
	}
	var ar apRep
	if err := unmarshalApp(body, tagAPRep, &ar, "AP-REP"); err != nil {
		t.Fatal(err)
	}
	encPart, err := decryptWith(sk, usageAPRepEncPart, ar.EncPart.Cipher)
	if err != nil {
		t.Fatalf("AP-REP enc-part: %v", err)
	}
	var ep encAPRepPart
	if err := unmarshalApp(encPart, tagEncAPRepPart, &ep, "EncAPRepPart"); err != nil {
		t.Fatal(err)
	}
	if !ep.CTime.Equal(auth.CTime) || ep.Cusec != auth.Cusec || uint64(ep.SeqNumber) != ctx.seqSend.Load() {
		t.Errorf("EncAPRepPart %v/%d/%d vs authenticator %v/%d, seq %d", ep.CTime, ep.Cusec, ep.SeqNumber, auth.CTime, auth.Cusec, ctx.seqSend.Load())
	}

	// Tokens the MIT initiator made in that context.
	if err := ctx.VerifyMIC(mustHex(t, c.MICMsg), mustHex(t, c.MIC)); err != nil {
		t.Errorf("VerifyMIC: %v", err)
	}
	wmsg := mustHex(t, c.WrapMsg)
	for _, w := range []struct {
		tok  string
		conf bool
	}{{c.Wrap, false}, {c.Seal, true}} {
		raw := mustHex(t, w.tok)
		for _, rrc := range []int{0, 5, 28, 1000} {
			got, conf, err := ctx.Unwrap(rotate(raw, rrc))
			if err != nil || conf != w.conf || !bytes.Equal(got, wmsg) {
				t.Errorf("conf %v rrc %d: %q %v %v", w.conf, rrc, got, conf, err)
			}
		}
	}
}

func mustUnframe(t *testing.T, tok []byte) []byte {
	b, err := unframeInitial(tok, tokAPReq)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rotate returns tok with its data rotated right by rrc and RRC set, as a
// sender using RFC 4121 §4.2.5 rotation would produce.
func rotate(tok []byte, rrc int) []byte {
	out := append([]byte(nil), tok...)
	binary.BigEndian.PutUint16(out[6:8], uint16(rrc))
	data := out[tokenHeaderLen:]
	r := rrc % len(data)
	copy(data, append(append([]byte(nil), tok[len(tok)-r:]...), tok[tokenHeaderLen:len(tok)-r]...))
	return out
}

func TestAcceptErrors(t *testing.T) {
	c, acc, tok := loadCapture(t)
	at := func(d time.Duration) *Acceptor {
		return &Acceptor{Keytab: acc.Keytab, Now: func() time.Time { return c.Time.Add(d) }}
	}
	cases := []struct {
		name string
		acc  *Acceptor
		tok  []byte
		want string
	}{
		{"expired", at(11 * time.Hour), tok, "expired"},
		{"not yet valid", at(-time.Hour), tok, "not yet valid"},
		{"skew", at(10 * time.Minute), tok, "skew"},
		{"wide skew ok", &Acceptor{Keytab: acc.Keytab, ClockSkew: time.Hour, Now: func() time.Time { return c.Time.Add(30 * time.Minute) }}, tok, ""},
		{"no keytab", &Acceptor{}, tok, "no keytab"},
		{"empty", acc, nil, "not a GSS"},
		{"bad length", acc, tok[:len(tok)-1], "length"},
		{"wrong tokid", acc, bytes.Replace(tok, []byte{0x02, 0x02, 0x01, 0x00}, []byte{0x02, 0x02, 0x02, 0x00}, 1), "TOK_ID"},
		{"wrong mech", acc, bytes.Replace(tok, krb5MechOID, []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x03}, 1), "not Kerberos"},
		{"authenticator tampered", acc, flip(tok, len(tok)-5), "authenticator"},
	}
	for _, tc := range cases {
		_, _, err := tc.acc.Accept(tc.tok)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}

	// Keytab lacking the principal, the enctype, or holding another key.
	mod := func(f func(e *KeytabEntry) bool) *Acceptor {
		kt := &Keytab{}
		for _, e := range acc.Keytab.Entries {
			e.Key = append([]byte(nil), e.Key...)
			if f(&e) {
				kt.Entries = append(kt.Entries, e)
			}
		}
		return &Acceptor{Keytab: kt, Now: acc.Now}
	}
	for _, tc := range []struct {
		name string
		acc  *Acceptor
		want string
	}{
		{"other principal", mod(func(e *KeytabEntry) bool { e.Components = []string{"nfs", "elsewhere"}; return true }), "principal not in keytab"},
		{"no aes256", mod(func(e *KeytabEntry) bool { return e.Etype != EtypeAES256CTSHMACSHA196 }), "no key of enctype 18"},
		{"other key", mod(func(e *KeytabEntry) bool { e.Key[0] ^= 1; return true }), "integrity"},
		{"other kvno", mod(func(e *KeytabEntry) bool { e.KVNO += 5; e.Key[0] ^= 1; return true }), "no such kvno"},
		{"other kvno right key", mod(func(e *KeytabEntry) bool { e.KVNO += 5; return true }), ""},
	} {
		_, _, err := tc.acc.Accept(tok)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Per-message tokens between this acceptor and an initiator view of the same
// context (the other direction's keys and flags).
func TestPerMessageRoundTrip(t *testing.T) {
	_, acc, tok := loadCapture(t)
	ctx, _, err := acc.Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("abc"), 100)} {
		if err := ctx.VerifyMIC(m, makeMIC(ctx.initSign, 0, 7, m)); err != nil {
			t.Errorf("initiator MIC: %v", err)
		}
		if err := verifyMIC(ctx.acceptSign, true, m, ctx.GetMIC(m)); err != nil {
			t.Errorf("acceptor MIC: %v", err)
		}
		// A reflected acceptor token must not verify as the initiator's.
		if err := ctx.VerifyMIC(m, ctx.GetMIC(m)); err == nil {
			t.Error("reflected MIC verified")
		}
		for _, conf := range []bool{false, true} {
			got, gc, err := ctx.Unwrap(makeWrap(ctx.initSeal, 0, 9, m, conf))
			if err != nil || gc != conf || !bytes.Equal(got, m) {
				t.Errorf("initiator wrap conf %v: %q %v %v", conf, got, gc, err)
			}
			w := ctx.Wrap(m, conf)
			got, gc, err = unwrap(ctx.acceptSeal, true, w)
			if err != nil || gc != conf || !bytes.Equal(got, m) {
				t.Errorf("acceptor wrap conf %v: %q %v %v", conf, got, gc, err)
			}
			if _, _, err := ctx.Unwrap(w); err == nil {
				t.Errorf("reflected wrap conf %v unwrapped", conf)
			}
			if !conf && len(m) > 0 && !bytes.Contains(w, m) {
				t.Error("integrity-only wrap does not carry the plaintext")
			}
			if conf && len(m) > 3 && bytes.Contains(w, m) {
				t.Error("sealed wrap carries the plaintext")
			}
		}
	}
	// Sequence numbers advance per token.
	a, b := ctx.GetMIC(nil), ctx.GetMIC(nil)
	if binary.BigEndian.Uint64(b[8:16]) != binary.BigEndian.Uint64(a[8:16])+1 {
		t.Errorf("sequence %x then %x", a[8:16], b[8:16])
	}
	// Malformed per-message tokens.
	good := makeWrap(ctx.initSeal, 0, 1, []byte("hello"), true)
	ecBig := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(ecBig[4:6], 500)
	for name, bad := range map[string][]byte{
		"short":     good[:10],
		"tokid":     append([]byte{0x04, 0x04}, good[2:]...),
		"filler":    append(append([]byte(nil), good[:3]...), append([]byte{0}, good[4:]...)...),
		"ec":        ecBig,
		"truncated": good[:len(good)-1],
		"subkey":    append(append([]byte(nil), good[:2]...), append([]byte{flagSealed | flagAcceptorSubkey}, good[3:]...)...),
	} {
		if _, _, err := ctx.Unwrap(bad); err == nil {
			t.Errorf("Unwrap accepted %s token", name)
		}
	}
	if err := ctx.VerifyMIC(nil, makeMIC(ctx.initSign, 0, 1, nil)[:27]); err == nil {
		t.Error("short MIC accepted")
	}
}

// FuzzAccept feeds Accept, and (since the real token's encrypted parts stop
// mutations early) the decoders of the decrypted parts directly; seeds are
// the captured token and its decrypted ticket and authenticator.
func FuzzAccept(f *testing.F) {
	_, acc, tok := loadCapture(f)
	f.Add(tok)
	f.Add(tok[:100])
	body, err := unframeInitial(tok, tokAPReq)
	if err != nil {
		f.Fatal(err)
	}
	req, tkt, err := parseAPReq(body)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range acc.Keytab.Entries {
		k, _ := newKey(e.Etype, e.Key)
		if p, err := decryptWith(k, usageTicket, tkt.EncPart.Cipher); err == nil {
			f.Add(p)
			var etp encTicketPart
			if unmarshalApp(p, tagEncTicketPart, &etp, "") == nil {
				sk, _ := newKey(etp.Key.KeyType, etp.Key.KeyValue)
				if a, err := decryptWith(sk, usageAPReqAuth, req.Authenticator.Cipher); err == nil {
					f.Add(a)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, rep, err := acc.Accept(b)
		if err == nil && (ctx == nil || ctx.Initiator == "") {
			t.Fatalf("accepted without a context: %v %x", ctx, rep)
		}
		parseAPReq(b)
		var etp encTicketPart
		unmarshalApp(b, tagEncTicketPart, &etp, "EncTicketPart")
		var auth authenticator
		if unmarshalApp(b, tagAuthenticator, &auth, "Authenticator") == nil {
			parseGSSChecksum(auth.Cksum.Checksum)
		}
	})
}

func FuzzUnwrap(f *testing.F) {
	c, acc, tok := loadCapture(f)
	ctx, _, err := acc.Accept(tok)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mustHex(f, c.Wrap))
	f.Add(mustHex(f, c.Seal))
	f.Add(mustHex(f, c.MIC))
	f.Fuzz(func(t *testing.T, b []byte) {
		if msg, _, err := ctx.Unwrap(b); err == nil && len(msg) > len(b) {
			t.Fatalf("unwrapped %d bytes from a %d-byte token", len(msg), len(b))
		}
		ctx.VerifyMIC([]byte("hello"), b)
	})
}
