package nfs4

// Differential tests: the same messages built as tagged structs and
// marshalled by the reflection codec github.com/rasky/go-xdr must give the
// same bytes as our hand-written coders. Only the test binary imports it.

import (
	"bytes"
	"strconv"
	"testing"

	rxdr "github.com/rasky/go-xdr/xdr2"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

func rMarshal(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := rxdr.Marshal(&b, v); err != nil {
		t.Fatalf("go-xdr marshal %T: %v", v, err)
	}
	return b.Bytes()
}

func diffCheck(t *testing.T, name string, ours, theirs []byte) {
	t.Helper()
	if !bytes.Equal(ours, theirs) {
		t.Errorf("%s differs from go-xdr\nours:   %x\ngo-xdr: %x", name, ours, theirs)
	}
}

type rStateID struct {
	SeqID uint32
	Other [12]byte
}

type rTime struct {
	Sec  int64
	NSec uint32
}

// rAttrs13 is the attrlist4 of benchWant in attribute-number order.
type rAttrs13 struct {
	Type                                 uint32 // 1
	Change                               uint64 // 3
	Size                                 uint64 // 4
	FSIDMajor, FSIDMinor                 uint64 // 8
	FileID                               uint64 // 20
	Mode                                 uint32 // 33
	NumLinks                             uint32 // 35
	Owner, OwnerGroup                    string // 36, 37
	SpaceUsed                            uint64 // 45
	TimeAccess, TimeMetadata, TimeModify rTime  // 47, 52, 53
}

type rFattr struct {
	Mask []uint32
	Vals []byte
}

func rBenchFattr(t *testing.T) rFattr {
	a := benchAttrs()
	vals := rMarshal(t, &rAttrs13{
		Type: a.Type, Change: a.Change, Size: a.Size, FSIDMajor: a.FSID.Major, FSIDMinor: a.FSID.Minor,
		FileID: a.FileID, Mode: a.Mode, NumLinks: a.NumLinks, Owner: "1000", OwnerGroup: "1000",
		SpaceUsed: a.SpaceUsed, TimeAccess: rTime{a.TimeAccess.Seconds, a.TimeAccess.NSeconds},
		TimeMetadata: rTime{a.TimeMetadata.Seconds, a.TimeMetadata.NSeconds},
		TimeModify:   rTime{a.TimeModify.Seconds, a.TimeModify.NSeconds},
	})
	return rFattr{Mask: benchWant(), Vals: vals}
}

// COMPOUND4res { PUTFH, GETATTR } with the 13-attribute fattr4.
func TestDiffGetattrRes(t *testing.T) {
	type rResOp struct {
		Op      uint32 `xdr:"union"`
		PutFH   uint32 `xdr:"unioncase=22"`
		Getattr struct {
			Status uint32
			Attrs  rFattr
		} `xdr:"unioncase=9"`
	}
	type rCompoundRes struct {
		Status uint32
		Tag    string
		Res    []rResOp
	}
	r := rCompoundRes{Tag: "getattr", Res: []rResOp{{Op: 22}, {Op: 9}}}
	r.Res[1].Getattr.Attrs = rBenchFattr(t)

	var e xdr.Encoder
	h := EncodeCompoundResHeader(&e, []byte("getattr"))
	e.Uint32(uint32(OpPutFH))
	(&PutFHRes{Status: OK}).Encode(&e)
	e.Uint32(uint32(OpGetattr))
	e.Uint32(uint32(OK))
	EncodeAttrs(&e, benchWant(), benchAttrs())
	h.Finish(&e, OK, 2)
	diffCheck(t, "GETATTR reply", e.Buf, rMarshal(t, &r))
}

func TestDiffRead(t *testing.T) {
	type rReadRes struct {
		Status uint32
		EOF    bool
		Data   []byte
	}
	for _, n := range []int{0, 1, 3, 4, 1001} {
		data := bytes.Repeat([]byte{0x5a}, n)
		var e xdr.Encoder
		(&ReadRes{Status: OK, EOF: true, Data: data}).Encode(&e)
		diffCheck(t, "READ res", e.Buf, rMarshal(t, &rReadRes{EOF: true, Data: data}))
	}
}

func TestDiffWriteArgs(t *testing.T) {
	type rWriteArgs struct {
		StateID rStateID
		Offset  uint64
		Stable  uint32
		Data    []byte
	}
	w := &WriteArgs{StateID: sid40a, Offset: 1 << 33, Stable: FileSync4, Data: []byte("seven b")}
	var e xdr.Encoder
	w.Encode(&e)
	diffCheck(t, "WRITE args", e.Buf, rMarshal(t, &rWriteArgs{rStateID{sid40a.SeqID, sid40a.Other}, w.Offset, w.Stable, w.Data}))
}

func TestDiffOpenArgs(t *testing.T) {
	type rCreateHow struct {
		Mode      uint32  `xdr:"union"`
		Unchecked rFattr  `xdr:"unioncase=0"`
		Guarded   rFattr  `xdr:"unioncase=1"`
		Verf      [8]byte `xdr:"unioncase=2"`
		Verf41    struct {
			Verf  [8]byte
			Attrs rFattr
		} `xdr:"unioncase=3"`
	}
	type rOpenFlag struct {
		OpenType uint32     `xdr:"union"`
		How      rCreateHow `xdr:"unioncase=1"`
	}
	type rClaim struct {
		Claim    uint32 `xdr:"union"`
		File     string `xdr:"unioncase=0"`
		DelegCur struct {
			StateID rStateID
			File    string
		} `xdr:"unioncase=2"`
		DelegCurFH rStateID `xdr:"unioncase=5"`
	}
	type rOpenArgs struct {
		SeqID, ShareAccess, ShareDeny uint32
		ClientID                      uint64
		Owner                         []byte
		How                           rOpenFlag
		Claim                         rClaim
	}
	rf := rFattr{Mask: fat40.Mask, Vals: fat40.Vals}
	cases := []struct {
		ours   OpenArgs
		theirs rOpenArgs
	}{
		{
			OpenArgs{SeqID: 1, ShareAccess: 3, ShareDeny: 0, Owner: owner40,
				OpenHow: OpenFlag{OpenType: OpenCreate, CreateHow: CreateHow{Mode: Guarded4, CreateAttrs: fat40}},
				Claim:   OpenClaim{Claim: ClaimNull, File: []byte("new.txt")}},
			rOpenArgs{SeqID: 1, ShareAccess: 3, ClientID: owner40.ClientID, Owner: owner40.Owner,
				How:   rOpenFlag{OpenType: 1, How: rCreateHow{Mode: 1, Guarded: rf}},
				Claim: rClaim{Claim: 0, File: "new.txt"}},
		},
		{
			OpenArgs{SeqID: 2, ShareAccess: 1, ShareDeny: 2, Owner: owner40,
				OpenHow: OpenFlag{OpenType: OpenCreate, CreateHow: CreateHow{Mode: Exclusive4_1, CreateVerf: verf40, CreateAttrs: fat40}},
				Claim:   OpenClaim{Claim: ClaimDelegateCur, DelegateStateID: sid40b, File: []byte("x")}},
			func() rOpenArgs {
				r := rOpenArgs{SeqID: 2, ShareAccess: 1, ShareDeny: 2, ClientID: owner40.ClientID, Owner: owner40.Owner,
					How: rOpenFlag{OpenType: 1, How: rCreateHow{Mode: 3}}, Claim: rClaim{Claim: 2}}
				r.How.How.Verf41.Verf = verf40
				r.How.How.Verf41.Attrs = rf
				r.Claim.DelegCur.StateID = rStateID{sid40b.SeqID, sid40b.Other}
				r.Claim.DelegCur.File = "x"
				return r
			}(),
		},
		{
			OpenArgs{SeqID: 3, ShareAccess: 2, Owner: owner40, OpenHow: OpenFlag{OpenType: OpenNoCreate},
				Claim: OpenClaim{Claim: ClaimDelegCurFH, DelegateStateID: sid40a}},
			rOpenArgs{SeqID: 3, ShareAccess: 2, ClientID: owner40.ClientID, Owner: owner40.Owner,
				Claim: rClaim{Claim: 5, DelegCurFH: rStateID{sid40a.SeqID, sid40a.Other}}},
		},
	}
	for i := range cases {
		var e xdr.Encoder
		cases[i].ours.Encode(&e)
		diffCheck(t, "OPEN args "+strconv.Itoa(i), e.Buf, rMarshal(t, &cases[i].theirs))
	}
}

func TestDiffLookupArgs(t *testing.T) {
	var e xdr.Encoder
	(&LookupArgs{ObjName: []byte("été.txt")}).Encode(&e)
	diffCheck(t, "LOOKUP args", e.Buf, rMarshal(t, &struct{ Name string }{"été.txt"}))
}

type rEntry struct {
	Cookie uint64
	Name   string
	Attrs  rFattr
	Next   *rEntry `xdr:"optional"`
}

func TestDiffReadDirRes(t *testing.T) {
	type rReadDirRes struct {
		Status     uint32
		CookieVerf [8]byte
		Entries    *rEntry `xdr:"optional"`
		EOF        bool
	}
	names := []string{"a", "file-2.dat", "third"}
	rf := rBenchFattr(t)
	var head *rEntry
	for i := len(names) - 1; i >= 0; i-- {
		head = &rEntry{Cookie: uint64(i + 1), Name: names[i], Attrs: rf, Next: head}
	}
	var e xdr.Encoder
	(&ReadDirRes{Status: OK, CookieVerf: verf40}).EncodeHeader(&e)
	for i, n := range names {
		EncodeDirEntry(&e, uint64(i+1), []byte(n), benchWant(), benchAttrs())
	}
	EncodeDirEnd(&e, false)
	diffCheck(t, "READDIR res", e.Buf, rMarshal(t, &rReadDirRes{CookieVerf: verf40, Entries: head}))
}

func TestDiffSetClientIDArgs(t *testing.T) {
	type rSetClientID struct {
		Verf    [8]byte
		ID      []byte
		Prog    uint32
		NetID   string
		Addr    string
		CBIdent uint32
	}
	a := &SetClientIDArgs{Verifier: verf40, ID: []byte("Linux NFSv4.0 client"), CallbackIdent: 7,
		Callback: CBClient{CBProgram: 0x40000000, CBLocation: NetAddr{NetID: []byte("tcp"), Addr: []byte("10.0.0.1.3.236")}}}
	var e xdr.Encoder
	a.Encode(&e)
	diffCheck(t, "SETCLIENTID args", e.Buf, rMarshal(t, &rSetClientID{verf40, a.ID, 0x40000000, "tcp", "10.0.0.1.3.236", 7}))
}

func TestDiffCompoundArgs(t *testing.T) {
	type rArgOp struct {
		Op      uint32   `xdr:"union"`
		PutFH   []byte   `xdr:"unioncase=22"`
		Lookup  string   `xdr:"unioncase=15"`
		Getattr []uint32 `xdr:"unioncase=9"`
	}
	type rCompound struct {
		Tag   string
		Minor uint32
		Ops   []rArgOp
	}
	fh := []byte{9, 8, 7, 6, 5}
	c := &CompoundArgs{Tag: []byte("lookup"), MinorVersion: 2, Ops: []ArgOp{
		{OpPutFH, &PutFHArgs{Object: fh}},
		{OpLookup, &LookupArgs{ObjName: []byte("dir")}},
		{OpGetFH, &GetFHArgs{}},
		{OpGetattr, &GetattrArgs{AttrRequest: benchWant()}},
	}}
	var e xdr.Encoder
	c.Encode(&e)
	r := &rCompound{Tag: "lookup", Minor: 2, Ops: []rArgOp{{Op: 22, PutFH: fh}, {Op: 15, Lookup: "dir"}, {Op: 10}, {Op: 9, Getattr: benchWant()}}}
	diffCheck(t, "COMPOUND args", e.Buf, rMarshal(t, r))
}
