package mount

import (
	"context"
	"errors"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// fallocate(2) and copy_file_range(2) through NFSv4.2 ALLOCATE /
// DEALLOCATE (RFC 7862 §15.1, §15.4) and COPY (§15.2), so a copy within
// the mount never moves its data through this client.

var (
	_ fs.NodeAllocater      = (*Node)(nil)
	_ fs.NodeCopyFileRanger = (*Node)(nil)
)

// maxCopyCall bounds the bytes one copy_file_range request moves (the
// FUSE reply counts in 32 bits); the caller loops on a short count.
const maxCopyCall = 1 << 30

// openHandle returns the fileHandle behind a FUSE file handle, nil if it
// is none of ours.
func openHandle(f fs.FileHandle) *fileHandle {
	switch h := f.(type) {
	case *fileHandle:
		return h
	case localHandle:
		return h.fileHandle
	}
	return nil
}

// Allocate is fallocate(2), mapped as the Linux NFS client maps it
// (nfs42_fallocate): FALLOC_FL_PUNCH_HOLE (always with KEEP_SIZE) is
// DEALLOCATE, mode 0 is ALLOCATE, which may extend the file. ALLOCATE has
// no keep-size form, so FALLOC_FL_KEEP_SIZE allocates only the part of
// the range below the current size: the file never grows, and
// preallocation past EOF is skipped (it is a hint there, not data).
// Other modes (ZERO_RANGE, COLLAPSE_RANGE, INSERT_RANGE, …) are
// EOPNOTSUPP, as on an NFS mount.
func (n *Node) Allocate(ctx context.Context, f fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	h := openHandle(f)
	if h == nil {
		return syscall.EBADF
	}
	c := n.fsys.C
	if c.Minor < 2 || mode&^uint32(unix.FALLOC_FL_KEEP_SIZE|unix.FALLOC_FL_PUNCH_HOLE) != 0 {
		return syscall.EOPNOTSUPP
	}
	cctx := n.call(ctx)
	n.writes.drain() // background writes land before the range changes (writebehind.go)
	var err error
	switch {
	case mode&unix.FALLOC_FL_PUNCH_HOLE != 0:
		err = c.Deallocate(cctx, h.of.FH, h.of.SID(), off, size)
	case mode&unix.FALLOC_FL_KEEP_SIZE != 0:
		var a *nfs4.Attrs
		if a, err = c.GetAttr(cctx, n.fh, nfs4client.FileAttrs); err == nil && off < a.Size {
			err = c.Allocate(cctx, h.of.FH, h.of.SID(), off, min(size, a.Size-off))
		}
	default:
		err = c.Allocate(cctx, h.of.FH, h.of.SID(), off, size)
		if err == nil {
			n.wrote(off + size)
		}
	}
	n.dropAttrs()
	n.forgetCache()
	return ToErrno(err)
}

// CopyFileRange is copy_file_range(2) between two files of this mount:
// COPY on the server. The kernel falls back to read/write when we answer
// EXDEV (another mount) or ENOSYS (no COPY on this server, which the
// kernel then remembers).
func (n *Node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode,
	fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	dn, ok := out.Operations().(*Node)
	if !ok || dn.fsys != n.fsys {
		return 0, syscall.EXDEV
	}
	if n.fsys.C.Minor < 2 {
		return 0, syscall.ENOSYS
	}
	if flags != 0 {
		return 0, syscall.EINVAL
	}
	hin, hout := openHandle(fhIn), openHandle(fhOut)
	if hin == nil || hout == nil {
		return 0, syscall.EBADF
	}
	cctx := n.call(ctx)
	done, err := copyRange(cctx, hin, hout, offIn, offOut, min(length, maxCopyCall))
	if done > 0 {
		dn.wrote(offOut + done)
		dn.forgetCache()
		return uint32(done), 0
	}
	if errors.Is(err, nfs4.ErrNotSupp) {
		return 0, syscall.ENOSYS
	}
	return 0, ToErrno(err)
}

// copyRange COPYs up to length bytes from hin to hout and makes them
// durable. Both handles' UNSTABLE writes are committed first: the
// source's so a server restart cannot lose data the copy already read,
// the destination's so a later resend of them (after a verifier change)
// cannot overwrite what the copy wrote. The server may copy less than
// asked per COPY (its cap), so this loops; a copy whose COMMIT verifier
// differs from the COPY's (the server restarted, RFC 7862 §15.2.3) is done
// again once.
func copyRange(ctx context.Context, hin, hout *fileHandle, offIn, offOut, length uint64) (uint64, error) {
	if errno := hin.commit(ctx); errno != 0 {
		return 0, errno
	}
	if hout != hin {
		if errno := hout.commit(ctx); errno != 0 {
			return 0, errno
		}
	}
	c := hin.n.fsys.C
	// The kernel clamps length with its cached size; the server wants a
	// source range within the file (NFS4ERR_INVAL otherwise), so ask it.
	a, err := c.GetAttr(ctx, hin.n.fh, nfs4client.FileAttrs)
	if err != nil {
		return 0, err
	}
	if offIn >= a.Size {
		return 0, nil
	}
	length = min(length, a.Size-offIn)
	for attempt := 0; ; attempt++ {
		var done uint64
		var verf nfs4.Verifier
		unstable, mixed := false, false
		for done < length {
			w, err := c.Copy(ctx, &nfs4client.CopyRange{
				Src: hin.of.FH, SrcSID: hin.of.SID(), Dst: hout.of.FH, DstSID: hout.of.SID(),
				SrcOff: offIn + done, DstOff: offOut + done, Count: length - done,
			})
			if err != nil {
				if done == 0 {
					return 0, err
				}
				break // report what was copied; the caller's next call sees the error
			}
			if w.Committed != nfs4.FileSync4 {
				mixed = mixed || unstable && w.WriteVerf != verf
				unstable, verf = true, w.WriteVerf
			}
			done += w.Count
			if w.Count == 0 {
				break
			}
		}
		if !unstable || done == 0 {
			return done, nil
		}
		v, err := c.Commit(ctx, hout.of.FH, 0, 0)
		if err != nil {
			return 0, err
		}
		if v == verf && !mixed {
			return done, nil
		}
		if attempt > 0 {
			return 0, syscall.EIO
		}
	}
}
