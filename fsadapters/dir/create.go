package dir

import (
	"bytes"
	"context"
	"errors"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Extended attributes holding the EXCLUSIVE create verifier; user.* is the
// fallback for filesystems without trusted.*.
var verfXattrs = []string{"trusted.fsbridge.verf", "user.fsbridge.verf"}

// parentFor resolves dir and checks cred may add or remove names in it.
func (fs *FS) parentFor(cred *fsadapters.Cred, dir fsadapters.FileHandle, name string) (ref, fsadapters.Attr, error) {
	if err := checkName(name); err != nil {
		return ref{}, fsadapters.Attr{}, err
	}
	r, da, err := fs.resolveDir(dir)
	if err != nil {
		return ref{}, da, err
	}
	if err := fs.checkAccess(r.fd, &da, cred, fsadapters.MayWrite|fsadapters.MayExec); err != nil {
		fs.release(r)
		return ref{}, da, err
	}
	return r, da, nil
}

// initOwner gives a new object at fd its owner and mode as Linux would for
// cred: owner cred.UID, group cred.GID or, in a setgid directory, the
// directory's group (new directories inherit setgid too). A non-root
// caller outside the resulting group cannot set setgid on a file.
func initOwner(fd int, cred *fsadapters.Cred, da *fsadapters.Attr, typ fsadapters.FileType, mode uint32) error {
	gid := cred.GID
	if da.Mode&unix.S_ISGID != 0 {
		gid = da.GID
		if typ == fsadapters.TypeDir {
			mode |= unix.S_ISGID
		}
	}
	if typ != fsadapters.TypeDir && cred.UID != 0 && !cred.InGroup(gid) {
		mode &^= unix.S_ISGID
	}
	if err := unix.Fchownat(fd, "", int(cred.UID), int(gid), unix.AT_EMPTY_PATH); err != nil {
		return err
	}
	if typ == fsadapters.TypeSymlink {
		return nil
	}
	// Explicit chmod after chown: the umask applied at creation must not
	// count, and chown may have cleared setuid/setgid.
	return chmodFd(fd, mode&0o7777, typ)
}

// finishNew completes an object just created as name in the directory at
// r: owner/mode, the remaining attrs, then its handle. fd is closed unless
// keep is set and it succeeds (the caller then owns it). On failure the
// name is removed again so a half-initialised (root-owned) object is not
// left.
func (fs *FS) finishNew(cred *fsadapters.Cred, r ref, da *fsadapters.Attr, name string, fd int, typ fsadapters.FileType, attrs *fsadapters.SetAttr, keep bool) (fsadapters.FileHandle, fsadapters.Attr, error) {
	mode := uint32(0o644)
	if typ == fsadapters.TypeDir {
		mode = 0o755
	}
	var rest fsadapters.SetAttr
	if attrs != nil {
		if attrs.Valid&fsadapters.SetMode != 0 {
			mode = attrs.Mode
		}
		rest = *attrs
		rest.Valid &^= fsadapters.SetMode
	}
	fail := func(err error) (fsadapters.FileHandle, fsadapters.Attr, error) {
		unix.Close(fd)
		flag := 0
		if typ == fsadapters.TypeDir {
			flag = unix.AT_REMOVEDIR
		}
		unix.Unlinkat(r.fd, name, flag)
		return nil, fsadapters.Attr{}, err
	}
	if typ != fsadapters.TypeSymlink {
		var err error
		if mode, err = fs.inheritMode(r.fd, da, mode); err != nil {
			return fail(err)
		}
	}
	if err := initOwner(fd, cred, da, typ, mode); err != nil {
		return fail(err)
	}
	fh, err := fs.mint(fd)
	if err != nil {
		return fail(err)
	}
	if rest.Valid != 0 {
		var st unix.Statx_t
		if err := statxFd(fd, &st); err != nil {
			return fail(err)
		}
		a := attrFromStatx(&st)
		if err := fs.setattr(cred, fd, fh, &a, &rest); err != nil {
			return fail(err)
		}
	}
	var st unix.Statx_t
	if err := statxFd(fd, &st); err != nil {
		return fail(err)
	}
	if !keep {
		unix.Close(fd)
	}
	return fh, attrFromStatx(&st), nil
}

// Create implements fsadapters.FS.
func (fs *FS) Create(ctx context.Context, cred *fsadapters.Cred, dir fsadapters.FileHandle, name string, req *fsadapters.CreateReq) (fsadapters.FileHandle, fsadapters.Attr, bool, error) {
	fh, a, created, _, err := fs.create(ctx, cred, dir, name, req, 0)
	return fh, a, created, err
}

var _ fsadapters.CreateOpener = (*FS)(nil)

// CreateOpen implements fsadapters.CreateOpener: the descriptor the file
// was created with (access as for Open with flags) is kept as the File,
// instead of being closed and the file opened again by handle.
func (fs *FS) CreateOpen(ctx context.Context, cred *fsadapters.Cred, dir fsadapters.FileHandle, name string, req *fsadapters.CreateReq, flags fsadapters.OpenFlags) (fsadapters.FileHandle, fsadapters.Attr, bool, fsadapters.File, error) {
	return fs.create(ctx, cred, dir, name, req, flags&(fsadapters.OpenRead|fsadapters.OpenWrite))
}

// create is Create, keeping the new file open for flags unless they are 0.
func (fs *FS) create(ctx context.Context, cred *fsadapters.Cred, dir fsadapters.FileHandle, name string, req *fsadapters.CreateReq, flags fsadapters.OpenFlags) (fsadapters.FileHandle, fsadapters.Attr, bool, fsadapters.File, error) {
	r, da, err := fs.parentFor(cred, dir, name)
	if err != nil {
		return nil, fsadapters.Attr{}, false, nil, err
	}
	defer fs.release(r)
	if req.Mode == fsadapters.CreateExclusive {
		return fs.createExclusive(cred, r, &da, name, req, flags)
	}
	// The access mode does not change how the file is made: we run as
	// root, and the final owner and mode are set afterwards (finishNew).
	acc := unix.O_RDONLY
	switch flags {
	case fsadapters.OpenWrite:
		acc = unix.O_WRONLY
	case fsadapters.OpenRead | fsadapters.OpenWrite:
		acc = unix.O_RDWR
	}
	for try := 0; try < 16; try++ {
		fd, err := unix.Openat2(r.fd, name, &unix.OpenHow{
			Flags:   uint64(acc) | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Mode:    0o600,
			Resolve: resolveFlags,
		})
		if err == nil {
			fh, a, err := fs.finishNew(cred, r, &da, name, fd, fsadapters.TypeRegular, &req.Attrs, flags != 0)
			if err != nil {
				return nil, fsadapters.Attr{}, false, nil, err
			}
			var f fsadapters.File
			if flags != 0 {
				f = &File{fd: fd}
			}
			return fh, a, true, f, nil
		}
		if !errors.Is(err, unix.EEXIST) || req.Mode == fsadapters.CreateGuarded {
			return nil, fsadapters.Attr{}, false, nil, err
		}
		// UNCHECKED on an existing name: use the existing file.
		fd, err = openChild(r.fd, name)
		if errors.Is(err, unix.ENOENT) {
			continue // removed in between; create again
		}
		if err != nil {
			return nil, fsadapters.Attr{}, false, nil, err
		}
		fh, a, err := fs.adopt(fd)
		if err != nil {
			return nil, fsadapters.Attr{}, false, nil, err
		}
		if err := fsadapters.CheckCreateOver(a.Type); err != nil {
			return nil, fsadapters.Attr{}, false, nil, err
		}
		if req.Attrs.Valid&fsadapters.SetSize != 0 {
			sa := fsadapters.SetAttr{Valid: fsadapters.SetSize, Size: req.Attrs.Size}
			if a, err = fs.SetAttr(ctx, cred, fh, &sa); err != nil {
				return nil, fsadapters.Attr{}, false, nil, err
			}
		}
		return fh, a, false, nil, nil
	}
	return nil, fsadapters.Attr{}, false, nil, unix.EAGAIN
}

// createExclusive makes the file complete with its verifier before it has
// a name: O_TMPFILE, verifier xattr, owner and mode, then linkat into place.
// linkat fails with EEXIST if the name exists, so the create is atomic and
// a retransmission is recognised by the stored verifier (RFC 8881 §18.16.3).
// O_TMPFILE needs write access, so only an open for writing (flags) keeps
// the descriptor as the File.
func (fs *FS) createExclusive(cred *fsadapters.Cred, r ref, da *fsadapters.Attr, name string, req *fsadapters.CreateReq, flags fsadapters.OpenFlags) (fsadapters.FileHandle, fsadapters.Attr, bool, fsadapters.File, error) {
	mode := uint32(0o644)
	if req.Attrs.Valid&fsadapters.SetMode != 0 {
		mode = req.Attrs.Mode
	}
	mode, err := fs.inheritMode(r.fd, da, mode)
	if err != nil {
		return nil, fsadapters.Attr{}, false, nil, err
	}
	acc, keep := unix.O_RDWR, flags&fsadapters.OpenWrite != 0
	if flags == fsadapters.OpenWrite {
		acc = unix.O_WRONLY
	}
	for try := 0; try < 16; try++ {
		tfd, err := unix.Openat(r.fd, ".", unix.O_TMPFILE|acc|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fsadapters.Attr{}, false, nil, err
		}
		err = unix.Fsetxattr(tfd, verfXattrs[0], req.Verf[:], 0)
		if err != nil {
			err = unix.Fsetxattr(tfd, verfXattrs[1], req.Verf[:], 0)
		}
		if err == nil {
			err = initOwner(tfd, cred, da, fsadapters.TypeRegular, mode)
		}
		if err == nil {
			err = unix.Linkat(tfd, "", r.fd, name, unix.AT_EMPTY_PATH)
		}
		if err == nil {
			var fh fsadapters.FileHandle
			var st unix.Statx_t
			if fh, err = fs.mint(tfd); err == nil {
				err = statxFd(tfd, &st)
			}
			if err != nil || !keep {
				unix.Close(tfd)
			}
			if err != nil {
				return nil, fsadapters.Attr{}, false, nil, err
			}
			var f fsadapters.File
			if keep {
				f = &File{fd: tfd}
			}
			return fh, attrFromStatx(&st), true, f, nil
		}
		unix.Close(tfd)
		if !errors.Is(err, unix.EEXIST) {
			return nil, fsadapters.Attr{}, false, nil, err
		}
		fd, err := openChild(r.fd, name)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return nil, fsadapters.Attr{}, false, nil, err
		}
		same := hasVerf(fd, req.Verf)
		fh, a, err := fs.adopt(fd)
		if err != nil {
			return nil, fsadapters.Attr{}, false, nil, err
		}
		if a.Type != fsadapters.TypeRegular || !same {
			return nil, fsadapters.Attr{}, false, nil, unix.EEXIST
		}
		return fh, a, false, nil, nil
	}
	return nil, fsadapters.Attr{}, false, nil, unix.EAGAIN
}

// hasVerf reports whether the object at O_PATH fd carries verifier v.
func hasVerf(fd int, v fsadapters.CreateVerf) bool {
	var st unix.Statx_t
	if statxFd(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false // never follow the /proc link of a symlink
	}
	buf := make([]byte, 16)
	for _, x := range verfXattrs {
		n, err := unix.Getxattr(procPath(fd), x, buf)
		if err == nil {
			return bytes.Equal(buf[:n], v[:])
		}
	}
	return false
}

// Mkdir implements fsadapters.FS.
func (fs *FS) Mkdir(ctx context.Context, cred *fsadapters.Cred, dir fsadapters.FileHandle, name string, attrs *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	r, da, err := fs.parentFor(cred, dir, name)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	defer fs.release(r)
	if err := unix.Mkdirat(r.fd, name, 0o700); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	fd, err := openChild(r.fd, name)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	return fs.finishNew(cred, r, &da, name, fd, fsadapters.TypeDir, attrs, false)
}

// Symlink implements fsadapters.FS.
func (fs *FS) Symlink(ctx context.Context, cred *fsadapters.Cred, dir fsadapters.FileHandle, name, target string, attrs *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	r, da, err := fs.parentFor(cred, dir, name)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	defer fs.release(r)
	if err := unix.Symlinkat(target, r.fd, name); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	fd, err := openChild(r.fd, name)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	var rest *fsadapters.SetAttr
	if attrs != nil { // symlink modes are meaningless on Linux
		a := *attrs
		a.Valid &^= fsadapters.SetMode
		rest = &a
	}
	return fs.finishNew(cred, r, &da, name, fd, fsadapters.TypeSymlink, rest, false)
}

// Mknod implements fsadapters.FS.
func (fs *FS) Mknod(ctx context.Context, cred *fsadapters.Cred, dir fsadapters.FileHandle, name string, typ fsadapters.FileType, major, minor uint32, attrs *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	var ifmt uint32
	var dev uint64
	switch typ {
	case fsadapters.TypeFIFO:
		ifmt = unix.S_IFIFO
	case fsadapters.TypeSocket:
		ifmt = unix.S_IFSOCK
	case fsadapters.TypeChar, fsadapters.TypeBlock:
		if cred.UID != 0 { // CAP_MKNOD
			return nil, fsadapters.Attr{}, unix.EPERM
		}
		ifmt = unix.S_IFCHR
		if typ == fsadapters.TypeBlock {
			ifmt = unix.S_IFBLK
		}
		dev = unix.Mkdev(major, minor)
	default:
		return nil, fsadapters.Attr{}, unix.EINVAL
	}
	r, da, err := fs.parentFor(cred, dir, name)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	defer fs.release(r)
	if err := unix.Mknodat(r.fd, name, ifmt|0o600, int(dev)); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	fd, err := openChild(r.fd, name)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	return fs.finishNew(cred, r, &da, name, fd, typ, attrs, false)
}

// Link implements fsadapters.FS.
func (fs *FS) Link(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, dir fsadapters.FileHandle, name string) error {
	src, a, err := fs.resolve(fh)
	if err != nil {
		return err
	}
	defer fs.release(src)
	if a.Type == fsadapters.TypeDir {
		return unix.EPERM
	}
	r, _, err := fs.parentFor(cred, dir, name)
	if err != nil {
		return err
	}
	defer fs.release(r)
	// AT_EMPTY_PATH links the O_PATH fd itself (needs CAP_DAC_READ_SEARCH).
	return unix.Linkat(src.fd, "", r.fd, name, unix.AT_EMPTY_PATH)
}

// stickyDenied is the sticky-directory rule of may_delete(): in a sticky
// directory only root, the directory owner or the file owner may remove or
// rename an entry.
func stickyDenied(cred *fsadapters.Cred, da *fsadapters.Attr, st *unix.Statx_t) bool {
	return da.Mode&unix.S_ISVTX != 0 && cred.UID != 0 && cred.UID != da.UID && cred.UID != st.Uid
}

// handleOf returns the cache key of name in dirfd, or "" (for eviction).
func (fs *FS) handleOf(dirfd int, name string) string {
	kh, _, err := unix.NameToHandleAt(dirfd, name, 0)
	if err != nil {
		return ""
	}
	return string(fs.encode(kh))
}

// Remove implements fsadapters.FS.
func (fs *FS) Remove(ctx context.Context, cred *fsadapters.Cred, dir fsadapters.FileHandle, name string) error {
	r, da, err := fs.parentFor(cred, dir, name)
	if err != nil {
		return err
	}
	defer fs.release(r)
	var st unix.Statx_t
	if err := unix.Statx(r.fd, name, unix.AT_SYMLINK_NOFOLLOW, statxMask, &st); err != nil {
		return err
	}
	if stickyDenied(cred, &da, &st) {
		return unix.EPERM
	}
	key := fs.handleOf(r.fd, name)
	flag := 0
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		flag = unix.AT_REMOVEDIR
	}
	if err := unix.Unlinkat(r.fd, name, flag); err != nil {
		return err
	}
	// Drop our cached fd so it does not pin the inode; a later use of the
	// handle reopens it and gets ESTALE if it is gone (or works if other
	// links remain).
	if key != "" {
		fs.cache.remove(key)
	}
	return nil
}

// Rename implements fsadapters.FS.
func (fs *FS) Rename(ctx context.Context, cred *fsadapters.Cred, srcDir fsadapters.FileHandle, srcName string, dstDir fsadapters.FileHandle, dstName string, noReplace bool) error {
	sr, sda, err := fs.parentFor(cred, srcDir, srcName)
	if err != nil {
		return err
	}
	defer fs.release(sr)
	dr, dda, err := fs.parentFor(cred, dstDir, dstName)
	if err != nil {
		return err
	}
	defer fs.release(dr)
	var sst, dst unix.Statx_t
	if err := unix.Statx(sr.fd, srcName, unix.AT_SYMLINK_NOFOLLOW, statxMask, &sst); err != nil {
		return err
	}
	if stickyDenied(cred, &sda, &sst) {
		return unix.EPERM
	}
	// Moving a directory to a new parent rewrites its "..": needs write
	// permission on it (may_rename in fs/namei.c).
	if sst.Mode&unix.S_IFMT == unix.S_IFDIR && sda.FileID != dda.FileID {
		sa := attrFromStatx(&sst)
		if err := fs.checkAccessAt(sr.fd, srcName, &sa, cred, fsadapters.MayWrite); err != nil {
			return err
		}
	}
	var victim string
	err = unix.Statx(dr.fd, dstName, unix.AT_SYMLINK_NOFOLLOW, statxMask, &dst)
	if err == nil {
		if noReplace {
			return unix.EEXIST
		}
		if stickyDenied(cred, &dda, &dst) {
			return unix.EPERM
		}
		if dst.Ino != sst.Ino {
			victim = fs.handleOf(dr.fd, dstName)
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return err
	}
	var flags uint
	if noReplace {
		flags = unix.RENAME_NOREPLACE
	}
	if err := unix.Renameat2(sr.fd, srcName, dr.fd, dstName, flags); err != nil {
		return err
	}
	if victim != "" {
		fs.cache.remove(victim)
	}
	return nil
}
