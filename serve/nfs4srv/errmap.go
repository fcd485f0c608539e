package nfs4srv

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// statusOf maps a backend error to the nfsstat4 a client should see
// (RFC 7530 §13.1 gives the meaning of each code). Unknown errors become
// NFS4ERR_IO rather than SERVERFAULT: the data path failed, not our logic.
func statusOf(err error) nfs4.Status {
	if err == nil {
		return nfs4.OK
	}
	var st nfs4.Status
	if errors.As(err, &st) {
		return st
	}
	switch {
	case errors.Is(err, fsadapters.ErrStale):
		return nfs4.ErrStale
	case errors.Is(err, fsadapters.ErrBadHandle):
		return nfs4.ErrBadHandle
	case errors.Is(err, fsadapters.ErrBadCookie):
		return nfs4.ErrNotSame
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nfs4.ErrDelay
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return nfs4.ErrIO
	}
	switch errno {
	case unix.EPERM:
		return nfs4.ErrPerm
	case unix.ENOENT:
		return nfs4.ErrNoEnt
	case unix.ENXIO, unix.ENODEV:
		return nfs4.ErrNXIO
	case unix.EACCES:
		return nfs4.ErrAccess
	case unix.EEXIST:
		return nfs4.ErrExist
	case unix.EXDEV:
		return nfs4.ErrXDev
	case unix.ENOTDIR:
		return nfs4.ErrNotDir
	case unix.EISDIR:
		return nfs4.ErrIsDir
	case unix.EINVAL:
		return nfs4.ErrInval
	case unix.EFBIG:
		return nfs4.ErrFBig
	case unix.ENOSPC:
		return nfs4.ErrNoSpc
	case unix.EROFS:
		return nfs4.ErrROFS
	case unix.EMLINK:
		return nfs4.ErrMLink
	case unix.ENAMETOOLONG:
		return nfs4.ErrNameTooLong
	case unix.ENOTEMPTY:
		return nfs4.ErrNotEmpty
	case unix.EDQUOT:
		return nfs4.ErrDQuot
	case unix.ESTALE:
		return nfs4.ErrStale
	case unix.EAGAIN, unix.EINTR, unix.EBUSY:
		return nfs4.ErrDelay
	case unix.ELOOP:
		return nfs4.ErrSymlink
	case unix.EOPNOTSUPP:
		return nfs4.ErrNotSupp
	case unix.EBADF:
		return nfs4.ErrBadHandle
	case unix.ENODATA:
		return nfs4.ErrNoXattr
	case unix.E2BIG:
		return nfs4.ErrXattr2Big
	case unix.ERANGE:
		return nfs4.ErrInval
	}
	return nfs4.ErrIO
}
