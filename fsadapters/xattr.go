package fsadapters

import (
	"context"

	"golang.org/x/sys/unix"
)

// Extended attributes (NFSv4.2, RFC 8276). Names are as on the wire: no
// namespace prefix. Backends keep them in the Linux "user." namespace (as
// knfsd does), so only user xattrs are ever visible or writable through
// NFS; trusted.*, security.* and system.* stay the server host's business.

// MaxXattrSize is the largest value a backend stores (Linux XATTR_SIZE_MAX);
// a larger one is unix.E2BIG (NFS4ERR_XATTR2BIG).
const MaxXattrSize = 1 << 16

// MaxXattrName bounds a name including the "user." prefix (XATTR_NAME_MAX);
// a longer one is unix.ENAMETOOLONG.
const MaxXattrName = 255

// XattrUserPrefix is the namespace backends store wire names under.
const XattrUserPrefix = "user."

// XattrSetHow is SETXATTR's setxattr_option4 (RFC 8276 §8.4, SETXATTR).
type XattrSetHow int

const (
	XattrEither  XattrSetHow = iota // create or replace
	XattrCreate                     // fail with unix.EEXIST if present
	XattrReplace                    // fail with unix.ENODATA if absent
)

// Xattrer is implemented by backends that store extended attributes. The
// server answers NFS4ERR_NOTSUPP for the xattr ops on backends without it
// and reports xattr_support false there.
//
// Errors: unix.ENODATA for a missing name (NFS4ERR_NOXATTR), unix.EEXIST
// for XattrCreate of a present one, unix.E2BIG for a value over
// MaxXattrSize, unix.EACCES/EPERM as CheckXattrAccess says.
type Xattrer interface {
	GetXattr(ctx context.Context, cred *Cred, fh FileHandle, name string) ([]byte, error)
	SetXattr(ctx context.Context, cred *Cred, fh FileHandle, name string, value []byte, how XattrSetHow) error
	// ListXattrs returns the names (without prefix) in a stable order
	// (sorted), so LISTXATTRS cookies can be indexes into it.
	ListXattrs(ctx context.Context, cred *Cred, fh FileHandle) ([]string, error)
	RemoveXattr(ctx context.Context, cred *Cred, fh FileHandle, name string) error
}

// CheckXattrName validates a wire name: not empty, no NUL (names are C
// strings to the kernel), and short enough with the user. prefix.
func CheckXattrName(name string) error {
	if name == "" {
		return unix.EINVAL
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return unix.EINVAL
		}
	}
	if len(XattrUserPrefix)+len(name) > MaxXattrName {
		return unix.ENAMETOOLONG
	}
	return nil
}

// CheckXattrAccess is the Linux rule for user.* xattrs (xattr_permission):
// only regular files and directories carry them — on anything else a read
// finds nothing (ENODATA) and a write is EPERM; a sticky directory's
// xattrs are writable only by its owner; otherwise reading needs read
// permission and writing write permission. As NFS servers do for reads,
// the owner may always read (an owner can chmod itself the right anyway).
func CheckXattrAccess(a *Attr, cred *Cred, write bool) error {
	if a.Type != TypeRegular && a.Type != TypeDir {
		if write {
			return unix.EPERM
		}
		return unix.ENODATA
	}
	owner := cred.UID == 0 || cred.UID == a.UID
	if !write {
		if owner {
			return nil
		}
		return CheckAccess(a, cred, MayRead)
	}
	if a.Type == TypeDir && a.Mode&unix.S_ISVTX != 0 && !owner {
		return unix.EPERM
	}
	return CheckAccess(a, cred, MayWrite)
}
