package mount

import (
	"context"
	"errors"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

var _ fs.FileLseeker = (*fileHandle)(nil)

// Lseek answers lseek(2) with SEEK_DATA or SEEK_HOLE (the kernel handles
// the other whences) with the server's SEEK (RFC 7862 §15.11), so cp,
// tar --sparse and backup tools see the file's holes. Background writes
// are waited for first, so the server knows every byte written. Without minor
// version 2 the kernel's default applies (all data, a hole at EOF).
func (h *fileHandle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	var what uint32
	switch whence {
	case unixSeekData:
		what = nfs4.ContentData
	case unixSeekHole:
		what = nfs4.ContentHole
	default:
		return 0, syscall.EINVAL
	}
	h.n.writes.drain() // the server must know every byte written (writebehind.go)
	pos, _, err := h.n.fsys.C.Seek(h.n.call(ctx), h.of.FH, h.of.SID(), off, what)
	if errors.Is(err, nfs4client.ErrNeed42) || errors.Is(err, nfs4.ErrNotSupp) {
		return 0, syscall.ENOSYS
	}
	if err != nil {
		return 0, ToErrno(err)
	}
	return pos, 0
}

// lseek(2) whence values for data and holes (linux/fs.h).
const (
	unixSeekData = 3
	unixSeekHole = 4
)
