package rpcsrv

// RPC-with-TLS (RFC 9289). A client asks for TLS with a NULL call whose
// credential is AUTH_TLS (§4.1); a server offering TLS answers it with an
// AUTH_NONE verifier holding "STARTTLS", and the client then starts a TLS
// handshake on the same connection. Records continue, record marks
// included, inside the TLS session (§5), with the usual credentials.
//
// The upgrade happens in the reader, between two records: calls already
// in progress finish and their replies go out in plaintext, the probe's
// reply is written, then the handshake runs with the write lock held, so
// no plaintext byte follows the reply and no record is read before the
// session is up.
//
// Server policy (RequireTLS): a call other than NULL on a connection
// without TLS is refused with MSG_DENIED/AUTH_ERROR/AUTH_TOOWEAK ("rejected
// for security reasons", RFC 5531 §9): RFC 9289 leaves to the server's
// policy whether traffic without TLS is served, and this is the RPC-level
// way to say the transport's security is not enough (unlike closing the
// connection, the client learns why). The
// connection stays open: the client can still probe and start TLS on it,
// and NULL calls (pings, the probe) are always answered.

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// ALPN is the application protocol ID RPC-with-TLS peers negotiate
// (RFC 9289 §5; registered with IANA by it).
const ALPN = "sunrpc"

// NewTLSConfig returns a server configuration for RPC-with-TLS presenting
// cert. With clientCAs set, clients must present a certificate that chains
// to one of them (mutual TLS, RFC 9289 §5.2); without, client
// certificates are not asked for. The Server enforces TLS 1.3 and ALPN on
// whatever config it is given; this sets them too for clarity.
func NewTLSConfig(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{ALPN},
	}
	if clientCAs != nil {
		cfg.ClientCAs = clientCAs
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg
}

// tlsConfig returns Server.TLS with the RFC 9289 requirements imposed:
// TLS 1.3 or later (§5.1) and ALPN "sunrpc", a peer that does not
// negotiate it being refused (§5.2).
func (s *Server) tlsConfig() *tls.Config {
	s.tlsOnce.Do(func() {
		cfg := s.TLS.Clone()
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS13)
		cfg.NextProtos = []string{ALPN}
		prev := cfg.VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.NegotiatedProtocol != ALPN {
				return errors.New("rpcsrv: TLS client did not negotiate ALPN \"sunrpc\"")
			}
			if prev != nil {
				return prev(cs)
			}
			return nil
		}
		s.tlsCfg = cfg
	})
	return s.tlsCfg
}

// TLS returns the state of the connection's TLS session, or nil if it has
// not started one. Handlers see the client's verified certificate chain in
// VerifiedChains.
func (c *Conn) TLS() *tls.ConnectionState {
	if c.sw == nil {
		return nil
	}
	tc := c.sw.tc.Load()
	if tc == nil {
		return nil
	}
	cs := tc.ConnectionState()
	return &cs
}

// refuseNonTLS reports whether call must be refused under RequireTLS: any
// procedure but NULL on a connection without TLS.
func (c *Conn) refuseNonTLS(call *Call) bool {
	return c.srv.RequireTLS && call.Proc != 0 && c.TLS() == nil
}

// switchConn is the connection a Conn uses when the server offers TLS: the
// transport until the handshake, the TLS session after it. The switch is
// one atomic store made with the write lock held.
type switchConn struct {
	net.Conn // the transport
	tc       atomic.Pointer[tls.Conn]
}

func (s *switchConn) cur() net.Conn {
	if tc := s.tc.Load(); tc != nil {
		return tc
	}
	return s.Conn
}

func (s *switchConn) Read(p []byte) (int, error)         { return s.cur().Read(p) }
func (s *switchConn) Write(p []byte) (int, error)        { return s.cur().Write(p) }
func (s *switchConn) SetDeadline(t time.Time) error      { return s.cur().SetDeadline(t) }
func (s *switchConn) SetReadDeadline(t time.Time) error  { return s.cur().SetReadDeadline(t) }
func (s *switchConn) SetWriteDeadline(t time.Time) error { return s.cur().SetWriteDeadline(t) }

// Close closes the transport without a close_notify alert: sending one
// could block on a peer that does not read, and records are
// self-delimiting, so truncation cannot go unnoticed.
func (s *switchConn) Close() error { return s.Conn.Close() }

// prefixConn replays bytes read ahead from the transport (the start of
// the handshake) before reading from it again.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// isTLSProbe reports whether rec is a CALL of procedure NULL with an
// AUTH_TLS credential (RFC 9289 §4.1), from the fixed-offset header words:
// xid, msg_type, rpcvers, prog, vers, proc, cred flavor.
func isTLSProbe(rec []byte) bool {
	if len(rec) < 28 {
		return false
	}
	word := func(i int) uint32 {
		return uint32(rec[i])<<24 | uint32(rec[i+1])<<16 | uint32(rec[i+2])<<8 | uint32(rec[i+3])
	}
	return word(4) == uint32(rpc.Call) && word(8) == rpc.RPCVersion && word(20) == 0 &&
		word(24) == uint32(rpc.AuthTLS)
}

// handshakeTimeout bounds the TLS handshake when no record timeout is set.
const handshakeTimeout = 30 * time.Second

// answerProbe answers the AUTH_TLS probe in record *bp (which it recycles)
// and, if TLS is offered on this connection, runs the handshake and
// switches the connection to the session. br is the reader's buffer:
// bytes it already holds past the probe belong to the handshake. Called
// by the reader between records; an error ends the connection.
func (c *Conn) answerProbe(bp *[]byte, br *bufio.Reader) error {
	defer putRec(bp)
	var d xdr.Decoder
	d.Reset(*bp)
	var h rpc.CallHeader
	err := h.Decode(&d)
	var reply Reply
	switch {
	case err != nil:
		// The fixed words were read by isTLSProbe, so the xid is valid.
		reply = AuthError(rpc.AuthBadCred)
	case len(h.Cred.Body) != 0 || h.Verf.Flavor != rpc.AuthNone || len(h.Verf.Body) != 0:
		// §4.1: the probe's credential body is empty, its verifier AUTH_NONE.
		reply = AuthError(rpc.AuthBadCred)
	case d.Remaining() != 0:
		reply = Accepted(rpc.GarbageArgs) // NULL takes no arguments
	case !c.offerTLS():
		// TLS not configured, already running, or back-channel calls
		// outstanding: an ordinary NULL reply, whose verifier lacking
		// "STARTTLS" tells the client TLS is not available (§4.1).
	default:
		return c.startTLS(h.XID, br)
	}
	c.writeReply(h.XID, &reply)
	return nil
}

// offerTLS reports whether the probe can be answered with STARTTLS: the
// server has a TLS config, the connection is not yet TLS, and nothing is
// in progress on it — no call (its reply would be written mid-switch) and
// no back-channel call awaiting a reply. Clients probe first thing on a
// new connection (RFC 9289 §4.1), so this declines only odd peers;
// waiting instead could deadlock on a handler that waits for a
// back-channel reply the reader would have to route.
func (c *Conn) offerTLS() bool {
	if c.srv.TLS == nil || c.sw == nil || c.sw.tc.Load() != nil {
		return false
	}
	if len(c.sem) > 0 { // a call holds its slot until its reply is written
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) == 0 && !c.closed
}

// startTLS writes the STARTTLS reply for xid, then runs the server side of
// the handshake and installs the session, all with the write lock held.
func (c *Conn) startTLS(xid uint32, br *bufio.Reader) error {
	raw := c.sw.Conn
	c.wmu.Lock()
	defer c.wmu.Unlock()

	var e xdr.Encoder
	e.Reserve(rpc.MarkLen)
	h := rpc.ReplyHeader{XID: xid, Verf: rpc.Auth{Flavor: rpc.AuthNone, Body: []byte(rpc.StartTLS)}}
	h.Encode(&e)
	to := c.recTO
	if to <= 0 {
		to = handshakeTimeout
	}
	raw.SetDeadline(time.Now().Add(to))
	if _, err := rpc.WriteRecord(raw, net.Buffers{e.Buf}); err != nil {
		return fmt.Errorf("writing STARTTLS reply: %w", err)
	}

	var pre []byte
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		pre = append([]byte(nil), b...)
		br.Discard(n)
	}
	tc := tls.Server(&prefixConn{Conn: raw, pre: pre}, c.srv.tlsConfig())
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	raw.SetDeadline(time.Time{}) // the reader re-arms its own
	c.sw.tc.Store(tc)
	return nil
}

// tlsChunk is the plaintext of one full TLS record (RFC 8446 §5.1).
const tlsChunk = 16 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, tlsChunk); return &b }}

// writeBufs writes one record (bufs[0] starting with the reserved record
// mark). Over TLS the pieces are gathered into full-size TLS records: a
// tls.Conn has no writev, and writing each piece would make a TLS record
// (and a system call) of every mark and header.
func (c *Conn) writeBufs(bufs net.Buffers) (int64, error) {
	if c.sw == nil {
		return rpc.WriteRecord(c.nc, bufs)
	}
	tc := c.sw.tc.Load()
	if tc == nil || len(bufs) == 1 {
		return rpc.WriteRecord(c.nc, bufs)
	}
	if err := rpc.PutRecordMark(bufs); err != nil {
		return 0, err
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	return rpc.WriteGathered(tc, bufs, *bp)
}
