package nfs4srv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/internal/fuzzcorpus"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// The fuzz targets drive the whole COMPOUND path (decode, engine, every
// handler, state, mem backend, reply encoding) with arbitrary bodies.
//
// Client IDs, stateids, session IDs and file handles are random per server
// instance, and the fuzzing engine runs targets in several processes, so the
// seed corpus cannot hold live identifiers. Seeds hold placeholders instead
// (fixed byte patterns of the right length) that each process replaces with
// the identifiers of its own warmed-up server before running a body; the
// mutator keeps most of them intact, so mutated inputs reach the handlers
// with valid state.

var (
	// Wire handles of the mem backend (24-byte handles) have a fixed size.
	phFileFH  = bytes.Repeat([]byte{0xF1}, len(wireFH(0, make([]byte, 24)))) // regular file "f"
	phDirFH   = bytes.Repeat([]byte{0xF2}, len(phFileFH))                    // directory "d"
	phCID40   = bytes.Repeat([]byte{0xC4}, 8)
	phCID41   = bytes.Repeat([]byte{0xC5}, 8)
	phSID40   = bytes.Repeat([]byte{0xA4}, nfs4.OtherSize) // 4.0 open stateid "other"
	phSID41   = bytes.Repeat([]byte{0xA5}, nfs4.OtherSize) // 4.1 open stateid "other"
	phSession = bytes.Repeat([]byte{0x5E}, 16)
)

// fuzzEnv is a Server with a 4.0 client (open of "f" confirmed), a 4.1
// client with a session (open of "f"), a directory and some data.
type fuzzEnv struct {
	*stEnv
	conn  any
	subst [][2][]byte // placeholder → live value
}

func newFuzzEnv(t *testing.T) *fuzzEnv {
	// Not newStEnv: the server outlives the iteration that warms it.
	e := &fuzzEnv{stEnv: &stEnv{t: t, s: New(Config{FS: mem.New()})}, conn: new(int)}
	cid40 := e.client40("fuzz40")
	_, r := e.call(0, e.conn, stPutRoot(), mkdirOp("d", 0o755), stGetFH())
	e.must(r, nfs4.OK, 3)
	dirFH := r.Results[2].Res.(*nfs4.GetFHRes).Object
	fileFH, sid40 := e.open40(cid40, "o1", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "f", guarded)
	_, r = e.call(0, e.conn, stPutFH(fileFH), stOp(nfs4.OpWrite, &nfs4.WriteArgs{StateID: sid40,
		Stable: nfs4.FileSync4, Data: []byte("hello, fuzzer; some file data")}))
	e.must(r, nfs4.OK, 2)

	cid41, sess := e.session41("fuzz41", e.conn)
	_, r = e.call(1, e.conn, seqOp(sess, 1, 0), stPutRoot(),
		openOp(0, 0, "o41", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "f", nil))
	e.must(r, nfs4.OK, 3)
	sid41 := r.Results[2].Res.(*nfs4.OpenRes).StateID

	if len(fileFH) != len(phFileFH) || len(dirFH) != len(phDirFH) {
		t.Fatalf("file handles of %d/%d bytes, placeholders assume %d", len(fileFH), len(dirFH), len(phFileFH))
	}
	u64 := func(v uint64) []byte { var x xdr.Encoder; x.Uint64(v); return x.Buf }
	e.subst = [][2][]byte{
		{phFileFH, fileFH}, {phDirFH, dirFH},
		{phCID40, u64(cid40)}, {phCID41, u64(cid41)},
		{phSID40, sid40.Other[:]}, {phSID41, sid41.Other[:]},
		{phSession, sess[:]},
	}
	return e
}

// live replaces the placeholders in body.
func (e *fuzzEnv) live(body []byte) []byte {
	for _, s := range e.subst {
		if bytes.Contains(body, s[0]) {
			body = bytes.ReplaceAll(body, s[0], s[1])
		}
	}
	return body
}

// run executes one body and checks the reply is a well-formed COMPOUND4res
// whose status is that of its last result (RFC 7530 §15.2).
func (e *fuzzEnv) run(t *testing.T, body []byte) {
	auth := rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "fuzz"})
	reply, release := e.s.Compound(context.Background(), &auth, e.conn, body)
	var raw []byte
	for _, b := range reply {
		raw = append(raw, b...)
	}
	release()
	var res nfs4.CompoundRes
	d := xdr.NewDecoder(raw)
	res.Decode(d)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("reply does not decode: %v (%d bytes left)\nbody %x\nreply %x", d.Err(), d.Remaining(), body, raw)
	}
	if n := len(res.Results); n > 0 && res.Results[n-1].Res.GetStatus() != res.Status {
		t.Fatalf("COMPOUND status %v, last result (%v) %v", res.Status, res.Results[n-1].Op, res.Results[n-1].Res.GetStatus())
	}
	if len(res.Results) == 0 && res.Status == nfs4.OK {
		// Only an empty argarray succeeds with no results.
		var hd xdr.Decoder
		hd.Reset(body)
		if _, _, nops, err := nfs4.DecodeCompoundHeader(&hd); err == nil && nops != 0 {
			t.Fatalf("OK with no results for %d ops", nops)
		}
	}
}

func fuzzSeeds() [][]byte {
	var fileFH, dirFH = phFileFH, phDirFH
	var sid40, sid41 nfs4.StateID
	copy(sid40.Other[:], phSID40)
	sid40.SeqID = 2
	copy(sid41.Other[:], phSID41)
	var sess nfs4.SessionID
	copy(sess[:], phSession)
	cid := func(p []byte) uint64 { return xdr.NewDecoder(p).Uint64() }
	cid40, cid41 := cid(phCID40), cid(phCID41)
	allAttrs := getattr(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFileID, nfs4.AttrMode,
		nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrNumLinks, nfs4.AttrSpaceUsed, nfs4.AttrTimeModify,
		nfs4.AttrSupportedAttrs, nfs4.AttrFileHandle, nfs4.AttrFSID, nfs4.AttrACL)
	lockNew := &nfs4.LockArgs{LockType: nfs4.WriteLT, Offset: 0, Length: 10, Locker: nfs4.Locker{
		NewLockOwner: true, OpenSeqID: 3, OpenStateID: sid40, LockSeqID: 0,
		LockOwner: nfs4.LockOwner{ClientID: cid40, Owner: []byte("lk")}}}
	seq := func(slot, n uint32) nfs4.ArgOp { return seqOp(sess, n, slot) }
	curSID := nfs4.StateID{SeqID: 1} // RFC 8881 §16.2.3.1.2 current stateid
	seeds := [][]nfs4.ArgOp{
		// 4.0
		{stOp(nfs4.OpSetClientID, &nfs4.SetClientIDArgs{Verifier: nfs4.Verifier{2}, ID: []byte("new"),
			Callback: nfs4.CBClient{CBProgram: 1, CBLocation: nfs4.NetAddr{NetID: []byte("tcp"), Addr: []byte("127.0.0.1.8.1")}}})},
		{stOp(nfs4.OpSetClientIDConfirm, &nfs4.SetClientIDConfirmArgs{ClientID: cid40}), stOp(nfs4.OpRenew, &nfs4.RenewArgs{ClientID: cid40})},
		{stPutRoot(), openOp(3, cid40, "o1", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "g",
			&nfs4.CreateHow{Mode: nfs4.Unchecked4, CreateAttrs: fattr(bm(nfs4.AttrMode), &nfs4.Attrs{Mode: 0o600})}), stGetFH(), allAttrs},
		{stPutRoot(), openOp(1, cid40, "o2", nfs4.ShareAccessRead, nfs4.ShareDenyWrite, "f", nil), stGetFH()},
		{stPutFH(fileFH), stOp(nfs4.OpWrite, &nfs4.WriteArgs{StateID: sid40, Offset: 3, Stable: nfs4.Unstable4, Data: []byte("xyz")}),
			stOp(nfs4.OpCommit, &nfs4.CommitArgs{}), getattr(nfs4.AttrSize)},
		{stPutFH(fileFH), stOp(nfs4.OpRead, &nfs4.ReadArgs{StateID: sid40, Count: 100}), stOp(nfs4.OpRead, &nfs4.ReadArgs{Count: 5})},
		{stPutFH(dirFH), readdir(0, nfs4.Verifier{}, 4096, 8192, nfs4.AttrType, nfs4.AttrFileID, nfs4.AttrFileHandle)},
		{stPutRoot(), readdir(0, nfs4.Verifier{}, 100, 300, nfs4.AttrSize, nfs4.AttrRdAttrError)},
		{stPutRoot(), lookup("f"), allAttrs, stOp(nfs4.OpAccess, &nfs4.AccessArgs{Access: 0x3f}), lookupP(), stGetFH()},
		{stPutFH(fileFH), stOp(nfs4.OpLock, lockNew),
			stOp(nfs4.OpLockT, &nfs4.LockTArgs{LockType: nfs4.ReadLT, Length: 1, Owner: nfs4.LockOwner{ClientID: cid40, Owner: []byte("x")}}),
			stOp(nfs4.OpLockU, &nfs4.LockUArgs{LockType: nfs4.WriteLT, SeqID: 1, LockStateID: sid40, Length: 10})},
		{stPutFH(fileFH), setattr(sid40, bm(nfs4.AttrSize, nfs4.AttrMode), &nfs4.Attrs{Size: 4, Mode: 0o644}), getattr(nfs4.AttrSize)},
		{stPutRoot(), saveFH(), stPutFH(dirFH), mkdirOp("sub", 0o700),
			stOp(nfs4.OpCreate, &nfs4.CreateArgs{ObjType: nfs4.NF4LNK, LinkData: []byte("../f"), ObjName: []byte("ln")}), readLink()},
		{stPutRoot(), saveFH(), stPutRoot(), stOp(nfs4.OpRename, &nfs4.RenameArgs{OldName: []byte("f"), NewName: []byte("f2")}),
			stOp(nfs4.OpRestoreFH, &nfs4.RestoreFHArgs{})},
		{stPutFH(fileFH), saveFH(), stPutFH(dirFH), stOp(nfs4.OpLink, &nfs4.LinkArgs{NewName: []byte("hard")}),
			stOp(nfs4.OpRemove, &nfs4.RemoveArgs{Target: []byte("hard")})},
		{stPutFH(fileFH), stOp(nfs4.OpOpenDowngrade, &nfs4.OpenDowngradeArgs{OpenStateID: sid40, SeqID: 3,
			ShareAccess: nfs4.ShareAccessRead}), stOp(nfs4.OpClose, &nfs4.CloseArgs{SeqID: 4, OpenStateID: sid40})},
		{stPutRoot(), stOp(nfs4.OpSecInfo, &nfs4.SecInfoArgs{Name: []byte("f")}),
			stOp(nfs4.OpVerify, &nfs4.VerifyArgs{ObjAttributes: fattr(bm(nfs4.AttrType), &nfs4.Attrs{Type: nfs4.NF4DIR})})},
		{stOp(nfs4.OpReleaseLockOwner, &nfs4.ReleaseLockOwnerArgs{LockOwner: nfs4.LockOwner{ClientID: cid40, Owner: []byte("lk")}})},
	}
	var out [][]byte
	for _, ops := range seeds {
		out = append(out, compoundBody(0, ops...))
	}
	seeds41 := [][]nfs4.ArgOp{
		{stOp(nfs4.OpExchangeID, &nfs4.ExchangeIDArgs{ClientOwner: nfs4.ClientOwner{Verifier: nfs4.Verifier{3}, OwnerID: []byte("x41")},
			StateProtect: nfs4.StateProtectA{How: nfs4.SP4None}})},
		{stOp(nfs4.OpCreateSession, &nfs4.CreateSessionArgs{ClientID: cid41, Sequence: 2,
			ForeChanAttrs: nfs4.ChannelAttrs{MaxRequestSize: 1 << 20, MaxResponseSize: 1 << 20, MaxOperations: 8, MaxRequests: 2},
			BackChanAttrs: nfs4.ChannelAttrs{MaxRequestSize: 4096, MaxResponseSize: 4096, MaxOperations: 2, MaxRequests: 1},
			CBProgram:     0x40000000})},
		{seq(0, 2), stPutRoot(), openOp(0, 0, "o41", nfs4.ShareAccessWrite, nfs4.ShareDenyNone, "h",
			&nfs4.CreateHow{Mode: nfs4.Exclusive4_1, CreateVerf: nfs4.Verifier{5}}), stGetFH(),
			stOp(nfs4.OpWrite, &nfs4.WriteArgs{StateID: curSID, Data: []byte("41")}),
			stOp(nfs4.OpClose, &nfs4.CloseArgs{OpenStateID: curSID})},
		{seq(1, 1), stPutFH(fileFH), stOp(nfs4.OpRead, &nfs4.ReadArgs{StateID: sid41, Count: 64}),
			stOp(nfs4.OpTestStateID, &nfs4.TestStateIDArgs{StateIDs: []nfs4.StateID{sid41, sid40}})},
		{seq(2, 1), stPutFH(fileFH), stOp(nfs4.OpSeek, &nfs4.SeekArgs{StateID: sid41, What: 1}),
			stOp(nfs4.OpAllocate, &nfs4.AllocateArgs{StateID: sid41, Offset: 0, Length: 100})},
		{seq(3, 1), stPutFH(fileFH), saveFH(), stPutFH(fileFH), stOp(nfs4.OpCopy, &nfs4.CopyArgs{SrcStateID: sid41, DstStateID: sid41,
			DstOffset: 50, Count: 10, Synchronous: true})},
		{seq(0, 3), stOp(nfs4.OpSecInfoNoName, &nfs4.SecInfoNoNameArgs{}), stOp(nfs4.OpReclaimComplete, &nfs4.ReclaimCompleteArgs{}),
			stOp(nfs4.OpFreeStateID, &nfs4.FreeStateIDArgs{StateID: sid41})},
		{seq(1, 2), stPutFH(fileFH), stOp(nfs4.OpLock, &nfs4.LockArgs{LockType: nfs4.ReadLT, Length: 1, Locker: nfs4.Locker{
			NewLockOwner: true, OpenStateID: sid41, LockOwner: nfs4.LockOwner{ClientID: cid41, Owner: []byte("l41")}}}),
			stOp(nfs4.OpLockU, &nfs4.LockUArgs{LockType: nfs4.ReadLT, LockStateID: curSID, Length: 1})},
		{stOp(nfs4.OpBindConnToSession, &nfs4.BindConnToSessionArgs{SessionID: sess, Dir: 3})},
		{seq(2, 2), stOp(nfs4.OpBackchannelCtl, &nfs4.BackchannelCtlArgs{CBProgram: 7}), stOp(nfs4.OpDestroySession, &nfs4.DestroySessionArgs{SessionID: sess})},
	}
	for _, ops := range seeds41 {
		out = append(out, compoundBody(1, ops...), compoundBody(2, ops...))
	}
	// Malformed headers.
	out = append(out, nil, []byte{0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff},
		[]byte{0, 0, 0, 1, 'x', 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1})
	return out
}

// FuzzCompound: no panic, and a well-formed reply, for any COMPOUND body.
// go test -run X -fuzz FuzzCompound -fuzztime 5m ./serve/nfs4srv/
func FuzzCompound(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	var env *fuzzEnv
	var execs int
	f.Fuzz(func(t *testing.T, body []byte) {
		// A fresh warmed-up server now and then, so state consumed by
		// earlier inputs (closed opens, destroyed sessions) comes back.
		if env == nil || execs%500 == 0 {
			if env != nil {
				env.s.Close()
			}
			env = newFuzzEnv(t)
		}
		execs++
		env.run(t, env.live(body))
	})
}

// rpcRecord frames an RPC CALL of the NFS program as one record.
func rpcRecord(xid, proc uint32, cred rpc.Auth, body []byte) []byte {
	var e xdr.Encoder
	e.Reserve(rpc.MarkLen)
	(&rpc.CallHeader{XID: xid, Prog: nfs4.Program, Vers: nfs4.Version, Proc: proc, Cred: cred}).Encode(&e)
	e.Buf = append(e.Buf, body...)
	rpc.PutRecordMark(net.Buffers{e.Buf})
	return e.Buf
}

func rpcServerSeeds() [][]byte {
	auth := rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "fuzz"})
	out := [][]byte{rpcRecord(1, nfs4.ProcNull, rpc.Auth{}, nil)}
	for i, s := range fuzzSeeds()[:6] {
		out = append(out, rpcRecord(uint32(10+i), nfs4.ProcCompound, auth, s))
	}
	return append(out,
		[]byte{0x80, 0, 0, 4, 0, 0, 0, 1},             // xid only
		[]byte{0x80, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 1}, // a REPLY nobody asked for
		[]byte{0xff, 0xff, 0xff, 0xff},                // over MaxRecord
		[]byte{0, 0, 0, 4, 0, 0, 0, 1, 0x80, 0, 0, 0}) // two fragments
}

// FuzzRPCServer writes arbitrary bytes on a real TCP connection to an
// rpcsrv.Server running this package's handler (and DRC): the server must
// not crash or panic, and another, well-behaved client must still get NULL
// answered.
func FuzzRPCServer(f *testing.F) {
	for _, s := range rpcServerSeeds() {
		f.Add(s)
	}

	var (
		addr   string
		good   *rpcclient.Client
		panics atomic.Int32
		last   atomic.Value // last panic message
	)
	f.Fuzz(func(t *testing.T, in []byte) {
		if good == nil {
			// One server for the whole run (the cleanup of the first
			// iteration must not stop it).
			s := New(Config{FS: mem.New()})
			rs := &rpcsrv.Server{Handler: s, DRC: NewDRC(), RecordTimeout: time.Second, WriteTimeout: time.Second,
				Logf: func(format string, args ...any) {
					if strings.Contains(format, "panic") {
						panics.Add(1)
						last.Store(fmt.Sprintf(format, args...))
					}
				}}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go rs.Serve(l)
			addr = l.Addr().String()
			if good, err = rpcclient.Dial(context.Background(), "tcp", addr); err != nil {
				t.Fatal(err)
			}
		}
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(in)
		// Read what comes back until the server stops answering, so the
		// calls run rather than being cancelled by our close.
		nc.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		io.Copy(io.Discard, bufio.NewReader(nc))
		nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := good.Call(ctx, nfs4.Program, nfs4.Version, nfs4.ProcNull, rpc.Auth{}, nil); err != nil {
			t.Fatalf("NULL from a well-behaved client: %v", err)
		}
		if n := panics.Load(); n > 0 {
			t.Fatalf("%d handler panics, last: %v", n, last.Load())
		}
	})
}

// Found by FuzzCompound: a 4.0 request reusing an owner's last seqid on
// another op got the cached result of the first op (an OPEN body in a LOCK
// result: an undecodable reply). It is BAD_SEQID (RFC 7530 §9.1.7).
func TestSeqIDReplayOtherOp(t *testing.T) {
	e := newStEnv(t, 0)
	cid := e.client40("c1")
	fh, sid := e.open40(cid, "o1", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "f", guarded)
	_, r := e.call(0, nil, stPutRoot(), openOp(3, cid, "o1", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "g", guarded))
	e.must(r, nfs4.OK, 2)
	lock := stOp(nfs4.OpLock, &nfs4.LockArgs{LockType: nfs4.WriteLT, Length: 1, Locker: nfs4.Locker{
		NewLockOwner: true, OpenSeqID: 3, OpenStateID: sid, LockOwner: nfs4.LockOwner{ClientID: cid, Owner: []byte("l")}}})
	_, r = e.call(0, nil, stPutFH(fh), lock)
	e.must(r, nfs4.ErrBadSeqID, 2)
	_, r = e.call(0, nil, stPutFH(fh), stOp(nfs4.OpClose, &nfs4.CloseArgs{SeqID: 3, OpenStateID: sid}))
	e.must(r, nfs4.ErrBadSeqID, 2)
	// The real retransmission of the OPEN is still replayed.
	_, r = e.call(0, nil, stPutRoot(), openOp(3, cid, "o1", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "g", guarded))
	e.must(r, nfs4.OK, 2)
	// And the next seqid works.
	_, r = e.call(0, nil, stPutFH(fh), stOp(nfs4.OpClose, &nfs4.CloseArgs{SeqID: 4, OpenStateID: sid}))
	e.must(r, nfs4.OK, 2)
}

// TestWriteFuzzCorpus writes the seeds of FuzzCompound and FuzzRPCServer to
// testdata/fuzz/ in go test's corpus format (only with -fuzzcorpus; files
// the fuzzer saved are kept):
// go test ./serve/nfs4srv -run TestWriteFuzzCorpus -fuzzcorpus
func TestWriteFuzzCorpus(t *testing.T) {
	fuzzcorpus.SkipUnlessAsked(t)
	fuzzcorpus.Write(t, "FuzzCompound", fuzzcorpus.Bytes(fuzzSeeds()...))
	fuzzcorpus.Write(t, "FuzzRPCServer", fuzzcorpus.Bytes(rpcServerSeeds()...))
}
