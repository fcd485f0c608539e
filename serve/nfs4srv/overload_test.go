package nfs4srv

import (
	"bytes"
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

func TestOverloaded(t *testing.T) {
	s := New(Config{FS: mem.New()})
	defer s.Close()
	compound := func(minor uint32, ops ...nfs4.ArgOp) *rpcsrv.Call {
		var e xdr.Encoder
		(&nfs4.CompoundArgs{Tag: []byte("tag!"), MinorVersion: minor, Ops: ops}).Encode(&e)
		return &rpcsrv.Call{CallHeader: rpc.CallHeader{Prog: nfs4.Program, Vers: nfs4.Version, Proc: nfs4.ProcCompound}, Args: e.Buf}
	}
	seq := nfs4.ArgOp{Op: nfs4.OpSequence, Args: &nfs4.SequenceArgs{SlotID: 3, SequenceID: 7}}
	getattr := nfs4.ArgOp{Op: nfs4.OpPutRootFH, Args: &nfs4.PutRootFHArgs{}}

	for minor := uint32(1); minor <= 2; minor++ {
		r, ok := s.Overloaded(compound(minor, seq, getattr))
		if !ok {
			t.Fatalf("minor %d SEQUENCE compound: no overload answer", minor)
		}
		var res nfs4.CompoundRes
		d := xdr.NewDecoder(bytes.Join(r.Body, nil))
		res.Decode(d)
		if d.Err() != nil || d.Remaining() != 0 {
			t.Fatalf("reply does not decode: %v (%d bytes left)", d.Err(), d.Remaining())
		}
		if res.Status != nfs4.ErrDelay || string(res.Tag) != "tag!" || len(res.Results) != 1 ||
			res.Results[0].Op != nfs4.OpSequence || res.Results[0].Res.GetStatus() != nfs4.ErrDelay {
			t.Fatalf("minor %d: reply %+v", minor, res)
		}
	}
	// No unrun answer for 4.0 (seqids), for a compound not starting with
	// SEQUENCE, for NULL, or for garbage.
	for name, c := range map[string]*rpcsrv.Call{
		"4.0":          compound(0, getattr),
		"no SEQUENCE":  compound(1, getattr, seq),
		"empty":        compound(1),
		"minor 3":      compound(3, seq),
		"NULL":         {CallHeader: rpc.CallHeader{Prog: nfs4.Program, Vers: nfs4.Version, Proc: nfs4.ProcNull}},
		"garbage":      {CallHeader: rpc.CallHeader{Prog: nfs4.Program, Vers: nfs4.Version, Proc: nfs4.ProcCompound}, Args: []byte{0, 0, 0}},
		"other prog":   {CallHeader: rpc.CallHeader{Prog: 100005, Vers: nfs4.Version, Proc: nfs4.ProcCompound}, Args: compound(1, seq).Args},
		"truncated op": {CallHeader: rpc.CallHeader{Prog: nfs4.Program, Vers: nfs4.Version, Proc: nfs4.ProcCompound}, Args: compound(1, seq).Args[:16]},
	} {
		if _, ok := s.Overloaded(c); ok {
			t.Errorf("%s: answered", name)
		}
	}
}
