package rpc

import (
	"bytes"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
	goxdr "github.com/rasky/go-xdr/xdr2"
)

// Differential test: the same values encoded by go-xdr (reflection based,
// written independently from RFC 4506) must give identical bytes.

type xAuthSys struct {
	Stamp   uint32
	Machine string
	UID     uint32
	GID     uint32
	GIDs    []uint32
}

type xCall struct {
	XID, Mtype, RPCVers, Prog, Vers, Proc uint32
	CredFlavor                            uint32
	CredBody                              []byte
	VerfFlavor                            uint32
	VerfBody                              []byte
}

type xAccepted struct {
	XID, Mtype, Stat uint32
	VerfFlavor       uint32
	VerfBody         []byte
	Accept           uint32
}

type xProgMismatch struct {
	XID, Mtype, Stat uint32
	VerfFlavor       uint32
	VerfBody         []byte
	Accept           uint32
	Low, High        uint32
}

type xDenied struct {
	XID, Mtype, Stat, Reject uint32
	A, B                     uint32 // low/high or auth_stat (B then absent)
}

func marshal(t *testing.T, v any) []byte {
	var b bytes.Buffer
	if _, err := goxdr.Marshal(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDifferentialGoXDR(t *testing.T) {
	p := AuthSysParams{Stamp: 0x01020304, MachineName: "abcde", UID: 1000, GID: 100, GIDs: []uint32{1, 2, 3}}
	body := marshal(t, &xAuthSys{p.Stamp, p.MachineName, p.UID, p.GID, p.GIDs})
	want := marshal(t, &xCall{XID: 9, Mtype: 0, RPCVers: 2, Prog: 100003, Vers: 4, Proc: 1,
		CredFlavor: 1, CredBody: body, VerfFlavor: 0, VerfBody: []byte{}})
	var e xdr.Encoder
	(&CallHeader{XID: 9, Prog: 100003, Vers: 4, Proc: 1, Cred: NewAuthSys(p)}).Encode(&e)
	if !bytes.Equal(e.Buf, want) {
		t.Fatalf("call:\n got %x\nwant %x", e.Buf, want)
	}

	verf := []byte{1, 2, 3, 4, 5, 6}
	acc := xAccepted{XID: 9, Mtype: 1, Stat: 0, VerfFlavor: 6, VerfBody: verf, Accept: 0}
	replies := []struct {
		h    ReplyHeader
		want []byte
	}{
		{ReplyHeader{XID: 9, Verf: Auth{Flavor: 6, Body: verf}}, marshal(t, &acc)},
		{ReplyHeader{XID: 9, Verf: Auth{Flavor: 6, Body: verf}, Accept: GarbageArgs},
			marshal(t, &xAccepted{9, 1, 0, 6, verf, 4})},
		{ReplyHeader{XID: 9, Verf: Auth{Flavor: 6, Body: verf}, Accept: ProgMismatch, Low: 3, High: 4},
			marshal(t, &xProgMismatch{9, 1, 0, 6, verf, 2, 3, 4})},
		{ReplyHeader{XID: 9, Stat: MsgDenied, Reject: RPCMismatch, Low: 2, High: 2},
			marshal(t, &xDenied{9, 1, 1, 0, 2, 2})},
		{ReplyHeader{XID: 9, Stat: MsgDenied, Reject: AuthError, AuthStat: AuthRejectedCred},
			marshal(t, &xDenied{9, 1, 1, 1, 2, 0})[:20]},
	}
	for _, r := range replies {
		var e xdr.Encoder
		r.h.Encode(&e)
		if !bytes.Equal(e.Buf, r.want) {
			t.Fatalf("%+v:\n got %x\nwant %x", r.h, e.Buf, r.want)
		}
	}
}
