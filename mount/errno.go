package mount

import (
	"context"
	"errors"
	"syscall"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// statusErrno maps NFSv4 status codes to the errno a local file system
// would give (RFC 7530 §13 and RFC 8881 §15 describe each status; the
// classic ones share their number with the errno).
var statusErrno = map[nfs4.Status]syscall.Errno{
	nfs4.ErrPerm:         syscall.EPERM,
	nfs4.ErrNoEnt:        syscall.ENOENT,
	nfs4.ErrIO:           syscall.EIO,
	nfs4.ErrNXIO:         syscall.ENXIO,
	nfs4.ErrAccess:       syscall.EACCES,
	nfs4.ErrExist:        syscall.EEXIST,
	nfs4.ErrXDev:         syscall.EXDEV,
	nfs4.ErrNotDir:       syscall.ENOTDIR,
	nfs4.ErrIsDir:        syscall.EISDIR,
	nfs4.ErrInval:        syscall.EINVAL,
	nfs4.ErrFBig:         syscall.EFBIG,
	nfs4.ErrNoSpc:        syscall.ENOSPC,
	nfs4.ErrROFS:         syscall.EROFS,
	nfs4.ErrMLink:        syscall.EMLINK,
	nfs4.ErrNameTooLong:  syscall.ENAMETOOLONG,
	nfs4.ErrNotEmpty:     syscall.ENOTEMPTY,
	nfs4.ErrDQuot:        syscall.EDQUOT,
	nfs4.ErrStale:        syscall.ESTALE,
	nfs4.ErrFHExpired:    syscall.ESTALE,
	nfs4.ErrBadHandle:    syscall.ESTALE,
	nfs4.ErrNotSupp:      syscall.EOPNOTSUPP,
	nfs4.ErrAttrNotSupp:  syscall.EOPNOTSUPP,
	nfs4.ErrTooSmall:     syscall.EINVAL,
	nfs4.ErrBadType:      syscall.EINVAL,
	nfs4.ErrBadName:      syscall.EINVAL,
	nfs4.ErrBadChar:      syscall.EINVAL,
	nfs4.ErrBadOwner:     syscall.EINVAL,
	nfs4.ErrSymlink:      syscall.ELOOP,
	nfs4.ErrWrongType:    syscall.EINVAL,
	nfs4.ErrDenied:       syscall.EAGAIN,
	nfs4.ErrLocked:       syscall.EAGAIN,
	nfs4.ErrShareDenied:  syscall.EACCES,
	nfs4.ErrOpenMode:     syscall.EBADF,
	nfs4.ErrFileOpen:     syscall.EBUSY,
	nfs4.ErrDeadlock:     syscall.EDEADLK,
	nfs4.ErrNoXattr:      syscall.ENODATA,
	nfs4.ErrXattr2Big:    syscall.E2BIG,
	nfs4.ErrLockRange:    syscall.EINVAL,
	nfs4.ErrBadRange:     syscall.EINVAL,
	nfs4.ErrDelay:        syscall.EAGAIN, // only after the client's retries ran out
	nfs4.ErrServerFault:  syscall.EIO,
	nfs4.ErrResource:     syscall.EIO,
	nfs4.ErrWrongSec:     syscall.EPERM,
	nfs4.ErrAdminRevoked: syscall.EIO,
}

// ToErrno turns a client error into an errno: an NFS status (in a
// *nfs4client.StatusError or *nfs4client.Denied) by
// its value, a cancelled request into EINTR, a timeout into ETIMEDOUT, a
// lost connection into ENOTCONN, anything else into EIO.
func ToErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var st nfs4.Status // from a *nfs4client.StatusError, *nfs4client.Denied, …
	if errors.As(err, &st) {
		if e, ok := statusErrno[st]; ok {
			return e
		}
		return syscall.EIO
	}
	switch {
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, nfs4client.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return syscall.ETIMEDOUT
	case errors.Is(err, rpcclient.ErrClosed):
		return syscall.ENOTCONN
	}
	return syscall.EIO
}
