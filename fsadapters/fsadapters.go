// Package fsadapters defines the storage interface fs_serv calls — its "VFS
// layer" — and holds the helpers every backend shares. Each backend lives in
// a subpackage (fsadapters/dir, fsadapters/mem, …) and is checked by the
// reusable conformance suite in fsadapters/fstest.
//
// The interface is handle based, like NFS itself: every call names its
// object by a FileHandle the backend minted earlier. A backend keeps no
// per-client state; the server owns opens, locks and leases.
//
// # Errors
//
// Backends return syscall.Errno values (unix.ENOENT, unix.EEXIST, …), wrapped
// or not. The server maps them to NFS4ERR_* (see serve/errmap). Two
// conditions have no errno of their own:
//   - ErrStale: the handle names an object that no longer exists
//     (NFS4ERR_STALE).
//   - ErrBadHandle: the handle is malformed or was not minted by this
//     backend (NFS4ERR_BADHANDLE).
//   - ErrBadCookie: a READDIR cookie the backend cannot resume from.
//
// # Credentials and permissions
//
// Every call that reads or changes the tree takes the caller's Cred. A
// backend enforces POSIX permission bits for that caller (CheckAccess
// implements the rule) and creates new objects owned by Cred.UID/GID.
// UID 0 has the usual root overrides. The server applies squashing before
// the call, so the backend sees the effective identity.
package fsadapters

import (
	"context"
	"errors"
	"time"
)

// MaxHandleSize is NFS4_FHSIZE (RFC 7530 §2.2): the largest file handle.
const MaxHandleSize = 128

// FileHandle identifies one object. It is opaque to everyone but its backend,
// at most MaxHandleSize bytes, and must stay valid across renames and
// restarts of fs_serv for as long as the object exists.
type FileHandle []byte

var (
	ErrStale     = errors.New("stale file handle")
	ErrBadHandle = errors.New("malformed file handle")
	ErrBadCookie = errors.New("invalid readdir cookie")
)

// FileType is the object type (values follow nfs_ftype4, RFC 7530 §3.2).
type FileType uint32

const (
	TypeRegular FileType = 1 // NF4REG
	TypeDir     FileType = 2 // NF4DIR
	TypeBlock   FileType = 3 // NF4BLK
	TypeChar    FileType = 4 // NF4CHR
	TypeSymlink FileType = 5 // NF4LNK
	TypeSocket  FileType = 6 // NF4SOCK
	TypeFIFO    FileType = 7 // NF4FIFO
)

func (t FileType) String() string {
	switch t {
	case TypeRegular:
		return "regular"
	case TypeDir:
		return "directory"
	case TypeBlock:
		return "block device"
	case TypeChar:
		return "char device"
	case TypeSymlink:
		return "symlink"
	case TypeSocket:
		return "socket"
	case TypeFIFO:
		return "fifo"
	}
	return "unknown"
}

// Cred is the identity a request runs as (AUTH_SYS, after squashing).
type Cred struct {
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups, at most 16 under AUTH_SYS
}

// Root is the superuser credential.
var Root = Cred{}

// InGroup reports whether gid is the caller's primary or a supplementary group.
func (c *Cred) InGroup(gid uint32) bool {
	if c.GID == gid {
		return true
	}
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// Attr is the metadata of one object.
type Attr struct {
	Type      FileType
	Mode      uint32 // permission bits and setuid/setgid/sticky (07777); no type bits
	Nlink     uint32
	UID       uint32
	GID       uint32
	Size      uint64
	SpaceUsed uint64 // bytes allocated on storage
	RdevMajor uint32 // for device nodes
	RdevMinor uint32
	FileID    uint64 // unique within the backend; the inode number for dir
	Atime     time.Time
	Mtime     time.Time
	Ctime     time.Time
	Btime     time.Time // zero if unknown
	// Change changes whenever data or metadata changes (NFSv4 change
	// attribute). Backends derive it from ctime in ns and, where available,
	// the inode version.
	Change uint64
}

// SetAttr says what to change. Only fields whose bit is in Valid are used.
type SetAttr struct {
	Valid SetMask
	Mode  uint32
	UID   uint32
	GID   uint32
	Size  uint64
	Atime time.Time // ignored when SetAtimeNow
	Mtime time.Time // ignored when SetMtimeNow
}

// SetMask selects the SetAttr fields to apply.
type SetMask uint32

const (
	SetMode SetMask = 1 << iota
	SetUID
	SetGID
	SetSize
	SetAtime
	SetAtimeNow // set atime to the server's current time
	SetMtime
	SetMtimeNow
)

// DirEntry is one entry returned by ReadDir. Cookie resumes the listing
// after this entry. Backends never return cookies 0, 1 or 2 (reserved by
// NFSv4, RFC 7530 §16.24.4).
type DirEntry struct {
	Name   string
	Cookie uint64
	Handle FileHandle
	Attr   Attr
}

// CookieVerf validates cookies across calls (cookieverf4). A backend returns
// the same value for as long as its cookies for that directory stay valid.
type CookieVerf [8]byte

// CreateMode is how Create treats an existing name (createmode4).
type CreateMode int

const (
	CreateUnchecked CreateMode = iota // existing file: open it (size may be set by attrs)
	CreateGuarded                     // existing file: EEXIST
	// CreateExclusive: the verifier is stored with the new file atomically;
	// if the name exists with the same verifier the call succeeds (a
	// retransmission) and returns created=false; else EEXIST.
	CreateExclusive
)

// CreateVerf is the EXCLUSIVE create verifier (verifier4).
type CreateVerf [8]byte

// CreateReq describes a regular-file create.
type CreateReq struct {
	Mode CreateMode
	Verf CreateVerf // for CreateExclusive
	// Attrs applied to a newly created file (mode is always in Valid;
	// with CreateExclusive the server applies other attributes afterwards).
	Attrs SetAttr
}

// OpenFlags say what an Open is for.
type OpenFlags uint32

const (
	OpenRead OpenFlags = 1 << iota
	OpenWrite
)

// StatFS describes the storage behind a handle.
type StatFS struct {
	TotalBytes, FreeBytes, AvailBytes uint64
	TotalFiles, FreeFiles, AvailFiles uint64
	MaxName                           uint32
}

// Caps describes what a backend can do.
type Caps struct {
	ReadOnly        bool
	NoHardLinks     bool
	NoSymlinks      bool
	NoDevices       bool // mknod of devices/fifos/sockets unsupported
	CaseInsensitive bool
	// FSID identifies the filesystem (fsid4). Exports of different
	// backends must not share one.
	FSIDMajor, FSIDMinor uint64
	// TimeDelta is the finest timestamp granularity.
	TimeDelta time.Duration
	// HandlesPersist: handles survive a restart of fs_serv.
	HandlesPersist bool
}

// FS is a backend. All methods are safe for concurrent use.
type FS interface {
	Caps() Caps
	// Root returns the handle of the export's root directory.
	Root() FileHandle
	// CheckHandle validates a handle received from a client without doing
	// anything else: ErrBadHandle if malformed, ErrStale if the object is
	// gone.
	CheckHandle(ctx context.Context, fh FileHandle) error

	GetAttr(ctx context.Context, fh FileHandle) (Attr, error)
	// SetAttr applies sa. Size changes need write permission, mode/owner
	// changes ownership (or root), as in POSIX.
	SetAttr(ctx context.Context, cred *Cred, fh FileHandle, sa *SetAttr) (Attr, error)
	// Lookup finds name in dir. name is a single component, never "." or
	// "..". Requires search (x) permission on dir.
	Lookup(ctx context.Context, cred *Cred, dir FileHandle, name string) (FileHandle, Attr, error)
	// LookupParent returns the parent of dir; at the root it returns
	// unix.ENOENT.
	LookupParent(ctx context.Context, cred *Cred, dir FileHandle) (FileHandle, Attr, error)
	// ReadDir lists dir from cookie (0 = start), calling fn for each entry
	// in order until fn returns false or the directory ends. "." and ".."
	// are never listed. verf is the verifier the client holds (zero with
	// cookie 0); a non-zero verf that does not match, with a non-zero
	// cookie, is ErrBadCookie (NFS4ERR_NOT_SAME); a zero verf is accepted
	// with any cookie. eof is true when the listing reached the end.
	ReadDir(ctx context.Context, cred *Cred, dir FileHandle, cookie uint64, verf CookieVerf,
		fn func(*DirEntry) bool) (newVerf CookieVerf, eof bool, err error)
	Readlink(ctx context.Context, fh FileHandle) (string, error)

	// Open returns a File for I/O; it checks permission for cred.
	Open(ctx context.Context, cred *Cred, fh FileHandle, flags OpenFlags) (File, error)
	// Create makes (or, per req.Mode, opens) a regular file.
	Create(ctx context.Context, cred *Cred, dir FileHandle, name string, req *CreateReq) (fh FileHandle, attr Attr, created bool, err error)
	Mkdir(ctx context.Context, cred *Cred, dir FileHandle, name string, attrs *SetAttr) (FileHandle, Attr, error)
	Symlink(ctx context.Context, cred *Cred, dir FileHandle, name, target string, attrs *SetAttr) (FileHandle, Attr, error)
	// Mknod makes a device node, fifo or socket.
	Mknod(ctx context.Context, cred *Cred, dir FileHandle, name string, typ FileType, major, minor uint32, attrs *SetAttr) (FileHandle, Attr, error)
	Link(ctx context.Context, cred *Cred, fh FileHandle, dir FileHandle, name string) error
	// Remove removes a name: a non-directory, or an empty directory.
	Remove(ctx context.Context, cred *Cred, dir FileHandle, name string) error
	// Rename moves a name; an existing target is replaced as rename(2)
	// does (unless noReplace).
	Rename(ctx context.Context, cred *Cred, srcDir FileHandle, srcName string, dstDir FileHandle, dstName string, noReplace bool) error
	StatFS(ctx context.Context, fh FileHandle) (StatFS, error)
}

// CreateOpener is implemented by backends whose Create can hand back the
// file it made already open, so that an OPEN creating a file (RFC 8881
// §18.16) need not open it a second time by handle.
type CreateOpener interface {
	// CreateOpen is Create that, when it makes the file (created true),
	// may also return it open for flags, whatever the mode it was given:
	// the creator may use the file it made, as open(2) with O_CREAT
	// allows. f is nil when an existing file was used or the backend
	// could not keep it open as asked: the caller then uses Open. On
	// error nothing is open.
	CreateOpen(ctx context.Context, cred *Cred, dir FileHandle, name string, req *CreateReq, flags OpenFlags) (fh FileHandle, attr Attr, created bool, f File, err error)
}

// File is an open regular file. ReadAt/WriteAt are safe for concurrent use.
type File interface {
	// ReadAt reads up to len(p) bytes at off. eof reports that the read
	// reached the end of the file.
	ReadAt(p []byte, off int64) (n int, eof bool, err error)
	// WriteAt writes p at off. With sync set, data and the metadata needed
	// to read it are on stable storage before it returns (FILE_SYNC4 /
	// DATA_SYNC4).
	WriteAt(p []byte, off int64, sync bool) (int, error)
	// Sync makes all earlier writes stable (COMMIT).
	Sync() error
	Close() error
}

// Allocator is implemented by Files that can preallocate and punch holes
// (NFSv4.2 ALLOCATE / DEALLOCATE).
type Allocator interface {
	Allocate(off, length int64) error
	Deallocate(off, length int64) error
}

// Seeker is implemented by Files that can find data and holes (NFSv4.2
// SEEK). whence is unix.SEEK_DATA or unix.SEEK_HOLE.
type Seeker interface {
	SeekData(off int64, whence int) (int64, error)
}

// LockType is a byte-range lock type for RangeLocker.
type LockType int

const (
	Unlock    LockType = iota // release the range
	ReadLock                  // shared
	WriteLock                 // exclusive
)

// LockConflict describes a lock that prevents another.
type LockConflict struct {
	Type   LockType
	Offset uint64
	Length uint64 // 0: to the end of the file
	PID    int32  // holder's process on the server host; -1 for an open-file-description lock
}

// RangeLocker is implemented by Files whose backend keeps byte-range locks
// that processes on the server host see too (the dir backend: Linux OFD
// locks). Each File is one lock owner: its locks conflict with every other
// File's and with local processes' fcntl/flock locks, never with its own.
// Offsets at or beyond 2^63 cannot be represented and are ignored (the
// server still enforces them among its own clients).
type RangeLocker interface {
	// SetLockRange sets [off, off+length) (length 0: to the end) to typ
	// without waiting, with POSIX split/merge semantics; atomic. A
	// conflicting lock is unix.EAGAIN.
	SetLockRange(typ LockType, off, length uint64) error
	// TestLockRange returns a lock of another owner that conflicts with
	// typ on the range, or nil.
	TestLockRange(typ LockType, off, length uint64) (*LockConflict, error)
}
