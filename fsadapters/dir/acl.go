package dir

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// POSIX ACLs (fsadapters.ACLer): stored by the filesystem in the
// system.posix_acl_access / system.posix_acl_default xattrs, which the
// kernel keeps consistent with the mode (setting one updates the mode,
// chmod updates the ACL) and applies to new objects in a directory with a
// default ACL. Because fs_serv runs as root the kernel does not enforce
// them for our callers: checkAccess does, with the POSIX.1e algorithm in
// fsadapters.
//
// Cost: the ACL is read only when it can matter (the caller is neither
// root nor the owner, fsadapters.ACLMatters), and kept in a small cache
// keyed by inode and ctime (any ACL or mode change moves ctime, and the
// kernel's multigrain ctime makes back-to-back changes distinct once a
// statx has seen the old value, which resolve always does).

var _ fsadapters.ACLer = (*FS)(nil)

// aclReads counts ACL xattr reads, for the tests' cost checks.
var aclReads atomic.Int64

const maxACLCache = 1024

type aclKey struct {
	ino uint64
	def bool
}

type aclVal struct {
	change uint64
	acl    []fsadapters.ACLEntry // nil: none
}

// aclCache maps (inode, which ACL) to the ACL seen at a ctime.
type aclCache struct {
	mu sync.Mutex
	m  map[aclKey]aclVal
}

func (c *aclCache) get(k aclKey, change uint64) ([]fsadapters.ACLEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if !ok || v.change != change {
		return nil, false
	}
	return v.acl, true
}

func (c *aclCache) put(k aclKey, change uint64, acl []fsadapters.ACLEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxACLCache {
		c.m = make(map[aclKey]aclVal)
	}
	c.m[k] = aclVal{change, acl}
}

func (c *aclCache) forget(ino uint64) {
	c.mu.Lock()
	delete(c.m, aclKey{ino, false})
	delete(c.m, aclKey{ino, true})
	c.mu.Unlock()
}

// readACL returns the access (def false) or default ACL of the object at
// fd with attributes a, nil if it has none. Symlinks have no ACLs on
// Linux, and getxattr through /proc would not be safe on them anyway.
func (fs *FS) readACL(fd int, a *fsadapters.Attr, def bool) ([]fsadapters.ACLEntry, error) {
	if a.Type == fsadapters.TypeSymlink || (def && a.Type != fsadapters.TypeDir) {
		return nil, nil
	}
	k := aclKey{a.FileID, def}
	if acl, ok := fs.acls.get(k, a.Change); ok {
		return acl, nil
	}
	name := fsadapters.XattrACLAccess
	if def {
		name = fsadapters.XattrACLDefault
	}
	aclReads.Add(1)
	p := procPath(fd)
	buf := make([]byte, 4+8*16)
	var acl []fsadapters.ACLEntry
	for try := 0; ; try++ {
		n, err := unix.Getxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) && try < 3 {
			if n, err = unix.Getxattr(p, name, nil); err == nil {
				buf = make([]byte, min(n, fsadapters.MaxXattrSize))
				continue
			}
		}
		if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.EOPNOTSUPP) {
			break
		}
		if err != nil {
			return nil, err
		}
		if acl, err = fsadapters.DecodeACLXattr(buf[:n]); err != nil {
			return nil, unix.EIO // the kernel validated it on write: corruption
		}
		break
	}
	fs.acls.put(k, a.Change, acl)
	return acl, nil
}

// checkAccess is fsadapters.CheckAccess with the object's access ACL
// (read only when it can matter).
func (fs *FS) checkAccess(fd int, a *fsadapters.Attr, cred *fsadapters.Cred, want uint32) error {
	if !fsadapters.ACLMatters(a, cred) {
		return fsadapters.CheckAccess(a, cred, want)
	}
	acl, err := fs.readACL(fd, a, false)
	if err != nil {
		return err
	}
	return fsadapters.CheckAccessACL(a, acl, cred, want)
}

// checkAccessAt is checkAccess for the entry name in the directory at
// dirfd, whose attributes are a.
func (fs *FS) checkAccessAt(dirfd int, name string, a *fsadapters.Attr, cred *fsadapters.Cred, want uint32) error {
	if !fsadapters.ACLMatters(a, cred) {
		return fsadapters.CheckAccess(a, cred, want)
	}
	fd, err := openChild(dirfd, name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fs.checkAccess(fd, a, cred, want)
}

// inheritMode is the mode to give a new object requested with mode in the
// directory at dirfd (attributes da): limited by the directory's default
// ACL if it has one (fsadapters.InheritedMode). The kernel has already
// copied the default ACL to the new object; the chmod that initOwner does
// to undo the umask then sets its owner, mask and other entries to
// exactly what POSIX.1e inheritance gives them, instead of widening them
// to the requested mode.
func (fs *FS) inheritMode(dirfd int, da *fsadapters.Attr, mode uint32) (uint32, error) {
	if !fs.aclOK {
		return mode, nil // no default ACL to read (getxattr would say EOPNOTSUPP)
	}
	def, err := fs.readACL(dirfd, da, true)
	if err != nil || def == nil {
		return mode, err
	}
	return fsadapters.InheritedMode(def, mode), nil
}

// ACLSupport reports whether the export's filesystem stores POSIX ACLs.
func (fs *FS) ACLSupport() bool { return fs.aclOK }

// probeACL finds out whether the filesystem of the export root has POSIX
// ACLs: reading the access ACL of the root is EOPNOTSUPP if not.
func probeACL(rootFd int) bool {
	_, err := unix.Getxattr(procPath(rootFd), fsadapters.XattrACLAccess, nil)
	return err == nil || errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ERANGE)
}

// GetACL implements fsadapters.ACLer.
func (fs *FS) GetACL(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle) (*fsadapters.ACL, error) {
	r, a, err := fs.resolve(fh)
	if err != nil {
		return nil, err
	}
	defer fs.release(r)
	var out fsadapters.ACL
	if out.Access, err = fs.readACL(r.fd, &a, false); err != nil {
		return nil, err
	}
	if out.Access == nil {
		out.Access = fsadapters.MinimalACL(a.Mode)
	} else {
		out.Access = append([]fsadapters.ACLEntry(nil), out.Access...) // the cache's copy stays ours
	}
	def, err := fs.readACL(r.fd, &a, true)
	if err != nil {
		return nil, err
	}
	out.Default = append([]fsadapters.ACLEntry(nil), def...)
	if len(out.Default) == 0 {
		out.Default = nil
	}
	return &out, nil
}

// SetACL implements fsadapters.ACLer. The kernel derives the mode from the
// access ACL and drops the xattr when the ACL is minimal
// (posix_acl_update_mode); an empty Default removes the default ACL.
// The two xattrs are written one after the other, not atomically.
func (fs *FS) SetACL(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, acl *fsadapters.ACL) error {
	access := append([]fsadapters.ACLEntry(nil), acl.Access...)
	def := append([]fsadapters.ACLEntry(nil), acl.Default...)
	fsadapters.SortACL(access)
	fsadapters.SortACL(def)
	if fsadapters.CheckACL(access) != nil || (len(def) > 0 && fsadapters.CheckACL(def) != nil) {
		return unix.EINVAL
	}
	r, a, err := fs.resolve(fh)
	if err != nil {
		return err
	}
	defer fs.release(r)
	// Only the owner may change an ACL (inode_owner_or_capable).
	if cred.UID != 0 && cred.UID != a.UID {
		return unix.EPERM
	}
	if a.Type == fsadapters.TypeSymlink {
		return unix.EOPNOTSUPP // as vfs_set_acl
	}
	if len(def) > 0 && a.Type != fsadapters.TypeDir {
		return unix.EINVAL
	}
	defer fs.acls.forget(a.FileID)
	p := procPath(r.fd)
	if err := unix.Setxattr(p, fsadapters.XattrACLAccess, fsadapters.EncodeACLXattr(access), 0); err != nil {
		return err
	}
	// As posix_acl_update_mode, but for the caller rather than for us
	// (we hold CAP_FSETID): setgid goes unless the caller is in the group.
	if a.Mode&unix.S_ISGID != 0 && cred.UID != 0 && !cred.InGroup(a.GID) {
		mode := a.Mode&0o7000&^unix.S_ISGID | fsadapters.ACLModeBits(access)
		if err := chmodFd(r.fd, mode, a.Type); err != nil {
			return err
		}
	}
	if a.Type != fsadapters.TypeDir {
		return nil
	}
	if len(def) > 0 {
		return unix.Setxattr(p, fsadapters.XattrACLDefault, fsadapters.EncodeACLXattr(def), 0)
	}
	if err := unix.Removexattr(p, fsadapters.XattrACLDefault); err != nil && !errors.Is(err, unix.ENODATA) {
		return err
	}
	return nil
}

// Access implements fsadapters.ACLer.
func (fs *FS) Access(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, _ *fsadapters.Attr, want uint32) (uint32, error) {
	r, a, err := fs.resolve(fh)
	if err != nil {
		return 0, err
	}
	defer fs.release(r)
	var acl []fsadapters.ACLEntry
	if fsadapters.ACLMatters(&a, cred) {
		if acl, err = fs.readACL(r.fd, &a, false); err != nil {
			return 0, err
		}
	}
	return fsadapters.AccessAllowedACL(&a, acl, cred, want), nil
}
