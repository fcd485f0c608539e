package nfs4

import (
	"errors"
	"reflect"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// benchWant is the 13-attribute request of the GETATTR/READDIR benchmarks
// (shared/notes/libraries.md): type, change, size, fsid, fileid, mode,
// numlinks, owner, owner_group, space_used, time_access, time_metadata,
// time_modify.
func benchWant() Bitmap {
	return bitmapOf(AttrType, AttrChange, AttrSize, AttrFSID, AttrFileID, AttrMode,
		AttrNumLinks, AttrOwner, AttrOwnerGroup, AttrSpaceUsed, AttrTimeAccess,
		AttrTimeMetadata, AttrTimeModify)
}

func benchAttrs() *Attrs {
	return &Attrs{
		Supported: CodecAttrs, Type: NF4REG, Change: 0x1234, Size: 4096,
		FSID: FSID{1, 2}, FileID: 77, Mode: 0o644, NumLinks: 1, UID: 1000, GID: 1000,
		SpaceUsed: 4096, TimeAccess: Time{1700000000, 1}, TimeMetadata: Time{1700000001, 2},
		TimeModify: Time{1700000002, 3},
	}
}

// fullAttrs sets every field the codec has to a distinctive value.
func fullAttrs() *Attrs {
	return &Attrs{
		Supported: CodecAttrs, Type: NF4DIR, FHExpireType: FHPersistent, Change: 11, Size: 12,
		LinkSupport: true, SymlinkSupport: true, NamedAttr: false, FSID: FSID{13, 14},
		UniqueHandles: true, LeaseTime: 90, RdAttrError: OK, ACLSupport: 0,
		ACL: []ACE{{Type: ACE4AccessAllowed, AccessMask: ACE4ReadData, Who: []byte("OWNER@")},
			{Type: ACE4AccessDenied, Flag: ACE4IdentifierGroup, AccessMask: ACE4WriteData, Who: []byte("1000")}},
		CanSetTime: true, CaseInsensitive: false, CasePreserving: true, ChownRestricted: true,
		FileHandle: []byte{1, 2, 3, 4, 5}, FileID: 15, FilesAvail: 16, FilesFree: 17, FilesTotal: 18,
		Homogeneous: true, MaxFileSize: 1 << 62, MaxLink: 65000, MaxName: 255, MaxRead: 1 << 20,
		MaxWrite: 1 << 20, Mode: 0o1777, NoTrunc: true, NumLinks: 3,
		Owner: []byte("alice@example.org"), OwnerGroup: []byte("1000"),
		RawDev: SpecData{8, 16}, SpaceAvail: 19, SpaceFree: 20, SpaceTotal: 21, SpaceUsed: 22,
		TimeAccess: Time{-5, 1}, TimeAccessSet: SetTime{How: SetToClientTime, Time: Time{100, 200}},
		TimeCreate: Time{23, 24}, TimeDelta: Time{0, 1}, TimeMetadata: Time{25, 26},
		TimeModify: Time{27, 28}, TimeModifySet: SetTime{How: SetToServerTime},
		MountedOnFileID: 29, FSLayoutTypes: []uint32{}, SuppAttrExclCreat: Bitmap{1 << AttrSize, 0x2},
		ChangeAttrType: 2, XattrSupport: true,
	}
}

func TestAttrsRoundTripAll(t *testing.T) {
	in := fullAttrs()
	var e xdr.Encoder
	if err := EncodeAttrsExact(&e, CodecAttrs, in); err != nil {
		t.Fatal(err)
	}
	var f Fattr
	d := xdr.NewDecoder(e.Buf)
	f.Decode(d)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("fattr4 decode: %v, %d left", d.Err(), d.Remaining())
	}
	out, err := DecodeAttrs(&f)
	if err != nil {
		t.Fatal(err)
	}
	in.Present = CodecAttrs
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("mismatch\n in: %+v\nout: %+v", in, out)
	}
	// And the values re-encode identically (VERIFY compares bytes).
	var v xdr.Encoder
	if err := AppendAttrVals(&v, f.Mask, out); err != nil || string(v.Buf) != string(f.Vals) {
		t.Fatalf("AppendAttrVals differs (%v)", err)
	}
}

func TestEncodeAttrsFilters(t *testing.T) {
	a := benchAttrs()
	a.Supported = bitmapOf(AttrType, AttrSize, AttrMode, AttrOwner, AttrTimeModifySet, AttrXattrSupport)
	want := bitmapOf(AttrType, AttrChange, AttrSize, AttrOwner, AttrTimeModifySet, AttrACL)
	var e xdr.Encoder
	EncodeAttrs(&e, want, a)
	var f Fattr
	f.Decode(xdr.NewDecoder(e.Buf))
	// change: not supported; acl: not in the codec; time_modify_set: write-only.
	if wantMask := bitmapOf(AttrType, AttrSize, AttrOwner); !reflect.DeepEqual(f.Mask, wantMask) {
		t.Fatalf("mask %x want %x", f.Mask, wantMask)
	}
	got, err := DecodeAttrs(&f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != NF4REG || got.Size != 4096 || string(got.Owner) != "1000" {
		t.Fatalf("values %+v", got)
	}
	// Bitmap words are trimmed: a request for word-0 attributes only gives one word.
	e.Reset()
	EncodeAttrs(&e, Bitmap{1 << AttrType, 0, 0, 0}, a)
	if n := xdr.NewDecoder(e.Buf).Uint32(); n != 1 {
		t.Fatalf("bitmap has %d words", n)
	}
	e.Reset()
	EncodeAttrs(&e, nil, a)
	if string(e.Buf) != "\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("empty request encodes %x", e.Buf)
	}
}

func TestOwnerNumeric(t *testing.T) {
	for _, id := range []uint32{0, 7, 1000, 65534, 4294967295} {
		a := &Attrs{Supported: CodecAttrs, UID: id, GID: id + 1}
		var e xdr.Encoder
		EncodeAttrs(&e, bitmapOf(AttrOwner, AttrOwnerGroup), a)
		var f Fattr
		f.Decode(xdr.NewDecoder(e.Buf))
		got, err := DecodeAttrs(&f)
		if err != nil {
			t.Fatal(err)
		}
		u, ok1 := ParseID(got.Owner)
		g, ok2 := ParseID(got.OwnerGroup)
		if !ok1 || u != id || (id != 4294967295 && (!ok2 || g != id+1)) {
			t.Errorf("id %d: owner %q group %q", id, got.Owner, got.OwnerGroup)
		}
	}
	for _, s := range []string{"", "01", "abc", "1000@x", "4294967296", "99999999999"} {
		if _, ok := ParseID([]byte(s)); ok {
			t.Errorf("ParseID(%q) accepted", s)
		}
	}
}

func TestRdAttrError(t *testing.T) {
	a := benchAttrs()
	a.RdAttrError = ErrAccess
	want := benchWant()
	want.Set(AttrRdAttrError)
	var e xdr.Encoder
	EncodeAttrs(&e, want, a)
	var f Fattr
	f.Decode(xdr.NewDecoder(e.Buf))
	got, err := DecodeAttrs(&f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Mask, Bitmap{1 << AttrRdAttrError}) || got.RdAttrError != ErrAccess {
		t.Fatalf("mask %x err %v", f.Mask, got.RdAttrError)
	}
	// Without an error rdattr_error goes out as NFS4_OK among the others.
	a.RdAttrError = OK
	e.Reset()
	EncodeAttrs(&e, want, a)
	f.Decode(xdr.NewDecoder(e.Buf))
	if !f.Mask.Has(AttrRdAttrError) || !f.Mask.Has(AttrTimeModify) {
		t.Fatalf("mask %x", f.Mask)
	}
}

func TestDecodeAttrsErrors(t *testing.T) {
	var ae *AttrError
	// Unsupported bit: archive (14) and a bit beyond the codec's words.
	for _, bit := range []int{AttrArchive, AttrFSLocations, 120} {
		f := &Fattr{Mask: bitmapOf(AttrSize, bit), Vals: make([]byte, 8)}
		_, err := DecodeAttrs(f)
		if !errors.As(err, &ae) || ae.Status != ErrAttrNotSupp || ae.Attr != bit {
			t.Errorf("bit %d: %v", bit, err)
		}
	}
	// Missing bytes.
	f := &Fattr{Mask: bitmapOf(AttrSize, AttrMode), Vals: make([]byte, 10)}
	if _, err := DecodeAttrs(f); !errors.As(err, &ae) || ae.Status != ErrBadXDR || ae.Attr != AttrMode {
		t.Errorf("short: %v", err)
	}
	// Trailing bytes.
	f = &Fattr{Mask: bitmapOf(AttrSize), Vals: make([]byte, 12)}
	if _, err := DecodeAttrs(f); !errors.As(err, &ae) || ae.Status != ErrBadXDR || ae.Attr != -1 {
		t.Errorf("trailing: %v", err)
	}
	// Bad bool and bad settime4 discriminant.
	f = &Fattr{Mask: bitmapOf(AttrLinkSupport), Vals: []byte{0, 0, 0, 5}}
	if _, err := DecodeAttrs(f); !errors.As(err, &ae) || ae.Status != ErrBadXDR {
		t.Errorf("bool: %v", err)
	}
	f = &Fattr{Mask: bitmapOf(AttrTimeModifySet), Vals: []byte{0, 0, 0, 2}}
	if _, err := DecodeAttrs(f); !errors.As(err, &ae) || ae.Status != ErrBadXDR {
		t.Errorf("settime: %v", err)
	}
	// Owner above the bound.
	var e xdr.Encoder
	e.Opaque(make([]byte, MaxOwnerLen+4))
	f = &Fattr{Mask: bitmapOf(AttrOwner), Vals: e.Buf}
	if _, err := DecodeAttrs(f); !errors.As(err, &ae) || ae.Status != ErrBadXDR {
		t.Errorf("owner: %v", err)
	}
	// EncodeAttrsExact refuses unknown bits and writes nothing.
	e.Reset()
	if err := EncodeAttrsExact(&e, bitmapOf(AttrHidden), fullAttrs()); !errors.As(err, &ae) || ae.Attr != AttrHidden || e.Len() != 0 {
		t.Errorf("exact: %v, %d bytes", err, e.Len())
	}
}

func TestSetattrAttrSets(t *testing.T) {
	if n, ok := FirstReadOnly(bitmapOf(AttrMode, AttrSize, AttrTimeModifySet)); ok {
		t.Errorf("writable set reported read-only %d", n)
	}
	if n, ok := FirstReadOnly(bitmapOf(AttrMode, AttrTimeModify, AttrFileID)); !ok || n != AttrFileID {
		t.Errorf("got %d %v, want fileid", n, ok)
	}
	if n, ok := FirstReadOnly(Bitmap{0, 0, 0, 1}); !ok || n != 96 {
		t.Errorf("high bit: %d %v", n, ok)
	}
	if !IsWritable(AttrACL) || IsWritable(AttrType) {
		t.Error("IsWritable")
	}
	// Everything settable is writable and in the codec.
	for n := range 96 {
		if SettableAttrs.Has(n) && (!WritableAttrs.Has(n) || !CodecAttrs.Has(n)) {
			t.Errorf("settable %d not writable/codec", n)
		}
	}
}

func TestEncodeAttrsNoAlloc(t *testing.T) {
	a := benchAttrs()
	want := benchWant()
	e := xdr.NewEncoder(make([]byte, 0, 1024))
	allocs := testing.AllocsPerRun(100, func() {
		e.Reset()
		EncodeAttrs(e, want, a)
	})
	if allocs != 0 {
		t.Fatalf("EncodeAttrs allocates %.1f times", allocs)
	}
}

func TestWriteOnlyTable(t *testing.T) {
	for n := range codecWords * 32 {
		if WriteOnlyAttrs.Has(n) != (writeOnly[n/32]&(1<<(n%32)) != 0) {
			t.Errorf("writeOnly table disagrees with WriteOnlyAttrs at %d", n)
		}
	}
}

func TestACLAttrDecode(t *testing.T) {
	in := &Attrs{ACL: []ACE{{Type: ACE4AccessAllowed, Flag: 0, AccessMask: 0, Who: []byte("123")}}}
	var e xdr.Encoder
	if err := EncodeAttrsExact(&e, bitmapOf(AttrACL), in); err != nil {
		t.Fatal(err)
	}
	var f Fattr
	f.Decode(xdr.NewDecoder(e.Buf))
	// count 1, type, flag, mask, who "123" padded.
	if len(f.Vals) != 4+12+4+4 {
		t.Fatalf("acl value is %d bytes: %x", len(f.Vals), f.Vals)
	}
	out, err := DecodeAttrs(&f)
	if err != nil || len(out.ACL) != 1 || string(out.ACL[0].Who) != "123" {
		t.Fatalf("decode = %+v, %v", out, err)
	}
	var ae *AttrError
	for name, vals := range map[string][]byte{
		"count over MaxACEs": be.AppendUint32(nil, MaxACEs+1),
		"count beyond data":  append(be.AppendUint32(nil, 2), f.Vals[4:]...),
		"who too long":       append(be.AppendUint32(nil, 1), append(make([]byte, 12), be.AppendUint32(nil, MaxOwnerLen+1)...)...),
		"truncated ace":      f.Vals[:10],
	} {
		_, err := DecodeAttrs(&Fattr{Mask: bitmapOf(AttrACL), Vals: vals})
		if !errors.As(err, &ae) || ae.Status != ErrBadXDR || ae.Attr != AttrACL {
			t.Errorf("%s: %v", name, err)
		}
	}
}
