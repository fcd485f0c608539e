package rpcsrv

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Defaults for the zero-valued Server fields.
const (
	// DefaultMaxRecord admits one 1 MiB NFS WRITE (maxwrite) plus its
	// COMPOUND and RPC headers, with room to spare.
	DefaultMaxRecord        = 1<<20 + 64<<10
	DefaultMaxInFlight      = 128
	DefaultMaxInFlightTotal = 512
	DefaultQueueTimeout     = time.Second
	DefaultMaxConns         = 4096
	DefaultMaxConnsPerAddr  = 128
	DefaultMaxReplyQueue    = 4 << 20
	DefaultRecordTimeout    = 30 * time.Second
	DefaultWriteTimeout     = 60 * time.Second
)

// ErrServerClosed is returned by Serve and ServeConn after Shutdown.
var ErrServerClosed = errors.New("rpcsrv: server closed")

// ErrConnClosed is returned by Conn.Call when the connection is gone.
var ErrConnClosed = errors.New("rpcsrv: connection closed")

// Handler serves calls. ServeRPC runs on its own goroutine per call; ctx is
// cancelled when the connection closes.
type Handler interface {
	ServeRPC(ctx context.Context, c *Call) Reply
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *Call) Reply

func (f HandlerFunc) ServeRPC(ctx context.Context, c *Call) Reply { return f(ctx, c) }

// Overloader is implemented by Handlers that can answer some calls without
// running them when the server is saturated: Overloaded returns that
// answer (NFSv4.1 answers a COMPOUND that starts with SEQUENCE with
// NFS4ERR_DELAY, which the client retries later on the same slot) and
// whether it applies to call. Calls without such an answer wait for a
// handler slot however long it takes (Server.QueueTimeout).
type Overloader interface {
	Overloaded(c *Call) (Reply, bool)
}

// Call is one incoming CALL. Args and the credential's raw body alias the
// record buffer, which is recycled once the reply has been written: copy
// anything kept longer.
type Call struct {
	rpc.CallHeader
	Args []byte
	Conn *Conn
}

// Reply is a handler's answer. The zero value is an accepted SUCCESS with
// an empty body and an AUTH_NONE verifier.
type Reply struct {
	Accept    rpc.AcceptStat // when !Denied
	Low, High uint32         // PROG_MISMATCH / RPC_MISMATCH version range
	Denied    bool           // MSG_DENIED: Reject (and AuthStat) apply
	Reject    rpc.RejectStat
	AuthStat  rpc.AuthStat
	Verf      rpc.Auth
	// Body is the XDR-encoded result (SUCCESS only). It is written after
	// the header with one writev; the slices are not retained.
	Body net.Buffers
	// Release, if set, is called once Body has been written (or dropped).
	Release func()
	// NoReply suppresses the reply (for example a retransmission of a
	// request still in progress).
	NoReply bool
}

// Success returns an accepted SUCCESS reply with the given body.
func Success(body ...[]byte) Reply { return Reply{Body: body} }

// Accepted returns an accepted reply with an error status (PROG_UNAVAIL,
// PROC_UNAVAIL, GARBAGE_ARGS, SYSTEM_ERR).
func Accepted(stat rpc.AcceptStat) Reply { return Reply{Accept: stat} }

// ProgMismatch returns PROG_MISMATCH with the supported version range.
func ProgMismatch(low, high uint32) Reply {
	return Reply{Accept: rpc.ProgMismatch, Low: low, High: high}
}

// AuthError returns MSG_DENIED/AUTH_ERROR with stat.
func AuthError(stat rpc.AuthStat) Reply {
	return Reply{Denied: true, Reject: rpc.AuthError, AuthStat: stat}
}

// Server is an RPC server. Set the fields before Serve; they must not
// change afterwards.
type Server struct {
	Handler Handler
	// MaxRecord bounds an incoming record (DefaultMaxRecord if 0). A larger
	// one drops the connection.
	MaxRecord int
	// MaxInFlight bounds concurrent calls per connection, counting those
	// whose reply is still being written (DefaultMaxInFlight if 0); when
	// reached the connection is not read until one finishes.
	MaxInFlight int
	// MaxInFlightTotal bounds the handlers running at once over all
	// connections (DefaultMaxInFlightTotal if 0). A call beyond it waits
	// for a slot while holding its connection's MaxInFlight slot, so an
	// exhausted server stops reading from busy connections rather than
	// queueing without bound; the reader itself never waits for it, so
	// back-channel replies are still routed. Waiting connections get
	// slots in turn, so one with many calls queued does not delay another
	// connection's call by more than one of its own.
	MaxInFlightTotal int
	// QueueTimeout bounds how long a call waits for one of the
	// MaxInFlightTotal slots when the Handler is an Overloader that can
	// answer it without running it (NFSv4.1: NFS4ERR_DELAY on SEQUENCE):
	// past it the call gets that answer and the client backs off
	// (DefaultQueueTimeout if 0; negative: always wait). Other calls wait.
	QueueTimeout time.Duration
	// MaxConns and MaxConnsPerAddr bound the connections Serve accepts, in
	// total and per peer IP address (DefaultMaxConns, DefaultMaxConnsPerAddr
	// if 0; negative: unlimited). A connection beyond them is closed at
	// once. ServeConn called directly is not counted.
	MaxConns        int
	MaxConnsPerAddr int
	// MaxReplyQueue bounds the bytes of replies a connection has produced
	// but not yet written (DefaultMaxReplyQueue if 0): beyond it no further
	// call is read, so a client that pipelines requests without reading
	// replies cannot make the server buffer them without bound.
	MaxReplyQueue int
	// IdleTimeout closes a connection that starts no record for this long
	// while it has no call or back-channel call outstanding (0: never).
	// NFS clients legitimately keep quiet connections open; NFSv4 clients
	// holding state renew every lease period or more often (RFC 8881
	// §8.3), so twice the lease time or more is safe.
	IdleTimeout time.Duration
	// RecordTimeout bounds the time from a record's first byte to its last
	// (DefaultRecordTimeout if 0, negative disables): a peer that sends part
	// of a record and stalls is disconnected. Calls are dispatched only once
	// complete, so such a peer never holds a handler slot.
	RecordTimeout time.Duration
	// WriteTimeout bounds writing one message (DefaultWriteTimeout if 0,
	// negative disables). A timed-out write closes the connection.
	WriteTimeout time.Duration
	// OnConnect runs when a connection starts, before any call is read;
	// OnClose after it has ended and all its calls have returned.
	OnConnect func(*Conn)
	OnClose   func(*Conn)
	// Logf logs connection errors; nil uses the standard logger.
	Logf func(format string, args ...any)
	// DRC, if set, is the duplicate request cache for calls it selects
	// (drc.go).
	DRC *DRC
	// TLS, if set, offers RPC-with-TLS (RFC 9289): the AUTH_TLS probe is
	// answered STARTTLS and the connection continues in a TLS 1.3
	// session with ALPN "sunrpc" (tls.go; NewTLSConfig). RequireTLS
	// refuses every call but NULL on a connection without TLS
	// (AUTH_TOOWEAK).
	TLS        *tls.Config
	RequireTLS bool
	tlsOnce    sync.Once
	tlsCfg     *tls.Config

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	closed    bool
	connWG    sync.WaitGroup

	// Accepted-connection accounting for MaxConns/MaxConnsPerAddr.
	accepted  int
	perAddr   map[netip.Addr]int
	refused   atomic.Uint64
	delayed   atomic.Uint64 // calls answered by Overloaded
	calls     atomic.Uint64 // CALL messages dispatched
	refLogAt  time.Time     // last refusal log line (rate limited)
	refQuiet  uint64        // refusals not logged since
	slotsOnce sync.Once
	slots     *fairSem     // MaxInFlightTotal handler slots
	queuedOut atomic.Int64 // reply bytes produced, not yet written
}

// ServerStats is a snapshot of a Server's load.
type ServerStats struct {
	Conns    int    // connections being served
	Refused  uint64 // connections refused by MaxConns/MaxConnsPerAddr
	Running  int    // handlers running
	QueuedTx int64  // reply bytes waiting to be written, all connections
	Delayed  uint64 // calls answered by the Handler's Overloaded (QueueTimeout)
	Calls    uint64 // CALL messages dispatched since the start
}

// Stats returns the current load.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return ServerStats{Conns: n, Refused: s.refused.Load(), Running: s.handlerSlots().load(), QueuedTx: s.queuedOut.Load(),
		Delayed: s.delayed.Load(), Calls: s.calls.Load()}
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

func (s *Server) maxRecord() int   { return orDefault(s.MaxRecord, DefaultMaxRecord) }
func (s *Server) maxInFlight() int { return orDefault(s.MaxInFlight, DefaultMaxInFlight) }

// queueTimeout is QueueTimeout or its default; negative means none.
func (s *Server) queueTimeout() time.Duration { return timeout(s.QueueTimeout, DefaultQueueTimeout) }

func (s *Server) handlerSlots() *fairSem {
	s.slotsOnce.Do(func() { s.slots = newFairSem(orDefault(s.MaxInFlightTotal, DefaultMaxInFlightTotal)) })
	return s.slots
}

// limit returns the bound v (d if 0, no bound if negative).
func limit(v, d int) int {
	if v == 0 {
		return d
	}
	if v < 0 {
		return int(^uint(0) >> 1)
	}
	return v
}

func peerIP(a net.Addr) (netip.Addr, bool) {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// admit counts an accepted connection against MaxConns/MaxConnsPerAddr;
// false means refuse it.
func (s *Server) admit(nc net.Conn) bool {
	ip, hasIP := peerIP(nc.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	why := ""
	switch {
	case s.accepted >= limit(s.MaxConns, DefaultMaxConns):
		why = "too many connections"
	case hasIP && s.perAddr[ip] >= limit(s.MaxConnsPerAddr, DefaultMaxConnsPerAddr):
		why = "too many connections from this address"
	}
	if why != "" {
		s.refused.Add(1)
		// Rate-limited: a flood of refusals must not become a flood of logs.
		if now := time.Now(); now.Sub(s.refLogAt) >= time.Second {
			quiet := s.refQuiet
			s.refLogAt, s.refQuiet = now, 0
			s.mu.Unlock() // Logf runs unlocked
			s.logf("rpcsrv: refused %v: %s (%d more refused since the last report)", nc.RemoteAddr(), why, quiet)
			s.mu.Lock()
		} else {
			s.refQuiet++
		}
		return false
	}
	s.accepted++
	if hasIP {
		if s.perAddr == nil {
			s.perAddr = make(map[netip.Addr]int)
		}
		s.perAddr[ip]++
	}
	return true
}

func (s *Server) release(nc net.Conn) {
	ip, hasIP := peerIP(nc.RemoteAddr())
	s.mu.Lock()
	s.accepted--
	if hasIP {
		if s.perAddr[ip]--; s.perAddr[ip] <= 0 {
			delete(s.perAddr, ip)
		}
	}
	s.mu.Unlock()
}
func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}
func timeout(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	if v < 0 {
		return 0
	}
	return v
}

// Serve accepts connections on l and serves each on its own goroutine. It
// returns ErrServerClosed after Shutdown, or the Accept error.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if transientAccept(err) {
				if backoff == 0 || backoff == time.Second {
					s.logf("rpcsrv: accept: %v; retrying", err)
				}
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !s.admit(nc) {
			nc.Close()
			continue
		}
		go func() {
			defer s.release(nc)
			s.ServeConn(nc) //nolint:errcheck // logged inside
		}()
	}
}

// transientAccept reports whether an Accept error will pass: out of file
// descriptors or memory (a connection flood must not stop the server; the
// descriptors come back as connections close), or a connection reset
// before it was accepted.
func transientAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ServeConn serves one connection until it closes and returns why (nil
// for a clean end of stream or a graceful shutdown). Use StreamConn to
// serve an io.ReadWriteCloser such as stdio.
func (s *Server) ServeConn(nc net.Conn) error {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return ErrServerClosed
	}
	if s.conns == nil {
		s.conns = make(map[*Conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.connWG.Done()
	}()

	if s.OnConnect != nil {
		s.OnConnect(c)
	}
	err := c.readLoop()
	if c.draining.Load() {
		// Graceful: let running calls finish and write their replies.
		c.inflight.Wait()
		err = nil
	}
	c.closeWith(ErrConnClosed)
	c.inflight.Wait()
	c.runOnClose()
	if err == io.EOF || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	if err != nil {
		s.logf("rpcsrv: %v: %v", nc.RemoteAddr(), err)
	}
	return err
}

// Shutdown stops the listeners, stops reading new calls, waits for calls
// in progress to finish and their replies to be written, and closes every
// connection. If ctx ends first the remaining connections are closed
// abruptly and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// ---------------------------------------------------------------- Conn

// Conn is one client connection.
type Conn struct {
	srv    *Server
	nc     net.Conn
	ctx    context.Context
	cancel context.CancelFunc

	wmu      sync.Mutex // serialises whole records on nc
	sem      chan struct{}
	inflight sync.WaitGroup
	draining atomic.Bool
	xid      atomic.Uint32
	recTO    time.Duration
	writeTO  time.Duration
	outBytes atomic.Int64  // reply bytes produced, not yet written
	outWake  chan struct{} // signalled when outBytes drops
	maxOut   int64
	slotQ    fairQueue   // calls waiting for a handler slot (under srv.slots.mu)
	sw       *switchConn // nc when the server offers TLS (tls.go)

	mu      sync.Mutex
	value   any
	pending map[uint32]chan backReply
	closed  bool
	onClose []func()
	done    chan struct{}
}

type backReply struct {
	rec []byte
	err error
}

func newConn(s *Server, nc net.Conn) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		srv: s, nc: nc, ctx: ctx, cancel: cancel,
		sem:     make(chan struct{}, s.maxInFlight()),
		pending: make(map[uint32]chan backReply),
		recTO:   timeout(s.RecordTimeout, DefaultRecordTimeout),
		writeTO: timeout(s.WriteTimeout, DefaultWriteTimeout),
		outWake: make(chan struct{}, 1),
		maxOut:  int64(orDefault(s.MaxReplyQueue, DefaultMaxReplyQueue)),
		done:    make(chan struct{}),
	}
	c.xid.Store(rand.Uint32())
	if s.TLS != nil {
		c.sw = &switchConn{Conn: nc}
		c.nc = c.sw
	}
	return c
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Context is cancelled when the connection closes.
func (c *Conn) Context() context.Context { return c.ctx }

// Done is closed once the connection has ended and its OnClose hooks ran.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Value returns the value attached with SetValue (for the NFS layer's
// session bindings).
func (c *Conn) Value() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value
}

// SetValue attaches v to the connection.
func (c *Conn) SetValue(v any) {
	c.mu.Lock()
	c.value = v
	c.mu.Unlock()
}

// OnClose registers f to run after the connection has ended and all its
// calls have returned. If it already has, f runs now.
func (c *Conn) OnClose(f func()) {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		f()
		return
	default:
	}
	c.onClose = append(c.onClose, f)
	c.mu.Unlock()
}

func (c *Conn) runOnClose() {
	c.mu.Lock()
	hooks := c.onClose
	c.onClose = nil
	close(c.done)
	c.mu.Unlock()
	for _, f := range hooks {
		f()
	}
	if c.srv.OnClose != nil {
		c.srv.OnClose(c)
	}
}

// Close closes the connection; calls in progress see their context
// cancelled and their replies are dropped.
func (c *Conn) Close() error { return c.closeWith(ErrConnClosed) }

func (c *Conn) closeWith(reason error) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	err := c.nc.Close() // before cancel, so no reply slips out after Close
	c.cancel()
	for _, ch := range pending {
		ch <- backReply{err: reason}
	}
	return err
}

// drain makes the reader stop at the next record boundary (Shutdown).
func (c *Conn) drain() {
	c.draining.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

// ---------------------------------------------------------------- reading

// deadlineReader arms the per-record deadline when the first byte of a
// record arrives (the idle deadline covers the wait before it).
type deadlineReader struct {
	c     *Conn
	armed bool
}

func (r *deadlineReader) Read(p []byte) (int, error) {
	n, err := r.c.nc.Read(p)
	if n > 0 && !r.armed {
		r.armed = true
		r.c.armRecordDeadline()
	}
	return n, err
}

func (c *Conn) armRecordDeadline() {
	if c.recTO > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.recTO))
	} else {
		c.nc.SetReadDeadline(time.Time{})
	}
	if c.draining.Load() {
		c.nc.SetReadDeadline(time.Now())
	}
}

var recPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func getRec() *[]byte  { return recPool.Get().(*[]byte) }
func putRec(b *[]byte) { *b = (*b)[:0]; recPool.Put(b) }

func (c *Conn) readLoop() error {
	dr := &deadlineReader{c: c}
	br := bufio.NewReaderSize(dr, 32<<10)
	rr := rpc.NewRecordReader(br, c.srv.maxRecord())
	for {
		// Deadline for this record: already started if bytes are buffered.
		dr.armed = br.Buffered() > 0
		if dr.armed {
			c.armRecordDeadline()
		} else if idle := c.srv.IdleTimeout; idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(idle))
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
		if c.draining.Load() {
			return nil
		}
		bp := getRec()
		rec, err := rr.ReadRecord(*bp)
		if err != nil {
			putRec(bp)
			if c.draining.Load() {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if !dr.armed {
					if c.busy() {
						continue // idle, but a reply or callback is pending
					}
					return fmt.Errorf("idle timeout: %w", err)
				}
				return fmt.Errorf("partial record timeout: %w", err)
			}
			return err
		}
		*bp = rec
		xid, mt, ok := rpc.PeekHeader(rec)
		switch {
		case !ok:
			// Too short to hold an xid: nothing to answer.
			putRec(bp)
		case mt == rpc.Reply:
			c.routeReply(xid, bp)
		case isTLSProbe(rec):
			// RFC 9289 §4.1, answered between records (tls.go).
			if err := c.answerProbe(bp, br); err != nil {
				return err
			}
		case mt == rpc.Call:
			select {
			case c.sem <- struct{}{}:
			case <-c.ctx.Done():
				putRec(bp)
				return nil
			}
			c.inflight.Add(1)
			c.srv.calls.Add(1)
			go c.serveCall(bp)
			// Backpressure on a peer that does not read its replies: read
			// no further call while too many reply bytes wait.
			for c.outBytes.Load() > c.maxOut {
				select {
				case <-c.outWake:
				case <-c.ctx.Done():
					return nil
				}
			}
		default:
			putRec(bp) // unknown msg_type: no defined answer
		}
	}
}

// busy reports whether the connection has calls in progress or
// back-channel calls awaiting replies, so that it is not idle.
func (c *Conn) busy() bool {
	if len(c.sem) > 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) > 0
}

func (c *Conn) routeReply(xid uint32, bp *[]byte) {
	c.mu.Lock()
	ch := c.pending[xid]
	delete(c.pending, xid)
	c.mu.Unlock()
	if ch == nil {
		putRec(bp) // late or unsolicited reply
		return
	}
	ch <- backReply{rec: *bp} // ownership passes to the caller
}

func (c *Conn) serveCall(bp *[]byte) {
	defer func() {
		putRec(bp)
		<-c.sem
		c.inflight.Done()
	}()
	var d xdr.Decoder
	d.Reset(*bp)
	call := Call{Conn: c}
	err := call.CallHeader.Decode(&d)
	var reply Reply
	var bad *rpc.BadAuthError
	switch {
	case err == nil:
		call.Args = d.Rest()
		if c.refuseNonTLS(&call) {
			reply = AuthError(rpc.AuthTooWeak) // RequireTLS (tls.go)
			break
		}
		if c.srv.DRC != nil && c.serveDRC(&call) {
			return // answered (or dropped) through the cache
		}
		reply = c.callHandler(&call)
	case err == rpc.ErrRPCVersion:
		reply = Reply{Denied: true, Reject: rpc.RPCMismatch, Low: rpc.RPCVersion, High: rpc.RPCVersion}
	case errors.As(err, &bad):
		reply = AuthError(bad.Stat)
	default:
		reply = Accepted(rpc.GarbageArgs)
	}
	if !reply.NoReply {
		c.writeReply(call.XID, &reply)
	}
	if reply.Release != nil {
		reply.Release()
	}
}

// callHandler runs the handler in one of the server's MaxInFlightTotal
// slots, which connections get in turn (fair.go). A call that its Handler
// can answer unstarted (Overloader) waits at most QueueTimeout for one.
func (c *Conn) callHandler(call *Call) (r Reply) {
	slots := c.srv.handlerSlots()
	if !slots.tryAcquire() {
		var busy Reply
		var canDelay bool
		if ov, ok := c.srv.Handler.(Overloader); ok && c.srv.queueTimeout() > 0 {
			busy, canDelay = ov.Overloaded(call)
		}
		var res acquireResult
		if canDelay {
			t := time.NewTimer(c.srv.queueTimeout())
			res = slots.acquireWithin(c.ctx, &c.slotQ, t.C)
			t.Stop()
		} else {
			res = slots.acquireWithin(c.ctx, &c.slotQ, nil)
		}
		switch res {
		case timedOut:
			c.srv.delayed.Add(1)
			return busy
		case cancelled:
			return Reply{NoReply: true} // connection gone: nobody to answer
		}
	}
	defer func() {
		slots.release()
		if p := recover(); p != nil {
			c.srv.logf("rpcsrv: panic serving prog %d vers %d proc %d: %v\n%s",
				call.Prog, call.Vers, call.Proc, p, debug.Stack())
			r = Accepted(rpc.SystemErr)
		}
	}()
	return c.srv.Handler.ServeRPC(c.ctx, call)
}

// ---------------------------------------------------------------- writing

type outMsg struct {
	enc  xdr.Encoder
	bufs net.Buffers
}

var outPool = sync.Pool{New: func() any {
	return &outMsg{enc: xdr.Encoder{Buf: make([]byte, 0, 128)}, bufs: make(net.Buffers, 0, 8)}
}}

func replyHeader(xid uint32, r *Reply) rpc.ReplyHeader {
	h := rpc.ReplyHeader{XID: xid, Verf: r.Verf, Low: r.Low, High: r.High}
	if r.Denied {
		h.Stat, h.Reject, h.AuthStat = rpc.MsgDenied, r.Reject, r.AuthStat
	} else {
		h.Accept = r.Accept
	}
	return h
}

func (c *Conn) writeReply(xid uint32, r *Reply) {
	h := replyHeader(xid, r)
	m := outPool.Get().(*outMsg)
	m.enc.Reset()
	m.enc.Reserve(rpc.MarkLen)
	h.Encode(&m.enc)
	m.bufs = append(m.bufs[:0], m.enc.Buf)
	if !r.Denied && r.Accept == rpc.Success {
		m.bufs = append(m.bufs, r.Body...)
	}
	c.writeRecord(m)
}

// writeRecord writes m as one record and recycles it; a failed write
// closes the connection (a partial record cannot be recovered from).
func (c *Conn) writeRecord(m *outMsg) error {
	n := int64(bodyLen(m.bufs))
	c.outBytes.Add(n)
	c.srv.queuedOut.Add(n)
	c.wmu.Lock()
	if c.writeTO > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(c.writeTO))
	}
	_, err := c.writeBufs(m.bufs) // gathered into full records over TLS
	c.wmu.Unlock()
	c.outBytes.Add(-n)
	c.srv.queuedOut.Add(-n)
	select {
	case c.outWake <- struct{}{}:
	default:
	}
	clear(m.bufs)
	m.bufs = m.bufs[:0]
	outPool.Put(m)
	if err != nil {
		c.closeWith(ErrConnClosed)
	}
	return err
}

// ---------------------------------------------------------------- back channel

// Call sends a CALL to the peer over this connection (the NFSv4.1 back
// channel) and waits for its reply. The verifier is AUTH_NONE. It returns
// the results of an accepted SUCCESS reply, *rpc.AcceptedError or
// *rpc.DeniedError for other replies, ErrConnClosed if the connection ends
// first, or ctx's error.
func (c *Conn) Call(ctx context.Context, prog, vers, proc uint32, cred rpc.Auth, args net.Buffers) ([]byte, error) {
	xid := c.xid.Add(1)
	ch := make(chan backReply, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrConnClosed
	}
	c.pending[xid] = ch
	c.mu.Unlock()

	m := outPool.Get().(*outMsg)
	m.enc.Reset()
	m.enc.Reserve(rpc.MarkLen)
	h := rpc.CallHeader{XID: xid, Prog: prog, Vers: vers, Proc: proc, Cred: cred}
	h.Encode(&m.enc)
	m.bufs = append(append(m.bufs[:0], m.enc.Buf), args...)
	if err := c.writeRecord(m); err != nil {
		c.forget(xid)
		return nil, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		return rpc.ReplyBody(r.rec)
	case <-ctx.Done():
		c.forget(xid)
		return nil, ctx.Err()
	}
}

func (c *Conn) forget(xid uint32) {
	c.mu.Lock()
	delete(c.pending, xid)
	c.mu.Unlock()
}
