package nfs4

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// sameModuloIgnored checks that re-encoding a decoded value reproduced the
// consumed input. XDR padding is the one thing the decoder may ignore
// (xdr.Decoder does not insist on zero pad bytes), so where bytes differ
// the input is retried with those bytes zeroed and must decode to the same
// value: the differing bytes carried no information.
func sameModuloIgnored(t *testing.T, in, out []byte, decode func([]byte) (any, bool)) {
	t.Helper()
	if bytes.Equal(in, out) {
		return
	}
	if len(in) != len(out) {
		t.Fatalf("re-encoding is %d bytes, consumed %d\n in: %x\nout: %x", len(out), len(in), in, out)
	}
	z := bytes.Clone(in)
	for i := range z {
		if z[i] != out[i] {
			if out[i] != 0 {
				t.Fatalf("byte %d: input %#x, re-encoded %#x", i, in[i], out[i])
			}
			z[i] = 0
		}
	}
	v1, ok1 := decode(in)
	v2, ok2 := decode(z)
	if !ok1 || !ok2 || !reflect.DeepEqual(v1, v2) {
		t.Fatalf("differing bytes carry information\n in: %x\nout: %x", in, out)
	}
}

func decodeCompound(b []byte) (any, bool) {
	var c CompoundArgs
	d := xdr.NewDecoder(b)
	c.Decode(d)
	return &c, d.Err() == nil
}

func FuzzDecodeCompound(f *testing.F) {
	var e xdr.Encoder
	sampleCompound().Encode(&e)
	f.Add(bytes.Clone(e.Buf))
	for _, op := range []ArgOp{
		{OpLock, &LockArgs{LockType: WriteLT, Locker: Locker{NewLockOwner: true, LockOwner: owner40}}},
		{OpCreate, &CreateArgs{ObjType: NF4LNK, LinkData: []byte("t"), ObjName: []byte("n"), CreateAttrs: fat40}},
		{OpSetClientID, &SetClientIDArgs{ID: []byte("x"), Callback: CBClient{CBLocation: NetAddr{NetID: []byte("tcp"), Addr: []byte("1.2.3.4.5.6")}}}},
		{OpReadDir, &ReadDirArgs{AttrRequest: benchWant()}},
		{OpSetattr, &SetattrArgs{ObjAttributes: fat40}},
	} {
		e.Reset()
		(&CompoundArgs{Tag: []byte("seed"), Ops: []ArgOp{{OpPutRootFH, &PutRootFHArgs{}}, op}}).Encode(&e)
		f.Add(bytes.Clone(e.Buf))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c CompoundArgs
		d := xdr.NewDecoder(data)
		c.Decode(d)
		if d.Err() != nil {
			return
		}
		var out xdr.Encoder
		c.Encode(&out)
		sameModuloIgnored(t, data[:d.Offset()], out.Buf, decodeCompound)
	})
}

func decodeFattrAttrs(b []byte) (any, bool) {
	var fa Fattr
	d := xdr.NewDecoder(b)
	fa.Decode(d)
	if d.Err() != nil {
		return nil, false
	}
	a, err := DecodeAttrs(&fa)
	return a, err == nil
}

func FuzzDecodeAttrs(f *testing.F) {
	var e xdr.Encoder
	EncodeAttrsExact(&e, CodecAttrs, fullAttrs())
	f.Add(bytes.Clone(e.Buf))
	e.Reset()
	EncodeAttrs(&e, benchWant(), benchAttrs())
	f.Add(bytes.Clone(e.Buf))
	f.Fuzz(func(t *testing.T, data []byte) {
		var fa Fattr
		d := xdr.NewDecoder(data)
		fa.Decode(d)
		if d.Err() != nil {
			return
		}
		a, err := DecodeAttrs(&fa)
		if err != nil {
			if _, ok := err.(*AttrError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		var out xdr.Encoder
		if err := EncodeAttrsExact(&out, fa.Mask, a); err != nil {
			t.Fatalf("re-encode of accepted attrs: %v", err)
		}
		sameModuloIgnored(t, data[:d.Offset()], out.Buf, decodeFattrAttrs)
	})
}
