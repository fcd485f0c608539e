package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsbridge/fsbridge/internal/testcert"

	"github.com/fsbridge/fsbridge/internal/testbin"
)

// tlsFiles are a CA, a server certificate for 127.0.0.1 and a client
// certificate, as files.
type tlsFiles struct {
	ca, srvCert, srvKey, cliCert, cliKey, otherCert, otherKey string
}

func makeTLSFiles(t *testing.T) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	ca, other := testcert.NewCA(t, "fsctl test CA"), testcert.NewCA(t, "other CA")
	var f tlsFiles
	f.ca = ca.WriteCA(t, dir, "ca.pem")
	f.srvCert, f.srvKey = ca.Server(t, "127.0.0.1").Write(t, dir, "server")
	f.cliCert, f.cliKey = ca.Client(t, "fsctl").Write(t, dir, "client")
	f.otherCert, f.otherKey = other.Client(t, "intruder").Write(t, dir, "other")
	return f
}

// startServ runs fs_serv with extra flags over dir on a free port.
func startServ(t *testing.T, dir string, flags ...string) string {
	t.Helper()
	args := append([]string{"--listen", "127.0.0.1", "-p", "0"}, flags...)
	return testbin.StartServer(t, filepath.Join(bin, "fs_serv"), append(args, dir)...).Addr
}

func TestTLS(t *testing.T) {
	f := makeTLSFiles(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello over TLS\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startServ(t, dir, "--tls-cert", f.srvCert, "--tls-key", f.srvKey, "--require-tls")
	var tg target

	if out := ok(t, tg, "-tls", "-ca", f.ca, "cat", addr+"/hello.txt"); out != "hello over TLS\n" {
		t.Fatalf("cat over TLS: %q", out)
	}
	local := filepath.Join(t.TempDir(), "up.txt")
	os.WriteFile(local, []byte("uploaded"), 0o644)
	ok(t, tg, "-o", "tls,ca="+f.ca, "put", local, addr+"/up.txt")
	if b, _ := os.ReadFile(filepath.Join(dir, "up.txt")); string(b) != "uploaded" {
		t.Fatalf("put over TLS wrote %q", b)
	}
	fails(t, tg, "serves only over TLS", "cat", addr+"/hello.txt")
	fails(t, tg, "certificate", "-tls", "cat", addr+"/hello.txt") // server's CA not trusted
	fails(t, tg, "mtls needs", "-mtls", "-ca", f.ca, "cat", addr+"/hello.txt")
	if _, errs, code := fsctl(t, tg, "-o", "bogus", "cat", addr+"/hello.txt"); code != 2 || !strings.Contains(errs, "bogus") {
		t.Fatalf("-o bogus: exit %d, %q", code, errs)
	}

	plain := startServ(t, dir)
	fails(t, tg, "does not offer RPC-with-TLS", "-tls", "-ca", f.ca, "cat", plain+"/hello.txt")
}

func TestMutualTLS(t *testing.T) {
	f := makeTLSFiles(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("mutual"), 0o644)
	addr := startServ(t, dir, "--tls-cert", f.srvCert, "--tls-key", f.srvKey, "--tls-client-ca", f.ca)
	var tg target
	if out := ok(t, tg, "-mtls", "-cert", f.cliCert, "-key", f.cliKey, "-ca", f.ca, "cat", addr+"/f"); out != "mutual" {
		t.Fatalf("cat over mutual TLS: %q", out)
	}
	if out := ok(t, tg, "-o", "mtls,cert="+f.cliCert+",key="+f.cliKey+",ca="+f.ca, "cat", addr+"/f"); out != "mutual" {
		t.Fatalf("cat with -o mtls: %q", out)
	}
	for name, args := range map[string][]string{
		"no client certificate":   {"-tls", "-ca", f.ca},
		"certificate of other CA": {"-mtls", "-cert", f.otherCert, "-key", f.otherKey, "-ca", f.ca},
	} {
		if _, errs, code := fsctl(t, tg, append(args, "cat", addr+"/f")...); code != 1 {
			t.Errorf("%s: exit %d (%s), want refused", name, code, errs)
		} else {
			t.Logf("%s: %s", name, strings.TrimSpace(errs))
		}
	}
}
