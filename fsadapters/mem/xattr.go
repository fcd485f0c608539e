package mem

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"
	"weak"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Extended attributes (fsadapters.Xattrer, RFC 8276) kept in memory with
// Linux user.* semantics: regular files and directories only, the
// permission rule of fsadapters.CheckXattrAccess, values up to
// fsadapters.MaxXattrSize. A change moves ctime and the change attribute,
// as setxattr(2) does.
//
// The values live in a side table keyed by a weak pointer to the inode
// (dropped by a cleanup when the inode is collected), which keeps this
// feature out of the inode struct; one mutex guards the table: xattr
// traffic is light.

var _ fsadapters.Xattrer = (*FS)(nil)

var xattrTab = struct {
	mu sync.Mutex
	m  map[weak.Pointer[inode]]map[string][]byte
}{m: map[weak.Pointer[inode]]map[string][]byte{}}

// xattrsOf returns ino's table, creating it if create. Caller holds
// xattrTab.mu.
func xattrsOf(ino *inode, create bool) map[string][]byte {
	k := weak.Make(ino)
	x := xattrTab.m[k]
	if x == nil && create {
		x = map[string][]byte{}
		xattrTab.m[k] = x
		runtime.AddCleanup(ino, func(k weak.Pointer[inode]) {
			xattrTab.mu.Lock()
			delete(xattrTab.m, k)
			xattrTab.mu.Unlock()
		}, k)
	}
	return x
}

// xattrInode resolves fh and checks cred for a read or write of its xattrs.
func (fs *FS) xattrInode(cred *fsadapters.Cred, fh fsadapters.FileHandle, name string, write bool) (*inode, error) {
	if name != listing {
		if err := fsadapters.CheckXattrName(name); err != nil {
			return nil, err
		}
	}
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.resolve(fh)
	if err != nil {
		return nil, err
	}
	a := ino.attr()
	return ino, fsadapters.CheckXattrAccess(&a, cred, write)
}

// GetXattr implements fsadapters.Xattrer.
func (fs *FS) GetXattr(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, name string) ([]byte, error) {
	ino, err := fs.xattrInode(cred, fh, name, false)
	if err != nil {
		return nil, err
	}
	xattrTab.mu.Lock()
	defer xattrTab.mu.Unlock()
	v, ok := xattrsOf(ino, false)[name]
	if !ok {
		return nil, unix.ENODATA
	}
	return slices.Clone(v), nil
}

// SetXattr implements fsadapters.Xattrer.
func (fs *FS) SetXattr(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, name string, value []byte, how fsadapters.XattrSetHow) error {
	if len(value) > fsadapters.MaxXattrSize {
		return unix.E2BIG
	}
	if how < fsadapters.XattrEither || how > fsadapters.XattrReplace {
		return unix.EINVAL
	}
	ino, err := fs.xattrInode(cred, fh, name, true)
	if err != nil {
		return err
	}
	xattrTab.mu.Lock()
	x := xattrsOf(ino, true)
	_, present := x[name]
	switch {
	case how == fsadapters.XattrCreate && present:
		err = unix.EEXIST
	case how == fsadapters.XattrReplace && !present:
		err = unix.ENODATA
	default:
		x[name] = append(make([]byte, 0, len(value)), value...)
	}
	xattrTab.mu.Unlock()
	if err == nil {
		fs.touch(ino, time.Now().Round(0), false)
	}
	return err
}

// RemoveXattr implements fsadapters.Xattrer.
func (fs *FS) RemoveXattr(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, name string) error {
	ino, err := fs.xattrInode(cred, fh, name, true)
	if err != nil {
		return err
	}
	xattrTab.mu.Lock()
	x := xattrsOf(ino, false)
	_, present := x[name]
	delete(x, name)
	xattrTab.mu.Unlock()
	if !present {
		return unix.ENODATA
	}
	fs.touch(ino, time.Now().Round(0), false)
	return nil
}

// ListXattrs implements fsadapters.Xattrer: sorted names; objects that
// cannot carry xattrs list none.
func (fs *FS) ListXattrs(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle) ([]string, error) {
	ino, err := fs.xattrInode(cred, fh, listing, false)
	if err == unix.ENODATA {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	xattrTab.mu.Lock()
	var names []string
	for k := range xattrsOf(ino, false) {
		names = append(names, k)
	}
	xattrTab.mu.Unlock()
	slices.Sort(names)
	return names, nil
}

// listing is the name xattrInode is given for ListXattrs: no name to check
// (NUL never passes CheckXattrName, so no real name equals it).
const listing = "\x00"
