package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

var sysCred = NewAuthSys(AuthSysParams{Stamp: 7, MachineName: "host1", UID: 1000, GID: 100, GIDs: []uint32{4, 24, 27}})

func encCall(h CallHeader, args []byte) []byte {
	var e xdr.Encoder
	h.Encode(&e)
	return append(e.Buf, args...)
}

func TestCallRoundTrip(t *testing.T) {
	cases := []CallHeader{
		{XID: 1, Prog: 100003, Vers: 4, Proc: 1},
		{XID: 0xdeadbeef, Prog: 100003, Vers: 4, Proc: 1, Cred: sysCred},
		{XID: 3, Prog: 1, Vers: 2, Proc: 3, Cred: NewAuthSys(AuthSysParams{MachineName: strings.Repeat("m", 255), GIDs: make([]uint32, 16)})},
		{XID: 4, Prog: 9, Cred: Auth{Flavor: RPCSecGSS, Body: []byte{1, 2, 3, 4, 5}}, Verf: Auth{Flavor: RPCSecGSS, Body: []byte{9}}},
	}
	for _, h := range cases {
		msg := encCall(h, []byte{0xa, 0xb, 0xc, 0xd})
		got, args, err := DecodeCall(msg)
		if err != nil {
			t.Fatalf("%+v: %v", h, err)
		}
		if !bytes.Equal(args, []byte{0xa, 0xb, 0xc, 0xd}) {
			t.Fatalf("args %x", args)
		}
		if got.XID != h.XID || got.Prog != h.Prog || got.Vers != h.Vers || got.Proc != h.Proc ||
			got.Cred.Flavor != h.Cred.Flavor || got.Verf.Flavor != h.Verf.Flavor {
			t.Fatalf("got %+v want %+v", got, h)
		}
		if h.Cred.Flavor == AuthSys {
			want := h.Cred.Sys
			if want.GIDs == nil {
				want.GIDs = []uint32{}
			}
			if !reflect.DeepEqual(got.Cred.Sys, want) {
				t.Fatalf("sys %+v want %+v", got.Cred.Sys, want)
			}
		} else if !bytes.Equal(got.Cred.Body, h.Cred.Body) {
			t.Fatalf("cred body %x", got.Cred.Body)
		}
		// Re-encoding a decoded header (raw body kept) gives the same bytes.
		if again := encCall(got, args); !bytes.Equal(again, msg) {
			t.Fatalf("re-encode differs")
		}
	}
}

func TestCallErrors(t *testing.T) {
	good := encCall(CallHeader{XID: 42, Prog: 100003, Vers: 4, Cred: sysCred}, nil)

	// rpcvers 3: XID must still be reported.
	bad := bytes.Clone(good)
	binary.BigEndian.PutUint32(bad[8:], 3)
	h, _, err := DecodeCall(bad)
	if err != ErrRPCVersion || h.XID != 42 {
		t.Fatalf("rpcvers: %v xid %d", err, h.XID)
	}
	// A reply is not a call.
	bad = bytes.Clone(good)
	binary.BigEndian.PutUint32(bad[4:], 1)
	if _, _, err := DecodeCall(bad); err != ErrNotCall {
		t.Fatalf("mtype: %v", err)
	}
	// Every truncation is an error, never a panic.
	for i := range good {
		if _, _, err := DecodeCall(good[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}
	// Body length over 400.
	var e xdr.Encoder
	(&CallHeader{XID: 5, Cred: Auth{Flavor: 99, Body: make([]byte, 401)}}).Encode(&e)
	var le *xdr.LengthError
	if _, _, err := DecodeCall(e.Buf); !errors.As(err, &le) {
		t.Fatalf("401-byte cred: %v", err)
	}
	// Malformed AUTH_SYS bodies: AUTH_BADCRED with XID kept.
	bodies := map[string]func(*xdr.Encoder){
		"long name": func(e *xdr.Encoder) {
			e.Uint32(0)
			e.String(strings.Repeat("x", 256))
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32(0)
		},
		"17 gids": func(e *xdr.Encoder) {
			e.Uint32(0)
			e.String("h")
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32s(make([]uint32, 17))
		},
		"trailing": func(e *xdr.Encoder) {
			e.Uint32(0)
			e.String("h")
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32(0)
		},
		"short": func(e *xdr.Encoder) { e.Uint32(0); e.String("h"); e.Uint32(0) },
	}
	for name, f := range bodies {
		var b xdr.Encoder
		f(&b)
		var e xdr.Encoder
		(&CallHeader{XID: 77, Prog: 3, Cred: Auth{Flavor: AuthSys, Body: b.Buf}}).Encode(&e)
		h, _, err := DecodeCall(e.Buf)
		var be *BadAuthError
		if !errors.As(err, &be) || be.Stat != AuthBadCred || h.XID != 77 || h.Prog != 3 {
			t.Fatalf("%s: err %v hdr %+v", name, err, h)
		}
	}
}

func TestReplyRoundTrip(t *testing.T) {
	cases := []ReplyHeader{
		{XID: 1, Stat: MsgAccepted, Accept: Success},
		{XID: 2, Stat: MsgAccepted, Accept: ProgUnavail},
		{XID: 3, Stat: MsgAccepted, Accept: ProgMismatch, Low: 2, High: 4},
		{XID: 4, Stat: MsgAccepted, Accept: ProcUnavail},
		{XID: 5, Stat: MsgAccepted, Accept: GarbageArgs},
		{XID: 6, Stat: MsgAccepted, Accept: SystemErr, Verf: Auth{Flavor: 6, Body: []byte{1, 2, 3}}},
		{XID: 7, Stat: MsgDenied, Reject: RPCMismatch, Low: 2, High: 2},
		{XID: 8, Stat: MsgDenied, Reject: AuthError, AuthStat: AuthBadCred},
		{XID: 9, Stat: MsgDenied, Reject: AuthError, AuthStat: AuthTooWeak},
	}
	for _, h := range cases {
		var e xdr.Encoder
		h.Encode(&e)
		body := []byte{0, 0, 0, 9}
		got, rest, err := DecodeReply(append(e.Buf, body...))
		if err != nil {
			t.Fatalf("%+v: %v", h, err)
		}
		if !bytes.Equal(rest, body) {
			t.Fatalf("body %x", rest)
		}
		if len(got.Verf.Body) == 0 {
			got.Verf.Body = h.Verf.Body
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("got %+v want %+v", got, h)
		}
		// Typed errors.
		err = got.Err()
		var ae *AcceptedError
		var de *DeniedError
		switch {
		case h.Stat == MsgAccepted && h.Accept == Success:
			if err != nil {
				t.Fatal(err)
			}
		case h.Stat == MsgAccepted:
			if !errors.As(err, &ae) || ae.Stat != h.Accept || ae.Low != h.Low || ae.High != h.High {
				t.Fatalf("%v", err)
			}
		default:
			if !errors.As(err, &de) || de.Stat != h.Reject || de.AuthStat != h.AuthStat || de.Low != h.Low {
				t.Fatalf("%v", err)
			}
		}
		for i := range e.Buf {
			if _, _, err := DecodeReply(e.Buf[:i]); err == nil {
				t.Fatalf("truncated reply %+v at %d decoded", h, i)
			}
		}
	}
	var e xdr.Encoder
	e.Uint32(1)
	e.Uint32(1)
	e.Uint32(2) // bad reply_stat
	if _, _, err := DecodeReply(e.Buf); err == nil {
		t.Fatal("reply_stat 2 accepted")
	}
}

func rec(frags ...[]byte) []byte {
	var out []byte
	for i, f := range frags {
		h := uint32(len(f))
		if i == len(frags)-1 {
			h |= lastFragment
		}
		out = binary.BigEndian.AppendUint32(out, h)
		out = append(out, f...)
	}
	return out
}

func TestReadRecord(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 200<<10) // spans several grow chunks
	stream := append(rec([]byte("hel"), nil, []byte("lo")), rec(big)...)
	stream = append(stream, rec(nil)...)
	rr := NewRecordReader(bytes.NewReader(stream), 1<<20)
	buf := make([]byte, 0, 2)
	r, err := rr.ReadRecord(buf)
	if err != nil || string(r) != "hello" {
		t.Fatalf("%q %v", r, err)
	}
	r, err = rr.ReadRecord(r)
	if err != nil || !bytes.Equal(r, big) {
		t.Fatalf("big: %d %v", len(r), err)
	}
	r, err = rr.ReadRecord(r)
	if err != nil || len(r) != 0 {
		t.Fatalf("empty: %d %v", len(r), err)
	}
	if _, err = rr.ReadRecord(r); err != io.EOF {
		t.Fatalf("eof: %v", err)
	}

	// A marker claiming more than max fails before any allocation.
	huge := binary.BigEndian.AppendUint32(nil, lastFragment|0x7fffffff)
	rr = NewRecordReader(bytes.NewReader(huge), 1<<20)
	if _, err := rr.ReadRecord(nil); err != ErrRecordTooLarge {
		t.Fatalf("huge: %v", err)
	}
	// Fragments individually small but summing above max.
	rr = NewRecordReader(bytes.NewReader(rec(make([]byte, 600), make([]byte, 600))), 1000)
	if _, err := rr.ReadRecord(nil); err != ErrRecordTooLarge {
		t.Fatalf("sum: %v", err)
	}
	// Exactly max is fine.
	rr = NewRecordReader(bytes.NewReader(rec(make([]byte, 500), make([]byte, 500))), 1000)
	if r, err := rr.ReadRecord(nil); err != nil || len(r) != 1000 {
		t.Fatalf("max: %v", err)
	}
	// Truncation inside a record.
	s := rec([]byte("abcdef"))
	for i := 1; i < len(s); i++ {
		rr = NewRecordReader(bytes.NewReader(s[:i]), 100)
		if _, err := rr.ReadRecord(nil); err != io.ErrUnexpectedEOF {
			t.Fatalf("cut at %d: %v", i, err)
		}
	}
	// A marker that claims 1 MiB but sends 10 bytes grows the buffer by at
	// most one chunk.
	s = append(binary.BigEndian.AppendUint32(nil, lastFragment|1<<20), make([]byte, 10)...)
	rr = NewRecordReader(bytes.NewReader(s), 1<<20)
	r, _ = rr.ReadRecord(nil)
	if cap(r) > 2*growChunk {
		t.Fatalf("allocated %d for 10 bytes", cap(r))
	}
}

// TestReadRecordPick: the record lands in the buffer picked for its XID,
// fragments and all; a buffer too small grows; short records skip pick.
func TestReadRecordPick(t *testing.T) {
	body := append([]byte{0, 0, 0, 42}, bytes.Repeat([]byte{9}, 1000)...)
	stream := append(rec(body[:300], body[300:]), rec(body)...)
	stream = append(stream, rec([]byte{1, 2})...)
	rr := NewRecordReader(bytes.NewReader(stream), 1<<20)
	mine := make([]byte, 0, 2000)
	var got []string
	pick := func(xid uint32, n int, last bool) []byte {
		got = append(got, fmt.Sprintf("%d/%d/%v", xid, n, last))
		if len(got) == 1 {
			return mine
		}
		return make([]byte, 0, 10) // too small: grows
	}
	r, err := rr.ReadRecordPick(pick)
	if err != nil || !bytes.Equal(r, body) || &r[0] != &mine[:1][0] {
		t.Fatalf("first: %d bytes, %v, in picked buffer %v", len(r), err, len(r) > 0 && &r[0] == &mine[:1][0])
	}
	r, err = rr.ReadRecordPick(pick)
	if err != nil || !bytes.Equal(r, body) {
		t.Fatalf("second: %d bytes, %v", len(r), err)
	}
	r, err = rr.ReadRecordPick(pick)
	if err != nil || !bytes.Equal(r, []byte{1, 2}) {
		t.Fatalf("short: %v %v", r, err)
	}
	if want := []string{"42/300/false", "42/1004/true"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pick calls %v, want %v", got, want)
	}
	// Cut inside the XID.
	rr = NewRecordReader(bytes.NewReader(rec(body)[:6]), 1<<20)
	if _, err := rr.ReadRecordPick(pick); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut in xid: %v", err)
	}
}

func TestWriteRecord(t *testing.T) {
	hdr := make([]byte, MarkLen, 16)
	hdr = append(hdr, "ab"...)
	var out bytes.Buffer
	bufs := net.Buffers{hdr, []byte("cde"), nil, []byte("f")}
	n, err := WriteRecord(&out, bufs)
	if err != nil || n != 10 {
		t.Fatal(n, err)
	}
	r, err := NewRecordReader(&out, 100).ReadRecord(nil)
	if err != nil || string(r) != "abcdef" {
		t.Fatalf("%q %v", r, err)
	}
	if _, err := WriteRecord(&out, net.Buffers{[]byte{1}}); err == nil {
		t.Fatal("no room for mark accepted")
	}
}

func BenchmarkCallDecodeReplyEncode(b *testing.B) {
	b.Run("auth_sys", func(b *testing.B) { benchHeaders(b, sysCred) })
	b.Run("auth_none", func(b *testing.B) { benchHeaders(b, Auth{}) })
}

func BenchmarkReplyEncode(b *testing.B) {
	e := xdr.Encoder{Buf: make([]byte, 0, 64)}
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		e.Reserve(MarkLen)
		r := ReplyHeader{XID: 7, Accept: Success}
		r.Encode(&e)
	}
}

func benchHeaders(b *testing.B, cred Auth) {
	msg := encCall(CallHeader{XID: 1, Prog: 100003, Vers: 4, Proc: 1, Cred: cred}, make([]byte, 128))
	e := xdr.Encoder{Buf: make([]byte, 0, 64)}
	var d xdr.Decoder
	var h CallHeader
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(msg)
		if err := h.Decode(&d); err != nil {
			b.Fatal(err)
		}
		e.Reset()
		r := ReplyHeader{XID: h.XID, Accept: Success}
		r.Encode(&e)
	}
}

func TestReplyEncodeAllocs(t *testing.T) {
	e := xdr.Encoder{Buf: make([]byte, 0, 64)}
	r := ReplyHeader{XID: 9, Stat: MsgAccepted, Accept: ProgMismatch, Low: 1, High: 2}
	if n := testing.AllocsPerRun(100, func() { e.Reset(); r.Encode(&e) }); n != 0 {
		t.Fatalf("reply encode allocates %v", n)
	}
}
