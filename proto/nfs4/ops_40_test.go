package nfs4

import (
	"bytes"
	"reflect"
	"strconv"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// coder40 is what every Args/Res implements.
type coder40 interface {
	Encode(*xdr.Encoder)
	Decode(*xdr.Decoder)
}

// roundTrip40 encodes v, decodes into a fresh value of the same type,
// requires all input consumed, deep equality, and an identical re-encoding.
func roundTrip40(t *testing.T, name string, v coder40) {
	t.Helper()
	var e xdr.Encoder
	v.Encode(&e)
	if len(e.Buf)%4 != 0 {
		t.Errorf("%s: encoding length %d not a multiple of 4", name, len(e.Buf))
	}
	got := reflect.New(reflect.TypeOf(v).Elem()).Interface().(coder40)
	d := xdr.NewDecoder(e.Buf)
	got.Decode(d)
	if err := d.Err(); err != nil {
		t.Errorf("%s: decode: %v", name, err)
		return
	}
	if d.Remaining() != 0 {
		t.Errorf("%s: %d bytes left after decode", name, d.Remaining())
	}
	if !reflect.DeepEqual(v, got) {
		t.Errorf("%s: round trip mismatch\n in: %+v\nout: %+v", name, v, got)
	}
	var e2 xdr.Encoder
	got.Encode(&e2)
	if !bytes.Equal(e.Buf, e2.Buf) {
		t.Errorf("%s: re-encoding differs", name)
	}
	// Every strict prefix must fail to decode (no silent truncation).
	for _, n := range []int{len(e.Buf) - 4, len(e.Buf) / 2} {
		if n <= 0 || n >= len(e.Buf) {
			continue
		}
		p := reflect.New(reflect.TypeOf(v).Elem()).Interface().(coder40)
		d := xdr.NewDecoder(e.Buf[:n])
		p.Decode(d)
		if d.Err() == nil && d.Remaining() == 0 && reflect.DeepEqual(v, p) {
			t.Errorf("%s: %d-byte prefix decoded to the same value", name, n)
		}
	}
}

var (
	sid40a  = StateID{SeqID: 7, Other: [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}
	sid40b  = StateID{SeqID: 9, Other: [12]byte{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}}
	verf40  = Verifier{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}
	cinfo40 = ChangeInfo{Atomic: true, Before: 100, After: 101}
	fat40   = Fattr{Mask: Bitmap{1 << AttrSize, 1 << (AttrMode - 32)}, Vals: []byte{0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 0xa4}}
	owner40 = LockOwner{ClientID: 0x1122334455667788, Owner: []byte("lock-owner-xyz")}
)

func TestRoundTrip40Args(t *testing.T) {
	cases := map[string]coder40{
		"ACCESS":      &AccessArgs{Access: AccessRead | AccessLookup},
		"CLOSE":       &CloseArgs{SeqID: 3, OpenStateID: sid40a},
		"COMMIT":      &CommitArgs{Offset: 1 << 40, Count: 4096},
		"CREATE/lnk":  &CreateArgs{ObjType: NF4LNK, LinkData: []byte("../target"), ObjName: []byte("link"), CreateAttrs: fat40},
		"CREATE/blk":  &CreateArgs{ObjType: NF4BLK, DevData: SpecData{8, 1}, ObjName: []byte("sda1"), CreateAttrs: fat40},
		"CREATE/chr":  &CreateArgs{ObjType: NF4CHR, DevData: SpecData{1, 3}, ObjName: []byte("null"), CreateAttrs: fat40},
		"CREATE/dir":  &CreateArgs{ObjType: NF4DIR, ObjName: []byte("d"), CreateAttrs: fat40},
		"DELEGPURGE":  &DelegPurgeArgs{ClientID: 42},
		"DELEGRETURN": &DelegReturnArgs{DelegStateID: sid40b},
		"GETATTR":     &GetattrArgs{AttrRequest: Bitmap{0x0010011a, 0x00b0a23a}},
		"LINK":        &LinkArgs{NewName: []byte("hard")},
		"LOCK/new": &LockArgs{LockType: WriteLT, Reclaim: true, Offset: 10, Length: ^uint64(0),
			Locker: Locker{NewLockOwner: true, OpenSeqID: 4, OpenStateID: sid40a, LockSeqID: 0, LockOwner: owner40}},
		"LOCK/exist": &LockArgs{LockType: ReadLT, Offset: 0, Length: 100,
			Locker: Locker{LockStateID: sid40b, LockSeqID: 5}},
		"LOCKT":          &LockTArgs{LockType: WriteWLT, Offset: 5, Length: 6, Owner: owner40},
		"LOCKU":          &LockUArgs{LockType: ReadLT, SeqID: 8, LockStateID: sid40b, Offset: 1, Length: 2},
		"LOOKUP":         &LookupArgs{ObjName: []byte("file.txt")},
		"LOOKUPP":        &LookupPArgs{},
		"NVERIFY":        &NVerifyArgs{ObjAttributes: fat40},
		"OPENATTR":       &OpenAttrArgs{CreateDir: true},
		"OPEN_CONFIRM":   &OpenConfirmArgs{OpenStateID: sid40a, SeqID: 2},
		"OPEN_DOWNGRADE": &OpenDowngradeArgs{OpenStateID: sid40a, SeqID: 3, ShareAccess: ShareAccessRead, ShareDeny: ShareDenyNone},
		"PUTPUBFH":       &PutPubFHArgs{},
		"PUTROOTFH":      &PutRootFHArgs{},
		"READ":           &ReadArgs{StateID: sid40a, Offset: 8192, Count: 1 << 20},
		"READDIR":        &ReadDirArgs{Cookie: 3, CookieVerf: verf40, DirCount: 8192, MaxCount: 32768, AttrRequest: Bitmap{0x0018091a, 0x00b0a23a}},
		"READLINK":       &ReadLinkArgs{},
		"REMOVE":         &RemoveArgs{Target: []byte("gone")},
		"RENAME":         &RenameArgs{OldName: []byte("a"), NewName: []byte("bb")},
		"RENEW":          &RenewArgs{ClientID: 77},
		"RESTOREFH":      &RestoreFHArgs{},
		"SAVEFH":         &SaveFHArgs{},
		"SECINFO":        &SecInfoArgs{Name: []byte("x")},
		"SETATTR":        &SetattrArgs{StateID: sid40a, ObjAttributes: fat40},
		"SETCLIENTID": &SetClientIDArgs{Verifier: verf40, ID: []byte("Linux NFSv4.0 host/1.2.3.4"),
			Callback: CBClient{CBProgram: 0x40000000, CBLocation: NetAddr{NetID: []byte("tcp"), Addr: []byte("127.0.0.1.3.236")}}, CallbackIdent: 1},
		"SETCLIENTID_CONFIRM": &SetClientIDConfirmArgs{ClientID: 99, SetClientIDConfirm: verf40},
		"VERIFY":              &VerifyArgs{ObjAttributes: fat40},
		"WRITE":               &WriteArgs{StateID: sid40b, Offset: 12, Stable: FileSync4, Data: []byte("hello")},
		"RELEASE_LOCKOWNER":   &ReleaseLockOwnerArgs{LockOwner: owner40},
		"ILLEGAL":             &IllegalArgs{},
	}
	for _, how := range []CreateHow{
		{Mode: Unchecked4, CreateAttrs: fat40},
		{Mode: Guarded4, CreateAttrs: fat40},
		{Mode: Exclusive4, CreateVerf: verf40},
		{Mode: Exclusive4_1, CreateVerf: verf40, CreateAttrs: fat40},
	} {
		cases["OPEN/create/"+strconv.FormatUint(uint64(how.Mode), 10)] = &OpenArgs{SeqID: 1, ShareAccess: ShareAccessBoth, ShareDeny: ShareDenyWrite,
			Owner: owner40, OpenHow: OpenFlag{OpenType: OpenCreate, CreateHow: how}, Claim: OpenClaim{Claim: ClaimNull, File: []byte("new")}}
	}
	for _, c := range []OpenClaim{
		{Claim: ClaimNull, File: []byte("f")},
		{Claim: ClaimPrevious, DelegateType: DelegateWrite},
		{Claim: ClaimDelegateCur, DelegateStateID: sid40b, File: []byte("g")},
		{Claim: ClaimDelegatePrev, File: []byte("h")},
		{Claim: ClaimFH},
		{Claim: ClaimDelegCurFH, DelegateStateID: sid40b},
		{Claim: ClaimDelegPrevFH},
	} {
		cases["OPEN/claim/"+strconv.FormatUint(uint64(c.Claim), 10)] = &OpenArgs{SeqID: 2, ShareAccess: ShareAccessRead,
			Owner: owner40, OpenHow: OpenFlag{OpenType: OpenNoCreate}, Claim: c}
	}
	for name, v := range cases {
		roundTrip40(t, name, v)
	}
}

func TestRoundTrip40Res(t *testing.T) {
	denied := LockDenied{Offset: 1, Length: 2, LockType: WriteLT, Owner: owner40}
	ace := ACE{Type: 0, Flag: 0, AccessMask: 0x1f, Who: []byte("OWNER@")}
	cases := map[string]coder40{
		"ACCESS":              &AccessRes{Status: OK, Supported: 0x3f, Access: 0x3},
		"ACCESS/err":          &AccessRes{Status: ErrAccess},
		"CLOSE":               &CloseRes{StateIDRes{Status: OK, StateID: sid40a}},
		"CLOSE/err":           &CloseRes{StateIDRes{Status: ErrBadStateID}},
		"COMMIT":              &CommitRes{Status: OK, WriteVerf: verf40},
		"COMMIT/err":          &CommitRes{Status: ErrIO},
		"CREATE":              &CreateRes{Status: OK, CInfo: cinfo40, AttrSet: Bitmap{0, 2}},
		"CREATE/err":          &CreateRes{Status: ErrExist},
		"DELEGPURGE":          &DelegPurgeRes{StatusRes{ErrNotSupp}},
		"DELEGRETURN":         &DelegReturnRes{StatusRes{OK}},
		"GETATTR":             &GetattrRes{Status: OK, ObjAttributes: fat40},
		"GETATTR/err":         &GetattrRes{Status: ErrStale},
		"LINK":                &LinkRes{CInfoRes{Status: OK, CInfo: cinfo40}},
		"LINK/err":            &LinkRes{CInfoRes{Status: ErrXDev}},
		"LOCK":                &LockRes{Status: OK, LockStateID: sid40b},
		"LOCK/denied":         &LockRes{Status: ErrDenied, Denied: denied},
		"LOCK/err":            &LockRes{Status: ErrGrace},
		"LOCKT":               &LockTRes{Status: OK},
		"LOCKT/denied":        &LockTRes{Status: ErrDenied, Denied: denied},
		"LOCKU":               &LockURes{StateIDRes{Status: OK, StateID: sid40a}},
		"LOCKU/err":           &LockURes{StateIDRes{Status: ErrLockRange}},
		"LOOKUP":              &LookupRes{StatusRes{ErrNoEnt}},
		"LOOKUPP":             &LookupPRes{StatusRes{OK}},
		"NVERIFY":             &NVerifyRes{StatusRes{ErrSame}},
		"OPENATTR":            &OpenAttrRes{StatusRes{ErrNotSupp}},
		"OPEN_CONFIRM":        &OpenConfirmRes{StateIDRes{Status: OK, StateID: sid40a}},
		"OPEN_DOWNGRADE":      &OpenDowngradeRes{StateIDRes{Status: OK, StateID: sid40b}},
		"OPEN/err":            &OpenRes{Status: ErrShareDenied},
		"PUTPUBFH":            &PutPubFHRes{StatusRes{OK}},
		"PUTROOTFH":           &PutRootFHRes{StatusRes{OK}},
		"READ":                &ReadRes{Status: OK, EOF: true, Data: []byte("hello world")},
		"READ/err":            &ReadRes{Status: ErrOpenMode},
		"READDIR/err":         &ReadDirRes{Status: ErrBadCookie},
		"READLINK":            &ReadLinkRes{Status: OK, Link: []byte("/a/b")},
		"READLINK/err":        &ReadLinkRes{Status: ErrInval},
		"REMOVE":              &RemoveRes{CInfoRes{Status: OK, CInfo: cinfo40}},
		"RENAME":              &RenameRes{Status: OK, SourceCInfo: cinfo40, TargetCInfo: ChangeInfo{Before: 5, After: 6}},
		"RENAME/err":          &RenameRes{Status: ErrNotEmpty},
		"RENEW":               &RenewRes{StatusRes{ErrExpired}},
		"RESTOREFH":           &RestoreFHRes{StatusRes{ErrRestoreFH}},
		"SAVEFH":              &SaveFHRes{StatusRes{OK}},
		"SECINFO":             &SecInfoRes{Status: OK, Flavors: []SecInfo{{Flavor: RPCSecGSS, OID: []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}, QOP: 0, Service: 2}, {Flavor: AuthSys}}},
		"SECINFO/err":         &SecInfoRes{Status: ErrNoEnt},
		"SETATTR":             &SetattrRes{Status: OK, AttrsSet: Bitmap{1 << AttrSize}},
		"SETATTR/err":         &SetattrRes{Status: ErrPerm, AttrsSet: Bitmap{0}},
		"SETCLIENTID":         &SetClientIDRes{Status: OK, ClientID: 5, SetClientIDConfirm: verf40},
		"SETCLIENTID/inuse":   &SetClientIDRes{Status: ErrClidInUse, ClientUsing: NetAddr{NetID: []byte("tcp6"), Addr: []byte("::1.8.1")}},
		"SETCLIENTID/err":     &SetClientIDRes{Status: ErrResource},
		"SETCLIENTID_CONFIRM": &SetClientIDConfirmRes{StatusRes{ErrStaleClientID}},
		"VERIFY":              &VerifyRes{StatusRes{ErrNotSame}},
		"WRITE":               &WriteRes{Status: OK, Count: 5, Committed: DataSync4, WriteVerf: verf40},
		"WRITE/err":           &WriteRes{Status: ErrNoSpc},
		"RELEASE_LOCKOWNER":   &ReleaseLockOwnerRes{StatusRes{ErrLocksHeld}},
		"ILLEGAL":             &IllegalRes{StatusRes{ErrOpIllegal}},
		"READDIR": &ReadDirRes{Status: OK, CookieVerf: verf40, EOF: true, Entries: []DirEntry{
			{Cookie: 1, Name: []byte("a"), Attrs: fat40},
			{Cookie: 2, Name: []byte("bcdef"), Attrs: Fattr{Mask: Bitmap{}, Vals: []byte{}}},
		}},
	}
	for i, del := range []OpenDelegation{
		{DelegationType: DelegateNone},
		{DelegationType: DelegateRead, StateID: sid40b, Recall: true, Permissions: ace},
		{DelegationType: DelegateWrite, StateID: sid40b, SpaceLimit: SpaceLimit{LimitBy: LimitSize, FileSize: 1 << 30}, Permissions: ace},
		{DelegationType: DelegateWrite, StateID: sid40b, SpaceLimit: SpaceLimit{LimitBy: LimitBlocks, NumBlocks: 10, BytesPerBlock: 4096}, Permissions: ace},
		{DelegationType: DelegateNoneExt, Why: WNDNotWanted},
		{DelegationType: DelegateNoneExt, Why: WNDContention, WillNotify: true},
		{DelegationType: DelegateNoneExt, Why: WNDResource, WillNotify: false},
		{DelegationType: DelegateNoneExt, Why: WNDIsDir},
	} {
		cases["OPEN/deleg/"+strconv.FormatUint(uint64(i), 10)] = &OpenRes{Status: OK, StateID: sid40a, CInfo: cinfo40,
			RFlags: OpenResultConfirm | OpenResultLockType, AttrSet: Bitmap{1 << AttrSize}, Delegation: del}
	}
	for name, v := range cases {
		roundTrip40(t, name, v)
		if r, ok := v.(Res); ok {
			// GetStatus must report the status the value was built with.
			var e xdr.Encoder
			r.Encode(&e)
			if st := Status(xdr.NewDecoder(e.Buf).Uint32()); st != r.GetStatus() {
				t.Errorf("%s: GetStatus %d, wire %d", name, r.GetStatus(), st)
			}
		} else {
			t.Errorf("%s: not a Res", name)
		}
	}
}

// Error arms that carry no body must encode to the status word alone.
func TestErrorArmsAreStatusOnly(t *testing.T) {
	for name, r := range map[string]Res{
		"ACCESS":  &AccessRes{Status: ErrAccess, Supported: 1, Access: 1},
		"READ":    &ReadRes{Status: ErrIO, EOF: true, Data: []byte("x")},
		"WRITE":   &WriteRes{Status: ErrIO, Count: 3},
		"OPEN":    &OpenRes{Status: ErrIO, StateID: sid40a},
		"LOCKT":   &LockTRes{Status: ErrIO, Denied: LockDenied{Offset: 1}},
		"READDIR": &ReadDirRes{Status: ErrIO, Entries: []DirEntry{{}}},
	} {
		var e xdr.Encoder
		r.Encode(&e)
		if len(e.Buf) != 4 {
			t.Errorf("%s: error result is %d bytes, want 4", name, len(e.Buf))
		}
	}
}

func TestRegistry40(t *testing.T) {
	for op := OpAccess; op <= OpReleaseLockOwner; op++ {
		if NewArgs(op) == nil || NewRes(op) == nil {
			t.Errorf("%v not registered", op)
		}
	}
	if _, ok := NewArgs(OpIllegal).(*IllegalArgs); !ok {
		t.Error("OP_ILLEGAL args type")
	}
	if _, ok := NewRes(OpOpen).(*OpenRes); !ok {
		t.Error("OPEN res type")
	}
	if NewArgs(2) != nil || NewArgs(9999) != nil {
		t.Error("unknown op has args")
	}
}

func TestBadUnions40(t *testing.T) {
	bad := map[string]struct {
		v   coder40
		buf []byte
	}{
		"createhow": {&OpenArgs{}, func() []byte {
			var e xdr.Encoder
			(&OpenArgs{Owner: owner40, OpenHow: OpenFlag{OpenType: OpenCreate, CreateHow: CreateHow{Mode: 9}}}).Encode(&e)
			return e.Buf
		}()},
		"claim": {&OpenArgs{}, func() []byte {
			var e xdr.Encoder
			(&OpenArgs{Owner: owner40, Claim: OpenClaim{Claim: 77}}).Encode(&e)
			return e.Buf
		}()},
		"deleg": {&OpenRes{}, func() []byte {
			var e xdr.Encoder
			(&OpenRes{Delegation: OpenDelegation{DelegationType: 9}}).Encode(&e)
			return e.Buf
		}()},
		"bool": {&OpenAttrArgs{}, []byte{0, 0, 0, 2}},
		"name too long": {&LookupArgs{}, func() []byte {
			var e xdr.Encoder
			e.Opaque(make([]byte, MaxNameLen+1))
			return e.Buf
		}()},
		"fh too long": {&PutFHArgs{}, []byte{0, 0, 0, 129}},
		"write short": {&WriteArgs{}, func() []byte {
			var e xdr.Encoder
			(&WriteArgs{Data: []byte("abcdefgh")}).Encode(&e)
			return e.Buf[:len(e.Buf)-1]
		}()},
		"secinfo count": {&SecInfoRes{}, []byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
	}
	for name, c := range bad {
		d := xdr.NewDecoder(c.buf)
		c.v.Decode(d)
		if d.Err() == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestReadEncodeHeader(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 4096} {
		r := &ReadRes{Status: OK, EOF: n%2 == 1, Data: bytes.Repeat([]byte{0xab}, n)}
		var whole, hdr xdr.Encoder
		r.Encode(&whole)
		r.EncodeHeader(&hdr)
		pad := ReadPad(n)
		if (n+len(pad))%4 != 0 || len(pad) > 3 {
			t.Fatalf("n=%d: pad %d", n, len(pad))
		}
		joined := append(append(append([]byte(nil), hdr.Buf...), r.Data...), pad...)
		if !bytes.Equal(joined, whole.Buf) {
			t.Errorf("n=%d: header+data+pad differs from Encode", n)
		}
	}
	var e xdr.Encoder
	(&ReadRes{Status: ErrIO}).EncodeHeader(&e)
	if len(e.Buf) != 4 {
		t.Errorf("error header %d bytes", len(e.Buf))
	}
}

// The streaming READDIR helpers must produce the same bytes as ReadDirRes.
func TestReadDirStreaming(t *testing.T) {
	a := benchAttrs()
	want := benchWant()
	var streamed xdr.Encoder
	hdr := &ReadDirRes{Status: OK, CookieVerf: verf40}
	hdr.EncodeHeader(&streamed)
	names := []string{"a", "file-1.dat", "zz"}
	res := &ReadDirRes{Status: OK, CookieVerf: verf40, EOF: true}
	for i, n := range names {
		sz := EncodeDirEntry(&streamed, uint64(i+3), []byte(n), want, a)
		var fe xdr.Encoder
		EncodeAttrs(&fe, want, a)
		var f Fattr
		f.Decode(xdr.NewDecoder(fe.Buf))
		res.Entries = append(res.Entries, DirEntry{Cookie: uint64(i + 3), Name: []byte(n), Attrs: f})
		if wantSz := 4 + 8 + 4 + xdr.Padded(len(n)) + len(fe.Buf); sz != wantSz {
			t.Errorf("entry %d size %d want %d", i, sz, wantSz)
		}
	}
	mark := streamed.Len()
	EncodeDirEntry(&streamed, 99, []byte("dropped"), want, a)
	streamed.Truncate(mark)
	EncodeDirEnd(&streamed, true)
	var whole xdr.Encoder
	res.Encode(&whole)
	if !bytes.Equal(streamed.Buf, whole.Buf) {
		t.Fatal("streamed READDIR differs from ReadDirRes.Encode")
	}
	var back ReadDirRes
	d := xdr.NewDecoder(streamed.Buf)
	back.Decode(d)
	if d.Err() != nil || len(back.Entries) != 3 || !back.EOF || string(back.Entries[1].Name) != "file-1.dat" {
		t.Fatalf("decode: %v %+v", d.Err(), back)
	}
}

// The server's streaming reply paths must not allocate once the buffer has
// grown (READDIR entries, READ header, compound header patching).
func TestServerEncodersNoAlloc(t *testing.T) {
	a, want := benchAttrs(), benchWant()
	name := []byte("file-17.dat")
	e := xdr.NewEncoder(make([]byte, 0, 8192))
	rd := &ReadDirRes{Status: OK, CookieVerf: verf40}
	rr := &ReadRes{Status: OK, Data: make([]byte, 1000)}
	allocs := testing.AllocsPerRun(50, func() {
		e.Reset()
		h := EncodeCompoundResHeader(e, []byte("tag"))
		e.Uint32(uint32(OpReadDir))
		rd.EncodeHeader(e)
		for i := range 10 {
			EncodeDirEntry(e, uint64(i), name, want, a)
		}
		EncodeDirEnd(e, true)
		e.Uint32(uint32(OpRead))
		rr.EncodeHeader(e)
		h.Finish(e, OK, 2)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations", allocs)
	}
}
