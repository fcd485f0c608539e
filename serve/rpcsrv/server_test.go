package rpcsrv_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

const (
	toyProg = 0x20000099
	cbProg  = 0x40000001
)

const (
	procNull = iota
	procEcho
	procSlow
	procCallback
	procBig
	procPanic
)

// toy is a test program: echo, a call that blocks until released, a call
// that makes a back-channel call, a call with a big reply.
type toy struct {
	release chan struct{}
	started chan struct{}
}

func newToy() *toy { return &toy{release: make(chan struct{}), started: make(chan struct{}, 16)} }

func (t *toy) ServeRPC(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
	if c.Prog != toyProg {
		return rpcsrv.Accepted(rpc.ProgUnavail)
	}
	if c.Vers != 1 {
		return rpcsrv.ProgMismatch(1, 1)
	}
	switch c.Proc {
	case procNull:
		return rpcsrv.Success()
	case procEcho:
		return rpcsrv.Success(bytes.Clone(c.Args))
	case procSlow:
		t.started <- struct{}{}
		select {
		case <-t.release:
		case <-ctx.Done():
		}
		return rpcsrv.Success([]byte("slow"))
	case procCallback:
		body, err := c.Conn.Call(ctx, cbProg, 1, 1, rpc.Auth{}, net.Buffers{bytes.Clone(c.Args)})
		if err != nil {
			return rpcsrv.Accepted(rpc.SystemErr)
		}
		return rpcsrv.Success(bytes.Clone(body))
	case procBig:
		return rpcsrv.Success(make([]byte, 4<<20))
	case procPanic:
		panic("boom")
	}
	return rpcsrv.Accepted(rpc.ProcUnavail)
}

func start(t *testing.T, s *rpcsrv.Server) (addr string, served chan error) {
	t.Helper()
	if s.Logf == nil {
		s.Logf = t.Logf
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served = make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return l.Addr().String(), served
}

func dial(t *testing.T, addr string) *rpcclient.Client {
	t.Helper()
	c, err := rpcclient.Dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func call(c *rpcclient.Client, proc uint32, args []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Call(ctx, toyProg, 1, proc, rpc.Auth{}, net.Buffers{args})
}

func TestSlowCallDoesNotBlockOthers(t *testing.T) {
	ty := newToy()
	addr, _ := start(t, &rpcsrv.Server{Handler: ty})
	c := dial(t, addr)
	slow := make(chan error, 1)
	go func() {
		b, err := call(c, procSlow, nil)
		if err == nil && string(b) != "slow" {
			err = errors.New("bad slow body")
		}
		slow <- err
	}()
	<-ty.started
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arg := binary.BigEndian.AppendUint32(nil, uint32(i))
			b, err := call(c, procEcho, arg)
			if err != nil || !bytes.Equal(b, arg) {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d echo calls failed while a slow call was in flight", bad.Load())
	}
	select {
	case <-slow:
		t.Fatal("slow call finished early")
	default:
	}
	close(ty.release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

func rawCall(xid, rpcvers uint32, cred rpc.Auth) []byte {
	var e xdr.Encoder
	e.Reserve(rpc.MarkLen)
	h := rpc.CallHeader{XID: xid, Prog: toyProg, Vers: 1, Proc: procNull, Cred: cred}
	h.Encode(&e)
	binary.BigEndian.PutUint32(e.Buf[4+8:], rpcvers)
	binary.BigEndian.PutUint32(e.Buf, 1<<31|uint32(e.Len()-4))
	return e.Buf
}

func readReply(t *testing.T, nc net.Conn) rpc.ReplyHeader {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	rec, err := rpc.NewRecordReader(nc, 1<<20).ReadRecord(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := rpc.DecodeReply(rec)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestTransportErrors(t *testing.T) {
	addr, _ := start(t, &rpcsrv.Server{Handler: newToy()})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	nc.Write(rawCall(1, 3, rpc.Auth{}))
	if h := readReply(t, nc); h.XID != 1 || h.Stat != rpc.MsgDenied || h.Reject != rpc.RPCMismatch || h.Low != 2 || h.High != 2 {
		t.Fatalf("rpcvers 3: %+v", h)
	}
	nc.Write(rawCall(2, 2, rpc.Auth{Flavor: rpc.AuthSys, Body: []byte{0, 0, 0, 1}}))
	if h := readReply(t, nc); h.XID != 2 || h.Stat != rpc.MsgDenied || h.Reject != rpc.AuthError || h.AuthStat != rpc.AuthBadCred {
		t.Fatalf("bad AUTH_SYS: %+v", h)
	}
	// Header cut inside the credential: GARBAGE_ARGS.
	msg := rawCall(3, 2, rpc.Auth{})[:4+28]
	binary.BigEndian.PutUint32(msg, 1<<31|28)
	nc.Write(msg)
	if h := readReply(t, nc); h.XID != 3 || h.Stat != rpc.MsgAccepted || h.Accept != rpc.GarbageArgs {
		t.Fatalf("garbage: %+v", h)
	}
	// A handler panic is SYSTEM_ERR and the connection survives.
	c := dial(t, addr)
	var ae *rpc.AcceptedError
	if _, err := call(c, procPanic, nil); !errors.As(err, &ae) || ae.Stat != rpc.SystemErr {
		t.Fatalf("panic: %v", err)
	}
	if _, err := c.Call(context.Background(), toyProg, 7, 0, rpc.Auth{}, nil); !errors.As(err, &ae) ||
		ae.Stat != rpc.ProgMismatch || ae.Low != 1 || ae.High != 1 {
		t.Fatalf("prog mismatch: %v", err)
	}
	if _, err := call(c, procEcho, []byte("ok")); err != nil {
		t.Fatal(err)
	}
}

func TestHalfRecordClosed(t *testing.T) {
	addr, _ := start(t, &rpcsrv.Server{Handler: newToy(), RecordTimeout: 300 * time.Millisecond})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Claim 100 bytes, send 10, stall.
	nc.Write(append(binary.BigEndian.AppendUint32(nil, 1<<31|100), make([]byte, 10)...))

	// Another client is unaffected meanwhile.
	c := dial(t, addr)
	if b, err := call(c, procEcho, []byte("abcd")); err != nil || string(b) != "abcd" {
		t.Fatalf("second client: %q %v", b, err)
	}
	startT := time.Now()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("half-record conn not closed: n=%d err=%v", n, err)
	}
	if d := time.Since(startT); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

func TestRecordTooLarge(t *testing.T) {
	addr, _ := start(t, &rpcsrv.Server{Handler: newToy(), MaxRecord: 1024})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(binary.BigEndian.AppendUint32(nil, 1<<31|0x7fffffff))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("oversized record: %v", err)
	}
	c := dial(t, addr)
	if _, err := call(c, procEcho, make([]byte, 900)); err != nil {
		t.Fatalf("record under limit: %v", err)
	}
	if _, err := call(c, procEcho, make([]byte, 1100)); !errors.Is(err, rpcclient.ErrClosed) {
		t.Fatalf("record over limit: %v", err)
	}
}

func TestBackChannel(t *testing.T) {
	addr, _ := start(t, &rpcsrv.Server{Handler: newToy()})
	c := dial(t, addr)
	if _, err := call(c, procCallback, []byte("x")); err == nil {
		t.Fatal("callback without handler succeeded") // PROG_UNAVAIL → SYSTEM_ERR
	}
	c.HandleCallbacks(func(ctx context.Context, h *rpc.CallHeader, args []byte) (rpc.AcceptStat, []byte) {
		if h.Prog != cbProg || h.Vers != 1 || h.Proc != 1 {
			return rpc.ProgUnavail, nil
		}
		return rpc.Success, append([]byte("cb:"), args...)
	})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arg := []byte{'a' + byte(i), 0, 0, 0}
			b, err := call(c, procCallback, arg)
			if err != nil || string(b) != "cb:"+string(arg) {
				t.Errorf("callback %d: %q %v", i, b, err)
			}
		}()
	}
	wg.Wait()
}

func TestWriteTimeoutFreesConn(t *testing.T) {
	closed := make(chan struct{})
	addr, _ := start(t, &rpcsrv.Server{Handler: newToy(), WriteTimeout: 300 * time.Millisecond,
		OnClose: func(*rpcsrv.Conn) { close(closed) }})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(4096)
	for i := range 8 {
		var e xdr.Encoder
		e.Reserve(rpc.MarkLen)
		(&rpc.CallHeader{XID: uint32(i), Prog: toyProg, Vers: 1, Proc: procBig}).Encode(&e)
		binary.BigEndian.PutUint32(e.Buf, 1<<31|uint32(e.Len()-4))
		nc.Write(e.Buf)
	}
	// Never read: the server must give up and close the connection.
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("connection of a non-reading client not closed")
	}
}

func TestGracefulShutdown(t *testing.T) {
	ty := newToy()
	s := &rpcsrv.Server{Handler: ty}
	addr, served := start(t, s)
	c := dial(t, addr)
	slow := make(chan error, 1)
	go func() {
		b, err := call(c, procSlow, nil)
		if err == nil && string(b) != "slow" {
			err = errors.New("bad body")
		}
		slow <- err
	}()
	<-ty.started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case err := <-served:
		if err != rpcsrv.ErrServerClosed {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a call in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(ty.release)
	if err := <-slow; err != nil {
		t.Fatalf("in-flight call lost: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("listener still open")
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client connection not closed")
	}
}

func TestShutdownTimeoutForcesClose(t *testing.T) {
	ty := newToy()
	s := &rpcsrv.Server{Handler: ty}
	addr, _ := start(t, s)
	c := dial(t, addr)
	slow := make(chan error, 1)
	go func() { _, err := call(c, procSlow, nil); slow <- err }()
	<-ty.started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-slow; !errors.Is(err, rpcclient.ErrClosed) {
		t.Fatalf("waiter on lost connection: %v", err)
	}
}

// rwc joins two pipes into a stream, as stdio would be.
type rwc struct {
	io.Reader
	io.WriteCloser
}

func TestStreamConn(t *testing.T) {
	cr, sw := io.Pipe()
	sr, cw := io.Pipe()
	s := &rpcsrv.Server{Handler: newToy(), Logf: t.Logf}
	done := make(chan error, 1)
	go func() { done <- s.ServeConn(rpcsrv.StreamConn(rwc{sr, sw})) }()
	c := rpcclient.NewClient(rwc{cr, cw})
	if b, err := call(c, procEcho, []byte("pipe")); err != nil || string(b) != "pipe" {
		t.Fatalf("%q %v", b, err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
