package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

// These tests run the real binaries: fs_serv on a loopback port and
// mount_remote in its default background mode. Mounting needs root and
// /dev/fuse; without them the tests skip.
//
// TestMountHelper installs scripts/mount.fuse.mount_remote as
// /sbin/mount.fuse.mount_remote for the duration of the test, and only if
// no such file exists (it is removed again afterwards); otherwise that
// part is skipped.

var bin string // holds fs_serv and mount_remote, built once

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mount-remote-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Other users run the binary through the helper: keep it reachable.
	os.Chmod(dir, 0o755)
	bin = dir
	for _, pkg := range []string{"../fs_serv", "."} {
		name := filepath.Base(pkg)
		if pkg == "." {
			name = "mount_remote"
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

func needMount(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
}

// publicDir makes a directory every user can traverse (t.TempDir's
// parents are 0700), removed at the end of the test.
func publicDir(t *testing.T, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// startServer runs fs_serv over a new world-readable export and returns
// its HOST:PORT and the export directory.
func startServer(t *testing.T) (addr, export string) {
	t.Helper()
	export = publicDir(t, "mr-export-")
	return testbin.StartServer(t, filepath.Join(bin, "fs_serv"), "--listen", "127.0.0.1", "-p", "0", export).Addr, export
}

// mountpoint returns a new public directory, unmounted at the end of the
// test if something is still mounted on it.
func mountpoint(t *testing.T) string {
	t.Helper()
	mnt := publicDir(t, "mr-mnt-")
	t.Cleanup(func() {
		for mountInfo(t, mnt) != nil {
			if err := syscall.Unmount(mnt, 0); err != nil {
				syscall.Unmount(mnt, syscall.MNT_DETACH)
			}
		}
	})
	return mnt
}

// runProg runs prog and returns its exit status and stderr.
func runProg(t *testing.T, env []string, prog string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("%s: %v", prog, err)
	return -1, ""
}

// mountRemote runs mount_remote ARGS (background mode) and fails the
// test unless it succeeds.
func mountRemote(t *testing.T, args ...string) {
	t.Helper()
	if code, errs := runProg(t, nil, filepath.Join(bin, "mount_remote"), args...); code != 0 {
		t.Fatalf("mount_remote %q: exit %d: %s", args, code, errs)
	}
}

// mountInfo returns the /proc/self/mountinfo fields of the mount on dir
// (nil if none): [4] is the mount point, [5] the mount options, then
// after "-": type, source, super options.
func mountInfo(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			found = f // the last one is on top
		}
	}
	return found
}

// afterDash returns type, source and super options of a mountinfo line.
func afterDash(t *testing.T, f []string) (typ, source, super string) {
	t.Helper()
	for i, s := range f {
		if s == "-" && i+3 < len(f) {
			return f[i+1], f[i+2], f[i+3]
		}
	}
	t.Fatalf("bad mountinfo line %q", f)
	return
}

func hasOpt(list, opt string) bool {
	for o := range strings.SplitSeq(list, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// asUser runs prog as uid:gid with exactly the supplementary groups
// (setpriv from util-linux) and returns its output and error.
func asUser(t *testing.T, uid, gid int, groups string, prog ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv (util-linux)")
	}
	args := []string{fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", gid)}
	if groups == "" {
		args = append(args, "--clear-groups")
	} else {
		args = append(args, "--groups="+groups)
	}
	out, err := exec.Command("setpriv", append(args, prog...)...).CombinedOutput()
	return string(out), err
}

// uid=/gid= show every file as owned by them; mount(8) sees source
// HOST:PORT/path and type fuse.mount_remote; ro, allow_other, fsname=,
// subtype= and default_permissions reach the kernel.
func TestOptions(t *testing.T) {
	needMount(t)
	addr, export := startServer(t)
	os.Mkdir(filepath.Join(export, "sub"), 0o755)
	os.WriteFile(filepath.Join(export, "sub", "f"), []byte("data\n"), 0o644)
	os.Chown(filepath.Join(export, "sub", "f"), 4321, 4321)

	mnt := mountpoint(t)
	mountRemote(t, addr+"/sub", mnt, "-o", "uid=1234,gid=5678")
	f := mountInfo(t, mnt)
	if f == nil {
		t.Fatal("not in /proc/self/mountinfo")
	}
	typ, src, super := afterDash(t, f)
	if typ != "fuse.mount_remote" || src != addr+"/sub" {
		t.Errorf("mountinfo: type %q source %q; want fuse.mount_remote %s/sub", typ, src, addr)
	}
	if hasOpt(super, "default_permissions") || hasOpt(super, "allow_other") || !hasOpt(f[5], "rw") {
		t.Errorf("mountinfo options %s / %s: want rw, no default_permissions, no allow_other", f[5], super)
	}
	for _, p := range []string{mnt, filepath.Join(mnt, "f")} {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s: owner %d:%d, want 1234:5678", p, st.Uid, st.Gid)
		}
	}
	// Through readdir (READDIRPLUS) too.
	if ents, err := os.ReadDir(mnt); err != nil || len(ents) != 1 {
		t.Fatalf("readdir: %v %v", ents, err)
	} else if info, _ := ents[0].Info(); info.Sys().(*syscall.Stat_t).Uid != 1234 {
		t.Errorf("readdir entry uid %d", info.Sys().(*syscall.Stat_t).Uid)
	}
	// Creating files still works (requests carry the caller's real id).
	if err := os.WriteFile(filepath.Join(mnt, "new"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}

	// ro, allow_other, fsname=, subtype=, default_permissions, noatime.
	mountRemote(t, "-o", "ro,allow_other,fsname=myremote,subtype=myfs,default_permissions,noatime", addr, mnt)
	f = mountInfo(t, mnt)
	if f == nil {
		t.Fatal("second mount not in mountinfo")
	}
	typ, src, super = afterDash(t, f)
	if typ != "fuse.myfs" || src != "myremote" {
		t.Errorf("mountinfo: type %q source %q; want fuse.myfs myremote", typ, src)
	}
	if !hasOpt(f[5], "ro") || !hasOpt(f[5], "noatime") || !hasOpt(super, "allow_other") || !hasOpt(super, "default_permissions") {
		t.Errorf("mountinfo options %s / %s", f[5], super)
	}
	if err := os.WriteFile(filepath.Join(mnt, "x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write on ro mount: %v, want EROFS", err)
	}
	// allow_other: another user may use the mount.
	if out, err := asUser(t, 4321, 4321, "", "cat", filepath.Join(mnt, "sub", "f")); err != nil || out != "data\n" {
		t.Errorf("allow_other read by another user: %q %v", out, err)
	}
	syscall.Unmount(mnt, 0)

	// Unknown options go to the kernel as they are: this one it rejects.
	code, errs := runProg(t, nil, filepath.Join(bin, "mount_remote"), addr, mnt, "-o", "no_such_kernel_option")
	if code == 0 || !strings.Contains(errs, "invalid argument") {
		t.Errorf("unknown option: exit %d, stderr %q; want the kernel's EINVAL", code, errs)
	}
}

// default_permissions makes the kernel check permissions against the
// attributes it was given: with uid= the kernel believes a file belongs to
// someone else and refuses its real owner, which the server would allow.
func TestDefaultPermissions(t *testing.T) {
	needMount(t)
	addr, export := startServer(t)
	p := filepath.Join(export, "mine")
	os.WriteFile(p, []byte("secret\n"), 0o600)
	os.Chown(p, 4321, 4321)
	mnt := mountpoint(t)

	mountRemote(t, addr, mnt, "-o", "allow_other,uid=5555")
	if out, err := asUser(t, 4321, 4321, "", "cat", filepath.Join(mnt, "mine")); err != nil || out != "secret\n" {
		t.Fatalf("without default_permissions the server decides (owner may read): %q %v", out, err)
	}
	syscall.Unmount(mnt, 0)

	mountRemote(t, addr, mnt, "-o", "allow_other,uid=5555,default_permissions")
	out, err := asUser(t, 4321, 4321, "", "cat", filepath.Join(mnt, "mine"))
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("with default_permissions the kernel refuses (owner shown as 5555): %q %v", out, err)
	}
}

// The AUTH_SYS credential carries the caller's supplementary groups: a
// file only its group may read is readable by a member through any of
// its groups, and not by a non-member.
func TestSupplementaryGroups(t *testing.T) {
	needMount(t)
	addr, export := startServer(t)
	const uid, gid, grp = 4321, 4322, 4323
	p := filepath.Join(export, "grp")
	os.WriteFile(p, []byte("for the group\n"), 0o600)
	os.Chown(p, 0, grp)
	os.Chmod(p, 0o060)
	mnt := mountpoint(t)
	mountRemote(t, addr, mnt, "-o", "allow_other")
	file := filepath.Join(mnt, "grp")

	for _, groups := range []string{fmt.Sprint(grp), "9001,9002,9003," + fmt.Sprint(grp)} {
		out, err := asUser(t, uid, gid, groups, "cat", file)
		if err != nil || out != "for the group\n" {
			t.Errorf("groups %s: %q %v; want the content", groups, out, err)
		}
	}
	for _, groups := range []string{"", "9001,9002"} {
		out, err := asUser(t, uid, gid, groups, "cat", file)
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("groups %q: %q %v; want Permission denied", groups, out, err)
		}
	}
	// The same caller, its groups changed, right after (the cache is
	// keyed by pid, so a new process is looked up afresh).
	if out, err := asUser(t, uid, gid, fmt.Sprint(grp), "cat", file); err != nil {
		t.Errorf("member again: %q %v", out, err)
	}
	// 0060 lets the group write too.
	if out, err := asUser(t, uid, gid, fmt.Sprint(grp), "sh", "-c", "echo more >> "+file); err != nil {
		t.Errorf("group write: %q %v", out, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "for the group\nmore\n" {
		t.Errorf("after group write the server has %q", b)
	}
}

// mount -t fuse.mount_remote and an fstab line, through our helper in
// /sbin, and mount.fuse3 running `mount_remote SRC MNT -o opts`.
func TestMountHelper(t *testing.T) {
	needMount(t)
	addr, export := startServer(t)
	os.WriteFile(filepath.Join(export, "hello"), []byte("hi\n"), 0o644)
	mnt := mountpoint(t)
	check := func(how string) {
		t.Helper()
		f := mountInfo(t, mnt)
		if f == nil {
			t.Fatalf("%s: not mounted", how)
		}
		if typ, src, _ := afterDash(t, f); typ != "fuse.mount_remote" || src != addr+"/" {
			t.Errorf("%s: type %q source %q", how, typ, src)
		}
		if b, err := os.ReadFile(filepath.Join(mnt, "hello")); err != nil || string(b) != "hi\n" {
			t.Errorf("%s: read %q %v", how, b, err)
		}
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Fatalf("%s: umount: %v", how, err)
		}
	}

	// mount.fuse3's convention: options after the operands, fstab-only
	// options included.
	if mf, err := exec.LookPath("mount.fuse3"); err == nil {
		code, errs := runProg(t, []string{"PATH=" + bin + ":" + os.Getenv("PATH")}, mf, addr, mnt,
			"-t", "fuse.mount_remote", "-o", "rw,_netdev,nofail,x-systemd.automount")
		if code != 0 {
			t.Fatalf("mount.fuse3: exit %d: %s", code, errs)
		}
		check("mount.fuse3")
	}
	// The helper itself, called as mount(8) calls it.
	helper, err := filepath.Abs("../../scripts/mount.fuse.mount_remote")
	if err != nil {
		t.Fatal(err)
	}
	code, errs := runProg(t, []string{"MOUNT_REMOTE=" + filepath.Join(bin, "mount_remote")}, helper,
		addr, mnt, "-n", "-o", "defaults,_netdev", "-t", "fuse.mount_remote")
	if code != 0 {
		t.Fatalf("helper: exit %d: %s", code, errs)
	}
	check("helper")

	const installed = "/sbin/mount.fuse.mount_remote"
	if _, err := os.Lstat(installed); err == nil {
		t.Skipf("%s exists: not replacing it for mount -t / fstab", installed)
	}
	src, err := os.ReadFile(helper)
	if err != nil {
		t.Fatal(err)
	}
	// As `make install` does, with our test binary's directory.
	src = bytes.ReplaceAll(src, []byte("@BINDIR@"), []byte(bin))
	if err := os.WriteFile(installed, src, 0o755); err != nil {
		t.Skipf("cannot install %s: %v", installed, err)
	}
	t.Cleanup(func() { os.Remove(installed) })

	if out, err := exec.Command("mount", "-t", "fuse.mount_remote", addr, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount -t fuse.mount_remote: %v\n%s", err, out)
	}
	check("mount -t")

	fstab := filepath.Join(t.TempDir(), "fstab")
	line := fmt.Sprintf("# test\n%s %s fuse.mount_remote defaults,_netdev 0 0\n", addr, mnt)
	if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-T", fstab, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount -T fstab: %v\n%s", err, out)
	}
	check("fstab")

	// An error from mount_remote reaches mount(8)'s caller.
	out, err := exec.Command("mount", "-t", "fuse.mount_remote", addr+"/no/such", mnt).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no such file or directory on the server") {
		t.Errorf("mount -t of a missing path: %v %q", err, out)
	}
}

// Every failure is a clear message on stderr and a non-zero exit from the
// foreground process that waits for the background one, and leaves
// nothing mounted.
func TestErrors(t *testing.T) {
	needMount(t)
	addr, export := startServer(t)
	os.WriteFile(filepath.Join(export, "file"), nil, 0o644)
	mnt := mountpoint(t)
	prog := filepath.Join(bin, "mount_remote")

	// A listener speaking HTTP, and one that never answers.
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer httpL.Close()
	go func() {
		for {
			c, err := httpL.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		var held []net.Conn // accepted, never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	notDir := filepath.Join(export, "file")
	busy := mountpoint(t)
	mountRemote(t, addr, busy)

	for _, tc := range []struct {
		name string
		args []string
		want string
		max  time.Duration
	}{
		{"refused", []string{"127.0.0.1:1", mnt}, "mount_remote: cannot connect to 127.0.0.1:1: connection refused", 5 * time.Second},
		{"http", []string{httpL.Addr().String(), mnt}, "is not an NFSv4 server", 5 * time.Second},
		{"silent", []string{"-o", "connect_timeout=1.5", mute.Addr().String(), mnt}, "did not answer an NFS NULL call", 5 * time.Second},
		{"no export path", []string{addr + "/no/such", mnt}, addr + "/no/such: no such file or directory on the server", 5 * time.Second},
		{"export path a file", []string{addr + "/file", mnt}, "/file is not a directory", 5 * time.Second},
		{"no mount point", []string{addr, mnt + "/nope"}, "mount point " + mnt + "/nope: no such file or directory", time.Second},
		{"mount point a file", []string{addr, notDir}, "mount point " + notDir + " is not a directory", time.Second},
		{"busy", []string{addr, busy}, "mount point " + busy + " is busy", time.Second},
		{"bad option", []string{"-o", "uid=bob", addr, mnt}, "option uid: want a number", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, errs := runProg(t, nil, prog, tc.args...)
			if took := time.Since(start); took > tc.max {
				t.Errorf("took %v (max %v)", took, tc.max)
			}
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want non-zero and %q", code, errs, tc.want)
			}
			if strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("want one line on stderr, got %q", errs)
			}
			if tc.name != "busy" && mountInfo(t, mnt) != nil {
				t.Errorf("left a mount on %s", mnt)
			}
		})
	}

	// No /dev/fuse: hide it under a tmpfs in a private mount namespace.
	t.Run("no /dev/fuse", func(t *testing.T) {
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("no unshare (util-linux)")
		}
		// /dev/null stays: only /dev/fuse is missing, as in a container.
		script := `mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 && exec "$0" "$@"`
		code, errs := runProg(t, nil, "unshare", "-m", "--propagation", "private", "sh", "-c", script, prog, addr, mnt)
		if code == 0 || !strings.Contains(errs, "/dev/fuse is missing") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
}
