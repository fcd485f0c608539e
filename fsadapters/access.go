package fsadapters

import "golang.org/x/sys/unix"

// Access bits for CheckAccess, as in access(2).
const (
	MayRead  = 4
	MayWrite = 2
	MayExec  = 1
)

// AccessAllowed returns which of the want bits (MayRead|MayWrite|MayExec)
// the POSIX permission bits of a grant cred. Root may read and write
// anything and execute anything that has at least one x bit (or is a
// directory), as the Linux VFS does.
func AccessAllowed(a *Attr, cred *Cred, want uint32) uint32 {
	if cred.UID == 0 {
		got := want & (MayRead | MayWrite)
		if want&MayExec != 0 && (a.Type == TypeDir || a.Mode&0o111 != 0) {
			got |= MayExec
		}
		return got
	}
	var bits uint32
	switch {
	case cred.UID == a.UID:
		bits = a.Mode >> 6 & 7
	case cred.InGroup(a.GID):
		bits = a.Mode >> 3 & 7
	default:
		bits = a.Mode & 7
	}
	return bits & want
}

// CheckAccess returns unix.EACCES unless cred has every bit of want on a.
func CheckAccess(a *Attr, cred *Cred, want uint32) error {
	if AccessAllowed(a, cred, want) != want {
		return unix.EACCES
	}
	return nil
}

// OpenAccess returns the permission bits Open needs for flags. An open
// with neither flag is a read open, as O_RDONLY is.
func OpenAccess(flags OpenFlags) uint32 {
	var want uint32
	if flags&OpenRead != 0 || flags&(OpenRead|OpenWrite) == 0 {
		want |= MayRead
	}
	if flags&OpenWrite != 0 {
		want |= MayWrite
	}
	return want
}

// CheckOpenType is the contract's answer to Open on an object of type t:
// only regular files open; directories are EISDIR, symlinks ELOOP (never
// followed), anything else EINVAL.
func CheckOpenType(t FileType) error {
	switch t {
	case TypeRegular:
		return nil
	case TypeDir:
		return unix.EISDIR
	case TypeSymlink:
		return unix.ELOOP
	}
	return unix.EINVAL
}

// CheckCreateOver is the contract's answer to a non-exclusive Create whose
// name exists with type t: a regular file is opened (nil), a directory is
// EISDIR, anything else EEXIST.
func CheckCreateOver(t FileType) error {
	switch t {
	case TypeRegular:
		return nil
	case TypeDir:
		return unix.EISDIR
	}
	return unix.EEXIST
}
