package nfs4

import (
	"strconv"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Benchmarks of the server's hot paths, in the shapes of
// shared/notes/libraries.md (there with a SEQUENCE op in front; here
// without it, as 4.0 sends them).

var benchFH = []byte{1, 0, 0, 0, 0, 0, 0, 0, 0x4d, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 1, 0, 0, 0, 2}

// PUTFH + GETATTR(13 attributes) reply.
func BenchmarkGetattrReplyEncode(b *testing.B) {
	a, want := benchAttrs(), benchWant()
	e := xdr.NewEncoder(make([]byte, 0, 512))
	tag := []byte("getattr")
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		h := EncodeCompoundResHeader(e, tag)
		e.Uint32(uint32(OpPutFH))
		e.Uint32(uint32(OK))
		e.Uint32(uint32(OpGetattr))
		e.Uint32(uint32(OK))
		EncodeAttrs(e, want, a)
		h.Finish(e, OK, 2)
	}
	b.SetBytes(int64(e.Len()))
}

// PUTFH + READDIR reply with 100 entries, each with the 13 attributes.
func BenchmarkReadDir100Encode(b *testing.B) {
	a, want := benchAttrs(), benchWant()
	names := make([][]byte, 100)
	for i := range names {
		names[i] = []byte("file-" + strconv.Itoa(i) + ".dat")
	}
	e := xdr.NewEncoder(make([]byte, 0, 32<<10))
	rd := &ReadDirRes{Status: OK, CookieVerf: verf40}
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		h := EncodeCompoundResHeader(e, nil)
		e.Uint32(uint32(OpPutFH))
		e.Uint32(uint32(OK))
		e.Uint32(uint32(OpReadDir))
		rd.EncodeHeader(e)
		for i, n := range names {
			a.FileID = uint64(i + 100)
			EncodeDirEntry(e, uint64(i+3), n, want, a)
		}
		EncodeDirEnd(e, true)
		h.Finish(e, OK, 2)
	}
	b.SetBytes(int64(e.Len()))
}

// Decode of a PUTFH + READ(1 MiB) reply (client side): zero-copy payload.
func BenchmarkRead1MiBReplyDecode(b *testing.B) {
	var e xdr.Encoder
	(&CompoundRes{Results: []ResOp{
		{OpPutFH, &PutFHRes{}},
		{OpRead, &ReadRes{Status: OK, EOF: false, Data: make([]byte, 1<<20)}},
	}}).Encode(&e)
	msg := e.Buf
	var d xdr.Decoder
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(msg)
		var c CompoundRes
		c.Decode(&d)
		if d.Err() != nil || len(c.Results[1].Res.(*ReadRes).Data) != 1<<20 {
			b.Fatal("decode", d.Err())
		}
	}
}

// The READ reply header for writev (payload not copied).
func BenchmarkRead1MiBReplyEncodeHeader(b *testing.B) {
	r := &ReadRes{Status: OK, Data: make([]byte, 1<<20)}
	e := xdr.NewEncoder(make([]byte, 0, 128))
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		h := EncodeCompoundResHeader(e, nil)
		e.Uint32(uint32(OpPutFH))
		e.Uint32(uint32(OK))
		e.Uint32(uint32(OpRead))
		r.EncodeHeader(e)
		h.Finish(e, OK, 2)
		_ = ReadPad(len(r.Data))
	}
}

// Server-side decode of a typical request, op by op.
func BenchmarkCompoundArgsDecode(b *testing.B) {
	var e xdr.Encoder
	(&CompoundArgs{Ops: []ArgOp{
		{OpPutFH, &PutFHArgs{Object: benchFH}},
		{OpGetattr, &GetattrArgs{AttrRequest: benchWant()}},
	}}).Encode(&e)
	msg := e.Buf
	var d xdr.Decoder
	var putfh PutFHArgs
	var getattr GetattrArgs
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(msg)
		_, _, n, err := DecodeCompoundHeader(&d)
		if err != nil || n != 2 {
			b.Fatal(err)
		}
		d.Uint32()
		putfh.Decode(&d)
		d.Uint32()
		getattr.Decode(&d)
		if d.Err() != nil {
			b.Fatal(d.Err())
		}
	}
}
