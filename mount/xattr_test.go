package mount

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

func wantErrno(t *testing.T, err error, want syscall.Errno, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func TestXattrs(t *testing.T) {
	mnt, exp := mountT(t)
	p, ep := filepath.Join(mnt, "f"), filepath.Join(exp, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := unix.Setxattr(p, "user.color", []byte("blue"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(ep, "user.color", buf); err != nil || string(buf[:n]) != "blue" {
		t.Fatalf("user.color on the export: %v", err)
	}
	// Size probe, then a buffer too small, then the value.
	if n, err := unix.Getxattr(p, "user.color", nil); err != nil || n != 4 {
		t.Fatalf("getxattr size probe: %d, %v", n, err)
	}
	_, err := unix.Getxattr(p, "user.color", make([]byte, 3))
	wantErrno(t, err, unix.ERANGE, "getxattr into 3 bytes")
	if n, err := unix.Getxattr(p, "user.color", buf); err != nil || string(buf[:n]) != "blue" {
		t.Fatalf("getxattr: %q, %v", buf[:max(n, 0)], err)
	}

	// XATTR_CREATE / XATTR_REPLACE.
	wantErrno(t, unix.Setxattr(p, "user.color", []byte("red"), unix.XATTR_CREATE), unix.EEXIST, "XATTR_CREATE of a present name")
	wantErrno(t, unix.Setxattr(p, "user.none", []byte("v"), unix.XATTR_REPLACE), unix.ENODATA, "XATTR_REPLACE of a missing name")
	if err := unix.Setxattr(p, "user.color", []byte("red"), unix.XATTR_REPLACE); err != nil {
		t.Fatal(err)
	}

	// A local change on the server host shows through; other namespaces
	// do not.
	if err := unix.Setxattr(ep, "user.local", []byte("l"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(ep, "trusted.hidden", []byte("h"), 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.Listxattr(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "user.color\x00user.local\x00"
	if n != len(want) {
		t.Fatalf("listxattr size %d, want %d", n, len(want))
	}
	_, err = unix.Listxattr(p, make([]byte, n-1))
	wantErrno(t, err, unix.ERANGE, "listxattr into a short buffer")
	lb := make([]byte, 256)
	if n, err := unix.Listxattr(p, lb); err != nil || string(lb[:n]) != want {
		t.Fatalf("listxattr: %q, %v", lb[:max(n, 0)], err)
	}

	_, err = unix.Getxattr(p, "security.selinux", buf)
	wantErrno(t, err, unix.ENODATA, "getxattr security.selinux")
	_, err = unix.Getxattr(p, "trusted.hidden", buf)
	wantErrno(t, err, unix.ENODATA, "getxattr trusted.hidden")
	wantErrno(t, unix.Setxattr(p, "trusted.x", []byte("v"), 0), unix.EOPNOTSUPP, "setxattr trusted.x")

	if err := unix.Removexattr(p, "user.color"); err != nil {
		t.Fatal(err)
	}
	_, err = unix.Getxattr(ep, "user.color", buf)
	wantErrno(t, err, unix.ENODATA, "user.color on the export after removexattr")
	_, err = unix.Getxattr(p, "user.color", buf)
	wantErrno(t, err, unix.ENODATA, "getxattr after removexattr")
	wantErrno(t, unix.Removexattr(p, "user.color"), unix.ENODATA, "removexattr of a missing name")

	// Directories, and the largest value ext4 keeps in an inode block.
	d := filepath.Join(mnt, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("v"), 3000)
	if err := unix.Setxattr(d, "user.big", big, 0); err != nil {
		t.Fatal(err)
	}
	bb := make([]byte, 4096)
	if n, err := unix.Getxattr(d, "user.big", bb); err != nil || !bytes.Equal(bb[:n], big) {
		t.Fatalf("getxattr of 3000 bytes on a directory: %d, %v", n, err)
	}
	wantErrno(t, unix.Setxattr(d, "user.huge", make([]byte, 1<<16+1), 0), unix.E2BIG, "setxattr over 64 KiB")
}

// getfattr/setfattr, the tools users run, through the mount.
func TestXattrTools(t *testing.T) {
	if _, err := exec.LookPath("setfattr"); err != nil {
		t.Skip("no setfattr")
	}
	mnt, exp := mountT(t)
	p := filepath.Join(mnt, "f")
	os.WriteFile(p, nil, 0o644)
	if out, err := exec.Command("setfattr", "-n", "user.mime_type", "-v", "text/plain", p).CombinedOutput(); err != nil {
		t.Fatalf("setfattr: %v %s", err, out)
	}
	out, err := exec.Command("getfattr", "-d", "--absolute-names", p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `user.mime_type="text/plain"`) {
		t.Fatalf("getfattr -d: %v %s", err, out)
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(filepath.Join(exp, "f"), "user.mime_type", buf); err != nil || string(buf[:n]) != "text/plain" {
		t.Fatalf("on the export: %v", err)
	}
	if out, err := exec.Command("setfattr", "-x", "user.mime_type", p).CombinedOutput(); err != nil {
		t.Fatalf("setfattr -x: %v %s", err, out)
	}
	if out, _ := exec.Command("getfattr", "-d", "--absolute-names", p).CombinedOutput(); strings.Contains(string(out), "mime_type") {
		t.Fatalf("getfattr after setfattr -x: %s", out)
	}
}

// minor41Only is an NFSv4.1-only server: COMPOUNDs of minor version 2 get
// NFS4ERR_MINOR_VERS_MISMATCH (RFC 8881 §16.2.3).
type minor41Only struct{ h rpcsrv.Handler }

func (m minor41Only) ServeRPC(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
	if c.Proc == nfs4.ProcCompound {
		d := xdr.NewDecoder(c.Args)
		tag, minor, _, _ := nfs4.DecodeCompoundHeader(d)
		if minor > 1 {
			var e xdr.Encoder
			(&nfs4.CompoundRes{Status: nfs4.ErrMinorVersMismatch, Tag: tag}).Encode(&e)
			return rpcsrv.Success(e.Buf)
		}
	}
	return m.h.ServeRPC(ctx, c)
}

// Against a 4.1-only server the mount falls back to 4.1: files work,
// xattr calls are EOPNOTSUPP.
func TestXattrs41Server(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs /dev/fuse and root")
	}
	export := t.TempDir()
	fsys, err := dir.New(export, dir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nfs := nfs4srv.New(nfs4srv.Config{FS: fsys, Log: slog.New(slog.DiscardHandler)})
	srv := &rpcsrv.Server{Handler: minor41Only{nfs}, Logf: func(string, ...any) {}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		nfs.Close()
	})
	mnt := mountAtT(t, l.Addr().String(), "xattr-41")
	p := filepath.Join(mnt, "f")
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b := readFile(t, p); string(b) != "data" {
		t.Fatalf("read back %q", b)
	}
	wantErrno(t, unix.Setxattr(p, "user.a", []byte("v"), 0), unix.EOPNOTSUPP, "setxattr on 4.1")
	_, err = unix.Getxattr(p, "user.a", make([]byte, 8))
	wantErrno(t, err, unix.EOPNOTSUPP, "getxattr on 4.1")
	_, err = unix.Listxattr(p, make([]byte, 8))
	wantErrno(t, err, unix.EOPNOTSUPP, "listxattr on 4.1")
	wantErrno(t, unix.Removexattr(p, "user.a"), unix.EOPNOTSUPP, "removexattr on 4.1")
}
