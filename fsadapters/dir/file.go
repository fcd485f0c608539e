package dir

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// File is an open regular file; it implements fsadapters.File,
// fsadapters.Allocator and fsadapters.Seeker.
type File struct {
	fd   int
	once sync.Once
}

var (
	_ fsadapters.File      = (*File)(nil)
	_ fsadapters.Allocator = (*File)(nil)
	_ fsadapters.Seeker    = (*File)(nil)
)

// writeSync is the stable-write path: pwritev2(RWF_SYNC) persists the data
// and all of the file's metadata (like O_SYNC), which is what FILE_SYNC4
// promises (RFC 7530 §16.36.4; the server answers DATA_SYNC4 requests with
// FILE_SYNC4 too). Kernels or filesystems without RWF_SYNC fall back to
// pwrite + fsync. A variable so tests can observe it.
var writeSync = func(fd int, p []byte, off int64) (int, error) {
	n, err := unix.Pwritev2(fd, [][]byte{p}, off, unix.RWF_SYNC)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		if n, err = unix.Pwrite(fd, p, off); err == nil {
			err = unix.Fsync(fd)
		}
	}
	return n, err
}

// ReadAt implements fsadapters.File.
func (f *File) ReadAt(p []byte, off int64) (int, bool, error) {
	if off < 0 {
		return 0, false, unix.EINVAL
	}
	n := 0
	for n < len(p) {
		m, err := unix.Pread(f.fd, p[n:], off+int64(n))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, false, err
		}
		if m == 0 {
			return n, true, nil
		}
		n += m
	}
	// A full read can still end exactly at EOF (RFC 8881 §18.22.3 lets the
	// server say so to save the client a round trip).
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err == nil && off+int64(n) >= st.Size {
		return n, true, nil
	}
	return n, false, nil
}

// WriteAt implements fsadapters.File.
func (f *File) WriteAt(p []byte, off int64, sync bool) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	if sync {
		return writeSync(f.fd, p, off)
	}
	n := 0
	for n < len(p) {
		m, err := unix.Pwrite(f.fd, p[n:], off+int64(n))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// Sync implements fsadapters.File. fsync rather than fdatasync: COMMIT
// must also make size and times stable.
func (f *File) Sync() error { return unix.Fsync(f.fd) }

// Close implements fsadapters.File.
func (f *File) Close() error {
	var err error = unix.EBADF
	f.once.Do(func() { err = unix.Close(f.fd) })
	return err
}

// Allocate implements fsadapters.Allocator (NFSv4.2 ALLOCATE, RFC 7862 §15.1).
func (f *File) Allocate(off, length int64) error {
	return unix.Fallocate(f.fd, 0, off, length)
}

// Deallocate implements fsadapters.Allocator (DEALLOCATE, RFC 7862 §15.4):
// punch a hole, keeping the size.
func (f *File) Deallocate(off, length int64) error {
	return unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, length)
}

// SeekData implements fsadapters.Seeker (SEEK, RFC 7862 §15.11); ENXIO
// means no data/hole at or after off.
func (f *File) SeekData(off int64, whence int) (int64, error) {
	return unix.Seek(f.fd, off, whence)
}

var _ fsadapters.RangeLocker = (*File)(nil)

// flockOf converts a range (length 0 = to the end) to struct flock; ok is
// false when the range starts beyond what off_t can hold. A range whose end
// does not fit runs to the end of the file.
func flockOf(typ fsadapters.LockType, off, length uint64) (unix.Flock_t, bool) {
	const maxOff = 1<<63 - 1
	if off > maxOff {
		return unix.Flock_t{}, false
	}
	fl := unix.Flock_t{Whence: 0, Start: int64(off)}
	if length != 0 && length <= maxOff-off {
		fl.Len = int64(length)
	}
	switch typ {
	case fsadapters.ReadLock:
		fl.Type = unix.F_RDLCK
	case fsadapters.WriteLock:
		fl.Type = unix.F_WRLCK
	default:
		fl.Type = unix.F_UNLCK
	}
	return fl, true
}

// SetLockRange implements fsadapters.RangeLocker with an open file
// description lock (F_OFD_SETLK): owned by this File's descriptor, seen by
// every process on the host, released when the File is closed.
func (f *File) SetLockRange(typ fsadapters.LockType, off, length uint64) error {
	fl, ok := flockOf(typ, off, length)
	if !ok {
		return nil
	}
	for {
		err := unix.FcntlFlock(uintptr(f.fd), unix.F_OFD_SETLK, &fl)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EACCES) {
			err = unix.EAGAIN
		}
		return err
	}
}

// TestLockRange implements fsadapters.RangeLocker (F_OFD_GETLK).
func (f *File) TestLockRange(typ fsadapters.LockType, off, length uint64) (*fsadapters.LockConflict, error) {
	fl, ok := flockOf(typ, off, length)
	if !ok || typ == fsadapters.Unlock {
		return nil, nil
	}
	if err := unix.FcntlFlock(uintptr(f.fd), unix.F_OFD_GETLK, &fl); err != nil {
		return nil, err
	}
	if fl.Type == unix.F_UNLCK {
		return nil, nil
	}
	c := &fsadapters.LockConflict{Type: fsadapters.ReadLock, Offset: uint64(fl.Start), Length: uint64(fl.Len), PID: fl.Pid}
	if fl.Type == unix.F_WRLCK {
		c.Type = fsadapters.WriteLock
	}
	return c, nil
}
