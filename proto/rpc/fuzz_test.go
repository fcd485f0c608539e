package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/fsbridge/fsbridge/internal/fuzzcorpus"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Fuzz targets: FuzzDecodeCall (CALL header, server and client back
// channel), FuzzDecodeReply (REPLY header, client), FuzzReadRecord (record
// marking, RFC 5531 §11). Their seeds are checked in under testdata/fuzz/
// (regenerate with `go test ./proto/rpc -run TestWriteFuzzCorpus -fuzzcorpus`).

func seedsCall() [][]byte {
	return [][]byte{
		encCall(CallHeader{XID: 1, Prog: 100003, Vers: 4, Proc: 1, Cred: sysCred}, []byte{1, 2, 3, 4}),
		encCall(CallHeader{XID: 2, Cred: Auth{Flavor: RPCSecGSS, Body: []byte{1}}}, nil),
		encCall(CallHeader{XID: 3, Prog: 0x40000000, Vers: 1, Proc: 1, Cred: Auth{Flavor: AuthNone}}, []byte{0, 0, 0, 0}),
		{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3},
	}
}

func FuzzDecodeCall(f *testing.F) {
	for _, s := range seedsCall() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, args, err := DecodeCall(msg)
		if err != nil {
			return
		}
		// A successful decode re-encodes to something that decodes equal.
		again := encCall(h, args)
		h2, args2, err := DecodeCall(again)
		if err != nil || h2.XID != h.XID || h2.Proc != h.Proc || !bytes.Equal(args2, args) ||
			!bytes.Equal(h2.Cred.Body, h.Cred.Body) || h2.Cred.Sys.MachineName != h.Cred.Sys.MachineName {
			t.Fatalf("re-decode mismatch: %v", err)
		}
	})
}

func encReply(h ReplyHeader, body []byte) []byte {
	var e xdr.Encoder
	h.Encode(&e)
	return append(e.Buf, body...)
}

func seedsReply() [][]byte {
	return [][]byte{
		encReply(ReplyHeader{XID: 1, Stat: MsgAccepted, Accept: Success}, []byte{0, 0, 0, 0}),
		encReply(ReplyHeader{XID: 2, Stat: MsgAccepted, Verf: Auth{Flavor: 6, Body: []byte{1, 2, 3}}, Accept: ProgMismatch, Low: 4, High: 4}, nil),
		encReply(ReplyHeader{XID: 3, Stat: MsgAccepted, Accept: GarbageArgs}, nil),
		encReply(ReplyHeader{XID: 4, Stat: MsgDenied, Reject: RPCMismatch, Low: 2, High: 2}, nil),
		encReply(ReplyHeader{XID: 5, Stat: MsgDenied, Reject: AuthError, AuthStat: 5}, nil),
	}
}

// FuzzDecodeReply: the REPLY header as the client decodes it (RFC 5531 §9).
func FuzzDecodeReply(f *testing.F) {
	for _, s := range seedsReply() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, body, err := DecodeReply(msg)
		rb, rerr := ReplyBody(msg)
		if err != nil {
			if rerr == nil {
				t.Fatalf("ReplyBody accepts what DecodeReply rejects (%v)", err)
			}
			return
		}
		if (h.Err() == nil) != (rerr == nil) || rerr == nil && !bytes.Equal(rb, body) {
			t.Fatalf("ReplyBody %v, header error %v", rerr, h.Err())
		}
		if h.Err() == nil != (h.Stat == MsgAccepted && h.Accept == Success) {
			t.Fatalf("Err() = %v for %+v", h.Err(), h)
		}
		// The header re-encodes to as many bytes as it took and decodes
		// back equal (padding of the verifier body may differ).
		again := encReply(h, nil)
		if len(again) != len(msg)-len(body) {
			t.Fatalf("re-encoded header is %d bytes, consumed %d", len(again), len(msg)-len(body))
		}
		h2, rest, err := DecodeReply(again)
		if err != nil || len(rest) != 0 || !reflect.DeepEqual(h, h2) {
			t.Fatalf("re-decode: %v, %d left, %+v vs %+v", err, len(rest), h2, h)
		}
	})
}

func seedsRecord() [][]byte {
	return [][]byte{
		rec([]byte("hel"), nil, []byte("lo")),
		binary.BigEndian.AppendUint32(nil, 0xffffffff),
		append(rec(make([]byte, 40)), rec([]byte{1})...),
		rec(encCall(CallHeader{XID: 1, Prog: 100003, Vers: 4, Proc: 1, Cred: sysCred}, nil)),
	}
}

func FuzzReadRecord(f *testing.F) {
	for _, s := range seedsRecord() {
		f.Add(s)
	}
	const max = 64
	f.Fuzz(func(t *testing.T, stream []byte) {
		rr := NewRecordReader(bytes.NewReader(stream), max)
		var buf []byte
		total := 0
		for {
			r, err := rr.ReadRecord(buf)
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrRecordTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(r) > max {
				t.Fatalf("record of %d > max", len(r))
			}
			// Each record costs at least one 4-byte mark: no record
			// is made up from nothing.
			if total += len(r) + 4; total > len(stream) {
				t.Fatalf("%d bytes of records and marks from a %d-byte stream", total, len(stream))
			}
			var d xdr.Decoder
			d.Reset(r)
			var h CallHeader
			_ = h.Decode(&d)
			buf = r
		}
	})
}

// FuzzReadRecordPick: the picking reader yields the same records as
// ReadRecord, whatever buffer the pick function hands it.
func FuzzReadRecordPick(f *testing.F) {
	for _, s := range seedsRecord() {
		f.Add(s, uint16(3))
	}
	const max = 64
	f.Fuzz(func(t *testing.T, stream []byte, size uint16) {
		plain := NewRecordReader(bytes.NewReader(stream), max)
		picking := NewRecordReader(bytes.NewReader(stream), max)
		pick := func(xid uint32, n int, last bool) []byte { return make([]byte, int(size)%128) }
		for {
			want, werr := plain.ReadRecord(nil)
			got, gerr := picking.ReadRecordPick(pick)
			if (werr == nil) != (gerr == nil) || (werr == nil && !bytes.Equal(want, got)) {
				t.Fatalf("ReadRecord %q %v, ReadRecordPick %q %v", want, werr, got, gerr)
			}
			if werr != nil {
				return
			}
		}
	})
}

// TestWriteFuzzCorpus writes the seeds above to testdata/fuzz/ (only with
// -fuzzcorpus).
func TestWriteFuzzCorpus(t *testing.T) {
	fuzzcorpus.SkipUnlessAsked(t)
	fuzzcorpus.Write(t, "FuzzDecodeCall", fuzzcorpus.Bytes(seedsCall()...))
	fuzzcorpus.Write(t, "FuzzDecodeReply", fuzzcorpus.Bytes(seedsReply()...))
	fuzzcorpus.Write(t, "FuzzReadRecord", fuzzcorpus.Bytes(seedsRecord()...))
}
