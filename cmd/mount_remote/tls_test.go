package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fsbridge/fsbridge/internal/testcert"

	"github.com/fsbridge/fsbridge/internal/testbin"
)

// startTLSServer runs fs_serv with flags over a new public export.
func startTLSServer(t *testing.T, flags ...string) (addr, export string) {
	t.Helper()
	export = publicDir(t, "mr-tls-export-")
	args := append([]string{"--listen", "127.0.0.1", "-p", "0"}, flags...)
	return testbin.StartServer(t, filepath.Join(bin, "fs_serv"), append(args, export)...).Addr, export
}

// readWrite writes a file through the mount and checks it on the export
// and read back through the mount.
func readWrite(t *testing.T, mnt, export string) {
	t.Helper()
	data := bytes.Repeat([]byte("encrypted in transit "), 20000)
	if err := os.WriteFile(filepath.Join(mnt, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(export, "f")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("export has %d bytes (%v), want %d", len(b), err, len(data))
	}
	os.WriteFile(filepath.Join(export, "g"), []byte("from the server"), 0o644)
	if b, err := os.ReadFile(filepath.Join(mnt, "g")); err != nil || string(b) != "from the server" {
		t.Fatalf("read through the mount: %q, %v", b, err)
	}
}

func TestTLSMount(t *testing.T) {
	needMount(t)
	dir := publicDir(t, "mr-tls-certs-")
	ca := testcert.NewCA(t, "mount test CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	srvCert, srvKey := ca.Server(t, "127.0.0.1").Write(t, dir, "server")
	addr, export := startTLSServer(t, "--tls-cert", srvCert, "--tls-key", srvKey, "--require-tls")
	mnt := mountpoint(t)
	prog := filepath.Join(bin, "mount_remote")

	if code, errs := runProg(t, nil, prog, addr, mnt); code == 0 || !strings.Contains(errs, "serves only over TLS: mount with -o tls") {
		t.Fatalf("plain mount of a --require-tls server: exit %d, %q", code, errs)
	}
	if code, errs := runProg(t, nil, prog, "-o", "tls", addr, mnt); code == 0 || !strings.Contains(errs, "certificate") {
		t.Fatalf("-o tls without the server's CA: exit %d, %q", code, errs)
	}
	mountRemote(t, "-o", "tls,ca="+caFile, addr, mnt)
	readWrite(t, mnt, export)
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
}

func TestMutualTLSMount(t *testing.T) {
	needMount(t)
	dir := publicDir(t, "mr-mtls-certs-")
	ca := testcert.NewCA(t, "mount test CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	srvCert, srvKey := ca.Server(t, "127.0.0.1").Write(t, dir, "server")
	cliCert, cliKey := ca.Client(t, "mount").Write(t, dir, "client")
	addr, export := startTLSServer(t, "--tls-cert", srvCert, "--tls-key", srvKey, "--tls-client-ca", caFile)
	mnt := mountpoint(t)
	prog := filepath.Join(bin, "mount_remote")

	if code, errs := runProg(t, nil, prog, "-o", "tls,ca="+caFile, addr, mnt); code == 0 || !strings.Contains(errs, "certificate required") {
		t.Fatalf("mount without a client certificate: exit %d, %q", code, errs)
	}
	if code, errs := runProg(t, nil, prog, "-o", "mtls,ca="+caFile, addr, mnt); code == 0 || !strings.Contains(errs, "mtls needs cert=FILE and key=FILE") {
		t.Fatalf("-o mtls without cert=: exit %d, %q", code, errs)
	}
	mountRemote(t, "-o", "mtls,cert="+cliCert+",key="+cliKey+",ca="+caFile, addr, mnt)
	readWrite(t, mnt, export)
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
}
