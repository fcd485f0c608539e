package rpcsrv_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// dialFrom connects to addr from the loopback source address src (any
// 127/8 address is local on Linux).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func callRecord(xid, proc uint32, args []byte) []byte {
	var e xdr.Encoder
	e.Reserve(rpc.MarkLen)
	(&rpc.CallHeader{XID: xid, Prog: toyProg, Vers: 1, Proc: proc}).Encode(&e)
	e.Buf = append(e.Buf, args...)
	binary.BigEndian.PutUint32(e.Buf, 1<<31|uint32(e.Len()-4))
	return e.Buf
}

// served reports whether nc gets an answer to a NULL call (false: the
// server closed it).
func served(t *testing.T, nc net.Conn) bool {
	t.Helper()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(callRecord(1, procNull, nil)); err != nil {
		return false
	}
	var hdr [4]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return false
		}
		t.Fatalf("read: %v", err)
	}
	rest := make([]byte, binary.BigEndian.Uint32(hdr[:])&^(1<<31))
	if _, err := io.ReadFull(nc, rest); err != nil {
		t.Fatal(err)
	}
	return true
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

func TestMaxConnsPerAddr(t *testing.T) {
	s := &rpcsrv.Server{Handler: newToy(), MaxConnsPerAddr: 2}
	addr, _ := start(t, s)
	a1, a2 := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	if !served(t, a1) || !served(t, a2) {
		t.Fatal("connections under the limit refused")
	}
	if served(t, dialFrom(t, "127.0.0.1", addr)) {
		t.Fatal("third connection from one address served")
	}
	// Another address is counted separately.
	if !served(t, dialFrom(t, "127.0.0.2", addr)) {
		t.Fatal("connection from another address refused")
	}
	if st := s.Stats(); st.Refused != 1 {
		t.Fatalf("Refused = %d, want 1", st.Refused)
	}
	// Closing one frees its place.
	a1.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !served(t, dialFrom(t, "127.0.0.1", addr)) {
		if time.Now().After(deadline) {
			t.Fatal("place of a closed connection not freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMaxConnsTotal(t *testing.T) {
	s := &rpcsrv.Server{Handler: newToy(), MaxConns: 2, MaxConnsPerAddr: -1}
	addr, _ := start(t, s)
	if !served(t, dialFrom(t, "127.0.0.1", addr)) || !served(t, dialFrom(t, "127.0.0.2", addr)) {
		t.Fatal("connections under the limit refused")
	}
	if served(t, dialFrom(t, "127.0.0.3", addr)) {
		t.Fatal("connection over MaxConns served")
	}
}

func TestIdleTimeout(t *testing.T) {
	ty := newToy()
	addr, _ := start(t, &rpcsrv.Server{Handler: ty, IdleTimeout: 300 * time.Millisecond})

	idle := dialFrom(t, "127.0.0.1", addr)
	if !served(t, idle) {
		t.Fatal("not served")
	}
	t0 := time.Now()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection not closed: %v", err)
	}
	if d := time.Since(t0); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("idle connection closed after %v", d)
	}

	// A connection waiting for a reply is not idle.
	busy := dialFrom(t, "127.0.0.1", addr)
	busy.Write(callRecord(7, procSlow, nil))
	<-ty.started
	busy.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := busy.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("busy connection: n=%d err=%v (want it open and silent)", n, err)
	}
	close(ty.release)
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(busy); err != nil || len(b) == 0 {
		t.Fatalf("busy connection: reply %d bytes, %v (want reply then close)", len(b), err)
	}
}

func TestPartialRecordHoldsNoWorker(t *testing.T) {
	// One handler slot in all: a stalled half record must not take it.
	s := &rpcsrv.Server{Handler: newToy(), MaxInFlightTotal: 1, RecordTimeout: 500 * time.Millisecond}
	addr, _ := start(t, s)
	var halves []net.Conn
	for range 20 {
		nc := dialFrom(t, "127.0.0.1", addr)
		nc.Write(callRecord(1, procEcho, make([]byte, 100))[:30])
		halves = append(halves, nc)
	}
	c := dial(t, addr)
	for range 10 {
		if b, err := call(c, procEcho, []byte("ok")); err != nil || string(b) != "ok" {
			t.Fatalf("call while half records wait: %q %v", b, err)
		}
	}
	if st := s.Stats(); st.Running != 0 {
		t.Fatalf("Running = %d with only half records pending", st.Running)
	}
	for _, nc := range halves {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("half record not closed: %v", err)
		}
	}
}

func TestMaxInFlightTotal(t *testing.T) {
	ty := newToy()
	s := &rpcsrv.Server{Handler: ty, MaxInFlightTotal: 2}
	addr, _ := start(t, s)
	a := dial(t, addr)
	done := make(chan error, 3)
	for range 2 {
		go func() { _, err := call(a, procSlow, nil); done <- err }()
	}
	<-ty.started
	<-ty.started
	// A third call from another connection waits for a slot.
	b := dial(t, addr)
	go func() { _, err := call(b, procSlow, nil); done <- err }()
	select {
	case <-ty.started:
		t.Fatal("third handler started beyond MaxInFlightTotal")
	case <-time.After(300 * time.Millisecond):
	}
	if st := s.Stats(); st.Running != 2 {
		t.Fatalf("Running = %d, want 2", st.Running)
	}
	close(ty.release)
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// counting counts the handler runs of procBig.
type counting struct {
	*toy
	big atomic.Int32
}

func (c *counting) ServeRPC(ctx context.Context, call *rpcsrv.Call) rpcsrv.Reply {
	if call.Proc == procBig {
		c.big.Add(1)
	}
	return c.toy.ServeRPC(ctx, call)
}

func TestReplyQueueBackpressure(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		h := &counting{toy: newToy()}
		s := &rpcsrv.Server{Handler: h, WriteTimeout: time.Minute}
		if bounded {
			s.MaxReplyQueue = 64 << 10
		} else {
			s.MaxReplyQueue = 1 << 40
		}
		addr, _ := start(t, s)
		nc := dialFrom(t, "127.0.0.1", addr)
		nc.(*net.TCPConn).SetReadBuffer(4096)
		// Pipeline calls with 4 MiB replies and never read them.
		for i := range 40 {
			nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := nc.Write(callRecord(uint32(i), procBig, nil)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		n := h.big.Load()
		queued := s.Stats().QueuedTx
		t.Logf("bounded=%v: %d handler runs, %d bytes queued", bounded, n, queued)
		if bounded && n > 3 {
			t.Fatalf("%d calls run for a client that reads no replies (MaxReplyQueue 64 KiB)", n)
		}
		if !bounded && n < 20 {
			t.Fatalf("unbounded control: only %d calls run; the test does not measure the bound", n)
		}
		nc.Close()
	}
}

func TestDefaultMaxRecord(t *testing.T) {
	addr, _ := start(t, &rpcsrv.Server{Handler: newToy()})
	c := dial(t, addr)
	// One maximal 1 MiB WRITE plus headers fits.
	if _, err := call(c, procEcho, make([]byte, 1<<20+4<<10)); err != nil {
		t.Fatalf("1 MiB + 4 KiB: %v", err)
	}
	if _, err := call(c, procEcho, make([]byte, rpcsrv.DefaultMaxRecord)); !errors.Is(err, rpcclient.ErrClosed) {
		t.Fatalf("record over DefaultMaxRecord: %v", err)
	}
}

func TestMaxInFlightPerConn(t *testing.T) {
	ty := newToy()
	s := &rpcsrv.Server{Handler: ty, MaxInFlight: 2}
	addr, _ := start(t, s)
	nc := dialFrom(t, "127.0.0.1", addr)
	// Three slow calls and an echo, pipelined: two slow calls run, then
	// the connection is not read, so neither the third nor the echo runs.
	for i := range 3 {
		nc.Write(callRecord(uint32(i), procSlow, nil))
	}
	nc.Write(callRecord(9, procEcho, []byte("late")))
	<-ty.started
	<-ty.started
	select {
	case <-ty.started:
		t.Fatal("third call started beyond MaxInFlight")
	case <-time.After(300 * time.Millisecond):
	}
	nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _ := nc.Read(make([]byte, 1)); n != 0 {
		t.Fatal("echo answered while the connection was at MaxInFlight")
	}
	// Another connection is served meanwhile.
	if !served(t, dialFrom(t, "127.0.0.1", addr)) {
		t.Fatal("other connection not served")
	}
	close(ty.release)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 4 {
		var hdr [4]byte
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(nc, make([]byte, binary.BigEndian.Uint32(hdr[:])&^(1<<31))); err != nil {
			t.Fatal(err)
		}
	}
}

// emfileListener fails its first Accepts as a process out of descriptors.
type emfileListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestAcceptEMFILEKeepsServing(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &emfileListener{Listener: inner}
	l.fails.Store(5)
	s := &rpcsrv.Server{Handler: newToy(), Logf: t.Logf}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	c := dial(t, inner.Addr().String())
	if _, err := call(c, procEcho, []byte("x")); err != nil {
		t.Fatalf("after EMFILE: %v", err)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v on EMFILE", err)
	default:
	}
}

// sleepy answers every call after 10 ms.
type sleepy struct{}

func (sleepy) ServeRPC(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
	time.Sleep(10 * time.Millisecond)
	return rpcsrv.Success()
}

func TestHandlerSlotsFairAcrossConns(t *testing.T) {
	s := &rpcsrv.Server{Handler: sleepy{}, MaxInFlightTotal: 1}
	addr, _ := start(t, s)
	// A pipelines 60 calls (600 ms of work on the one slot)...
	a := dialFrom(t, "127.0.0.1", addr)
	var burst []byte
	for i := range 60 {
		burst = append(burst, callRecord(uint32(i), procNull, nil)...)
	}
	a.Write(burst)
	time.Sleep(50 * time.Millisecond)
	// ...then B's one call waits for at most one of A's, not all of them.
	b := dialFrom(t, "127.0.0.1", addr)
	t0 := time.Now()
	if !served(t, b) {
		t.Fatal("B not served")
	}
	if d := time.Since(t0); d > 200*time.Millisecond {
		t.Fatalf("B's call took %v behind A's queue", d)
	}
}

// overloadToy answers procEcho calls it cannot run in time with "busy".
type overloadToy struct{ *toy }

func (o overloadToy) Overloaded(c *rpcsrv.Call) (rpcsrv.Reply, bool) {
	if c.Proc != procEcho {
		return rpcsrv.Reply{}, false
	}
	return rpcsrv.Success([]byte("busy")), true
}

// With every handler slot taken, a call the Handler can answer unrun
// (Overloader) gets that answer after QueueTimeout; others wait for a slot.
func TestQueueTimeoutOverloaded(t *testing.T) {
	ty := overloadToy{newToy()}
	s := &rpcsrv.Server{Handler: ty, MaxInFlightTotal: 1, QueueTimeout: 100 * time.Millisecond}
	addr, _ := start(t, s)
	c := dial(t, addr)
	slow := make(chan error, 1)
	go func() { _, err := call(c, procSlow, nil); slow <- err }()
	<-ty.started // the only slot is held

	t0 := time.Now()
	if b, err := call(dial(t, addr), procEcho, []byte("hi")); err != nil || string(b) != "busy" {
		t.Fatalf("echo on a saturated server: %q, %v; want the overload answer", b, err)
	}
	if d := time.Since(t0); d < 100*time.Millisecond {
		t.Errorf("overload answer after %v, before the queue timeout", d)
	}
	if st := s.Stats(); st.Delayed != 1 {
		t.Errorf("Stats.Delayed = %d, want 1", st.Delayed)
	}
	// procNull has no overload answer: it waits until the slot is free.
	null := make(chan error, 1)
	go func() { _, err := call(dial(t, addr), procNull, nil); null <- err }()
	select {
	case err := <-null:
		t.Fatalf("NULL answered while the slot is held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(ty.release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if err := <-null; err != nil {
		t.Fatal(err)
	}
	// Free slots: the call runs.
	if b, err := call(c, procEcho, []byte("hi")); err != nil || string(b) != "hi" {
		t.Fatalf("echo on an idle server: %q, %v", b, err)
	}
}
