package nfs4srv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

func compoundBody(minor uint32, ops ...nfs4.ArgOp) []byte {
	var e xdr.Encoder
	(&nfs4.CompoundArgs{Tag: []byte("t"), MinorVersion: minor, Ops: ops}).Encode(&e)
	return e.Buf
}

func compoundCall(body []byte) *rpcsrv.Call {
	return &rpcsrv.Call{CallHeader: rpc.CallHeader{Prog: nfs4.Program, Vers: nfs4.Version, Proc: nfs4.ProcCompound}, Args: body}
}

func TestDRCCacheable(t *testing.T) {
	fh := make([]byte, 20)
	rd := nfs4.ArgOp{Op: nfs4.OpRead, Args: &nfs4.ReadArgs{Count: 4}}
	wr := nfs4.ArgOp{Op: nfs4.OpWrite, Args: &nfs4.WriteArgs{Data: []byte("x")}}
	illegal := nfs4.ArgOp{Op: nfs4.OpSequence, Args: &nfs4.SequenceArgs{}}
	for _, tc := range []struct {
		name string
		body []byte
		want bool
	}{
		{"create", compoundBody(0, putRoot(), mkdirOp("d", 0o755)), true},
		{"rename after fh ops", compoundBody(0, putFH(fh), saveFH(), putFH(fh),
			nfs4.ArgOp{Op: nfs4.OpRename, Args: &nfs4.RenameArgs{OldName: []byte("a"), NewName: []byte("b")}}), true},
		{"write after read", compoundBody(0, putFH(fh), rd, getattr(nfs4.AttrSize), wr), true},
		{"read only", compoundBody(0, putFH(fh), rd, getattr(nfs4.AttrSize)), false},
		{"4.1 create", compoundBody(1, putRoot(), mkdirOp("d", 0o755)), false},
		{"after an illegal op", compoundBody(0, putRoot(), illegal, mkdirOp("d", 0o755)), false},
		{"truncated", compoundBody(0, putRoot(), mkdirOp("d", 0o755))[:20], false},
	} {
		if got := DRCCacheable(compoundCall(tc.body)); got != tc.want {
			t.Errorf("%s: cacheable %v, want %v", tc.name, got, tc.want)
		}
	}
	null := compoundCall(nil)
	null.Proc = nfs4.ProcNull
	if DRCCacheable(null) {
		t.Error("NULL cacheable")
	}
}

func BenchmarkDRCCacheable(b *testing.B) {
	fh := make([]byte, 28)
	rd := nfs4.ArgOp{Op: nfs4.OpRead, Args: &nfs4.ReadArgs{Count: 4}}
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"read40", compoundBody(0, putFH(fh), rd, getattr(nfs4.AttrSize, nfs4.AttrChange))},
		{"create40", compoundBody(0, putFH(fh), mkdirOp("d", 0o755), getFH(), getattr(nfs4.AttrSize))},
		{"read41", compoundBody(1, nfs4.ArgOp{Op: nfs4.OpSequence, Args: &nfs4.SequenceArgs{}}, putFH(fh), rd)},
	} {
		call := compoundCall(bc.body)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				DRCCacheable(call)
			}
		})
	}
}

// TestDRCEndToEnd: a 4.0 CREATE retransmitted after a reconnect gets the
// original reply, not NFS4ERR_EXIST; 4.1 traffic bypasses the cache.
func TestDRCEndToEnd(t *testing.T) {
	s := New(Config{FS: mem.New()})
	t.Cleanup(s.Close)
	drc := NewDRC()
	rs := &rpcsrv.Server{Handler: s, DRC: drc, Logf: t.Logf}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go rs.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rs.Shutdown(ctx)
	})
	call := func(xid uint32, body []byte) (raw []byte, st nfs4.Status) {
		t.Helper()
		nc, err := net.Dial("tcp", l.Addr().String()) // a new connection each time
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		var e xdr.Encoder
		e.Reserve(rpc.MarkLen)
		(&rpc.CallHeader{XID: xid, Prog: nfs4.Program, Vers: nfs4.Version, Proc: nfs4.ProcCompound,
			Cred: rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "drc"})}).Encode(&e)
		e.Buf = append(e.Buf, body...)
		if _, err := rpc.WriteRecord(nc, net.Buffers{e.Buf}); err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		rec, err := rpc.NewRecordReader(bufio.NewReader(nc), 1<<20).ReadRecord(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, res, err := rpc.DecodeReply(rec)
		if err != nil {
			t.Fatal(err)
		}
		return rec, nfs4.Status(binary.BigEndian.Uint32(res))
	}
	create := compoundBody(0, putRoot(), mkdirOp("d", 0o755), getFH())
	r1, st := call(1, create)
	if st != nfs4.OK {
		t.Fatalf("CREATE: %v", st)
	}
	r2, st := call(1, create)
	if st != nfs4.OK || !bytes.Equal(r1, r2) {
		t.Fatalf("retransmitted CREATE: %v, identical %v", st, bytes.Equal(r1, r2))
	}
	if _, st = call(2, create); st != nfs4.ErrExist {
		t.Fatalf("new CREATE of the same name: %v, want EXIST", st)
	}
	if s := drc.Stats(); s.Hits != 1 || s.Misses != 2 {
		t.Fatalf("DRC stats %+v", s)
	}
	// 4.1 (here failing without SEQUENCE) and read-only 4.0 are not cached.
	call(3, compoundBody(1, putRoot(), mkdirOp("e", 0o755)))
	call(4, compoundBody(0, putRoot(), getattr(nfs4.AttrSize)))
	if s := drc.Stats(); s.Misses != 2 || s.Entries != 2 {
		t.Fatalf("DRC stats %+v after uncacheable calls", s)
	}
}
