package dir

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Server-side copy for NFSv4.2 COPY and CLONE (RFC 7862 §15.2, §15.13).

var (
	_ fsadapters.Copier = (*File)(nil)
	_ fsadapters.Cloner = (*File)(nil)
)

// copyFileRange is copy_file_range(2); a variable so tests can make it
// fail.
var copyFileRange = unix.CopyFileRange

// CopyRange implements fsadapters.Copier with copy_file_range(2): the
// kernel copies in its page cache, or shares extents (reflink) where the
// filesystem can (Btrfs, XFS). Errors that mean "not between these files"
// (EXDEV across filesystems, EOPNOTSUPP/ENOSYS, EINVAL from a filesystem
// that does not take part) become fsadapters.ErrCrossCopy so the caller
// falls back to read/write.
func (f *File) CopyRange(dst fsadapters.File, srcOff, dstOff, n int64) (int64, error) {
	d, ok := dst.(*File)
	if !ok {
		return 0, fsadapters.ErrCrossCopy
	}
	if srcOff < 0 || dstOff < 0 || n < 0 {
		return 0, unix.EINVAL
	}
	if sameFileOverlap(f.fd, d.fd, srcOff, dstOff, n) {
		return 0, unix.EINVAL // copy_file_range(2) refuses it too
	}
	var done int64
	for done < n {
		roff, woff := srcOff+done, dstOff+done
		m, err := copyFileRange(f.fd, &roff, d.fd, &woff, int(min(n-done, 1<<30)), 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			if done > 0 {
				return done, nil // report progress; the next call sees the error
			}
			if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EOPNOTSUPP) ||
				errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
				return 0, fsadapters.ErrCrossCopy
			}
			return 0, err
		}
		if m == 0 {
			break // end of the source
		}
		done += int64(m)
	}
	return done, nil
}

// sameFileOverlap reports whether fds a and b are one inode and the two
// n-byte ranges overlap.
func sameFileOverlap(a, b int, aOff, bOff, n int64) bool {
	var sa, sb unix.Stat_t
	if unix.Fstat(a, &sa) != nil || unix.Fstat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino && aOff < bOff+n && bOff < aOff+n
}

// CloneRange implements fsadapters.Cloner with FICLONERANGE. Filesystems
// without shared extents (ext4, tmpfs) answer EOPNOTSUPP; across
// filesystems it is fsadapters.ErrCrossCopy.
func (f *File) CloneRange(dst fsadapters.File, srcOff, dstOff, n int64) error {
	d, ok := dst.(*File)
	if !ok {
		return fsadapters.ErrCrossCopy
	}
	if srcOff < 0 || dstOff < 0 || n < 0 {
		return unix.EINVAL
	}
	err := unix.IoctlFileCloneRange(d.fd, &unix.FileCloneRange{
		Src_fd: int64(f.fd), Src_offset: uint64(srcOff), Src_length: uint64(n), Dest_offset: uint64(dstOff),
	})
	switch {
	case errors.Is(err, unix.EXDEV):
		return fsadapters.ErrCrossCopy
	case errors.Is(err, unix.ENOTTY):
		return unix.EOPNOTSUPP // filesystem without the ioctl
	}
	return err
}
