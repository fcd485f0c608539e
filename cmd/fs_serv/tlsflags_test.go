package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/internal/testcert"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

func parseTLSFlags(t *testing.T, args ...string) *tlsFlags {
	t.Helper()
	fl := flag.NewFlagSet("test", flag.ContinueOnError)
	f := addTLSFlags(fl)
	if err := fl.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "ca")
	cert, key := ca.Server(t, "127.0.0.1").Write(t, dir, "srv")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	for _, bad := range [][]string{
		{"--tls-cert", cert},                    // no key
		{"--require-tls"},                       // no certificate
		{"--tls-client-ca", caFile},             // no certificate
		{"--tls-cert", cert, "--tls-key", cert}, // not a key
		{"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", key}, // no CA certificate
	} {
		var srv rpcsrv.Server
		if err := parseTLSFlags(t, bad...).apply(&srv, false, log); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	var srv rpcsrv.Server
	if err := parseTLSFlags(t, "--tls-cert", cert, "--tls-key", key).apply(&srv, true, log); err == nil {
		t.Error("TLS with --stdio accepted")
	}
	if err := parseTLSFlags(t).apply(&srv, false, log); err != nil || srv.TLS != nil {
		t.Errorf("no TLS flags: %v, TLS config %v", err, srv.TLS)
	}
	err := parseTLSFlags(t, "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", caFile, "--require-tls").apply(&srv, false, log)
	if err != nil {
		t.Fatal(err)
	}
	if srv.TLS == nil || !srv.RequireTLS || srv.TLS.ClientAuth != tls.RequireAndVerifyClientCert ||
		srv.TLS.ClientCAs == nil || srv.TLS.MinVersion != tls.VersionTLS13 {
		t.Fatalf("server TLS: %+v require %v", srv.TLS, srv.RequireTLS)
	}
}

// A renewed certificate is picked up without a restart; a broken one
// leaves the previous in use.
func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "ca")
	first := ca.Server(t, "127.0.0.1")
	cert, key := first.Write(t, dir, "srv")
	kp := &keyPair{certFile: cert, keyFile: key, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := kp.load(); err != nil {
		t.Fatal(err)
	}
	leaf := func() []byte {
		c, err := kp.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	if !bytes.Equal(leaf(), first.TLS.Certificate[0]) {
		t.Fatal("first certificate not served")
	}
	second := ca.Server(t, "127.0.0.1")
	second.Write(t, dir, "srv")
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(cert, later, later)
	os.Chtimes(key, later, later)
	kp.mu.Lock()
	kp.checked = time.Time{} // skip the once-a-second wait
	kp.mu.Unlock()
	if !bytes.Equal(leaf(), second.TLS.Certificate[0]) {
		t.Fatal("renewed certificate not picked up")
	}
	os.WriteFile(key, []byte("garbage"), 0o600)
	later = later.Add(2 * time.Second)
	os.Chtimes(key, later, later)
	kp.mu.Lock()
	kp.checked = time.Time{}
	kp.mu.Unlock()
	if !bytes.Equal(leaf(), second.TLS.Certificate[0]) {
		t.Fatal("a broken key file replaced the working certificate")
	}
}
