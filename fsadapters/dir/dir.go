package dir

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Options configures New.
type Options struct {
	// FSIDMajor/FSIDMinor override the fsid reported in Caps; when both are
	// zero the major/minor of the export's st_dev are used.
	FSIDMajor, FSIDMinor uint64
	// CacheSize bounds the resolved-handle fd cache (default 4096, at most
	// a quarter of the descriptor limit).
	CacheSize int
	// HandleKey, if set, is the secret that authenticates handles. When
	// empty a random key is created once and kept in the root directory's
	// xattr trusted.fsbridge.handlekey so handles survive restarts.
	HandleKey []byte
}

const (
	handleVersion = 1
	macLen        = 8
	hdrLen        = 5 // version byte + big-endian int32 handle_type
	keyXattr      = "trusted.fsbridge.handlekey"
	// resolveFlags confine every name lookup to the export (openat2(2)).
	resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS |
		unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV
	statxMask = unix.STATX_BASIC_STATS | unix.STATX_BTIME
	maxName   = 255
)

// FS is a fsadapters.FS over a local directory.
type FS struct {
	path    string
	rootFd  int // O_PATH|O_DIRECTORY
	mountFd int // O_RDONLY|O_DIRECTORY: open_by_handle_at rejects O_PATH mount fds
	rootDev uint64
	rootIno uint64
	rootFH  fsadapters.FileHandle
	key     []byte
	caps    fsadapters.Caps
	cache   *fdCache
	// maxOff is the largest directory offset the filesystem can issue;
	// larger cookies are refused rather than handed to lseek.
	maxOff uint64

	watchMu sync.Mutex
	watch   *watcher // fanotify group for ChangeWatcher (watch.go), created on first use

	aclOK bool     // the filesystem stores POSIX ACLs (acl.go)
	acls  aclCache // access/default ACLs by inode and ctime (acl.go)

	closeOnce sync.Once
}

var _ fsadapters.FS = (*FS)(nil)

// New exports the directory root. The process needs CAP_DAC_READ_SEARCH
// (open_by_handle_at) and the filesystem must support file handles.
func New(root string, opts Options) (*FS, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, fmt.Errorf("dir: export root %q does not exist", root)
	case errors.Is(err, unix.ENOTDIR):
		return nil, fmt.Errorf("dir: export root %q is not a directory", root)
	case err != nil:
		return nil, fmt.Errorf("dir: open export root %q: %w", root, err)
	}
	mfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dir: open export root %q: %w", root, err)
	}
	fs := &FS{path: root, rootFd: fd, mountFd: mfd}
	if err := fs.init(opts); err != nil {
		unix.Close(fd)
		unix.Close(mfd)
		return nil, err
	}
	return fs, nil
}

func (fs *FS) init(opts Options) error {
	var st unix.Statx_t
	if err := statxFd(fs.rootFd, &st); err != nil {
		return fmt.Errorf("dir: statx %q: %w", fs.path, err)
	}
	fs.rootDev = unix.Mkdev(st.Dev_major, st.Dev_minor)
	fs.rootIno = st.Ino

	kh, _, err := unix.NameToHandleAt(fs.rootFd, "", unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.EOPNOTSUPP) {
		// A path-based fallback for such filesystems is not implemented.
		return fmt.Errorf("dir: the filesystem of %q does not support file handles (name_to_handle_at: EOPNOTSUPP)", fs.path)
	} else if err != nil {
		return fmt.Errorf("dir: name_to_handle_at %q: %w", fs.path, err)
	}
	tfd, err := unix.OpenByHandleAt(fs.mountFd, kh, unix.O_PATH|unix.O_CLOEXEC)
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("dir: open_by_handle_at on %q: permission denied: the process lacks capability CAP_DAC_READ_SEARCH", fs.path)
	} else if err != nil {
		return fmt.Errorf("dir: open_by_handle_at on %q: %w", fs.path, err)
	}
	unix.Close(tfd)

	if len(opts.HandleKey) > 0 {
		fs.key = append([]byte(nil), opts.HandleKey...)
	} else if fs.key, err = fs.loadKey(); err != nil {
		return err
	}
	fs.rootFH = fs.encode(kh)
	if len(fs.rootFH) > fsadapters.MaxHandleSize {
		return fmt.Errorf("dir: file handles of %q are too large (%d bytes)", fs.path, len(fs.rootFH))
	}

	fs.maxOff = math.MaxInt64
	var sfs unix.Statfs_t
	if unix.Fstatfs(fs.rootFd, &sfs) == nil && sfs.Type == unix.TMPFS_MAGIC {
		// tmpfs offsets are small integers ending at S32_MAX, and (since
		// 6.6) seeking beyond that restarts the listing instead of
		// returning nothing.
		fs.maxOff = math.MaxInt32
	}
	n := opts.CacheSize
	if n <= 0 {
		n = fsadapters.FDQuarter(16, 4096)
	}
	fs.cache = newFdCache(n)
	fs.aclOK = probeACL(fs.rootFd)
	fs.caps = fsadapters.Caps{
		FSIDMajor:      opts.FSIDMajor,
		FSIDMinor:      opts.FSIDMinor,
		TimeDelta:      time.Nanosecond,
		HandlesPersist: true,
	}
	if opts.FSIDMajor == 0 && opts.FSIDMinor == 0 {
		fs.caps.FSIDMajor, fs.caps.FSIDMinor = uint64(st.Dev_major), uint64(st.Dev_minor)
	}
	return nil
}

// loadKey reads the handle MAC key from the root's trusted xattr, creating
// it on first use. trusted.* is invisible to unprivileged users and to NFS
// xattr clients (RFC 8276 only exposes user.*). fs_serv keeps keys in its
// state directory instead (Options.HandleKey); this is the fallback when
// it has none.
func (fs *FS) loadKey() ([]byte, error) {
	p := procPath(fs.rootFd)
	for try := 0; try < 2; try++ {
		key, err := readKeyXattr(p)
		if err != nil || key != nil {
			return key, err
		}
		key = make([]byte, 32)
		rand.Read(key)
		err = unix.Setxattr(p, keyXattr, key, unix.XATTR_CREATE)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, unix.EEXIST) { // EEXIST: a concurrent New won; reread
			return nil, fmt.Errorf("dir: store handle key xattr %s on %q: %w (set Options.HandleKey on filesystems without trusted xattrs)", keyXattr, fs.path, err)
		}
	}
	return nil, fmt.Errorf("dir: handle key xattr on %q is unusable", fs.path)
}

// KeyXattr returns the handle key that an earlier fs_serv kept in the
// trusted xattr of root, or nil if there is none, so that a server moving
// its keys into a state directory can adopt it and the handles clients
// hold stay valid.
func KeyXattr(root string) ([]byte, error) {
	return readKeyXattr(root)
}

func readKeyXattr(p string) ([]byte, error) {
	buf := make([]byte, 64)
	n, err := unix.Getxattr(p, keyXattr, buf)
	switch {
	case err == nil && n >= 16:
		return buf[:n], nil
	case err == nil, errors.Is(err, unix.ENODATA), errors.Is(err, unix.EOPNOTSUPP):
		return nil, nil
	}
	return nil, fmt.Errorf("dir: read handle key xattr %s on %q: %w (set Options.HandleKey on filesystems without trusted xattrs)", keyXattr, p, err)
}

// Close releases the root fd and all cached fds and ends change watches.
// Files opened earlier stay usable.
func (fs *FS) Close() error {
	fs.closeOnce.Do(func() {
		fs.stopWatcher() // watch.go; before the fds its reader may use
		fs.cache.closeAll()
		unix.Close(fs.rootFd)
		unix.Close(fs.mountFd)
	})
	return nil
}

func (fs *FS) Caps() fsadapters.Caps       { return fs.caps }
func (fs *FS) Root() fsadapters.FileHandle { return append(fsadapters.FileHandle(nil), fs.rootFH...) }

// Handle layout: version(1) | handle_type(4, big endian) | f_handle | MAC(8).
// The MAC (HMAC-SHA256 under the export key, truncated) proves we minted
// the handle, i.e. that the object was beneath the export when it was
// looked up; see the package doc for why non-directories need this.
func (fs *FS) encode(kh unix.FileHandle) fsadapters.FileHandle {
	b := make([]byte, 0, hdrLen+kh.Size()+macLen)
	b = append(b, handleVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(kh.Type()))
	b = append(b, kh.Bytes()...)
	return append(b, fs.mac(b)...)
}

func (fs *FS) mac(b []byte) []byte {
	m := hmac.New(sha256.New, fs.key)
	m.Write(b)
	return m.Sum(nil)[:macLen]
}

// decode validates fh and returns the kernel handle.
func (fs *FS) decode(fh fsadapters.FileHandle) (unix.FileHandle, error) {
	if len(fh) < hdrLen+1+macLen || len(fh) > fsadapters.MaxHandleSize || fh[0] != handleVersion {
		return unix.FileHandle{}, fsadapters.ErrBadHandle
	}
	body := fh[:len(fh)-macLen]
	if !hmac.Equal(fs.mac(body), fh[len(fh)-macLen:]) {
		return unix.FileHandle{}, fsadapters.ErrBadHandle
	}
	typ := int32(binary.BigEndian.Uint32(body[1:hdrLen]))
	return unix.NewFileHandle(typ, body[hdrLen:]), nil
}

// mint returns the handle of the object open at fd.
func (fs *FS) mint(fd int) (fsadapters.FileHandle, error) {
	kh, _, err := unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH)
	if err != nil {
		return nil, err
	}
	fh := fs.encode(kh)
	if len(fh) > fsadapters.MaxHandleSize {
		return nil, unix.EOVERFLOW
	}
	return fh, nil
}

// ref is a resolved handle: an O_PATH fd valid until release.
type ref struct {
	fd int
	e  *fdEntry // nil for the root fd
}

func (fs *FS) release(r ref) {
	if r.e != nil {
		fs.cache.release(r.e)
	}
}

// resolve maps fh to an O_PATH fd beneath the export and its current
// attributes. Objects with no links left are stale even while an fd pins
// them.
func (fs *FS) resolve(fh fsadapters.FileHandle) (ref, fsadapters.Attr, error) {
	var st unix.Statx_t
	if string(fh) == string(fs.rootFH) {
		if err := statxFd(fs.rootFd, &st); err != nil {
			return ref{}, fsadapters.Attr{}, err
		}
		return ref{fd: fs.rootFd}, attrFromStatx(&st), nil
	}
	key := string(fh)
	if e := fs.cache.get(key); e != nil {
		err := statxFd(e.fd, &st)
		if err == nil && st.Nlink > 0 {
			return ref{fd: e.fd, e: e}, attrFromStatx(&st), nil
		}
		fs.cache.release(e)
		fs.cache.remove(key)
		if err != nil && !errors.Is(err, unix.ESTALE) && !errors.Is(err, unix.ENOENT) {
			return ref{}, fsadapters.Attr{}, err
		}
		return ref{}, fsadapters.Attr{}, fsadapters.ErrStale
	}
	kh, err := fs.decode(fh)
	if err != nil {
		return ref{}, fsadapters.Attr{}, err
	}
	fd, err := unix.OpenByHandleAt(fs.mountFd, kh, unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		switch {
		case errors.Is(err, unix.ESTALE), errors.Is(err, unix.ENOENT):
			return ref{}, fsadapters.Attr{}, fsadapters.ErrStale
		case errors.Is(err, unix.EINVAL):
			return ref{}, fsadapters.Attr{}, fsadapters.ErrBadHandle
		}
		return ref{}, fsadapters.Attr{}, err
	}
	if err := statxFd(fd, &st); err != nil {
		unix.Close(fd)
		return ref{}, fsadapters.Attr{}, err
	}
	if st.Nlink == 0 || !fs.inExport(fd, &st) {
		unix.Close(fd)
		return ref{}, fsadapters.Attr{}, fsadapters.ErrStale
	}
	e := fs.cache.add(key, fd)
	return ref{fd: e.fd, e: e}, attrFromStatx(&st), nil
}

// inExport checks that an object opened by handle lies beneath the export
// root. Directories have one parent: walk ".." until the root (accept) or
// the filesystem root (refuse). Non-directories may have several parents
// and the kernel cannot name them, so only the device is checked; the MAC
// in the handle is what ties them to the export (package doc).
func (fs *FS) inExport(fd int, st *unix.Statx_t) bool {
	if unix.Mkdev(st.Dev_major, st.Dev_minor) != fs.rootDev {
		return false
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return true
	}
	return fs.dirBeneathRoot(fd, st.Ino)
}

func (fs *FS) dirBeneathRoot(fd int, ino uint64) bool {
	cur := fd
	defer func() {
		if cur != fd {
			unix.Close(cur)
		}
	}()
	for depth := 0; depth < 4096; depth++ {
		if ino == fs.rootIno {
			return true
		}
		p, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return false
		}
		if cur != fd {
			unix.Close(cur)
		}
		cur = p
		var st unix.Statx_t
		if statxFd(cur, &st) != nil || unix.Mkdev(st.Dev_major, st.Dev_minor) != fs.rootDev || st.Ino == ino {
			return false // another filesystem, or ".." of the fs root is itself
		}
		ino = st.Ino
	}
	return false
}

// CheckHandle implements fsadapters.FS.
func (fs *FS) CheckHandle(ctx context.Context, fh fsadapters.FileHandle) error {
	r, _, err := fs.resolve(fh)
	if err != nil {
		return err
	}
	fs.release(r)
	return nil
}

func statxFd(fd int, st *unix.Statx_t) error {
	return unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, statxMask, st)
}

// procPath names our own fd through /proc, for the few syscalls with no
// AT_EMPTY_PATH form that accept O_PATH fds.
func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

func tsTime(t unix.StatxTimestamp) time.Time { return time.Unix(t.Sec, int64(t.Nsec)) }

func attrFromStatx(st *unix.Statx_t) fsadapters.Attr {
	a := fsadapters.Attr{
		Mode:      uint32(st.Mode) & 0o7777,
		Nlink:     st.Nlink,
		UID:       st.Uid,
		GID:       st.Gid,
		Size:      st.Size,
		SpaceUsed: st.Blocks * 512,
		RdevMajor: st.Rdev_major,
		RdevMinor: st.Rdev_minor,
		FileID:    st.Ino,
		Atime:     tsTime(st.Atime),
		Mtime:     tsTime(st.Mtime),
		Ctime:     tsTime(st.Ctime),
		Change:    uint64(st.Ctime.Sec)*1e9 + uint64(st.Ctime.Nsec),
	}
	if st.Mask&unix.STATX_BTIME != 0 {
		a.Btime = tsTime(st.Btime)
	}
	switch uint32(st.Mode) & unix.S_IFMT {
	case unix.S_IFREG:
		a.Type = fsadapters.TypeRegular
	case unix.S_IFDIR:
		a.Type = fsadapters.TypeDir
	case unix.S_IFLNK:
		a.Type = fsadapters.TypeSymlink
	case unix.S_IFBLK:
		a.Type = fsadapters.TypeBlock
	case unix.S_IFCHR:
		a.Type = fsadapters.TypeChar
	case unix.S_IFSOCK:
		a.Type = fsadapters.TypeSocket
	case unix.S_IFIFO:
		a.Type = fsadapters.TypeFIFO
	}
	return a
}

// checkName rejects anything but a single path component (the server
// filters earlier; this layer must not trust it).
func checkName(name string) error {
	if name == "" || name == "." || name == ".." {
		return unix.EINVAL
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return unix.EINVAL
		}
	}
	if len(name) > maxName {
		return unix.ENAMETOOLONG
	}
	return nil
}
