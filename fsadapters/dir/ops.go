package dir

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// openChild opens name in dirfd as O_PATH without following a trailing
// symlink; openat2 refuses anything that would leave the directory
// (RESOLVE_BENEATH), magic links, symlinks and mount crossings.
func openChild(dirfd int, name string) (int, error) {
	return unix.Openat2(dirfd, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: resolveFlags,
	})
}

// adopt mints the handle of fd (an O_PATH fd known to lie beneath the
// export) and moves fd into the cache.
func (fs *FS) adopt(fd int) (fsadapters.FileHandle, fsadapters.Attr, error) {
	var st unix.Statx_t
	if err := statxFd(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fsadapters.Attr{}, err
	}
	if unix.Mkdev(st.Dev_major, st.Dev_minor) != fs.rootDev {
		unix.Close(fd)
		return nil, fsadapters.Attr{}, unix.EXDEV
	}
	fh, err := fs.mint(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fsadapters.Attr{}, err
	}
	if string(fh) == string(fs.rootFH) {
		unix.Close(fd)
	} else {
		fs.cache.release(fs.cache.add(string(fh), fd))
	}
	return fh, attrFromStatx(&st), nil
}

func (fs *FS) resolveDir(fh fsadapters.FileHandle) (ref, fsadapters.Attr, error) {
	r, a, err := fs.resolve(fh)
	if err == nil && a.Type != fsadapters.TypeDir {
		fs.release(r)
		return ref{}, a, unix.ENOTDIR
	}
	return r, a, err
}

// GetAttr implements fsadapters.FS.
func (fs *FS) GetAttr(ctx context.Context, fh fsadapters.FileHandle) (fsadapters.Attr, error) {
	r, a, err := fs.resolve(fh)
	if err != nil {
		return a, err
	}
	fs.release(r)
	return a, nil
}

// Lookup implements fsadapters.FS.
func (fs *FS) Lookup(ctx context.Context, cred *fsadapters.Cred, dir fsadapters.FileHandle, name string) (fsadapters.FileHandle, fsadapters.Attr, error) {
	if err := checkName(name); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	r, da, err := fs.resolveDir(dir)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	defer fs.release(r)
	if err := fs.checkAccess(r.fd, &da, cred, fsadapters.MayExec); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	fd, err := openChild(r.fd, name)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	return fs.adopt(fd)
}

// LookupParent implements fsadapters.FS.
func (fs *FS) LookupParent(ctx context.Context, cred *fsadapters.Cred, dir fsadapters.FileHandle) (fsadapters.FileHandle, fsadapters.Attr, error) {
	r, da, err := fs.resolveDir(dir)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	defer fs.release(r)
	if da.FileID == fs.rootIno {
		return nil, fsadapters.Attr{}, unix.ENOENT
	}
	if err := fs.checkAccess(r.fd, &da, cred, fsadapters.MayExec); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	// RESOLVE_BENEATH would refuse ".." outright, so open it plainly and
	// check the result is still inside the export (a local rename may have
	// moved dir out since it was resolved).
	p, err := unix.Openat(r.fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	var st unix.Statx_t
	if err := statxFd(p, &st); err != nil {
		unix.Close(p)
		return nil, fsadapters.Attr{}, err
	}
	if !fs.inExport(p, &st) {
		unix.Close(p)
		return nil, fsadapters.Attr{}, fsadapters.ErrStale
	}
	return fs.adopt(p)
}

// Readlink implements fsadapters.FS.
func (fs *FS) Readlink(ctx context.Context, fh fsadapters.FileHandle) (string, error) {
	r, a, err := fs.resolve(fh)
	if err != nil {
		return "", err
	}
	defer fs.release(r)
	if a.Type != fsadapters.TypeSymlink {
		return "", unix.EINVAL
	}
	for size := 4096; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(r.fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < size || size >= 1<<16 {
			return string(buf[:n]), nil
		}
	}
}

// StatFS implements fsadapters.FS.
func (fs *FS) StatFS(ctx context.Context, fh fsadapters.FileHandle) (fsadapters.StatFS, error) {
	r, _, err := fs.resolve(fh)
	if err != nil {
		return fsadapters.StatFS{}, err
	}
	defer fs.release(r)
	var s unix.Statfs_t
	if err := unix.Fstatfs(r.fd, &s); err != nil {
		return fsadapters.StatFS{}, err
	}
	bs := uint64(s.Frsize)
	if bs == 0 {
		bs = uint64(s.Bsize)
	}
	nl := uint32(s.Namelen)
	if nl == 0 || nl > maxName {
		nl = maxName
	}
	return fsadapters.StatFS{
		TotalBytes: s.Blocks * bs, FreeBytes: s.Bfree * bs, AvailBytes: s.Bavail * bs,
		TotalFiles: s.Files, FreeFiles: s.Ffree, AvailFiles: s.Ffree,
		MaxName: nl,
	}, nil
}

// SetAttr implements fsadapters.FS.
func (fs *FS) SetAttr(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, sa *fsadapters.SetAttr) (fsadapters.Attr, error) {
	r, a, err := fs.resolve(fh)
	if err != nil {
		return a, err
	}
	defer fs.release(r)
	if err := fs.setattr(cred, r.fd, fh, &a, sa); err != nil {
		return fsadapters.Attr{}, err
	}
	var st unix.Statx_t
	if err := statxFd(r.fd, &st); err != nil {
		return fsadapters.Attr{}, err
	}
	return attrFromStatx(&st), nil
}

// setattr checks cred against a (the object's current attributes) and
// applies sa to the object open at fd, in the order chown, chmod, size,
// times: chown clears setuid/setgid on non-directories (the kernel does
// that even for root), so an explicit mode must come after it.
func (fs *FS) setattr(cred *fsadapters.Cred, fd int, fh fsadapters.FileHandle, a *fsadapters.Attr, sa *fsadapters.SetAttr) error {
	v := sa.Valid
	owner := cred.UID == 0 || cred.UID == a.UID
	// Permission checks first, so a refused request changes nothing.
	if v&fsadapters.SetSize != 0 {
		switch a.Type {
		case fsadapters.TypeRegular:
		case fsadapters.TypeDir:
			return unix.EISDIR
		default:
			return unix.EINVAL
		}
		if err := fs.checkAccess(fd, a, cred, fsadapters.MayWrite); err != nil {
			return err
		}
	}
	if v&fsadapters.SetMode != 0 && !owner {
		return unix.EPERM
	}
	if v&fsadapters.SetUID != 0 && sa.UID != a.UID && cred.UID != 0 {
		return unix.EPERM
	}
	if v&fsadapters.SetGID != 0 && sa.GID != a.GID && cred.UID != 0 && (!owner || !cred.InGroup(sa.GID)) {
		return unix.EPERM
	}
	if v&(fsadapters.SetAtime|fsadapters.SetMtime) != 0 && !owner {
		return unix.EPERM
	}
	if v&(fsadapters.SetAtimeNow|fsadapters.SetMtimeNow) != 0 && !owner {
		if err := fs.checkAccess(fd, a, cred, fsadapters.MayWrite); err != nil {
			return err
		}
	}

	gid := a.GID
	if v&(fsadapters.SetUID|fsadapters.SetGID) != 0 {
		uid, g := -1, -1
		if v&fsadapters.SetUID != 0 {
			uid = int(sa.UID)
		}
		if v&fsadapters.SetGID != 0 {
			g, gid = int(sa.GID), sa.GID
		}
		if err := unix.Fchownat(fd, "", uid, g, unix.AT_EMPTY_PATH); err != nil {
			return err
		}
	}
	if v&fsadapters.SetMode != 0 {
		mode := sa.Mode & 0o7777
		// As setattr_prepare(): a caller outside the file's group cannot
		// set setgid (we run as root, so the kernel would not strip it).
		if cred.UID != 0 && !cred.InGroup(gid) {
			mode &^= unix.S_ISGID
		}
		if err := chmodFd(fd, mode, a.Type); err != nil {
			return err
		}
	}
	if v&fsadapters.SetSize != 0 {
		f, err := fs.openIO(fh, unix.O_WRONLY)
		if err != nil {
			return err
		}
		err = unix.Ftruncate(f, int64(sa.Size))
		unix.Close(f)
		if err != nil {
			return err
		}
	}
	if v&(fsadapters.SetAtime|fsadapters.SetAtimeNow|fsadapters.SetMtime|fsadapters.SetMtimeNow) != 0 {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		switch {
		case v&fsadapters.SetAtimeNow != 0:
			ts[0].Nsec = unix.UTIME_NOW
		case v&fsadapters.SetAtime != 0:
			ts[0] = unix.Timespec{Sec: sa.Atime.Unix(), Nsec: int64(sa.Atime.Nanosecond())}
		}
		switch {
		case v&fsadapters.SetMtimeNow != 0:
			ts[1].Nsec = unix.UTIME_NOW
		case v&fsadapters.SetMtime != 0:
			ts[1] = unix.Timespec{Sec: sa.Mtime.Unix(), Nsec: int64(sa.Mtime.Nanosecond())}
		}
		err := unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
		if errors.Is(err, unix.EINVAL) && a.Type != fsadapters.TypeSymlink {
			// Kernels before 5.8 lack AT_EMPTY_PATH here; the /proc link
			// of our own fd reaches the same inode.
			err = unix.UtimesNanoAt(unix.AT_FDCWD, procPath(fd), ts, 0)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// chmodFd changes the mode of the object at an O_PATH fd: fchmodat2 with
// AT_EMPTY_PATH (Linux 6.6), else chmod through /proc (not for symlinks,
// which Linux cannot chmod anyway).
func chmodFd(fd int, mode uint32, typ fsadapters.FileType) error {
	err := unix.Fchmodat(fd, "", mode, unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.EOPNOTSUPP) && typ != fsadapters.TypeSymlink {
		err = unix.Fchmodat(unix.AT_FDCWD, procPath(fd), mode, 0)
	}
	return err
}

// openIO opens the object named by a (resolved, hence verified) handle for
// I/O. open_by_handle_at never follows symlinks.
func (fs *FS) openIO(fh fsadapters.FileHandle, flags int) (int, error) {
	kh, err := fs.decode(fh)
	if err != nil {
		return -1, err
	}
	fd, err := unix.OpenByHandleAt(fs.mountFd, kh, flags|unix.O_CLOEXEC|unix.O_NOFOLLOW)
	if errors.Is(err, unix.ESTALE) {
		return -1, fsadapters.ErrStale
	}
	return fd, err
}

// Open implements fsadapters.FS.
func (fs *FS) Open(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, flags fsadapters.OpenFlags) (fsadapters.File, error) {
	r, a, err := fs.resolve(fh)
	if err != nil {
		return nil, err
	}
	if err := fsadapters.CheckOpenType(a.Type); err != nil {
		fs.release(r)
		return nil, err
	}
	oflags := unix.O_RDONLY
	switch flags & (fsadapters.OpenRead | fsadapters.OpenWrite) {
	case fsadapters.OpenWrite:
		oflags = unix.O_WRONLY
	case fsadapters.OpenRead | fsadapters.OpenWrite:
		oflags = unix.O_RDWR
	}
	err = fs.checkAccess(r.fd, &a, cred, fsadapters.OpenAccess(flags))
	fs.release(r)
	if err != nil {
		return nil, err
	}
	fd, err := fs.openIO(fh, oflags)
	if err != nil {
		return nil, err
	}
	return &File{fd: fd}, nil
}
