package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

func FuzzDecodeCall(f *testing.F) {
	f.Add(encCall(CallHeader{XID: 1, Prog: 100003, Vers: 4, Proc: 1, Cred: sysCred}, []byte{1, 2, 3, 4}))
	f.Add(encCall(CallHeader{XID: 2, Cred: Auth{Flavor: RPCSecGSS, Body: []byte{1}}}, nil))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3})
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
		_, _, _ = DecodeReply(msg)
	})
}

func FuzzReadRecord(f *testing.F) {
	f.Add(rec([]byte("hel"), nil, []byte("lo")))
	f.Add(binary.BigEndian.AppendUint32(nil, 0xffffffff))
	f.Add(append(rec(make([]byte, 40)), rec([]byte{1})...))
	const max = 64
	f.Fuzz(func(t *testing.T, stream []byte) {
		rr := NewRecordReader(bytes.NewReader(stream), max)
		var buf []byte
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
			var d xdr.Decoder
			d.Reset(r)
			var h CallHeader
			_ = h.Decode(&d)
			buf = r
		}
	})
}
