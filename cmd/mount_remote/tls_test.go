package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/internal/testcert"
)

// startTLSServer runs fs_serv with flags over a new public export.
func startTLSServer(t *testing.T, flags ...string) (addr, export string) {
	t.Helper()
	export = publicDir(t, "mr-tls-export-")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := append([]string{"--listen", "127.0.0.1", "-p", fmt.Sprint(port)}, flags...)
	cmd := exec.Command(filepath.Join(bin, "fs_serv"), append(args, export)...)
	var logBuf bytes.Buffer
	cmd.Stderr = &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("fs_serv log:\n%s", logBuf.String())
		}
	})
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr, export
		}
		if time.Now().After(deadline) {
			t.Fatalf("fs_serv did not start: %s", logBuf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
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
