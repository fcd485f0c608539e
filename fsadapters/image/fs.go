package image

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image/internal/lru"
	"golang.org/x/sys/unix"
)

// Handle layout (25 bytes):
//
//	[version 1][Ino, big endian 8][fingerprint 8][MAC 8]
//
// The fingerprint is a hash of the image's identity (see fingerprint), so a
// handle minted for another image is ErrStale while a handle for the same
// image stays valid across fs_serv restarts (Caps.HandlesPersist). The MAC
// (HMAC-SHA256 under the export's handle key, truncated) makes guessed or
// altered handles ErrBadHandle: every inode of an image lies inside the
// export, but a client should only reach objects through names it was
// allowed to look up. Without a key (SetHandleKey) a fixed public key is
// used, which stops accidents, not forgers.
const (
	handleVersion = 2
	handleMACLen  = 8
	handleLen     = 17 + handleMACLen
)

// Bounds of the adapter's caches and log rate limits.
const (
	dirCacheEntries = 1 << 20 // directory entries kept in listings, in all
	dirCacheDirs    = 1024    // listings kept
	maxLoggedFaults = 4096    // distinct corrupt offsets logged, then silence
)

// FS serves one image Reader as a read-only fsadapters.FS.
type FS struct {
	r    Reader
	name string // image path (and partition) for the log
	log  *slog.Logger
	info Info
	fp   [8]byte
	key  []byte // handle MAC key
	root Ino

	closer io.Closer // the image file, for OpenFile

	dirs *lru.Cache[Ino, []Dirent] // listings (newDirCache)

	faultMu    sync.Mutex
	faults     map[string]bool // corrupt offsets (and panics) already logged
	faultsLost uint64          // faults not logged because the map is full
}

// New wraps r. name is what log lines call the image (its path). The
// handle fingerprint is derived from what r reports (Info, the root's
// attributes and listing); OpenFile also mixes in the image's bytes.
func New(r Reader, name string, log *slog.Logger) *FS {
	return newFS(r, name, log, nil)
}

// NewImage is New for a reader opened on img (size bytes): the handle
// fingerprint also covers the image's size and its first and last 64 KiB,
// as OpenFile does, so two images that differ only in file data still get
// different handles.
func NewImage(r Reader, img io.ReaderAt, size int64, name string, log *slog.Logger) *FS {
	return newFS(r, name, log, imageSeed(img, size))
}

func newFS(r Reader, name string, log *slog.Logger, imageSeed []byte) *FS {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fs := &FS{r: r, name: name, log: log, faults: map[string]bool{}}
	fs.dirs = newDirCache()
	fs.info = fs.safeInfo()
	fs.root = fs.safeRoot()
	fs.fp = fs.fingerprint(imageSeed)
	fs.key = defaultHandleKey[:]
	return fs
}

var defaultHandleKey = sha256.Sum256([]byte("fsbridge image default handle key"))

// SetHandleKey sets the secret that authenticates handles (fs_serv keeps
// one per export in its state directory). Call it before serving: handles
// minted under another key are refused.
func (fs *FS) SetHandleKey(key []byte) { fs.key = bytes.Clone(key) }

func (fs *FS) mac(body []byte) []byte {
	m := hmac.New(sha256.New, fs.key)
	m.Write(body)
	return m.Sum(nil)[:handleMACLen]
}

func (fs *FS) safeInfo() (info Info) {
	_ = fs.call("Info", 0, func() error { info = fs.r.Info(); return nil })
	return info
}

func (fs *FS) safeRoot() (root Ino) {
	_ = fs.call("Root", 0, func() error { root = fs.r.Root(); return nil })
	return root
}

// fingerprint hashes what identifies the image: seed (image size and
// bytes, from OpenFile), Info, the root inode and the root's attributes
// and first entries. Errors are folded in as they are: a damaged image
// still gets a stable fingerprint.
func (fs *FS) fingerprint(seed []byte) [8]byte {
	h := sha256.New()
	h.Write([]byte("fsbridge image fingerprint v1\x00"))
	h.Write(seed)
	i := fs.info
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00%d\x00", i.Format, i.Label, i.TotalBytes, i.UsedBytes, i.Files, fs.root)
	var a fsadapters.Attr
	_ = fs.call("Stat", fs.root, func() (err error) { a, err = fs.r.Stat(fs.root); return err })
	fmt.Fprintf(h, "%d\x00%d\x00%d\x00%d\x00%d\x00", a.FileID, a.Mtime.UnixNano(), a.Ctime.UnixNano(), a.Change, a.Size)
	var ents []Dirent
	_ = fs.call("ReadDir", fs.root, func() (err error) { ents, err = fs.r.ReadDir(fs.root); return err })
	for j, e := range ents {
		if j == 64 {
			break
		}
		fmt.Fprintf(h, "%s\x00%d\x00", e.Name, e.Ino)
	}
	var fp [8]byte
	copy(fp[:], h.Sum(nil))
	return fp
}

// Name is the image name given to New (for logs).
func (fs *FS) Name() string { return fs.name }

// Info is the reader's description of the image.
func (fs *FS) Info() Info { return fs.info }

// Reader is the format reader behind fs.
func (fs *FS) Reader() Reader { return fs.r }

// Close closes the reader and, for OpenFile, the image file.
func (fs *FS) Close() error {
	err := fs.call("Close", 0, fs.r.Close)
	if fs.closer != nil {
		if cerr := fs.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// call runs one Reader method: a panic becomes EIO with an error log line,
// a *CorruptError EIO with one log line per offset; ErrStale and errnos
// pass through; any other error (I/O on the image) is logged and is EIO.
func (fs *FS) call(op string, ino Ino, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if fs.firstFault(fmt.Sprintf("panic:%s:%v", op, p)) {
				fs.log.Error("image reader panicked", "image", fs.name, "format", fs.info.Format,
					"op", op, "ino", uint64(ino), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
			err = unix.EIO
		}
	}()
	return fs.mapErr(op, ino, fn())
}

func (fs *FS) mapErr(op string, ino Ino, err error) error {
	if err == nil {
		return nil
	}
	var ce *CorruptError
	var errno syscall.Errno
	switch {
	case errors.Is(err, fsadapters.ErrStale):
		return fsadapters.ErrStale
	case errors.As(err, &ce):
		format := ce.Format
		if format == "" {
			format = fs.info.Format
		}
		if fs.firstFault(fmt.Sprintf("corrupt:%s:%d:%s", format, ce.Off, ce.What)) {
			fs.log.Error("corrupt image", "image", fs.name, "format", format, "offset", ce.Off,
				"what", ce.What, "op", op, "ino", uint64(ino), "err", err.Error())
		}
		return unix.EIO
	case errors.As(err, &errno):
		return errno
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		if fs.firstFault("eof:" + op) {
			fs.log.Error("image reader hit the end of the image", "image", fs.name, "format", fs.info.Format,
				"op", op, "ino", uint64(ino), "err", err.Error())
		}
		return unix.EIO
	}
	if fs.firstFault("err:" + op + ":" + err.Error()) {
		fs.log.Error("image read error", "image", fs.name, "format", fs.info.Format, "op", op,
			"ino", uint64(ino), "err", err.Error())
	}
	return unix.EIO
}

// firstFault reports whether key is new (to be logged). Bounded: after
// maxLoggedFaults distinct keys, nothing more is logged.
func (fs *FS) firstFault(key string) bool {
	fs.faultMu.Lock()
	defer fs.faultMu.Unlock()
	if fs.faults[key] {
		return false
	}
	if len(fs.faults) >= maxLoggedFaults {
		fs.faultsLost++
		return false
	}
	fs.faults[key] = true
	return true
}

// Handles.

func (fs *FS) handle(ino Ino) fsadapters.FileHandle {
	h := make([]byte, handleLen)
	h[0] = handleVersion
	binary.BigEndian.PutUint64(h[1:], uint64(ino))
	copy(h[9:], fs.fp[:])
	copy(h[17:], fs.mac(h[:17]))
	return h
}

func (fs *FS) decode(fh fsadapters.FileHandle) (Ino, error) {
	if len(fh) != handleLen || fh[0] != handleVersion || !hmac.Equal(fs.mac(fh[:17]), fh[17:]) {
		return 0, fsadapters.ErrBadHandle
	}
	ino := Ino(binary.BigEndian.Uint64(fh[1:]))
	if ino == 0 {
		return 0, fsadapters.ErrBadHandle
	}
	// Minted by us for an image no longer there (same key, same source).
	if [8]byte(fh[9:17]) != fs.fp {
		return 0, fsadapters.ErrStale
	}
	return ino, nil
}

func (fs *FS) stat(ino Ino) (a fsadapters.Attr, err error) {
	err = fs.call("Stat", ino, func() (err error) { a, err = fs.r.Stat(ino); return err })
	return a, err
}

// resolve decodes fh and stats it.
func (fs *FS) resolve(fh fsadapters.FileHandle) (Ino, fsadapters.Attr, error) {
	ino, err := fs.decode(fh)
	if err != nil {
		return 0, fsadapters.Attr{}, err
	}
	a, err := fs.stat(ino)
	return ino, a, err
}

func (fs *FS) resolveDir(fh fsadapters.FileHandle) (Ino, fsadapters.Attr, error) {
	ino, a, err := fs.resolve(fh)
	if err == nil && a.Type != fsadapters.TypeDir {
		err = unix.ENOTDIR
	}
	return ino, a, err
}

// Caps implements fsadapters.FS.
func (fs *FS) Caps() fsadapters.Caps {
	td := fs.info.TimeDelta
	if td <= 0 {
		td = time.Nanosecond
	}
	return fsadapters.Caps{
		ReadOnly:        true,
		NoHardLinks:     fs.info.NoHardLinks,
		NoSymlinks:      fs.info.NoSymlinks,
		NoDevices:       fs.info.NoDevices,
		CaseInsensitive: fs.info.CaseInsensitive,
		// "IMG\x00" in the major number keeps image exports apart from
		// other backends; the minor is the image fingerprint.
		FSIDMajor:      0x494d4700,
		FSIDMinor:      binary.BigEndian.Uint64(fs.fp[:]),
		TimeDelta:      td,
		HandlesPersist: true,
	}
}

// Root implements fsadapters.FS.
func (fs *FS) Root() fsadapters.FileHandle { return fs.handle(fs.root) }

// CheckHandle implements fsadapters.FS.
func (fs *FS) CheckHandle(ctx context.Context, fh fsadapters.FileHandle) error {
	_, _, err := fs.resolve(fh)
	return err
}

// GetAttr implements fsadapters.FS.
func (fs *FS) GetAttr(ctx context.Context, fh fsadapters.FileHandle) (fsadapters.Attr, error) {
	_, a, err := fs.resolve(fh)
	return a, err
}

func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return unix.EINVAL
	case len(name) > 255:
		return unix.ENAMETOOLONG
	case strings.ContainsAny(name, "/\x00"):
		return unix.EINVAL
	}
	return nil
}

// Lookup implements fsadapters.FS: search permission on dir.
func (fs *FS) Lookup(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle, name string) (fsadapters.FileHandle, fsadapters.Attr, error) {
	dir, da, err := fs.resolveDir(dirfh)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	if err := fsadapters.CheckAccess(&da, cred, fsadapters.MayExec); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	if err := checkName(name); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	var ino Ino
	if err := fs.call("Lookup", dir, func() (err error) { ino, err = fs.r.Lookup(dir, name); return err }); err != nil {
		if errors.Is(err, fsadapters.ErrStale) {
			// The directory was valid a moment ago: a stale child is
			// damage in the image, not a client error.
			err = unix.EIO
		}
		return nil, fsadapters.Attr{}, err
	}
	a, err := fs.stat(ino)
	if errors.Is(err, fsadapters.ErrStale) {
		err = unix.EIO
	}
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	return fs.handle(ino), a, nil
}

// LookupParent implements fsadapters.FS; ENOENT at the root.
func (fs *FS) LookupParent(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle) (fsadapters.FileHandle, fsadapters.Attr, error) {
	dir, da, err := fs.resolveDir(dirfh)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	if err := fsadapters.CheckAccess(&da, cred, fsadapters.MayExec); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	if dir == fs.root {
		return nil, fsadapters.Attr{}, unix.ENOENT
	}
	var p Ino
	if err := fs.call("Parent", dir, func() (err error) { p, err = fs.r.Parent(dir); return err }); err != nil {
		if errors.Is(err, fsadapters.ErrStale) {
			err = unix.EIO // dir itself is valid: its parent link is damaged
		}
		return nil, fsadapters.Attr{}, err
	}
	a, err := fs.stat(p)
	if errors.Is(err, fsadapters.ErrStale) {
		err = unix.EIO
	}
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	return fs.handle(p), a, nil
}

// firstCookie: NFSv4 reserves cookies 0, 1 and 2 (RFC 7530 §16.24.4); the
// entry at index i of the reader's listing has cookie i+firstCookie.
const firstCookie = 3

// ReadDir implements fsadapters.FS. The image never changes, so the
// reader's listing order is stable and cookies are indexes into it; the
// verifier is the image fingerprint. Listings are kept in a bounded LRU
// cache so paging through a large directory is linear overall.
func (fs *FS) ReadDir(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle, cookie uint64, verf fsadapters.CookieVerf,
	fn func(*fsadapters.DirEntry) bool) (fsadapters.CookieVerf, bool, error) {
	myVerf := fsadapters.CookieVerf(fs.fp)
	dir, da, err := fs.resolveDir(dirfh)
	if err != nil {
		return myVerf, false, err
	}
	if err := fsadapters.CheckAccess(&da, cred, fsadapters.MayRead); err != nil {
		return myVerf, false, err
	}
	ents, err := fs.listing(dir)
	if err != nil {
		return myVerf, false, err
	}
	start := uint64(0)
	if cookie != 0 {
		badVerf := verf != myVerf && verf != (fsadapters.CookieVerf{})
		if badVerf || cookie < firstCookie || cookie-firstCookie >= uint64(len(ents)) {
			return myVerf, false, fsadapters.ErrBadCookie
		}
		start = cookie - firstCookie + 1
	}
	for i := start; i < uint64(len(ents)); i++ {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return myVerf, false, err
			}
		}
		e := ents[i]
		a, err := fs.stat(e.Ino)
		if err != nil {
			if errors.Is(err, fsadapters.ErrStale) {
				err = unix.EIO // the reader listed it: damage, not a stale client handle
			}
			return myVerf, false, err
		}
		de := fsadapters.DirEntry{Name: e.Name, Cookie: i + firstCookie, Handle: fs.handle(e.Ino), Attr: a}
		if !fn(&de) {
			return myVerf, false, nil
		}
	}
	return myVerf, true, nil
}

// listing returns the reader's listing of dir, through the cache.
func (fs *FS) listing(dir Ino) ([]Dirent, error) {
	if ents, ok := fs.dirs.Get(dir); ok {
		return ents, nil
	}
	var ents []Dirent
	if err := fs.call("ReadDir", dir, func() (err error) { ents, err = fs.r.ReadDir(dir); return err }); err != nil {
		return nil, err
	}
	putListing(fs.dirs, dir, ents)
	return ents, nil
}

// Readlink implements fsadapters.FS.
func (fs *FS) Readlink(ctx context.Context, fh fsadapters.FileHandle) (string, error) {
	ino, a, err := fs.resolve(fh)
	if err != nil {
		return "", err
	}
	if a.Type != fsadapters.TypeSymlink {
		return "", unix.EINVAL
	}
	var s string
	err = fs.call("Readlink", ino, func() (err error) { s, err = fs.r.Readlink(ino); return err })
	return s, err
}

// Open implements fsadapters.FS: EROFS for a write open (checked first, as
// the Linux VFS does), then read permission.
func (fs *FS) Open(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, flags fsadapters.OpenFlags) (fsadapters.File, error) {
	ino, a, err := fs.resolve(fh)
	if err != nil {
		return nil, err
	}
	if err := fsadapters.CheckOpenType(a.Type); err != nil {
		return nil, err
	}
	if flags&fsadapters.OpenWrite != 0 {
		return nil, unix.EROFS
	}
	if err := fsadapters.CheckAccess(&a, cred, fsadapters.OpenAccess(flags)); err != nil {
		return nil, err
	}
	var ra io.ReaderAt
	if err := fs.call("Open", ino, func() (err error) { ra, err = fs.r.Open(ino); return err }); err != nil {
		return nil, err
	}
	return &file{fs: fs, ino: ino, ra: ra, size: int64(a.Size)}, nil
}

// file is an open regular file of the image.
type file struct {
	fs   *FS
	ino  Ino
	ra   io.ReaderAt
	size int64
}

// ReadAt implements fsadapters.File. The size from Stat is authoritative:
// a reader that ends early is reporting a damaged image (EIO).
func (f *file) ReadAt(p []byte, off int64) (int, bool, error) {
	if off < 0 {
		return 0, false, unix.EINVAL
	}
	if off >= f.size {
		return 0, true, nil
	}
	if int64(len(p)) > f.size-off {
		p = p[:f.size-off]
	}
	var n int
	err := f.fs.call("ReadAt", f.ino, func() error {
		var err error
		n, err = f.ra.ReadAt(p, off)
		if n < 0 || n > len(p) {
			bad := n
			n = 0
			return Corrupt(f.fs.info.Format, -1, "file read length", fmt.Errorf("reader returned %d bytes for a %d-byte read", bad, len(p)))
		}
		if err == io.EOF && n == len(p) {
			err = nil
		}
		if err == nil && n < len(p) {
			// io.ReaderAt: a short read without an error is not allowed;
			// treat it as the file ending before its stated size.
			err = io.ErrUnexpectedEOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return n, off+int64(n) >= f.size, nil
}

func (f *file) WriteAt(p []byte, off int64, sync bool) (int, error) { return 0, unix.EROFS }
func (f *file) Sync() error                                         { return unix.EROFS }
func (f *file) Close() error                                        { return nil }

// StatFS implements fsadapters.FS: the image is full (nothing is free).
func (fs *FS) StatFS(ctx context.Context, fh fsadapters.FileHandle) (fsadapters.StatFS, error) {
	if _, _, err := fs.resolve(fh); err != nil {
		return fsadapters.StatFS{}, err
	}
	mn := fs.info.MaxName
	if mn == 0 {
		mn = 255
	}
	return fsadapters.StatFS{TotalBytes: fs.info.TotalBytes, TotalFiles: fs.info.Files, MaxName: mn}, nil
}

// Every modifying call is EROFS (NFS4ERR_ROFS), before any other check.

// SetAttr implements fsadapters.FS.
func (fs *FS) SetAttr(context.Context, *fsadapters.Cred, fsadapters.FileHandle, *fsadapters.SetAttr) (fsadapters.Attr, error) {
	return fsadapters.Attr{}, unix.EROFS
}

// Create implements fsadapters.FS.
func (fs *FS) Create(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, *fsadapters.CreateReq) (fsadapters.FileHandle, fsadapters.Attr, bool, error) {
	return nil, fsadapters.Attr{}, false, unix.EROFS
}

// Mkdir implements fsadapters.FS.
func (fs *FS) Mkdir(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	return nil, fsadapters.Attr{}, unix.EROFS
}

// Symlink implements fsadapters.FS.
func (fs *FS) Symlink(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, string, *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	return nil, fsadapters.Attr{}, unix.EROFS
}

// Mknod implements fsadapters.FS.
func (fs *FS) Mknod(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, fsadapters.FileType, uint32, uint32, *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	return nil, fsadapters.Attr{}, unix.EROFS
}

// Link implements fsadapters.FS.
func (fs *FS) Link(context.Context, *fsadapters.Cred, fsadapters.FileHandle, fsadapters.FileHandle, string) error {
	return unix.EROFS
}

// Remove implements fsadapters.FS.
func (fs *FS) Remove(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string) error {
	return unix.EROFS
}

// Rename implements fsadapters.FS.
func (fs *FS) Rename(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, fsadapters.FileHandle, string, bool) error {
	return unix.EROFS
}

var _ fsadapters.FS = (*FS)(nil)

// newDirCache is the LRU of directory listings: bounded by listings and
// by total entries (a listing costs its length).
func newDirCache() *lru.Cache[Ino, []Dirent] {
	return lru.New[Ino, []Dirent](dirCacheEntries, dirCacheDirs)
}

// putListing caches the listing of dir at its length.
func putListing(c *lru.Cache[Ino, []Dirent], dir Ino, ents []Dirent) {
	c.Put(dir, ents, int64(len(ents)))
}
