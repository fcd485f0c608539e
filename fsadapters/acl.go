package fsadapters

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"

	"golang.org/x/sys/unix"
)

// POSIX draft (1003.1e) ACLs, the model Linux filesystems store: an access
// ACL that decides permission and, on directories, a default ACL that new
// objects inherit. The NFSv4 server maps its ACL attribute to and from this
// model as knfsd does (draft-ietf-nfsv4-acl-mapping).

// ACLTag is an entry's tag (acl_tag_t; values as in linux/posix_acl.h and
// the xattr format).
type ACLTag uint16

const (
	ACLUserObj  ACLTag = 0x01 // the owner; its perm is the mode's owner bits
	ACLUser     ACLTag = 0x02 // a named user
	ACLGroupObj ACLTag = 0x04 // the owning group
	ACLGroup    ACLTag = 0x08 // a named group
	ACLMask     ACLTag = 0x10 // upper bound for named entries and the group class
	ACLOther    ACLTag = 0x20 // everyone else; its perm is the mode's other bits
)

// ACLEntry is one entry. Perm holds MayRead|MayWrite|MayExec; ID is the
// uid/gid of ACLUser/ACLGroup entries and ignored for the others.
type ACLEntry struct {
	Tag  ACLTag
	Perm uint16
	ID   uint32
}

// ACL is an object's access and default ACL. Access is never empty for
// an object (without an extended ACL it is the three entries that the
// mode implies, MinimalACL). Default is nil when the directory has none,
// and always nil for non-directories.
type ACL struct {
	Access  []ACLEntry
	Default []ACLEntry
}

// ACLer is implemented by backends that store POSIX ACLs and enforce them.
// The NFSv4 server offers the acl attribute only on such backends.
type ACLer interface {
	// GetACL returns the object's ACLs (no permission needed, like
	// GETATTR).
	GetACL(ctx context.Context, cred *Cred, fh FileHandle) (*ACL, error)
	// SetACL replaces both ACLs: only the owner or root may
	// (unix.EPERM); invalid entries are unix.EINVAL (CheckACL); a
	// default ACL on a non-directory is unix.EINVAL. Setting an access
	// ACL sets the mode's permission bits from it (owner, mask or group,
	// other) as setxattr(system.posix_acl_access) does on Linux.
	SetACL(ctx context.Context, cred *Cred, fh FileHandle, acl *ACL) error
	// Access returns which of want (MayRead|MayWrite|MayExec) cred is
	// granted on fh, whose current attributes are a, by AccessAllowedACL.
	Access(ctx context.Context, cred *Cred, fh FileHandle, a *Attr, want uint32) (uint32, error)
	// ACLSupport reports whether this instance stores ACLs (the
	// filesystem under it may lack them).
	ACLSupport() bool
}

// ACLerOf returns fs as an ACLer if it implements one and stores ACLs.
func ACLerOf(fs FS) (ACLer, bool) {
	al, ok := fs.(ACLer)
	if !ok || !al.ACLSupport() {
		return nil, false
	}
	return al, true
}

// Access is the permission answer of fs for cred on fh (attributes a):
// the backend's ACL evaluation when it has ACLs, else the mode bits.
// Each bit of the result is judged on its own, as ACCESS asks.
func Access(ctx context.Context, fs FS, cred *Cred, fh FileHandle, a *Attr, want uint32) (uint32, error) {
	if al, ok := ACLerOf(fs); ok && ACLMatters(a, cred) {
		return al.Access(ctx, cred, fh, a, want)
	}
	return AccessAllowed(a, cred, want), nil
}

// ACLMatters reports whether an access ACL can change the answer for cred
// on a: not for root (capabilities decide) and not for the owner (whose
// entry is the mode's owner bits). Backends read the ACL only when it
// does, so the common cases cost no extra syscall.
func ACLMatters(a *Attr, cred *Cred) bool {
	return cred.UID != 0 && cred.UID != a.UID
}

// MinimalACL is the access ACL that mode alone expresses.
func MinimalACL(mode uint32) []ACLEntry {
	return []ACLEntry{
		{Tag: ACLUserObj, Perm: uint16(mode >> 6 & 7)},
		{Tag: ACLGroupObj, Perm: uint16(mode >> 3 & 7)},
		{Tag: ACLOther, Perm: uint16(mode & 7)},
	}
}

// aclPermits is the POSIX.1e access check (as Linux posix_acl_permission):
// the owner entry; else a matching named user, limited by the mask; else
// any matching group entry (owning or named) that grants all of want,
// limited by the mask — a caller in some matching group but granted by
// none is refused, not judged as other; else other. acl must be valid.
func aclPermits(acl []ACLEntry, a *Attr, cred *Cred, want uint32) bool {
	mask := uint16(7)
	for _, e := range acl {
		if e.Tag == ACLMask {
			mask = e.Perm
		}
	}
	w := uint16(want)
	inGroup := false
	for _, e := range acl {
		switch e.Tag {
		case ACLUserObj:
			if cred.UID == a.UID {
				return e.Perm&w == w
			}
		case ACLUser:
			if cred.UID == e.ID {
				return e.Perm&mask&w == w
			}
		case ACLGroupObj, ACLGroup:
			gid := e.ID
			if e.Tag == ACLGroupObj {
				gid = a.GID
			}
			if cred.InGroup(gid) {
				inGroup = true
				if e.Perm&mask&w == w {
					return true
				}
			}
		case ACLOther:
			return !inGroup && e.Perm&w == w
		}
	}
	return false
}

// AccessAllowedACL is AccessAllowed for an object whose access ACL is acl
// (nil: none, the mode decides). Root keeps its overrides; each bit of
// want is judged separately (a caller may get read from one group and
// write from another, as knfsd's per-bit ACCESS checks answer).
func AccessAllowedACL(a *Attr, acl []ACLEntry, cred *Cred, want uint32) uint32 {
	if acl == nil || !ACLMatters(a, cred) {
		return AccessAllowed(a, cred, want)
	}
	var got uint32
	for _, b := range []uint32{MayRead, MayWrite, MayExec} {
		if want&b != 0 && aclPermits(acl, a, cred, b) {
			got |= b
		}
	}
	return got
}

// CheckAccessACL returns unix.EACCES unless cred has all of want on a
// under acl, judged together as Linux does for one system call.
func CheckAccessACL(a *Attr, acl []ACLEntry, cred *Cred, want uint32) error {
	if acl == nil || !ACLMatters(a, cred) {
		return CheckAccess(a, cred, want)
	}
	if !aclPermits(acl, a, cred, want) {
		return unix.EACCES
	}
	return nil
}

// SortACL puts entries in the canonical order the kernel requires (by tag,
// then id).
func SortACL(acl []ACLEntry) {
	slices.SortStableFunc(acl, func(x, y ACLEntry) int {
		if x.Tag != y.Tag {
			return int(x.Tag) - int(y.Tag)
		}
		if x.Tag == ACLUser || x.Tag == ACLGroup {
			switch {
			case x.ID < y.ID:
				return -1
			case x.ID > y.ID:
				return 1
			}
		}
		return 0
	})
}

// CheckACL validates a sorted ACL as posix_acl_valid does, and also
// refuses duplicate named entries: exactly one owner, owning group and
// other entry; a mask, required when there are named entries, at most
// once; perms within rwx; known tags only.
func CheckACL(acl []ACLEntry) error {
	var count [0x21]int
	for i, e := range acl {
		if e.Perm&^7 != 0 {
			return unix.EINVAL
		}
		switch e.Tag {
		case ACLUserObj, ACLUser, ACLGroupObj, ACLGroup, ACLMask, ACLOther:
		default:
			return unix.EINVAL
		}
		if i > 0 {
			p := acl[i-1]
			if p.Tag > e.Tag || (p.Tag == e.Tag && (e.Tag != ACLUser && e.Tag != ACLGroup || p.ID >= e.ID)) {
				return unix.EINVAL // out of order or duplicated
			}
		}
		count[e.Tag]++
	}
	if count[ACLUserObj] != 1 || count[ACLGroupObj] != 1 || count[ACLOther] != 1 {
		return unix.EINVAL
	}
	if count[ACLUser]+count[ACLGroup] > 0 && count[ACLMask] != 1 {
		return unix.EINVAL
	}
	return nil
}

// IsMinimalACL reports whether acl says no more than a mode does.
func IsMinimalACL(acl []ACLEntry) bool {
	for _, e := range acl {
		if e.Tag != ACLUserObj && e.Tag != ACLGroupObj && e.Tag != ACLOther {
			return false
		}
	}
	return true
}

// ACLModeBits returns the permission bits (0777) a valid access ACL gives
// the mode: owner entry, mask (or owning group without a mask), other.
func ACLModeBits(acl []ACLEntry) uint32 {
	var u, g, o, m uint32
	hasMask := false
	for _, e := range acl {
		switch e.Tag {
		case ACLUserObj:
			u = uint32(e.Perm)
		case ACLGroupObj:
			g = uint32(e.Perm)
		case ACLMask:
			m, hasMask = uint32(e.Perm), true
		case ACLOther:
			o = uint32(e.Perm)
		}
	}
	if hasMask {
		g = m
	}
	return u<<6 | g<<3 | o
}

// The Linux xattr form (system.posix_acl_access / _default,
// include/uapi/linux/posix_acl_xattr.h): a little-endian u32 version 2,
// then entries {u16 tag, u16 perm, u32 id}; id is ACL_UNDEFINED_ID
// (0xffffffff) for entries without one.
const (
	XattrACLAccess  = "system.posix_acl_access"
	XattrACLDefault = "system.posix_acl_default"

	aclXattrVersion = 2
	aclUndefinedID  = 0xffffffff
	aclEntrySize    = 8
	// MaxACLEntries bounds an ACL (Linux allows what fits in
	// XATTR_SIZE_MAX; ext4 stores far fewer, about 500 in a block).
	MaxACLEntries = (MaxXattrSize - 4) / aclEntrySize
)

var errACLXattr = errors.New("malformed POSIX ACL xattr")

// EncodeACLXattr returns the xattr value of acl (which should be sorted).
func EncodeACLXattr(acl []ACLEntry) []byte {
	b := make([]byte, 4, 4+aclEntrySize*len(acl))
	binary.LittleEndian.PutUint32(b, aclXattrVersion)
	for _, e := range acl {
		id := uint32(aclUndefinedID)
		if e.Tag == ACLUser || e.Tag == ACLGroup {
			id = e.ID
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(e.Tag))
		b = binary.LittleEndian.AppendUint16(b, e.Perm)
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	return b
}

// DecodeACLXattr parses an xattr value and validates it (CheckACL); any
// defect is an error, never a panic. Ids of unnamed entries read as 0.
func DecodeACLXattr(b []byte) ([]ACLEntry, error) {
	if len(b) < 4 || (len(b)-4)%aclEntrySize != 0 || len(b) > 4+MaxACLEntries*aclEntrySize ||
		binary.LittleEndian.Uint32(b) != aclXattrVersion {
		return nil, errACLXattr
	}
	n := (len(b) - 4) / aclEntrySize
	acl := make([]ACLEntry, n)
	for i := range acl {
		p := b[4+i*aclEntrySize:]
		e := ACLEntry{
			Tag:  ACLTag(binary.LittleEndian.Uint16(p)),
			Perm: binary.LittleEndian.Uint16(p[2:]),
		}
		if e.Tag == ACLUser || e.Tag == ACLGroup {
			e.ID = binary.LittleEndian.Uint32(p[4:])
		}
		acl[i] = e
	}
	if CheckACL(acl) != nil {
		return nil, errACLXattr
	}
	return acl, nil
}

// InheritedMode is the mode a new object gets in a directory whose
// default ACL is def (POSIX.1e, Linux posix_acl_create_masq): the
// requested permission bits limited by the default's owner, mask (or
// owning group) and other entries; the umask does not apply. Special bits
// (07000) pass through.
func InheritedMode(def []ACLEntry, mode uint32) uint32 {
	return mode&0o7000 | mode&ACLModeBits(def)
}
