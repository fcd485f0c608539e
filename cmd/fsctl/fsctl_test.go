package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/internal/testbin"
)

// bin holds fs_serv and fsctl, built once for all tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fsctl-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	for _, pkg := range []string{"../fs_serv", "../mount_remote", "."} {
		name := filepath.Base(pkg)
		if pkg == "." {
			name = "fsctl"
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// target is one way of reaching a server: extra leading arguments for
// fsctl and a function turning /path into a REMOTE argument.
type target struct {
	pre    []string
	remote func(p string) string
}

// startTCP runs fs_serv over dir on a free loopback port.
func startTCP(t *testing.T, dir string) target {
	t.Helper()
	addr := testbin.StartServer(t, filepath.Join(bin, "fs_serv"), "--listen", "127.0.0.1", "-p", "0", dir).Addr
	return target{remote: func(p string) string { return addr + p }}
}

// tunnel reaches dir through `fs_serv --stdio` run by fsctl -c.
func tunnel(dir string) target {
	return target{pre: []string{"-c", filepath.Join(bin, "fs_serv") + " --stdio " + dir},
		remote: func(p string) string { return p }}
}

// fsctl runs the binary and returns stdout, stderr and the exit code.
func fsctl(t *testing.T, tg target, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "fsctl"), append(append([]string{}, tg.pre...), args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("fsctl %q hung", args)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// ok runs fsctl and fails the test unless it exits 0.
func ok(t *testing.T, tg target, args ...string) string {
	t.Helper()
	out, errs, code := fsctl(t, tg, args...)
	if code != 0 {
		t.Fatalf("fsctl %q: exit %d, stderr: %s", args, code, errs)
	}
	return out
}

// fails runs fsctl, wants exit 1 and wantErr in stderr.
func fails(t *testing.T, tg target, wantErr string, args ...string) {
	t.Helper()
	_, errs, code := fsctl(t, tg, args...)
	if code != 1 || !strings.Contains(errs, wantErr) {
		t.Fatalf("fsctl %q: exit %d, stderr %q; want exit 1 and %q", args, code, errs, wantErr)
	}
}

func exerciseVerbs(t *testing.T, tg target, dir string) {
	r := tg.remote
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello, world\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}

	if got := ok(t, tg, "ls", r("/")); got != "hello.txt\nsub\n" {
		t.Errorf("ls /: got %q", got)
	}
	long := ok(t, tg, "ls", "-l", r("/"))
	lines := strings.Split(strings.TrimSpace(long), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "-rw-r----- ") || !strings.HasSuffix(lines[0], " hello.txt") ||
		!strings.Contains(lines[0], " 13 ") || !strings.HasPrefix(lines[1], "drwxr-xr-x ") || !strings.HasSuffix(lines[1], " sub") {
		t.Errorf("ls -l /: got\n%s", long)
	}
	if got := ok(t, tg, "ls", r("/hello.txt")); got != "hello.txt\n" {
		t.Errorf("ls of a file: got %q", got)
	}
	if got := ok(t, tg, "cat", r("/hello.txt")); got != "hello, world\n" {
		t.Errorf("cat: got %q", got)
	}
	st := ok(t, tg, "stat", r("/hello.txt"))
	for _, want := range []string{"Type: regular file", "Size: 13", "Mode: 0640 (-rw-r-----)", "Links: 1"} {
		if !strings.Contains(st, want) {
			t.Errorf("stat: %q missing from\n%s", want, st)
		}
	}
	if st := ok(t, tg, "stat", r("/sub")); !strings.Contains(st, "Type: directory") {
		t.Errorf("stat dir:\n%s", st)
	}

	ok(t, tg, "mkdir", r("/sub/new"))
	if fi, err := os.Stat(filepath.Join(dir, "sub/new")); err != nil || !fi.IsDir() {
		t.Errorf("mkdir: %v", err)
	}
	ok(t, tg, "mv", r("/hello.txt"), r("/sub/new/moved.txt"))
	if b, err := os.ReadFile(filepath.Join(dir, "sub/new/moved.txt")); err != nil || string(b) != "hello, world\n" {
		t.Errorf("mv: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "hello.txt")); !os.IsNotExist(err) {
		t.Errorf("mv left the source: %v", err)
	}

	local := filepath.Join(t.TempDir(), "local.txt")
	os.WriteFile(local, []byte("put me\n"), 0o600)
	ok(t, tg, "put", local, r("/sub/put.txt"))
	if b, err := os.ReadFile(filepath.Join(dir, "sub/put.txt")); err != nil || string(b) != "put me\n" {
		t.Errorf("put: %q %v", b, err)
	}
	// put over an existing longer file truncates it.
	os.WriteFile(filepath.Join(dir, "sub/long.txt"), bytes.Repeat([]byte("x"), 1000), 0o644)
	ok(t, tg, "put", local, r("/sub/long.txt"))
	if b, _ := os.ReadFile(filepath.Join(dir, "sub/long.txt")); string(b) != "put me\n" {
		t.Errorf("put over a longer file: %q", b)
	}
	// put into a directory keeps the local name.
	ok(t, tg, "put", local, r("/sub"))
	if b, _ := os.ReadFile(filepath.Join(dir, "sub/local.txt")); string(b) != "put me\n" {
		t.Errorf("put into a directory: %q", b)
	}
	back := filepath.Join(t.TempDir(), "back.txt")
	ok(t, tg, "get", r("/sub/new/moved.txt"), back)
	if b, err := os.ReadFile(back); err != nil || string(b) != "hello, world\n" {
		t.Errorf("get: %q %v", b, err)
	}

	ok(t, tg, "rm", r("/sub/put.txt"))
	if _, err := os.Stat(filepath.Join(dir, "sub/put.txt")); !os.IsNotExist(err) {
		t.Errorf("rm file: %v", err)
	}

	// Clear errors.
	fails(t, tg, "/nope: no such file or directory", "ls", r("/nope"))
	fails(t, tg, "/sub/missing: no such file or directory", "cat", r("/sub/missing"))
	fails(t, tg, "not a directory", "ls", r("/sub/local.txt/x"))
	fails(t, tg, "/sub: is a directory", "cat", r("/sub"))
	fails(t, tg, "directory not empty", "rm", r("/sub/new"))
	fails(t, tg, "file exists", "mkdir", r("/sub"))
	fails(t, tg, "no such file or directory", "get", r("/nope"), filepath.Join(t.TempDir(), "x"))

	ok(t, tg, "rm", r("/sub/new/moved.txt"))
	ok(t, tg, "rm", r("/sub/new"))
	if _, err := os.Stat(filepath.Join(dir, "sub/new")); !os.IsNotExist(err) {
		t.Errorf("rm dir: %v", err)
	}
}

func TestVerbsTCP(t *testing.T) {
	dir := t.TempDir()
	exerciseVerbs(t, startTCP(t, dir), dir)
}

func TestVerbsTunnel(t *testing.T) {
	dir := t.TempDir()
	exerciseVerbs(t, tunnel(dir), dir)
}

// bigRoundTrip puts a 5 MiB random file and gets it back.
func bigRoundTrip(t *testing.T, tg target, dir string) {
	data := make([]byte, 5<<20+123)
	rand.Read(data)
	want := sha256.Sum256(data)
	local := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, tg, "put", local, tg.remote("/big"))
	srv, err := os.ReadFile(filepath.Join(dir, "big"))
	if err != nil || sha256.Sum256(srv) != want {
		t.Fatalf("server copy differs (len %d, err %v)", len(srv), err)
	}
	back := filepath.Join(t.TempDir(), "back")
	ok(t, tg, "get", tg.remote("/big"), back)
	got, err := os.ReadFile(back)
	if err != nil || sha256.Sum256(got) != want {
		t.Fatalf("get copy differs (len %d, err %v)", len(got), err)
	}
	if out := ok(t, tg, "cat", tg.remote("/big")); sha256.Sum256([]byte(out)) != want {
		t.Fatalf("cat differs (len %d)", len(out))
	}
}

func TestBigFileTCP(t *testing.T) {
	dir := t.TempDir()
	bigRoundTrip(t, startTCP(t, dir), dir)
}

func TestBigFileTunnel(t *testing.T) {
	dir := t.TempDir()
	bigRoundTrip(t, tunnel(dir), dir)
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	fails(t, target{}, "connection refused", "ls", addr+"/")
	fails(t, target{pre: []string{"-c", "exit 3"}}, "no NFSv4.1 session", "ls", "/")
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"frob", "x"}, {"ls"}, {"ls", "no-port/path"}, {"get", "127.0.0.1:1/x"}} {
		_, errs, code := fsctl(t, target{}, args...)
		if code != 2 || !strings.Contains(errs, "usage:") {
			t.Errorf("fsctl %q: exit %d, stderr %q; want usage and exit 2", args, code, errs)
		}
	}
}

// TestMountRemoteTunnel mounts through mount_remote -c (needs root and
// /dev/fuse) and checks data flows both ways and the mount goes away.
func TestMountRemoteTunnel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	dir, mnt := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(dir, "in.txt"), []byte("from server\n"), 0o644)
	cmdline := filepath.Join(bin, "fs_serv") + " --stdio " + dir
	out, err := exec.Command(filepath.Join(bin, "mount_remote"), "-c", cmdline, mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("mount_remote -c: %v\n%s", err, out)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	if b, err := os.ReadFile(filepath.Join(mnt, "in.txt")); err != nil || string(b) != "from server\n" {
		t.Fatalf("read through the mount: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "out.txt"), []byte("from client\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out.txt")); err != nil || string(b) != "from client\n" {
		t.Fatalf("write through the mount: %q %v", b, err)
	}
	info, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(info), "fuse.mount_remote") || !strings.Contains(string(info), mnt) {
		t.Fatalf("mount not listed:\n%s", info)
	}
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatalf("umount: %v", err)
	}
	mounted = false
	// The background mount_remote exits and its fs_serv --stdio child
	// sees EOF; wait for the child to be gone.
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, _ := exec.Command("pgrep", "-f", "--", cmdline).Output()
		if len(bytes.TrimSpace(out)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tunnel child still running after unmount: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
