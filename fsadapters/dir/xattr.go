package dir

import (
	"context"
	"errors"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Extended attributes (RFC 8276) as user.* xattrs of the exported files.
//
// The object is reached through the cached O_PATH fd of its handle, named
// as /proc/self/fd/N: the f*xattr calls refuse O_PATH fds (EBADF), and
// opening the file O_RDONLY by handle for each call would cost an
// open_by_handle_at, block on FIFOs and fail on files without read
// permission for us. getxattr(2) on the /proc link reaches exactly the
// inode the fd holds (a magic link is not a path lookup), as loadKey and
// the utimes fallback already rely on. Permission is checked here for the
// caller's credential (fs_serv runs as root) by fsadapters.CheckXattrAccess.

var _ fsadapters.Xattrer = (*FS)(nil)

// xattrRef resolves fh and checks cred for a read or write of its xattrs.
func (fs *FS) xattrRef(cred *fsadapters.Cred, fh fsadapters.FileHandle, name string, write bool) (ref, error) {
	if name != listing {
		if err := fsadapters.CheckXattrName(name); err != nil {
			return ref{}, err
		}
	}
	r, a, err := fs.resolve(fh)
	if err != nil {
		return ref{}, err
	}
	if err := fsadapters.CheckXattrAccess(&a, cred, write); err != nil {
		fs.release(r)
		return ref{}, err
	}
	return r, nil
}

// GetXattr implements fsadapters.Xattrer.
func (fs *FS) GetXattr(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, name string) ([]byte, error) {
	r, err := fs.xattrRef(cred, fh, name, false)
	if err != nil {
		return nil, err
	}
	defer fs.release(r)
	p, key := procPath(r.fd), fsadapters.XattrUserPrefix+name
	// Ask for the size, then read; a value that grew in between is
	// ERANGE, and we ask again.
	for try := 0; ; try++ {
		n, err := unix.Getxattr(p, key, nil)
		if err != nil {
			return nil, err
		}
		if n > fsadapters.MaxXattrSize {
			return nil, unix.E2BIG
		}
		buf := make([]byte, n)
		if n == 0 {
			return buf, nil
		}
		n, err = unix.Getxattr(p, key, buf)
		if errors.Is(err, unix.ERANGE) && try < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// SetXattr implements fsadapters.Xattrer.
func (fs *FS) SetXattr(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, name string, value []byte, how fsadapters.XattrSetHow) error {
	if len(value) > fsadapters.MaxXattrSize {
		return unix.E2BIG
	}
	flags := 0
	switch how {
	case fsadapters.XattrEither:
	case fsadapters.XattrCreate:
		flags = unix.XATTR_CREATE
	case fsadapters.XattrReplace:
		flags = unix.XATTR_REPLACE
	default:
		return unix.EINVAL
	}
	r, err := fs.xattrRef(cred, fh, name, true)
	if err != nil {
		return err
	}
	defer fs.release(r)
	return unix.Setxattr(procPath(r.fd), fsadapters.XattrUserPrefix+name, value, flags)
}

// RemoveXattr implements fsadapters.Xattrer.
func (fs *FS) RemoveXattr(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, name string) error {
	r, err := fs.xattrRef(cred, fh, name, true)
	if err != nil {
		return err
	}
	defer fs.release(r)
	return unix.Removexattr(procPath(r.fd), fsadapters.XattrUserPrefix+name)
}

// ListXattrs implements fsadapters.Xattrer: the user.* names without their
// prefix, sorted. Objects that cannot carry user xattrs list none.
func (fs *FS) ListXattrs(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle) ([]string, error) {
	r, err := fs.xattrRef(cred, fh, listing, false)
	if errors.Is(err, unix.ENODATA) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer fs.release(r)
	p := procPath(r.fd)
	var buf []byte
	for try := 0; ; try++ {
		n, err := unix.Listxattr(p, nil)
		if err != nil {
			return nil, err
		}
		buf = make([]byte, n)
		if n == 0 {
			break
		}
		n, err = unix.Listxattr(p, buf)
		if errors.Is(err, unix.ERANGE) && try < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		buf = buf[:n]
		break
	}
	var names []string
	for _, s := range strings.Split(string(buf), "\x00") {
		if k, ok := strings.CutPrefix(s, fsadapters.XattrUserPrefix); ok && k != "" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names, nil
}

// listing is the name xattrRef is given for ListXattrs: no name to check
// (NUL never passes CheckXattrName, so no real name equals it).
const listing = "\x00"
