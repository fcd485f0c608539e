package rpcclient_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/internal/testcert"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

func TestTLSOptionsParse(t *testing.T) {
	for _, tc := range []struct {
		opts string
		want rpcclient.TLSOptions
		err  string
	}{
		{"tls", rpcclient.TLSOptions{Enabled: true}, ""},
		{"mtls,cert=c.pem,key=k.pem,ca=ca.pem", rpcclient.TLSOptions{Enabled: true, Mutual: true, Cert: "c.pem", Key: "k.pem", CA: "ca.pem"}, ""},
		{"ca=ca.pem", rpcclient.TLSOptions{Enabled: true, CA: "ca.pem"}, ""},
		{"xprtsec=mtls,cert=c,key=k", rpcclient.TLSOptions{Enabled: true, Mutual: true, Cert: "c", Key: "k"}, ""},
		{"tls,xprtsec=none", rpcclient.TLSOptions{}, ""},
		{"xprtsec=gss", rpcclient.TLSOptions{}, "xprtsec"},
		{"cert=", rpcclient.TLSOptions{}, "file name"},
	} {
		var o rpcclient.TLSOptions
		var err error
		for _, opt := range strings.Split(tc.opts, ",") {
			k, v, _ := strings.Cut(opt, "=")
			ok, perr := o.ParseOption(k, v)
			if !ok {
				t.Fatalf("%s: %q not taken as a TLS option", tc.opts, opt)
			}
			if perr != nil {
				err = perr
				break
			}
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one about %q", tc.opts, err, tc.err)
			}
			continue
		}
		if err != nil || o != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.opts, o, err, tc.want)
		}
	}
	var o rpcclient.TLSOptions
	if ok, _ := o.ParseOption("ro", ""); ok {
		t.Error("ro taken as a TLS option")
	}
}

func TestTLSOptionsConfig(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "ca")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := ca.Client(t, "me").Write(t, dir, "me")

	if cfg, err := (&rpcclient.TLSOptions{}).Config("h"); cfg != nil || err != nil {
		t.Fatalf("disabled: %v, %v; want nil, nil", cfg, err)
	}
	cfg, err := (&rpcclient.TLSOptions{Enabled: true, Mutual: true, Cert: certFile, Key: keyFile, CA: caFile}).Config("10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerName != "10.0.0.1" || len(cfg.Certificates) != 1 || cfg.RootCAs == nil ||
		cfg.MinVersion != tls.VersionTLS13 || len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "sunrpc" {
		t.Fatalf("config: %+v", cfg)
	}
	for _, o := range []rpcclient.TLSOptions{
		{Enabled: true, Mutual: true},                              // mtls without cert
		{Enabled: true, Key: keyFile},                              // key without cert
		{Enabled: true, CA: keyFile},                               // no certificate in ca=
		{Enabled: true, Mutual: true, Cert: certFile, Key: caFile}, // wrong key
		{Enabled: true, CA: dir + "/missing.pem"},
	} {
		if _, err := o.Config("h"); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
}

// fakeServer answers the first record read on each connection with
// answer(xid) and then holds the connection.
func fakeServer(t *testing.T, answer func(xid uint32) []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				rec, err := rpc.NewRecordReader(nc, 4096).ReadRecord(nil)
				if err != nil {
					return
				}
				xid, _, _ := rpc.PeekHeader(rec)
				if b := answer(xid); b != nil {
					nc.Write(b)
				}
				nc.SetReadDeadline(time.Now().Add(10 * time.Second))
				nc.Read(make([]byte, 1))
			}()
		}
	}()
	return l.Addr().String()
}

func replyRecord(h rpc.ReplyHeader) []byte {
	var e xdr.Encoder
	e.Reserve(rpc.MarkLen)
	h.Encode(&e)
	rpc.PutRecordMark(net.Buffers{e.Buf})
	return e.Buf
}

func TestStartTLSRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A server that does not know AUTH_TLS rejects the flavour.
	addr := fakeServer(t, func(xid uint32) []byte {
		return replyRecord(rpc.ReplyHeader{XID: xid, Stat: rpc.MsgDenied, Reject: rpc.AuthError, AuthStat: rpc.AuthBadCred})
	})
	if _, err := rpcclient.DialTLS(ctx, "tcp", addr, toyProg, 1, nil); !errors.Is(err, rpcclient.ErrNoTLS) {
		t.Errorf("AUTH_BADCRED answer: %v, want ErrNoTLS", err)
	}
	// One that accepts the NULL but says no STARTTLS.
	addr = fakeServer(t, func(xid uint32) []byte { return replyRecord(rpc.ReplyHeader{XID: xid}) })
	if _, err := rpcclient.DialTLS(ctx, "tcp", addr, toyProg, 1, nil); !errors.Is(err, rpcclient.ErrNoTLS) {
		t.Errorf("plain NULL answer: %v, want ErrNoTLS", err)
	}
	// A reply for another xid is not taken as the answer.
	addr = fakeServer(t, func(xid uint32) []byte {
		return replyRecord(rpc.ReplyHeader{XID: xid + 1, Verf: rpc.Auth{Body: []byte("STARTTLS")}})
	})
	if _, err := rpcclient.DialTLS(ctx, "tcp", addr, toyProg, 1, nil); err == nil || !strings.Contains(err.Error(), "xid") {
		t.Errorf("wrong xid: %v", err)
	}
}

func TestStartTLSContext(t *testing.T) {
	addr := fakeServer(t, func(uint32) []byte { return nil }) // never answers
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := rpcclient.DialTLS(ctx, "tcp", addr, toyProg, 1, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent server: %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}

// countConn counts the writes on the transport.
type countConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countConn) Write(b []byte) (int, error) { c.writes.Add(1); return c.Conn.Write(b) }

// TestDialTLSEndToEnd: DialTLS against rpcsrv, ServerName taken from the
// address; a call of several buffers goes out as one TLS write.
func TestDialTLSEndToEnd(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	srv := &rpcsrv.Server{Handler: &toy{release: make(chan struct{})}, Logf: t.Logf,
		TLS: rpcsrv.NewTLSConfig(ca.Server(t, "127.0.0.1").TLS, nil)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Untrusted server certificate: refused by the client.
	if _, err := rpcclient.DialTLS(ctx, "tcp", l.Addr().String(), toyProg, 1, nil); err == nil {
		t.Fatal("server with an unknown CA accepted")
	}

	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc := &countConn{Conn: nc}
	tc, err := rpcclient.StartTLS(ctx, cc, toyProg, 1, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	c := rpcclient.NewClient(tc)
	defer c.Close()
	before := cc.writes.Load()
	args := net.Buffers{[]byte("ab"), []byte("cd"), []byte("ef")}
	got, err := c.Call(ctx, toyProg, 1, 1, rpc.NewAuthSys(rpc.AuthSysParams{UID: 7}), args)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(got, []byte("abcdef")) {
		t.Fatalf("echo: %q", got)
	}
	if n := cc.writes.Load() - before; n != 1 {
		t.Errorf("a call of 4 buffers took %d writes on the transport, want 1 (gathered)", n)
	}

	c2, err := rpcclient.DialTLS(ctx, "tcp", l.Addr().String(), toyProg, 1, &tls.Config{RootCAs: ca.Pool()})
	if err != nil {
		t.Fatalf("DialTLS with ServerName from the address: %v", err)
	}
	c2.Close()
}
