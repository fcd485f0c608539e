package nfs4

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

func sampleCompound() *CompoundArgs {
	return &CompoundArgs{Tag: []byte("open"), MinorVersion: 0, Ops: []ArgOp{
		{OpPutFH, &PutFHArgs{Object: []byte{1, 2, 3, 4, 5, 6, 7, 8}}},
		{OpSaveFH, &SaveFHArgs{}},
		{OpOpen, &OpenArgs{SeqID: 1, ShareAccess: ShareAccessBoth, Owner: owner40,
			OpenHow: OpenFlag{OpenType: OpenCreate, CreateHow: CreateHow{Mode: Guarded4, CreateAttrs: fat40}},
			Claim:   OpenClaim{Claim: ClaimNull, File: []byte("new.txt")}}},
		{OpGetFH, &GetFHArgs{}},
		{OpGetattr, &GetattrArgs{AttrRequest: benchWant()}},
		{OpWrite, &WriteArgs{StateID: sid40a, Stable: Unstable4, Data: []byte("data!")}},
	}}
}

func TestCompoundArgsRoundTrip(t *testing.T) {
	c := sampleCompound()
	var e xdr.Encoder
	c.Encode(&e)
	var got CompoundArgs
	d := xdr.NewDecoder(e.Buf)
	got.Decode(d)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("decode: %v, %d left", d.Err(), d.Remaining())
	}
	if !reflect.DeepEqual(c, &got) {
		t.Fatalf("mismatch\n%+v\n%+v", c, &got)
	}
	// The incremental path sees the same header.
	tag, minor, n, err := DecodeCompoundHeader(xdr.NewDecoder(e.Buf))
	if err != nil || string(tag) != "open" || minor != 0 || n != len(c.Ops) {
		t.Fatalf("header %q %d %d %v", tag, minor, n, err)
	}
}

func TestCompoundUnknownOp(t *testing.T) {
	var e xdr.Encoder
	e.Opaque(nil)
	e.Uint32(1)
	e.Uint32(3)
	e.Uint32(uint32(OpPutRootFH))
	e.Uint32(2) // not an op
	e.Uint32(uint32(OpGetFH))
	var c CompoundArgs
	d := xdr.NewDecoder(e.Buf)
	c.Decode(d)
	var uo *UnknownOpError
	if !errors.As(d.Err(), &uo) || uo.Op != 2 || uo.Index != 1 {
		t.Fatalf("err %v", d.Err())
	}
	if len(c.Ops) != 1 || c.Ops[0].Op != OpPutRootFH || c.MinorVersion != 1 {
		t.Fatalf("ops before the bad one: %+v", c)
	}
}

func TestCompoundHeaderBounds(t *testing.T) {
	var e xdr.Encoder
	e.Opaque([]byte("t"))
	e.Uint32(0)
	e.Uint32(MaxOpsPerCompound + 1)
	e.Buf = append(e.Buf, make([]byte, 4*(MaxOpsPerCompound+1))...)
	tag, _, _, err := DecodeCompoundHeader(xdr.NewDecoder(e.Buf))
	var le *xdr.LengthError
	if !errors.As(err, &le) || string(tag) != "t" {
		t.Fatalf("too many ops: %v tag %q", err, tag)
	}
	// A count the remaining bytes cannot hold is rejected before allocating.
	e.Reset()
	e.Opaque(nil)
	e.Uint32(0)
	e.Uint32(1000)
	if _, _, _, err := DecodeCompoundHeader(xdr.NewDecoder(e.Buf)); err == nil {
		t.Fatal("count beyond input accepted")
	}
	e.Reset()
	e.Opaque(make([]byte, MaxTagLen+1))
	if _, _, _, err := DecodeCompoundHeader(xdr.NewDecoder(e.Buf)); err == nil {
		t.Fatal("long tag accepted")
	}
}

func sampleCompoundRes() *CompoundRes {
	return &CompoundRes{Status: ErrNoEnt, Tag: []byte("t1"), Results: []ResOp{
		{OpPutFH, &PutFHRes{Status: OK}},
		{OpGetattr, &GetattrRes{Status: OK, ObjAttributes: fat40}},
		{OpRead, &ReadRes{Status: OK, Data: []byte("abc")}},
		{OpLookup, &LookupRes{StatusRes{ErrNoEnt}}},
	}}
}

func TestCompoundResRoundTripAndPatch(t *testing.T) {
	c := sampleCompoundRes()
	var e xdr.Encoder
	c.Encode(&e)
	var got CompoundRes
	d := xdr.NewDecoder(e.Buf)
	got.Decode(d)
	if d.Err() != nil || d.Remaining() != 0 || !reflect.DeepEqual(c, &got) {
		t.Fatalf("round trip: %v\n%+v\n%+v", d.Err(), c, &got)
	}
	// The server's incremental form gives the same bytes.
	var s xdr.Encoder
	h := EncodeCompoundResHeader(&s, c.Tag)
	for _, r := range c.Results {
		s.Uint32(uint32(r.Op))
		r.Res.Encode(&s)
	}
	h.Finish(&s, ErrNoEnt, len(c.Results))
	if !bytes.Equal(s.Buf, e.Buf) {
		t.Fatal("incremental reply differs")
	}
	// Unknown result op.
	e.Reset()
	(&CompoundRes{Tag: nil, Results: []ResOp{{Op: 5000, Res: &IllegalRes{}}}}).Encode(&e)
	d = xdr.NewDecoder(e.Buf)
	got.Decode(d)
	var uo *UnknownOpError
	if !errors.As(d.Err(), &uo) || uo.Op != 5000 {
		t.Fatalf("unknown res op: %v", d.Err())
	}
}
