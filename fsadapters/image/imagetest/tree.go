// Package imagetest builds the reference tree every image format is checked
// against, builds images of it with the real tools (mkfs.ext4 -d, xorriso,
// mksquashfs, mkfs.erofs, mkfs.vfat + mcopy, tar, zip), and compares what a
// reader or a mount shows with the tree.
package imagetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Names of the tree's special entries (paths relative to the tree root).
const (
	BigFile     = "big/blob20m.bin" // 20 MiB of random bytes
	SparseFile  = "big/sparse.bin"  // 8 MiB with data at 0 and 6 MiB only
	HardA       = "data/hard-a.txt" // hard link to HardB
	HardB       = "docs/hard-b.txt" //
	UnicodeName = "docs/héllo wörld – 日本語 😀.txt"
	DeviceNode  = "dev/null-like"  // char device 1,3
	FIFO        = "dev/fifo"       // named pipe
	ManyDir     = "data/many"      // 150 small files (several directory blocks)
	EmptyDir    = "empty"          //
	PrivateDir  = "private"        // mode 0700
	EmptyFile   = "data/empty.txt" // 0 bytes
	LongNameDir = "long"           // holds the 200-character name
	RootFile    = "README.txt"     // a regular file in the root (fstest.RunReadOnly needs one)
	BigFileSize = 20 << 20
)

// LongName is the 200-character file name inside LongNameDir.
var LongName = strings.Repeat("n", 190) + "-long.txt"

// baseTime is the reference mtime; entries get distinct times with
// nanoseconds so precision loss shows.
var baseTime = time.Date(2024, 5, 17, 10, 20, 30, 123456789, time.UTC)

// MakeTree creates the reference tree under a fresh directory in t.TempDir
// and returns its path. It must run as root (chown, mknod). The content is
// deterministic.
func MakeTree(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	if err := makeTree(root); err != nil {
		t.Fatalf("imagetest: building the reference tree: %v", err)
	}
	return root
}

func makeTree(root string) error {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	mkdir := func(p string, mode os.FileMode) {
		check(os.MkdirAll(filepath.Join(root, p), 0o755))
		check(os.Chmod(filepath.Join(root, p), mode))
	}
	write := func(p string, data []byte, mode os.FileMode) {
		check(os.WriteFile(filepath.Join(root, p), data, mode))
		check(os.Chmod(filepath.Join(root, p), mode))
	}
	for _, d := range []string{"big", "data", ManyDir, "docs", "docs/sub", "scripts", "dev", EmptyDir, LongNameDir} {
		mkdir(d, 0o755)
	}
	mkdir(PrivateDir, 0o700)
	for i := 0; i < 150; i++ {
		write(fmt.Sprintf("%s/f%03d.txt", ManyDir, i), []byte(strings.Repeat(fmt.Sprintf("line %d of file %d\n", i, i), i%7+1)), 0o644)
	}
	for _, n := range []int{1, 511, 512, 513, 4095, 4096, 4097, 65535, 65536, 65537, 100000, 131071, 131072, 131073, 1 << 20, 3000000} {
		write(fmt.Sprintf("data/size-%d.bin", n), random(n), 0o644)
	}
	write(EmptyFile, nil, 0o644)
	write(RootFile, []byte("fsbridge image test tree\n"), 0o644)
	var text bytes.Buffer
	for i := 0; text.Len() < 300000; i++ {
		fmt.Fprintf(&text, "compressible text line %d, the quick brown fox jumps over the lazy dog\n", i)
	}
	write("data/text-300k.txt", text.Bytes(), 0o644)
	write(BigFile, random(BigFileSize), 0o644)
	for i := 0; i < 10; i++ {
		write(fmt.Sprintf("scripts/run%d.sh", i), []byte(fmt.Sprintf("#!/bin/sh\necho %d\n", i)), 0o755)
	}
	write("private/secret.txt", []byte("secret\n"), 0o600)
	write("data/readonly.txt", []byte("read only\n"), 0o444)
	write(HardB, []byte("hard linked content\n"), 0o644)
	check(os.Link(filepath.Join(root, HardB), filepath.Join(root, HardA)))
	write(UnicodeName, []byte("unicode name\n"), 0o644)
	write("docs/sub/readme.md", []byte("# readme\n"), 0o644)
	write(filepath.Join(LongNameDir, LongName), []byte("long name\n"), 0o644)
	// Sparse: 8 MiB with 4 KiB of data at 0 and at 6 MiB.
	if f, err := os.Create(filepath.Join(root, SparseFile)); err != nil {
		check(err)
	} else {
		_, err1 := f.WriteAt(random(4096), 0)
		_, err2 := f.WriteAt(random(4096), 6<<20)
		check(err1)
		check(err2)
		check(f.Truncate(8 << 20))
		check(f.Close())
	}
	check(os.Symlink("../data/size-1.bin", filepath.Join(root, "docs/rel-link")))
	check(os.Symlink("/etc/hostname", filepath.Join(root, "docs/abs-link")))
	check(os.Symlink("sub", filepath.Join(root, "docs/dir-link")))
	check(os.Symlink("does/not/exist", filepath.Join(root, "docs/dangling-link")))
	check(unix.Mknod(filepath.Join(root, DeviceNode), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))))
	check(unix.Mkfifo(filepath.Join(root, FIFO), 0o644))
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	// Ownership: docs/ is 1000:1000, three files 1234:5678, a symlink 4321:8765.
	check(filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 1000, 1000)
	}))
	for _, p := range []string{"data/size-1.bin", "scripts/run0.sh", "private/secret.txt"} {
		check(os.Lchown(filepath.Join(root, p), 1234, 5678))
	}
	check(os.Lchown(filepath.Join(root, "docs/rel-link"), 4321, 8765))
	// Distinct mtimes with nanoseconds, children before parents.
	var paths []string
	check(filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	}))
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	for i, p := range paths {
		ts := baseTime.Add(time.Duration(i) * (time.Second + 1001*time.Nanosecond))
		tv := []unix.Timespec{unix.NsecToTimespec(ts.UnixNano()), unix.NsecToTimespec(ts.UnixNano())}
		check(unix.UtimesNanoAt(unix.AT_FDCWD, p, tv, unix.AT_SYMLINK_NOFOLLOW))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

// Entry is what a walk records for one path.
type Entry struct {
	Path   string      // relative, "/"-separated; "" is the root
	Type   fs.FileMode // fs.ModeDir, fs.ModeSymlink, fs.ModeDevice|fs.ModeCharDevice, fs.ModeNamedPipe, 0 for regular
	Perm   fs.FileMode // permission bits incl. setuid/setgid/sticky
	UID    uint32
	GID    uint32
	Size   int64 // regular files and symlinks
	Nlink  uint32
	Ino    uint64
	Link   string // symlink target
	Rdev   uint64
	Mtime  time.Time
	SHA256 string // regular files
}

// Walk records every entry under root through the local VFS (the reference
// tree, or a mount of an export of an image). Content hashes are computed
// for regular files.
func Walk(root string) (map[string]*Entry, error) {
	out := map[string]*Entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			rel = ""
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		e := &Entry{Path: filepath.ToSlash(rel), UID: st.Uid, GID: st.Gid, Nlink: uint32(st.Nlink), Ino: st.Ino,
			Perm: fs.FileMode(st.Mode & 0o777), Rdev: uint64(unix.Major(st.Rdev))<<32 | uint64(unix.Minor(st.Rdev)), Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec)}
		if st.Mode&unix.S_ISUID != 0 {
			e.Perm |= fs.ModeSetuid
		}
		if st.Mode&unix.S_ISGID != 0 {
			e.Perm |= fs.ModeSetgid
		}
		if st.Mode&unix.S_ISVTX != 0 {
			e.Perm |= fs.ModeSticky
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			e.Type = fs.ModeDir
		case unix.S_IFLNK:
			e.Type = fs.ModeSymlink
			e.Link, err = os.Readlink(p)
			e.Size = st.Size
		case unix.S_IFCHR:
			e.Type = fs.ModeDevice | fs.ModeCharDevice
		case unix.S_IFBLK:
			e.Type = fs.ModeDevice
		case unix.S_IFIFO:
			e.Type = fs.ModeNamedPipe
		case unix.S_IFSOCK:
			e.Type = fs.ModeSocket
		case unix.S_IFREG:
			e.Size = st.Size
			e.SHA256, err = hashFile(p)
		}
		out[e.Path] = e
		return err
	})
	return out, err
}

func hashFile(p string) (string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:]), nil
}

// Need lists the commands a test needs; it skips the test (with the
// command that installs them) when one is missing. Tests that build images
// call it first; `make deps` installs them all, so CI never skips.
func Need(t testing.TB, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s not installed (make deps installs it)", c)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("building the reference tree needs root (chown, mknod)")
	}
}

// Run runs a command and fails the test with its output on error.
func Run(t testing.TB, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
