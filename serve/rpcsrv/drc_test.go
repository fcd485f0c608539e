package rpcsrv_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// counter is a program whose replies change on every execution, so a
// re-execution is visible in the reply bytes.
type counter struct {
	runs    atomic.Int64
	started chan struct{}
	release chan struct{}
}

const (
	cntRun     = 1 // reply: args + run number
	cntSlow    = 2 // blocks until release
	cntBig     = 3 // 8 KiB reply
	cntSysErr  = 4 // SYSTEM_ERR
	cntNoReply = 5
	cntOther   = 6 // not cacheable (see Cacheable below)
)

func (h *counter) ServeRPC(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
	n := h.runs.Add(1)
	num := binary.BigEndian.AppendUint64(nil, uint64(n))
	switch c.Proc {
	case cntSlow:
		h.started <- struct{}{}
		<-h.release
		return rpcsrv.Success(num)
	case cntBig:
		return rpcsrv.Success(make([]byte, 8<<10), num)
	case cntSysErr:
		return rpcsrv.Accepted(rpc.SystemErr)
	case cntNoReply:
		return rpcsrv.Reply{NoReply: true}
	}
	return rpcsrv.Success(bytes.Clone(c.Args), num)
}

func drcServer(t *testing.T, d *rpcsrv.DRC) (*counter, string) {
	h := &counter{started: make(chan struct{}, 4), release: make(chan struct{})}
	if d.Cacheable == nil {
		d.Cacheable = func(c *rpcsrv.Call) bool { return c.Proc != cntOther }
	}
	addr, _ := start(t, &rpcsrv.Server{Handler: h, DRC: d})
	return h, addr
}

// rawConn sends CALLs with chosen xids and reads raw reply records.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	rr *rpc.RecordReader
}

func rawDial(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, rr: rpc.NewRecordReader(bufio.NewReader(nc), 1<<20)}
}

func (r *rawConn) send(xid, proc uint32, args []byte) {
	r.t.Helper()
	var e xdr.Encoder
	e.Reserve(rpc.MarkLen)
	(&rpc.CallHeader{XID: xid, Prog: toyProg, Vers: 1, Proc: proc}).Encode(&e)
	e.Buf = append(e.Buf, args...)
	if _, err := rpc.WriteRecord(r.nc, net.Buffers{e.Buf}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) recv() []byte {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	rec, err := r.rr.ReadRecord(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return bytes.Clone(rec)
}

func (r *rawConn) call(xid, proc uint32, args []byte) []byte {
	r.t.Helper()
	r.send(xid, proc, args)
	rec := r.recv()
	if got := binary.BigEndian.Uint32(rec); got != xid {
		r.t.Fatalf("reply xid %d, want %d", got, xid)
	}
	return rec
}

func TestDRCReplaysAcrossConnections(t *testing.T) {
	d := &rpcsrv.DRC{}
	h, addr := drcServer(t, d)
	c1 := rawDial(t, addr)
	first := c1.call(7, cntRun, []byte("args"))
	// The client reconnects (new source port) and retransmits.
	c2 := rawDial(t, addr)
	again := c2.call(7, cntRun, []byte("args"))
	if !bytes.Equal(first, again) {
		t.Fatalf("replayed reply differs:\n%x\n%x", first, again)
	}
	again = c1.call(7, cntRun, []byte("args"))
	if !bytes.Equal(first, again) {
		t.Fatal("second replay differs")
	}
	if n := h.runs.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
	if st := d.Stats(); st.Hits != 2 || st.Misses != 1 || st.Entries != 1 || st.Bytes != len(first) {
		t.Fatalf("stats %+v (reply %d bytes)", st, len(first))
	}
	// Not cacheable: runs every time.
	a := c1.call(8, cntOther, nil)
	b := c1.call(8, cntOther, nil)
	if bytes.Equal(a, b) || h.runs.Load() != 3 {
		t.Fatalf("uncacheable call was replayed (runs %d)", h.runs.Load())
	}
}

func TestDRCChecksumDistinguishesReusedXID(t *testing.T) {
	d := &rpcsrv.DRC{}
	h, addr := drcServer(t, d)
	c := rawDial(t, addr)
	a := c.call(9, cntRun, []byte("one"))
	b := c.call(9, cntRun, []byte("two"))
	x := c.call(9, cntRun, []byte("owo")) // same length, other bytes
	if bytes.Equal(a, b) || bytes.Equal(b, x) || h.runs.Load() != 3 {
		t.Fatalf("same xid with other arguments was not executed (runs %d)", h.runs.Load())
	}
	// Another procedure with the same xid and arguments is another call.
	c.call(9, cntOther, []byte("one"))
	if h.runs.Load() != 4 {
		t.Fatal("procedure is not part of the key")
	}
}

func TestDRCInProgressDropped(t *testing.T) {
	d := &rpcsrv.DRC{}
	h, addr := drcServer(t, d)
	c := rawDial(t, addr)
	c.send(11, cntSlow, nil)
	<-h.started
	c2 := rawDial(t, addr)
	c2.send(11, cntSlow, nil) // retransmission while the original runs
	// The duplicate is accounted as dropped before we release the original.
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Dropped == 0 {
		if time.Now().After(deadline) {
			t.Fatal("duplicate in progress was not dropped")
		}
		time.Sleep(time.Millisecond)
	}
	close(h.release)
	first := c.recv()
	if binary.BigEndian.Uint32(first) != 11 {
		t.Fatal("bad reply")
	}
	// c2 got no reply for the dropped duplicate: the next record it reads
	// answers its next call.
	if rec := c2.call(12, cntRun, nil); binary.BigEndian.Uint32(rec) != 12 {
		t.Fatal("unexpected record")
	}
	if again := c2.call(11, cntSlow, nil); !bytes.Equal(again, first) {
		t.Fatal("completed call not replayed")
	}
	if n := h.runs.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (slow once, run once)", n)
	}
}

func TestDRCBounds(t *testing.T) {
	d := &rpcsrv.DRC{MaxEntries: 4}
	h, addr := drcServer(t, d)
	c := rawDial(t, addr)
	replies := map[uint32][]byte{}
	for xid := uint32(100); xid < 110; xid++ {
		replies[xid] = c.call(xid, cntRun, nil)
	}
	st := d.Stats()
	if st.Entries != 4 || st.Evictions != 6 {
		t.Fatalf("stats %+v, want 4 entries after 6 evictions", st)
	}
	// The newest is cached, the oldest was evicted and runs again.
	if !bytes.Equal(c.call(109, cntRun, nil), replies[109]) {
		t.Fatal("newest entry not replayed")
	}
	runs := h.runs.Load()
	if bytes.Equal(c.call(100, cntRun, nil), replies[100]) || h.runs.Load() != runs+1 {
		t.Fatal("evicted entry replayed")
	}

	// Byte bound: each reply is 24 (header) + 8 bytes; room for three.
	d2 := &rpcsrv.DRC{MaxBytes: 3*32 + 10}
	_, addr2 := drcServer(t, d2)
	c2 := rawDial(t, addr2)
	for xid := uint32(1); xid <= 8; xid++ {
		if n := len(c2.call(xid, cntRun, nil)); n != 32 {
			t.Fatalf("reply of %d bytes, test assumes 32", n)
		}
		if st := d2.Stats(); st.Bytes > d2.MaxBytes {
			t.Fatalf("%d bytes cached, bound %d", st.Bytes, d2.MaxBytes)
		}
	}
	if st := d2.Stats(); st.Entries != 3 || st.Bytes != 96 {
		t.Fatalf("stats %+v, want 3 entries of 32 bytes", st)
	}
}

func TestDRCUncachedReplies(t *testing.T) {
	d := &rpcsrv.DRC{MaxReply: 4 << 10}
	h, addr := drcServer(t, d)
	c := rawDial(t, addr)
	// Too large to keep: sent, not cached, run again on retransmission.
	a := c.call(1, cntBig, nil)
	b := c.call(1, cntBig, nil)
	if len(a) < 8<<10 || bytes.Equal(a, b) {
		t.Fatal("oversized reply was cached")
	}
	// SYSTEM_ERR is transient: not cached.
	c.call(2, cntSysErr, nil)
	c.call(2, cntSysErr, nil)
	// NoReply: nothing to cache, the entry is forgotten.
	waitRuns := func(n int64) {
		deadline := time.Now().Add(5 * time.Second)
		for h.runs.Load() != n {
			if time.Now().After(deadline) {
				t.Fatalf("runs %d, want %d", h.runs.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	c.send(3, cntNoReply, nil)
	waitRuns(5)
	c.send(3, cntNoReply, nil)
	waitRuns(6)
	c.call(4, cntRun, nil)
	if st := d.Stats(); st.Entries != 1 || st.Hits != 0 {
		t.Fatalf("stats %+v, want only xid 4 cached", st)
	}
}

func TestDRCExpiry(t *testing.T) {
	d := &rpcsrv.DRC{MaxAge: 50 * time.Millisecond}
	h, addr := drcServer(t, d)
	c := rawDial(t, addr)
	a := c.call(1, cntRun, nil)
	if !bytes.Equal(a, c.call(1, cntRun, nil)) {
		t.Fatal("not replayed")
	}
	time.Sleep(60 * time.Millisecond)
	if bytes.Equal(a, c.call(1, cntRun, nil)) || h.runs.Load() != 2 {
		t.Fatal("expired entry replayed")
	}
}
