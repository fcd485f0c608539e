package rpcclient

// RPC-with-TLS (RFC 9289), client side: on a fresh connection, a NULL call
// with an AUTH_TLS credential asks the server for TLS (§4.1); a server
// that offers it answers with an AUTH_NONE verifier holding "STARTTLS",
// and the client then runs a TLS 1.3 handshake (ALPN "sunrpc") on the same
// connection. RPC records, record marks included, then travel inside the
// session, with the usual credentials (AUTH_SYS…).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// ALPN is the application protocol ID of RPC-with-TLS (RFC 9289 §5).
const ALPN = "sunrpc"

// ErrNoTLS is returned by StartTLS when the server does not offer
// RPC-with-TLS: its answer to the probe has no "STARTTLS" verifier, or it
// refuses the AUTH_TLS flavour.
var ErrNoTLS = errors.New("rpcclient: server does not offer RPC-with-TLS")

// StartTLS asks the server on nc for RPC-with-TLS with the AUTH_TLS NULL
// probe to program prog, version vers (RFC 9289 §4.1), and runs the TLS
// handshake with cfg (its copy is made to require TLS 1.3 and ALPN
// "sunrpc"). cfg must name the server (ServerName) unless it skips
// verification. nc must be fresh: nothing is read beyond the probe's
// reply. The returned session is ready for NewClient. ctx bounds the
// whole exchange.
func StartTLS(ctx context.Context, nc net.Conn, prog, vers uint32, cfg *tls.Config) (*tls.Conn, error) {
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	// An I/O error caused by ctx's end is reported as ctx's error (the
	// deadline on nc may fire a moment before ctx notices its own).
	ctxErr := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if dl, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
			return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return err
	}

	xid := rand.Uint32()
	var e xdr.Encoder
	e.Reserve(rpc.MarkLen)
	h := rpc.CallHeader{XID: xid, Prog: prog, Vers: vers, Proc: 0, Cred: rpc.Auth{Flavor: rpc.AuthTLS, Body: []byte{}}}
	h.Encode(&e)
	if _, err := rpc.WriteRecord(nc, net.Buffers{e.Buf}); err != nil {
		return nil, ctxErr(fmt.Errorf("rpcclient: sending the AUTH_TLS probe: %w", err))
	}
	// Unbuffered: the next bytes on nc are the server's handshake.
	rec, err := rpc.NewRecordReader(nc, 1024).ReadRecord(nil)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, ctxErr(fmt.Errorf("rpcclient: reading the AUTH_TLS probe reply: %w", err))
	}
	rh, _, err := rpc.DecodeReply(rec)
	switch {
	case err != nil:
		return nil, fmt.Errorf("rpcclient: AUTH_TLS probe reply: %w", err)
	case rh.XID != xid:
		return nil, fmt.Errorf("rpcclient: AUTH_TLS probe reply has xid %#x, want %#x", rh.XID, xid)
	case rh.Err() != nil:
		return nil, fmt.Errorf("%w: %w", ErrNoTLS, rh.Err())
	case rh.Verf.Flavor != rpc.AuthNone || string(rh.Verf.Body) != rpc.StartTLS:
		return nil, ErrNoTLS
	}

	tc := tls.Client(nc, clientConfig(cfg))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, ctxErr(fmt.Errorf("rpcclient: TLS handshake: %w", err))
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != ALPN {
		tc.Close()
		return nil, fmt.Errorf("rpcclient: TLS server negotiated ALPN %q, want %q", p, ALPN)
	}
	// In TLS 1.3 the client's handshake ends before the server has judged
	// the client's certificate: a NULL round trip inside the session makes
	// a refusal show here, as an error of the upgrade, rather than as a
	// lost connection on the first real call.
	if err := nullCall(tc, prog, vers); err != nil {
		tc.Close()
		return nil, ctxErr(fmt.Errorf("rpcclient: first call over TLS: %w", err))
	}
	nc.SetDeadline(time.Time{})
	return tc, nil
}

// nullCall makes a NULL call with AUTH_NONE on rw and reads its reply.
func nullCall(rw io.ReadWriter, prog, vers uint32) error {
	xid := rand.Uint32()
	var e xdr.Encoder
	e.Reserve(rpc.MarkLen)
	h := rpc.CallHeader{XID: xid, Prog: prog, Vers: vers, Proc: 0}
	h.Encode(&e)
	if _, err := rpc.WriteRecord(rw, net.Buffers{e.Buf}); err != nil {
		return err
	}
	rec, err := rpc.NewRecordReader(rw, 1024).ReadRecord(nil)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	rh, _, err := rpc.DecodeReply(rec)
	if err != nil {
		return err
	}
	if rh.XID != xid {
		return fmt.Errorf("reply has xid %#x, want %#x", rh.XID, xid)
	}
	return rh.Err()
}

// clientConfig is cfg with the RFC 9289 §5 requirements: TLS 1.3 or
// later and ALPN "sunrpc".
func clientConfig(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	c := cfg.Clone()
	c.MinVersion = max(c.MinVersion, tls.VersionTLS13)
	c.NextProtos = []string{ALPN}
	return c
}

// DialTLS connects to addr and returns a client speaking RPC-with-TLS
// (StartTLS with prog and vers). cfg.ServerName defaults to addr's host.
func DialTLS(ctx context.Context, network, addr string, prog, vers uint32, cfg *tls.Config) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if cfg == nil || cfg.ServerName == "" {
		cfg = cfg.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	tc, err := StartTLS(ctx, nc, prog, vers, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return NewClient(tc), nil
}

// TLSOptions are a client's RPC-with-TLS settings in mount-option form
// (mount_remote -o, fsctl -o): tls, mtls, cert=FILE, key=FILE, ca=FILE,
// and xprtsec=none|tls|mtls as in nfs(5).
type TLSOptions struct {
	Enabled bool   // tls: probe for and require RPC-with-TLS
	Mutual  bool   // mtls: present a client certificate (Cert, Key)
	Cert    string // PEM client certificate (chain)
	Key     string // PEM private key of Cert
	CA      string // PEM CA certificates to verify the server with (default: the system's)
}

// ParseOption applies one option k[=v]; ok is false if it is not a TLS
// option.
func (o *TLSOptions) ParseOption(k, v string) (ok bool, err error) {
	switch k {
	case "tls":
		o.Enabled = true
	case "mtls":
		o.Enabled, o.Mutual = true, true
	case "notls":
		*o = TLSOptions{}
	case "xprtsec":
		switch v {
		case "none":
			*o = TLSOptions{}
		case "tls":
			o.Enabled, o.Mutual = true, false
		case "mtls":
			o.Enabled, o.Mutual = true, true
		default:
			return true, fmt.Errorf("option xprtsec: want none, tls or mtls, got %q", v)
		}
	case "cert", "key", "ca":
		if v == "" {
			return true, fmt.Errorf("option %s: want a file name", k)
		}
		o.Enabled = true
		switch k {
		case "cert":
			o.Cert, o.Mutual = v, true
		case "key":
			o.Key = v
		case "ca":
			o.CA = v
		}
	default:
		return false, nil
	}
	return true, nil
}

// Config returns the TLS configuration for a server called serverName
// (a host name or IP address to verify its certificate against), or nil
// when TLS is not enabled. It reads the files now, so errors show at
// start-up.
func (o *TLSOptions) Config(serverName string) (*tls.Config, error) {
	if !o.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS13, NextProtos: []string{ALPN}}
	if o.Mutual {
		if o.Cert == "" || o.Key == "" {
			return nil, errors.New("mtls needs cert=FILE and key=FILE")
		}
		cert, err := tls.LoadX509KeyPair(o.Cert, o.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	} else if o.Key != "" {
		return nil, errors.New("key= without cert=")
	}
	if o.CA != "" {
		pool, err := LoadCertPool(o.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// String gives the options back in -o form (for messages).
func (o *TLSOptions) String() string {
	if !o.Enabled {
		return "notls"
	}
	r := []string{"tls"}
	if o.Mutual {
		r[0] = "mtls"
	}
	for _, kv := range [][2]string{{"cert", o.Cert}, {"key", o.Key}, {"ca", o.CA}} {
		if kv[1] != "" {
			r = append(r, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(r, ",")
}

// LoadCertPool reads PEM certificates from file into a new pool.
func LoadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return pool, nil
}

// tlsChunk is the plaintext of one full TLS record (RFC 8446 §5.1).
const tlsChunk = 16 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, tlsChunk); return &b }}

// writeRecord writes one record to w. Over TLS the pieces are gathered
// into full-size TLS records: a tls.Conn has no writev, and writing each
// piece would make a TLS record (and a system call) of every mark and
// header.
func writeRecord(w io.Writer, bufs net.Buffers) (int64, error) {
	if _, ok := w.(*tls.Conn); !ok || len(bufs) == 1 {
		return rpc.WriteRecord(w, bufs)
	}
	if err := rpc.PutRecordMark(bufs); err != nil {
		return 0, err
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	return rpc.WriteGathered(w, bufs, *bp)
}
