package mounttest

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
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/fstest"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	_ "github.com/fsbridge/fsbridge/fsadapters/image/all"
	"github.com/fsbridge/fsbridge/fsadapters/image/imagetest"
)

// bin holds fs_serv and mount_remote, built once by TestMain (only when
// this process can mount: root and /dev/fuse).
var bin string

func canMount() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root to mount")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return errors.New("no /dev/fuse")
	}
	return nil
}

func TestMain(m *testing.M) {
	if canMount() == nil {
		dir, err := os.MkdirTemp("", "image-mounttest-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out, err := exec.Command("go", "build", "-o", dir+"/",
			"github.com/fsbridge/fsbridge/cmd/fs_serv", "github.com/fsbridge/fsbridge/cmd/mount_remote").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		bin = dir
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func needMount(t testing.TB) {
	t.Helper()
	if err := canMount(); err != nil {
		t.Skip(err)
	}
}

// syncBuf is a goroutine-safe log buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startServer runs fs_serv ARGS on a free loopback port and returns its
// HOST:PORT and its log.
func startServer(t testing.TB, args ...string) (string, *syncBuf) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(filepath.Join(bin, "fs_serv"), append([]string{"--listen", "127.0.0.1", "-p", fmt.Sprint(port)}, args...)...)
	logs := &syncBuf{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("fs_serv log:\n%s", logs.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(15 * time.Second); ; {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("fs_serv %q exited: %v\n%s", args, err, logs.String())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("fs_serv did not start\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mounted reports whether something is mounted on dir.
func mounted(t testing.TB, dir string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// mountAt mounts addr with mount_remote (background mode) on a new
// directory; the cleanup unmounts it if the test did not.
func mountAt(t testing.TB, addr string) string {
	t.Helper()
	mnt := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "mount_remote"), addr, mnt)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mount_remote %s %s: %v\n%s", addr, mnt, err, out)
	}
	t.Cleanup(func() {
		for i := 0; mounted(t, mnt) && i < 50; i++ {
			if err := syscall.Unmount(mnt, 0); err != nil {
				syscall.Unmount(mnt, syscall.MNT_DETACH)
			}
		}
	})
	return mnt
}

// unmount unmounts mnt and fails the test unless that works cleanly.
func unmount(t testing.TB, mnt string) {
	t.Helper()
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Errorf("umount %s: %v", mnt, err)
		return
	}
	if mounted(t, mnt) {
		t.Errorf("%s still mounted after umount", mnt)
	}
}

// registered reports whether variant's format has a reader in image/all,
// and skips t otherwise.
func needFormat(t testing.TB, variant string) {
	t.Helper()
	if f := FormatOf(variant); !registered(f) {
		t.Skipf("no %s reader registered (fsadapters/image/%s is missing or not in image/all)", f, f)
	}
}

func registered(format string) bool {
	_, ok := image.Lookup(format)
	return ok
}

// TestImages serves every imagetest variant, mounts it and compares the
// mounted tree with the reference tree; then checks that changes are
// refused with EROFS and that the mount unmounts cleanly.
func TestImages(t *testing.T) {
	needMount(t)
	imagetest.Need(t, "cp")
	tree := imagetest.MakeTree(t)
	ref, err := imagetest.Walk(tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range imagetest.Variants {
		t.Run(v, func(t *testing.T) {
			needFormat(t, v)
			t0 := time.Now()
			img := imagetest.BuildImage(t, tree, v)
			t1 := time.Now()
			// The backend conformance suite's read-only part, on the
			// adapter over this image.
			fstest.RunReadOnly(t, func(t *testing.T) fsadapters.FS {
				fs, err := image.OpenFile(img, image.OpenOptions{})
				if err != nil {
					t.Fatalf("OpenFile(%s): %v", v, err)
				}
				t.Cleanup(func() { fs.Close() })
				return fs
			})
			addr, logs := startServer(t, img)
			mnt := mountAt(t, addr)
			got, err := imagetest.Walk(mnt)
			if err != nil {
				t.Fatalf("walking the mount: %v", err)
			}
			t.Logf("image built in %v; served, mounted and walked in %v", t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
			for _, d := range imagetest.Compare(ref, got, QuirksFor(v)) {
				t.Error(d)
			}
			checkReadOnly(t, mnt)
			unmount(t, mnt)
			if s := logs.String(); strings.Contains(s, "panicked") || strings.Contains(s, "corrupt image") {
				t.Errorf("fs_serv logged faults on a good image:\n%s", s)
			}
		})
	}
}

// checkReadOnly tries every kind of change through the mount: each must
// fail with EROFS (the server's NFS4ERR_ROFS), and nothing may change.
func checkReadOnly(t *testing.T, mnt string) {
	t.Helper()
	file := filepath.Join(mnt, imagetest.BigFile)
	dir := filepath.Join(mnt, "data")
	before, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"create":   func() error { return os.WriteFile(filepath.Join(dir, "new.txt"), []byte("x"), 0o644) },
		"mkdir":    func() error { return os.Mkdir(filepath.Join(dir, "newdir"), 0o755) },
		"symlink":  func() error { return os.Symlink("x", filepath.Join(dir, "newlink")) },
		"link":     func() error { return os.Link(file, filepath.Join(dir, "newhard")) },
		"mkfifo":   func() error { return unix.Mkfifo(filepath.Join(dir, "newfifo"), 0o644) },
		"remove":   func() error { return os.Remove(file) },
		"rmdir":    func() error { return os.Remove(filepath.Join(mnt, imagetest.EmptyDir)) },
		"rename":   func() error { return os.Rename(file, filepath.Join(dir, "moved")) },
		"chmod":    func() error { return os.Chmod(file, 0o600) },
		"chown":    func() error { return os.Chown(file, 1, 1) },
		"utimes":   func() error { return os.Chtimes(file, time.Now(), time.Now()) },
		"truncate": func() error { return os.Truncate(file, 0) },
		"open for write": func() error {
			f, err := os.OpenFile(file, os.O_WRONLY, 0)
			if err == nil {
				_, err = f.Write([]byte("x"))
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			return err
		},
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s on the mounted image: %v, want EROFS", name, err)
		}
	}
	after, err := os.ReadDir(dir)
	if err != nil || len(after) != len(before) {
		t.Errorf("data/ changed: %d entries before, %d after (%v)", len(before), len(after), err)
	}
	if st, err := os.Stat(file); err != nil || st.Size() != imagetest.BigFileSize {
		t.Errorf("%s after refused changes: %v", imagetest.BigFile, err)
	}
}

// TestPartitionedDisk serves a FAT filesystem inside partition 2 of a GPT
// disk image made by sfdisk: --list-partitions shows it, fs_serv picks
// the only partition with a known format by itself, and --partition 1
// (empty) is refused.
func TestPartitionedDisk(t *testing.T) {
	needMount(t)
	imagetest.Need(t, "sfdisk", "mkfs.vfat", "mcopy")
	needFormat(t, "fat32")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 80<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("label: gpt\n,8MiB,L\n,,U\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	const off = 9 << 20 // sfdisk: 1 MiB alignment, then 8 MiB
	imagetest.Run(t, dir, "mkfs.vfat", "-F", "32", "--offset", fmt.Sprint(off/512), "-n", "PART2", img, fmt.Sprint((70<<20)/1024))
	src := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(src, []byte("hello from partition 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imagetest.Run(t, dir, "mcopy", "-i", fmt.Sprintf("%s@@%d", img, off), src, "::/")

	out, err := exec.Command(filepath.Join(bin, "fs_serv"), "--list-partitions", img).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "fat") || !strings.Contains(string(out), fmt.Sprint(off)) {
		t.Errorf("--list-partitions: %v\n%s", err, out)
	}
	out, err = exec.Command(filepath.Join(bin, "fs_serv"), "--partition", "1", "-p", "1", img).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "IMG: ") || !strings.Contains(string(out), "no known image format") {
		t.Errorf("--partition 1 (no filesystem): %v\n%s", err, out)
	}
	for _, args := range [][]string{{img}, {"--partition", "2", img}, {"--type", "fat", "--partition", "2", img}} {
		addr, _ := startServer(t, args...)
		mnt := mountAt(t, addr)
		data, err := os.ReadFile(filepath.Join(mnt, "hello.txt"))
		if err != nil || string(data) != "hello from partition 2\n" {
			t.Errorf("fs_serv %q: hello.txt = %q, %v", args, data, err)
		}
		unmount(t, mnt)
	}
}

// TestNotAnImage: the error messages of fs_serv for things it cannot serve.
func TestNotAnImage(t *testing.T) {
	if bin == "" {
		t.Skip("binaries not built (needs root and /dev/fuse)")
	}
	junk := filepath.Join(t.TempDir(), "junk.img")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("junk"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{junk}, "IMG: no known image format (known: "},
		{[]string{"/dev/null"}, "IMG: not a regular file or block device"},
		{[]string{"--type", "nosuch", junk}, `IMG: unknown image format "nosuch"`},
	} {
		out, err := exec.Command(filepath.Join(bin, "fs_serv"), append([]string{"-p", "1"}, c.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("fs_serv %q: %v\n%s\nwant %q", c.args, err, out, c.want)
		}
	}
}

// BenchmarkImages measures, through a real mount, a sequential read of
// imagetest.BigFile (MB/s; the page cache is dropped for the file before
// each read) and a full-tree walk (imagetest.Walk: stat of every entry
// and SHA-256 of every file), for every registered variant and for the
// dir backend on the reference tree itself.
func BenchmarkImages(b *testing.B) {
	needMount(b)
	imagetest.Need(b, "cp")
	tree := imagetest.MakeTree(b)
	for _, v := range append([]string{"dir"}, imagetest.Variants...) {
		b.Run(v, func(b *testing.B) {
			export := tree
			if v != "dir" {
				needFormat(b, v)
				export = imagetest.BuildImage(b, tree, v)
			}
			addr, _ := startServer(b, export)
			mnt := mountAt(b, addr)
			big := filepath.Join(mnt, imagetest.BigFile)
			b.Run("read-big", func(b *testing.B) {
				b.SetBytes(imagetest.BigFileSize)
				buf := make([]byte, 1<<20)
				for range b.N {
					if err := readAll(big, buf); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("walk", func(b *testing.B) {
				for range b.N {
					if _, err := imagetest.Walk(mnt); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// readAll reads p start to end after dropping its cached pages, so that
// every iteration goes to the server.
func readAll(p string, buf []byte) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return err
	}
	var n int64
	for {
		m, err := f.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if n != imagetest.BigFileSize {
		return fmt.Errorf("read %d bytes, want %d", n, imagetest.BigFileSize)
	}
	return nil
}
