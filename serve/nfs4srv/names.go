package nfs4srv

import (
	"bytes"
	"os/user"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// maxNameLen is the maxname attribute we advertise (attrs.go).
const maxNameLen = 255

// checkName validates a component4 for any namespace op (RFC 7530 §12.7,
// RFC 8881 §14.5): empty or not UTF-8 → NFS4ERR_INVAL, longer than maxname →
// NFS4ERR_NAMETOOLONG, "." / ".." → NFS4ERR_BADNAME, '/' or NUL (which a
// POSIX backend cannot store) → NFS4ERR_BADCHAR. pynfs (LOOK7/LOOK8, CR14,
// RNM/RM tests) accepts exactly these codes.
func checkName(b []byte) nfs4.Status {
	switch {
	case len(b) == 0:
		return nfs4.ErrInval
	case len(b) > maxNameLen:
		return nfs4.ErrNameTooLong
	case !validUTF8(b):
		return nfs4.ErrInval
	case len(b) <= 2 && (string(b) == "." || string(b) == ".."):
		return nfs4.ErrBadName
	case bytes.IndexByte(b, '/') >= 0 || bytes.IndexByte(b, 0) >= 0:
		return nfs4.ErrBadChar
	}
	return nfs4.OK
}

// validUTF8 reports whether b is UTF-8 without Unicode noncharacters
// (U+FDD0..U+FDEF, U+xFFFE/U+xFFFF): pynfs LOOK7/RNM8/RM5 send U+FFFE and
// expect NFS4ERR_INVAL (RFC 7530 §12.7: the server may reject such names).
func validUTF8(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r&0xfffe == 0xfffe || (r >= 0xfdd0 && r <= 0xfdef) {
			return false
		}
	}
	return true
}

// notDirStatus is the error for a current filehandle that must be a
// directory but is of type t: NFS4ERR_SYMLINK for a symlink, else
// NFS4ERR_NOTDIR (RFC 7530 §13.1.2.7, RFC 8881 §15.1.2.9).
func notDirStatus(t fsadapters.FileType) nfs4.Status {
	if t == fsadapters.TypeSymlink {
		return nfs4.ErrSymlink
	}
	return nfs4.ErrNotDir
}

// curAttr returns the attributes of the current filehandle.
func (c *compound) curAttr() (fsadapters.Attr, nfs4.Status) {
	a, err := c.fs().GetAttr(c.ctx, c.cur.h)
	return a, statusOf(err)
}

// curDir returns the attributes of the current filehandle, which must be a
// directory.
func (c *compound) curDir() (fsadapters.Attr, nfs4.Status) {
	a, st := c.curAttr()
	if st == nfs4.OK && a.Type != fsadapters.TypeDir {
		st = notDirStatus(a.Type)
	}
	return a, st
}

// clearCurSID forgets the 4.1 current stateid when an op replaces the
// current filehandle (RFC 8881 §16.2.3.1.2).
func (c *compound) clearCurSID() {
	c.curSID, c.haveCurSID = nfs4.StateID{}, false
}

// ownerCache maps owner / owner_group names to ids (RFC 7530 §5.9). Lookups
// of the user database are slow (NSS), and a client names the same few
// principals over and over.
var ownerCache struct {
	sync.Mutex
	users, groups map[string]uint32
}

const maxOwnerCache = 4096

// parseOwner resolves an owner (group false) or owner_group (group true)
// string: the numeric form "1000", or "name@domain" / "name" looked up in
// the local user or group database (the domain is not checked: AUTH_SYS
// ids are local anyway). Empty → NFS4ERR_INVAL (pynfs SATT16/17); anything
// unresolvable → NFS4ERR_BADOWNER (RFC 7530 §16.32.5).
func parseOwner(s []byte, group bool) (uint32, nfs4.Status) {
	if len(s) == 0 {
		return 0, nfs4.ErrInval
	}
	if id, ok := nfs4.ParseID(s); ok {
		return id, nfs4.OK
	}
	if !validUTF8(s) {
		return 0, nfs4.ErrInval
	}
	name := s
	if i := bytes.IndexByte(s, '@'); i >= 0 {
		name = s[:i]
	}
	if len(name) == 0 {
		return 0, nfs4.ErrBadOwner
	}
	ownerCache.Lock()
	m := ownerCache.users
	if group {
		m = ownerCache.groups
	}
	id, ok := m[string(name)]
	ownerCache.Unlock()
	if ok {
		return id, nfs4.OK
	}
	var idStr string
	if group {
		g, err := user.LookupGroup(string(name))
		if err != nil {
			return 0, nfs4.ErrBadOwner
		}
		idStr = g.Gid
	} else {
		u, err := user.Lookup(string(name))
		if err != nil {
			return 0, nfs4.ErrBadOwner
		}
		idStr = u.Uid
	}
	v, err := strconv.ParseUint(idStr, 10, 32)
	if err != nil {
		return 0, nfs4.ErrBadOwner
	}
	ownerCache.Lock()
	if ownerCache.users == nil {
		ownerCache.users, ownerCache.groups = map[string]uint32{}, map[string]uint32{}
	}
	m = ownerCache.users
	if group {
		m = ownerCache.groups
	}
	if len(m) >= maxOwnerCache {
		clear(m)
	}
	m[string(name)] = uint32(v)
	ownerCache.Unlock()
	return uint32(v), nfs4.OK
}
