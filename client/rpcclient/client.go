// Package rpcclient is an ONC RPC (RFC 5531) client over a byte stream
// with record marking (§11): one connection carries any number of
// concurrent calls, matched to their replies by xid (§9), which is how NFS
// clients use TCP.
//
// A Client has one reader goroutine, a map of waiting calls and a write
// mutex; each call is written as one record with one writev. Reply
// statuses other than SUCCESS come back as *rpc.AcceptedError or
// *rpc.DeniedError. Losing the connection fails every waiting call.
//
// The peer may also send CALLs on the same connection (the NFSv4.1 back
// channel, RFC 8881 §2.10.3.1); HandleCallbacks installs the function that
// answers them.
package rpcclient

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// MaxRecord bounds a received record; a larger one closes the connection.
const MaxRecord = 4 << 20

// ErrClosed is returned for calls on, or waiting on, a closed client. The
// error that closed the connection is available from Err.
var ErrClosed = errors.New("rpcclient: connection closed")

// CallbackFunc answers a CALL received from the server. args aliases the
// received record and is valid only during the call. A status other than
// SUCCESS is sent without body.
type CallbackFunc func(ctx context.Context, h *rpc.CallHeader, args []byte) (accept rpc.AcceptStat, body []byte)

// Client is an RPC client connection, safe for concurrent use.
type Client struct {
	rwc io.ReadWriteCloser
	xid atomic.Uint32
	cb  atomic.Pointer[CallbackFunc]

	wmu sync.Mutex

	mu      sync.Mutex
	pending map[uint32]*pendingCall
	err     error // set once closed
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

type result struct {
	rec []byte
	err error
}

// Dial connects to addr and returns a client for it.
func Dial(ctx context.Context, network, addr string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return NewClient(nc), nil
}

// NewClient returns a client speaking over rwc and starts its reader.
func NewClient(rwc io.ReadWriteCloser) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		rwc: rwc, pending: make(map[uint32]*pendingCall),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	// A random first xid keeps a restarted client's xids from matching
	// entries in the server's duplicate request cache.
	c.xid.Store(rand.Uint32())
	go c.readLoop()
	return c
}

// HandleCallbacks installs fn to answer CALLs sent by the server. Without
// it such calls are answered PROG_UNAVAIL.
func (c *Client) HandleCallbacks(fn CallbackFunc) { c.cb.Store(&fn) }

// Callbacks returns the handler set by HandleCallbacks, or nil (a
// reconnecting caller carries it over to the new connection).
func (c *Client) Callbacks() CallbackFunc {
	if p := c.cb.Load(); p != nil {
		return *p
	}
	return nil
}

// Close closes the connection; waiting calls fail with ErrClosed.
func (c *Client) Close() error {
	err := c.fail(ErrClosed)
	<-c.done
	return err
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail closes the connection for reason and wakes every waiter.
func (c *Client) fail(reason error) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil
	}
	c.err = reason
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	err := c.rwc.Close()
	c.cancel()
	for _, p := range pending {
		p.ch <- result{err: ErrClosed}
	}
	return err
}

// Call sends one call and waits for its reply, returning the results of a
// SUCCESS reply (the slice is owned by the caller). Other replies give
// *rpc.AcceptedError or *rpc.DeniedError; a lost connection gives an error
// wrapping ErrClosed; ctx ending gives ctx's error (a reply arriving later
// is discarded). The verifier sent is AUTH_NONE.
func (c *Client) Call(ctx context.Context, prog, vers, proc uint32, cred rpc.Auth, args net.Buffers) ([]byte, error) {
	xid := c.xid.Add(1)
	p := &pendingCall{ch: make(chan result, 1)}
	rb, _ := ctx.Value(replyBufferKey{}).(*ReplyBuffer)
	useRB := rb != nil && !rb.lost.Load()
	if useRB {
		p.rb = rb
	}
	ch := p.ch
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, closedErr(err)
	}
	c.pending[xid] = p
	c.mu.Unlock()

	var e xdr.Encoder
	e.Buf = make([]byte, 0, 128)
	e.Reserve(rpc.MarkLen)
	h := rpc.CallHeader{XID: xid, Prog: prog, Vers: vers, Proc: proc, Cred: cred}
	h.Encode(&e)
	bufs := make(net.Buffers, 0, 1+len(args))
	bufs = append(append(bufs, e.Buf), args...)
	if err := c.write(ctx, bufs); err != nil {
		c.forget(xid)
		return nil, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, closedErr(c.Err())
		}
		if useRB {
			rb.lost.Store(false) // the record is complete: the buffer is the caller's again
		}
		return rpc.ReplyBody(r.rec)
	case <-ctx.Done():
		c.forget(xid)
		return nil, ctx.Err()
	}
}

// pendingCall is a call waiting for its reply.
type pendingCall struct {
	ch chan result
	rb *ReplyBuffer // the caller's buffer for the reply, if any
}

// ReplyBuffer is a caller's buffer for one reply at a time (WithReplyBuffer):
// the reply record is read straight into it, so a large READ reply costs
// neither an allocation nor a copy. After a call that used it returns, the
// results alias it until the caller reuses it. If a call was abandoned while
// its reply was being read into the buffer (ctx ended), the buffer may still
// be written: Lost reports that, and such a buffer must not be reused.
type ReplyBuffer struct {
	B    []byte
	lost atomic.Bool
}

// Lost reports whether an abandoned call may still write into the buffer.
func (rb *ReplyBuffer) Lost() bool { return rb.lost.Load() }

type replyBufferKey struct{}

// WithReplyBuffer returns a context whose calls read their replies into rb
// (when it is large enough; otherwise they allocate as usual).
func WithReplyBuffer(ctx context.Context, rb *ReplyBuffer) context.Context {
	return context.WithValue(ctx, replyBufferKey{}, rb)
}

// pick chooses the buffer for the reply to xid (rpc.PickFunc). A record
// whose length is known (a single fragment, as servers send) gets a buffer
// of exactly that size, allocated once instead of grown chunk by chunk: the
// server is the peer this client chose, and MaxRecord still bounds it.
func (c *Client) pick(xid uint32, n int, last bool) []byte {
	c.mu.Lock()
	p := c.pending[xid]
	var rb *ReplyBuffer
	if p != nil && p.rb != nil {
		rb, p.rb = p.rb, nil
	}
	c.mu.Unlock()
	if rb != nil && last && cap(rb.B) >= n {
		// From here on the caller gets this record or, if it gives up
		// first, must not reuse the buffer.
		rb.lost.Store(true)
		return rb.B
	}
	if last {
		return make([]byte, 0, n)
	}
	return nil
}

func closedErr(reason error) error {
	if reason == nil || reason == ErrClosed {
		return ErrClosed
	}
	return errors.Join(ErrClosed, reason)
}

func (c *Client) forget(xid uint32) {
	c.mu.Lock()
	delete(c.pending, xid)
	c.mu.Unlock()
}

type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// write sends one record. A deadline from ctx bounds the write where the
// transport supports it; a failed write closes the connection, as a
// partial record leaves the stream unusable.
func (c *Client) write(ctx context.Context, bufs net.Buffers) error {
	c.wmu.Lock()
	wd, hasWD := c.rwc.(writeDeadliner)
	if hasWD {
		dl, _ := ctx.Deadline()
		wd.SetWriteDeadline(dl)
	}
	_, err := writeRecord(c.rwc, bufs) // tls.go: gathered over TLS
	c.wmu.Unlock()
	if err != nil {
		c.fail(err)
		return closedErr(err)
	}
	return nil
}

func (c *Client) readLoop() {
	defer close(c.done)
	rr := rpc.NewRecordReader(bufio.NewReaderSize(c.rwc, 32<<10), MaxRecord)
	for {
		rec, err := rr.ReadRecordPick(c.pick)
		if err != nil {
			c.fail(err)
			return
		}
		xid, mt, ok := rpc.PeekHeader(rec)
		if !ok {
			continue
		}
		switch mt {
		case rpc.Reply:
			c.mu.Lock()
			p := c.pending[xid]
			delete(c.pending, xid)
			c.mu.Unlock()
			if p != nil {
				p.ch <- result{rec: rec}
			}
		case rpc.Call:
			go c.serveCallback(rec)
		}
	}
}

// serveCallback answers one CALL from the server.
func (c *Client) serveCallback(rec []byte) {
	h, args, err := rpc.DecodeCall(rec)
	r := rpc.ReplyHeader{XID: h.XID}
	var body []byte
	var bad *rpc.BadAuthError
	switch {
	case err == rpc.ErrRPCVersion:
		r.Stat, r.Reject, r.Low, r.High = rpc.MsgDenied, rpc.RPCMismatch, rpc.RPCVersion, rpc.RPCVersion
	case errors.As(err, &bad):
		r.Stat, r.Reject, r.AuthStat = rpc.MsgDenied, rpc.AuthError, bad.Stat
	case err != nil:
		r.Accept = rpc.GarbageArgs
	default:
		fn := c.cb.Load()
		if fn == nil {
			r.Accept = rpc.ProgUnavail
		} else {
			r.Accept, body = c.runCallback(*fn, &h, args)
		}
	}
	var e xdr.Encoder
	e.Buf = make([]byte, 0, 64)
	e.Reserve(rpc.MarkLen)
	r.Encode(&e)
	bufs := net.Buffers{e.Buf}
	if r.Stat == rpc.MsgAccepted && r.Accept == rpc.Success {
		bufs = append(bufs, body)
	}
	c.write(context.Background(), bufs)
}

func (c *Client) runCallback(fn CallbackFunc, h *rpc.CallHeader, args []byte) (st rpc.AcceptStat, body []byte) {
	defer func() {
		if recover() != nil {
			st, body = rpc.SystemErr, nil
		}
	}()
	return fn(c.ctx, h, args)
}
