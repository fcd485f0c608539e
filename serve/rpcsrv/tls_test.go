package rpcsrv_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/internal/testcert"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

const procTLSInfo = 100

// tlsToy is toy plus a procedure answering what the server knows of the
// connection's TLS session: "none" or "ALPN version CN".
type tlsToy struct{ *toy }

func (t tlsToy) ServeRPC(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
	if c.Prog == toyProg && c.Proc == procTLSInfo {
		cs := c.Conn.TLS()
		if cs == nil {
			return rpcsrv.Success([]byte("none"))
		}
		cn := "-"
		if len(cs.VerifiedChains) > 0 {
			cn = cs.VerifiedChains[0][0].Subject.CommonName
		}
		return rpcsrv.Success([]byte(cs.NegotiatedProtocol + " " + tls.VersionName(cs.Version) + " " + cn))
	}
	return t.toy.ServeRPC(ctx, c)
}

type tlsEnv struct {
	ca, other *testcert.CA
	addr      string
	srv       *rpcsrv.Server
}

// tlsServer starts a toy server offering TLS with a certificate for
// 127.0.0.1; mutual requires client certificates from ca.
func tlsServer(t *testing.T, mutual, require bool, h ...rpcsrv.Handler) *tlsEnv {
	t.Helper()
	e := &tlsEnv{ca: testcert.NewCA(t, "test CA"), other: testcert.NewCA(t, "other CA")}
	srvCert := e.ca.Server(t, "127.0.0.1", "localhost")
	cfg := rpcsrv.NewTLSConfig(srvCert.TLS, nil)
	if mutual {
		cfg = rpcsrv.NewTLSConfig(srvCert.TLS, e.ca.Pool())
	}
	e.srv = &rpcsrv.Server{Handler: tlsToy{newToy()}, TLS: cfg, RequireTLS: require}
	if len(h) > 0 {
		e.srv.Handler = h[0]
	}
	e.addr, _ = start(t, e.srv)
	return e
}

func (e *tlsEnv) clientConfig(cert *testcert.Cert) *tls.Config {
	cfg := &tls.Config{RootCAs: e.ca.Pool(), ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	return cfg
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) (*rpcclient.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rpcclient.DialTLS(ctx, "tcp", addr, toyProg, 1, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func tlsInfo(t *testing.T, c *rpcclient.Client) string {
	t.Helper()
	b, err := call(c, procTLSInfo, nil)
	if err != nil {
		t.Fatalf("TLS info call: %v", err)
	}
	return string(b)
}

func TestTLSCallsAndBackChannel(t *testing.T) {
	e := tlsServer(t, false, false)
	c, err := dialTLS(t, e.addr, e.clientConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := tlsInfo(t, c); got != "sunrpc TLS 1.3 -" {
		t.Fatalf("server sees TLS %q, want ALPN sunrpc, TLS 1.3, no client certificate", got)
	}
	// A reply larger than a TLS record, and many concurrent calls.
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arg := big[:len(big)-i*1000]
			got, err := call(c, procEcho, arg)
			if err != nil || !bytes.Equal(got, arg) {
				t.Errorf("echo %d bytes: %v (got %d bytes)", len(arg), err, len(got))
			}
		}()
	}
	wg.Wait()
	// The back channel runs inside the session too.
	c.HandleCallbacks(func(ctx context.Context, h *rpc.CallHeader, args []byte) (rpc.AcceptStat, []byte) {
		return rpc.Success, append([]byte("cb:"), args...)
	})
	got, err := call(c, procCallback, []byte("ping"))
	if err != nil || string(got) != "cb:ping" {
		t.Fatalf("callback over TLS: %q, %v", got, err)
	}
}

// recorder is a TCP relay that keeps every byte it passes.
type recorder struct {
	addr   string
	mu     sync.Mutex
	up     bytes.Buffer // client → server
	down   bytes.Buffer // server → client
	closed chan struct{}
}

func record(t *testing.T, target string) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{addr: l.Addr().String(), closed: make(chan struct{})}
	t.Cleanup(func() { l.Close() })
	go func() {
		in, err := l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			return
		}
		var wg sync.WaitGroup
		pipe := func(dst, src net.Conn, buf *bytes.Buffer) {
			defer wg.Done()
			b := make([]byte, 4096)
			for {
				n, err := src.Read(b)
				if n > 0 {
					r.mu.Lock()
					buf.Write(b[:n])
					r.mu.Unlock()
					dst.Write(b[:n])
				}
				if err != nil {
					dst.(*net.TCPConn).CloseWrite()
					return
				}
			}
		}
		wg.Add(2)
		go pipe(out, in, &r.up)
		go pipe(in, out, &r.down)
		wg.Wait()
		in.Close()
		out.Close()
		close(r.closed)
	}()
	return r
}

// TestTLSEncrypts checks on the wire that after the probe nothing is
// plaintext RPC: neither the AUTH_SYS machine name nor the arguments and
// results appear, and the client's bytes after the probe are TLS records.
func TestTLSEncrypts(t *testing.T) {
	e := tlsServer(t, false, false)
	rec := record(t, e.addr)
	c, err := dialTLS(t, rec.addr, e.clientConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	const machine, payload = "secret-machine-name", "secret-payload-bytes"
	cred := rpc.NewAuthSys(rpc.AuthSysParams{MachineName: machine, UID: 1000, GID: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := c.Call(ctx, toyProg, 1, procEcho, cred, net.Buffers{[]byte(payload)})
	if err != nil || string(got) != payload {
		t.Fatalf("echo: %q, %v", got, err)
	}
	c.Close()
	select {
	case <-rec.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("relay did not finish")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	up, down := rec.up.Bytes(), rec.down.Bytes()
	for _, s := range []string{machine, payload} {
		if bytes.Contains(up, []byte(s)) || bytes.Contains(down, []byte(s)) {
			t.Errorf("%q travelled in plaintext", s)
		}
	}
	// The probe: one record, NULL with AUTH_TLS; then a TLS handshake
	// record (content type 22, legacy version 3.x).
	probe, rest, ok := cutRecord(up)
	if !ok {
		t.Fatal("no probe record on the wire")
	}
	h, args, err := rpc.DecodeCall(probe)
	if err != nil || h.Proc != 0 || h.Cred.Flavor != rpc.AuthTLS || len(h.Cred.Body) != 0 || len(args) != 0 {
		t.Fatalf("probe on the wire: %+v %v", h, err)
	}
	if len(rest) < 3 || rest[0] != 22 || rest[1] != 3 {
		t.Fatalf("client bytes after the probe are not a TLS handshake: % x", rest[:min(len(rest), 16)])
	}
	reply, rest, ok := cutRecord(down)
	if !ok {
		t.Fatal("no probe reply on the wire")
	}
	rh, _, err := rpc.DecodeReply(reply)
	if err != nil || rh.Verf.Flavor != rpc.AuthNone || string(rh.Verf.Body) != "STARTTLS" {
		t.Fatalf("probe reply: %+v %v", rh, err)
	}
	if len(rest) < 3 || rest[0] != 22 || rest[1] != 3 {
		t.Fatalf("server bytes after the probe reply are not a TLS handshake: % x", rest[:min(len(rest), 16)])
	}
}

// cutRecord splits one single-fragment record off the front of b.
func cutRecord(b []byte) (rec, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, b, false
	}
	n := int(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])) & 0x7fffffff
	if b[0]&0x80 == 0 || len(b) < 4+n {
		return nil, b, false
	}
	return b[4 : 4+n], b[4+n:], true
}

func TestMutualTLS(t *testing.T) {
	e := tlsServer(t, true, false)
	good := e.ca.Client(t, "alice")
	c, err := dialTLS(t, e.addr, e.clientConfig(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := tlsInfo(t, c); got != "sunrpc TLS 1.3 alice" {
		t.Fatalf("server sees %q, want the verified client certificate of alice", got)
	}
	for name, cert := range map[string]*testcert.Cert{
		"no certificate":          nil,
		"certificate of other CA": e.other.Client(t, "mallory"),
	} {
		t.Run(name, func(t *testing.T) {
			// In TLS 1.3 the server judges the client's certificate
			// after the client's side of the handshake is done: the
			// refusal shows at the latest on the first call.
			cfg := e.clientConfig(nil)
			if cert != nil {
				// Sent even though the server names another CA (Go's
				// client would otherwise send none).
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					return &cert.TLS, nil
				}
			}
			c, err := dialTLS(t, e.addr, cfg)
			if err == nil {
				_, err = call(c, procTLSInfo, nil)
			}
			if err == nil {
				t.Fatal("served without a valid client certificate")
			}
			t.Logf("refused: %v", err)
		})
	}
}

func TestRequireTLS(t *testing.T) {
	e := tlsServer(t, false, true)
	plain := dial(t, e.addr)
	// NULL is answered without TLS (pings, and the probe itself).
	if _, err := call(plain, procNull, nil); err != nil {
		t.Fatalf("NULL without TLS: %v", err)
	}
	_, err := call(plain, procEcho, []byte("x"))
	var de *rpc.DeniedError
	if !errors.As(err, &de) || de.Stat != rpc.AuthError || de.AuthStat != rpc.AuthTooWeak {
		t.Fatalf("call without TLS: %v, want AUTH_ERROR/AUTH_TOOWEAK", err)
	}
	// The connection stays usable for NULL.
	if _, err := call(plain, procNull, nil); err != nil {
		t.Fatalf("NULL after a refusal: %v", err)
	}
	c, err := dialTLS(t, e.addr, e.clientConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := call(c, procEcho, []byte("x")); err != nil || string(got) != "x" {
		t.Fatalf("echo over TLS: %q, %v", got, err)
	}
}

// A server without TLS answers the probe as a plain NULL: no STARTTLS,
// and the connection goes on in plaintext.
func TestProbeWithoutTLS(t *testing.T) {
	addr, _ := start(t, &rpcsrv.Server{Handler: newToy()})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = rpcclient.StartTLS(ctx, nc, toyProg, 1, &tls.Config{ServerName: "127.0.0.1"})
	if !errors.Is(err, rpcclient.ErrNoTLS) {
		t.Fatalf("StartTLS against a server without TLS: %v, want ErrNoTLS", err)
	}
	c := rpcclient.NewClient(nc)
	defer c.Close()
	if got, err := call(c, procEcho, []byte("plain")); err != nil || string(got) != "plain" {
		t.Fatalf("plain echo after the refused probe: %q, %v", got, err)
	}
}

// probeRecord is the AUTH_TLS probe with the given credential body.
func probeRecord(xid uint32, credBody []byte) []byte {
	var e xdr.Encoder
	e.Reserve(rpc.MarkLen)
	h := rpc.CallHeader{XID: xid, Prog: toyProg, Vers: 1, Proc: 0, Cred: rpc.Auth{Flavor: rpc.AuthTLS, Body: credBody}}
	h.Encode(&e)
	rpc.PutRecordMark(net.Buffers{e.Buf})
	return e.Buf
}

func TestProbeMalformed(t *testing.T) {
	e := tlsServer(t, false, false)
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(probeRecord(7, []byte("junk")))
	if h := readReply(t, nc); h.XID != 7 || h.Stat != rpc.MsgDenied || h.AuthStat != rpc.AuthBadCred {
		t.Fatalf("probe with a credential body: %+v, want AUTH_BADCRED", h)
	}
	// Still plaintext: a proper probe afterwards gets STARTTLS.
	nc.Write(probeRecord(8, nil))
	if h := readReply(t, nc); h.XID != 8 || string(h.Verf.Body) != "STARTTLS" {
		t.Fatalf("probe: %+v", h)
	}
}

// probeThen sends the probe on a fresh connection, checks the STARTTLS
// reply and returns the connection, ready for the handshake.
func probeThen(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.Write(probeRecord(1, nil))
	if h := readReply(t, nc); string(h.Verf.Body) != "STARTTLS" {
		t.Fatalf("probe reply: %+v", h)
	}
	nc.SetReadDeadline(time.Time{})
	return nc
}

// TestTLSHandshakeRequirements: after the probe, a plain crypto/tls
// handshake gets TLS 1.3 and ALPN sunrpc; a client offering only TLS 1.2,
// another ALPN or no ALPN is refused.
func TestTLSHandshakeRequirements(t *testing.T) {
	e := tlsServer(t, false, false)
	base := e.clientConfig(nil)
	hs := func(mod func(*tls.Config)) (tls.ConnectionState, error) {
		cfg := base.Clone()
		cfg.NextProtos = []string{"sunrpc"}
		mod(cfg)
		tc := tls.Client(probeThen(t, e.addr), cfg)
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		err := tc.Handshake()
		if err == nil {
			// TLS 1.3: a server-side refusal arrives after the
			// client's Finished; one round trip makes it show.
			tc.Write(probeRecord(2, nil)) // inside TLS: answered without STARTTLS
			_, err = io.ReadFull(tc, make([]byte, 4))
		}
		return tc.ConnectionState(), err
	}
	cs, err := hs(func(*tls.Config) {})
	if err != nil {
		t.Fatal(err)
	}
	if cs.Version != tls.VersionTLS13 || cs.NegotiatedProtocol != "sunrpc" {
		t.Fatalf("negotiated %s ALPN %q", tls.VersionName(cs.Version), cs.NegotiatedProtocol)
	}
	for name, mod := range map[string]func(*tls.Config){
		"TLS 1.2": func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
		"ALPN h2": func(c *tls.Config) { c.NextProtos = []string{"h2"} },
		"no ALPN": func(c *tls.Config) { c.NextProtos = nil },
	} {
		if _, err := hs(mod); err == nil {
			t.Errorf("%s: handshake accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// probeFirstConn writes the probe, and on the first Read consumes its
// STARTTLS reply before passing the stream on, so that a TLS client can
// send its ClientHello without waiting for the reply (pipelined).
type probeFirstConn struct {
	net.Conn
	t    *testing.T
	once sync.Once
	err  error
}

func (p *probeFirstConn) Read(b []byte) (int, error) {
	p.once.Do(func() {
		rec, err := rpc.NewRecordReader(p.Conn, 1024).ReadRecord(nil)
		if err == nil {
			var h rpc.ReplyHeader
			h, _, err = rpc.DecodeReply(rec)
			if err == nil && string(h.Verf.Body) != "STARTTLS" {
				err = errors.New("no STARTTLS")
			}
		}
		p.err = err
	})
	if p.err != nil {
		return 0, p.err
	}
	return p.Conn.Read(b)
}

// The ClientHello may already sit in the server's read buffer behind the
// probe; it must go to the TLS handshake, not be lost.
func TestTLSPipelinedClientHello(t *testing.T) {
	e := tlsServer(t, false, false)
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(probeRecord(1, nil))
	cfg := e.clientConfig(nil)
	cfg.NextProtos = []string{"sunrpc"}
	tc := tls.Client(&probeFirstConn{Conn: nc, t: t}, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Time{})
	c := rpcclient.NewClient(tc)
	defer c.Close()
	if got := tlsInfo(t, c); !strings.HasPrefix(got, "sunrpc TLS 1.3") {
		t.Fatalf("server sees %q", got)
	}
}

// TestOpenSSLHandshake runs openssl s_client against the server through a
// relay that sends the AUTH_TLS probe and consumes its reply first (RFC
// 9289 has no TLS from the first byte, which s_client would need), then
// splices. s_client must report TLS 1.3 and ALPN sunrpc, and a NULL call
// written through it must reach the handler over TLS.
func TestOpenSSLHandshake(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	seen := make(chan string, 1)
	e := tlsServer(t, false, false, rpcsrv.HandlerFunc(func(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
		if cs := c.Conn.TLS(); cs != nil && c.Cred.Flavor == rpc.AuthSys {
			select {
			case seen <- c.Cred.Sys.MachineName + " " + cs.NegotiatedProtocol:
			default:
			}
		}
		return rpcsrv.Success()
	}))
	caFile := e.ca.WriteCA(t, t.TempDir(), "ca.pem")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		in, err := l.Accept()
		if err != nil {
			return
		}
		defer in.Close()
		out, err := net.Dial("tcp", e.addr)
		if err != nil {
			return
		}
		defer out.Close()
		out.Write(probeRecord(1, nil))
		rec, err := rpc.NewRecordReader(out, 1024).ReadRecord(nil)
		if err != nil {
			return
		}
		if h, _, err := rpc.DecodeReply(rec); err != nil || string(h.Verf.Body) != "STARTTLS" {
			return
		}
		go io.Copy(out, in)
		io.Copy(in, out)
	}()

	// A NULL call with AUTH_SYS machine name "openssl", as s_client's input.
	var enc xdr.Encoder
	enc.Reserve(rpc.MarkLen)
	h := rpc.CallHeader{XID: 9, Prog: toyProg, Vers: 1, Proc: 0, Cred: rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "openssl"})}
	h.Encode(&enc)
	rpc.PutRecordMark(net.Buffers{enc.Buf})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", l.Addr().String(),
		"-alpn", "sunrpc", "-tls1_3", "-CAfile", caFile, "-verify_return_error",
		"-verify_ip", "127.0.0.1", "-ign_eof")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write(enc.Buf)
	var got string
	select {
	case got = <-seen:
	case <-time.After(10 * time.Second):
	}
	stdin.Close()
	cmd.Process.Kill()
	cmd.Wait()
	text := out.String()
	if got != "openssl sunrpc" {
		t.Fatalf("handler saw %q, want a call from openssl over TLS with ALPN sunrpc; s_client said:\n%s", got, text)
	}
	for _, want := range []string{"ALPN protocol: sunrpc", "TLSv1.3", "Verify return code: 0 (ok)"} {
		if !strings.Contains(text, want) {
			t.Errorf("s_client output lacks %q:\n%s", want, text)
		}
	}
}

// A probe while a call is in progress is declined (a plain NULL reply),
// not waited on; once the connection is quiet it is accepted.
func TestProbeDeclinedWhileBusy(t *testing.T) {
	tk := newToy()
	e := tlsServer(t, false, false, tlsToy{tk})
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var enc xdr.Encoder
	enc.Reserve(rpc.MarkLen)
	h := rpc.CallHeader{XID: 1, Prog: toyProg, Vers: 1, Proc: procSlow}
	h.Encode(&enc)
	rpc.PutRecordMark(net.Buffers{enc.Buf})
	nc.Write(enc.Buf)
	<-tk.started
	nc.Write(probeRecord(2, nil))
	if r := readReply(t, nc); r.XID != 2 || r.Err() != nil || len(r.Verf.Body) != 0 {
		t.Fatalf("probe during a call: %+v, want a plain NULL reply", r)
	}
	close(tk.release)
	if r := readReply(t, nc); r.XID != 1 {
		t.Fatalf("slow call reply: %+v", r)
	}
	// The slot is released just after the reply is written: a probe may
	// still be declined for a moment.
	for xid := uint32(3); ; xid++ {
		nc.Write(probeRecord(xid, nil))
		r := readReply(t, nc)
		if r.XID != xid || r.Err() != nil {
			t.Fatalf("probe on a quiet connection: %+v", r)
		}
		if string(r.Verf.Body) == "STARTTLS" {
			break
		}
		if xid > 100 {
			t.Fatal("probe still declined on a quiet connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
