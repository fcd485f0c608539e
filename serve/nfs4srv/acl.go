package nfs4srv

import (
	"errors"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// The acl attribute (RFC 7530 §6, RFC 8881 §6) on backends that store
// POSIX draft ACLs (fsadapters.ACLer), mapped as the IETF draft "Mapping
// Between NFSv4 and Posix Draft ACLs" (draft-ietf-nfsv4-acl-mapping)
// describes and Linux knfsd does: aclsupport is ALLOW|DENY, GETATTR
// returns the POSIX ACL in the draft's canonical ALLOW/DENY form, and
// SETATTR accepts any ALLOW/DENY ACL and reduces it to the POSIX ACL that
// grants no more than it (bits POSIX cannot express are dropped); ACE
// types, flags or inheritance POSIX cannot hold are NFS4ERR_ATTRNOTSUPP,
// as knfsd answers for them (nfsd4_set_nfs4_acl maps the mapping's EINVAL
// to nfserr_attrnotsupp).

// aclSupport is the aclsupport value of exports with ACLs (RFC 7530
// §6.2.1.2): ALLOW and DENY ACEs, no AUDIT/ALARM.
const aclSupport = nfs4.ACL4SupportAllow | nfs4.ACL4SupportDeny

// withACL adds the acl attribute to a supported_attrs bitmap.
func withACL(b nfs4.Bitmap) nfs4.Bitmap {
	b = append(nfs4.Bitmap(nil), b...)
	b.Set(nfs4.AttrACL)
	return b
}

var (
	supportedAttrsACL   = withACL(supportedAttrs)
	supportedAttrs41ACL = withACL(supportedAttrs41)
	supportedAttrs42ACL = withACL(supportedAttrs42)
	settableAttrsACL    = withACL(settableAttrs)
)

// exportACLer returns the ACL interface of export ex's backend, if it has
// one and its filesystem stores ACLs.
func (c *compound) exportACLer(ex int) (fsadapters.ACLer, bool) {
	e := c.table().get(ex)
	if e == nil {
		return nil, false
	}
	return fsadapters.ACLerOf(e.fs)
}

// supportedIn is supported_attrs for export ex: acl only where the
// backend has ACLs.
func (c *compound) supportedIn(ex int) nfs4.Bitmap {
	if _, ok := c.exportACLer(ex); !ok {
		return c.supported()
	}
	switch {
	case c.minor >= 2:
		return supportedAttrs42ACL
	case c.minor >= 1:
		return supportedAttrs41ACL
	}
	return supportedAttrsACL
}

// Access mask bits each POSIX permission stands for (the draft's §3).
// Everyone may read attributes and the ACL; the owner may also change
// them. Write on a directory includes deleting entries.
const (
	aceAnyone   = nfs4.ACE4ReadAttributes | nfs4.ACE4ReadACL | nfs4.ACE4Synchronize
	aceOwner    = nfs4.ACE4WriteAttributes | nfs4.ACE4WriteACL
	aceRead     = nfs4.ACE4ReadData | nfs4.ACE4ReadNamedAttrs
	aceWrite    = nfs4.ACE4WriteData | nfs4.ACE4AppendData | nfs4.ACE4WriteNamedAttrs
	aceExec     = nfs4.ACE4Execute
	aceInherit  = nfs4.ACE4FileInherit | nfs4.ACE4DirectoryInherit
	aceKnownFlg = aceInherit | nfs4.ACE4InheritOnly | nfs4.ACE4IdentifierGroup
)

// posixMask is the acemask4 for POSIX perm bits (no anyone/owner bits).
func posixMask(perm uint16, dir bool) uint32 {
	var m uint32
	if perm&fsadapters.MayRead != 0 {
		m |= aceRead
	}
	if perm&fsadapters.MayWrite != 0 {
		m |= aceWrite
		if dir {
			m |= nfs4.ACE4DeleteChild
		}
	}
	if perm&fsadapters.MayExec != 0 {
		m |= aceExec
	}
	return m
}

// maskPerm is the POSIX perm an allowed acemask4 grants: read needs
// READ_DATA, write WRITE_DATA and APPEND_DATA (and DELETE_CHILD on a
// directory: POSIX write lets one delete entries), execute EXECUTE. A
// partial grant maps to nothing, so the POSIX ACL never grants more than
// the client's ACL did.
func maskPerm(m uint32, dir bool) uint16 {
	var p uint16
	if m&nfs4.ACE4ReadData != 0 {
		p |= fsadapters.MayRead
	}
	w := uint32(nfs4.ACE4WriteData | nfs4.ACE4AppendData)
	if dir {
		w |= nfs4.ACE4DeleteChild
	}
	if m&w == w {
		p |= fsadapters.MayWrite
	}
	if m&nfs4.ACE4Execute != 0 {
		p |= fsadapters.MayExec
	}
	return p
}

// nfs4ACL is the canonical NFSv4 form of a POSIX ACL (the draft's §4):
// the access ACL, then, on directories, the default ACL as inherit-only
// ACEs that files and directories inherit.
func nfs4ACL(acl *fsadapters.ACL, dir bool) []nfs4.ACE {
	out := appendPOSIXACEs(nil, acl.Access, dir, 0)
	if dir && len(acl.Default) > 0 {
		out = appendPOSIXACEs(out, acl.Default, dir, aceInherit|nfs4.ACE4InheritOnly)
	}
	return out
}

// appendPOSIXACEs appends the ACEs for one POSIX ACL. NFSv4 evaluates
// ACEs in order, the first to decide a bit wins, and a requester matches
// every ACE naming it (the owner matches EVERYONE@ too), so each ALLOW is
// preceded by the DENY of what a later ACE would otherwise grant:
//
//	OWNER@ deny/allow, each named user deny/allow (effective = perm & mask),
//	GROUP@ and named groups allow, then their denies, EVERYONE@ allow.
//
// Groups are allowed before any is denied because a user in several
// groups gets the union of their permissions.
func appendPOSIXACEs(out []nfs4.ACE, acl []fsadapters.ACLEntry, dir bool, flags uint32) []nfs4.ACE {
	mask := uint16(7)
	var owner, group, other uint16
	var users, groups []fsadapters.ACLEntry
	for _, e := range acl {
		switch e.Tag {
		case fsadapters.ACLUserObj:
			owner = e.Perm
		case fsadapters.ACLUser:
			users = append(users, e)
		case fsadapters.ACLGroupObj:
			group = e.Perm
		case fsadapters.ACLGroup:
			groups = append(groups, e)
		case fsadapters.ACLMask:
			mask = e.Perm
		case fsadapters.ACLOther:
			other = e.Perm
		}
	}
	group &= mask
	var usersAll, groupsAll uint16 = 0, group
	for i := range users {
		users[i].Perm &= mask
		usersAll |= users[i].Perm
	}
	for i := range groups {
		groups[i].Perm &= mask
		groupsAll |= groups[i].Perm
	}
	add := func(typ uint32, flg uint32, m uint32, who string) {
		out = append(out, nfs4.ACE{Type: typ, Flag: flags | flg, AccessMask: m, Who: []byte(who)})
	}
	deny := func(perm uint16, flg uint32, who string) {
		if perm&7 != 0 {
			add(nfs4.ACE4AccessDenied, flg, posixMask(perm&7, dir), who)
		}
	}
	id := func(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

	deny(^owner&(usersAll|groupsAll|other), 0, nfs4.WhoOwner)
	add(nfs4.ACE4AccessAllowed, 0, aceAnyone|aceOwner|posixMask(owner, dir), nfs4.WhoOwner)
	for _, u := range users {
		deny(^u.Perm&(groupsAll|other), 0, id(u.ID))
		add(nfs4.ACE4AccessAllowed, 0, aceAnyone|posixMask(u.Perm, dir), id(u.ID))
	}
	add(nfs4.ACE4AccessAllowed, nfs4.ACE4IdentifierGroup, aceAnyone|posixMask(group, dir), nfs4.WhoGroup)
	for _, g := range groups {
		add(nfs4.ACE4AccessAllowed, nfs4.ACE4IdentifierGroup, aceAnyone|posixMask(g.Perm, dir), id(g.ID))
	}
	deny(^group&other, nfs4.ACE4IdentifierGroup, nfs4.WhoGroup)
	for _, g := range groups {
		deny(^g.Perm&other, nfs4.ACE4IdentifierGroup, id(g.ID))
	}
	add(nfs4.ACE4AccessAllowed, 0, aceAnyone|posixMask(other, dir), nfs4.WhoEveryone)
	return out
}

// aceState is what the ACEs seen so far allow and deny one principal
// (first decision per bit wins, RFC 7530 §6.2.1).
type aceState struct{ allow, deny uint32 }

func (s *aceState) apply(allow bool, m uint32) {
	if allow {
		s.allow |= m &^ s.deny
	} else {
		s.deny |= m &^ s.allow
	}
}

// posixBuilder accumulates ACEs into the POSIX ACL that grants each
// principal at most what the NFSv4 ACL grants it, as in the draft's §5:
// a DENY to a group also binds the owner, other users and groups (any
// of whom may be members) and to a named user also the owner (who may
// have that uid); EVERYONE@ binds everyone. A named principal first seen
// starts from what EVERYONE@ ACEs have decided so far.
//
// other (the POSIX other entry) takes only EVERYONE@ ACEs; everyone is
// the template for named principals and also takes group denies (an
// unknown user may be in the group). Without the split a canonical
// "GROUP@ deny r, EVERYONE@ allow r" would lose other's read.
type posixBuilder struct {
	owner, group, other, everyone aceState
	users, groups                 map[uint32]*aceState
	used                          bool
}

func (b *posixBuilder) named(m map[uint32]*aceState, id uint32) *aceState {
	s := m[id]
	if s == nil {
		s = &aceState{b.everyone.allow, b.everyone.deny}
		m[id] = s
	}
	return s
}

func (b *posixBuilder) add(allow bool, kind int, id uint32, m uint32) {
	if b.users == nil {
		b.users, b.groups = map[uint32]*aceState{}, map[uint32]*aceState{}
	}
	b.used = true
	switch kind {
	case whoOwner:
		b.owner.apply(allow, m)
	case whoEveryone:
		b.other.apply(allow, m)
		b.all(allow, m)
	case whoGroup, whoNamedGroup:
		s := &b.group
		if kind == whoNamedGroup {
			s = b.named(b.groups, id)
		}
		s.apply(allow, m)
		if !allow {
			// What this group is denied is denied to all who may be in it.
			b.all(false, s.deny)
		}
	case whoNamedUser:
		s := b.named(b.users, id)
		s.apply(allow, m)
		if !allow {
			b.owner.apply(false, s.deny)
		}
	}
}

// entries returns the POSIX ACL (sorted).
func (b *posixBuilder) entries(dir bool) []fsadapters.ACLEntry {
	acl := []fsadapters.ACLEntry{
		{Tag: fsadapters.ACLUserObj, Perm: maskPerm(b.owner.allow, dir)},
		{Tag: fsadapters.ACLGroupObj, Perm: maskPerm(b.group.allow, dir)},
		{Tag: fsadapters.ACLOther, Perm: maskPerm(b.other.allow, dir)},
	}
	if len(b.users)+len(b.groups) == 0 {
		fsadapters.SortACL(acl)
		return acl
	}
	mask := acl[1].Perm // the mask is what the group class is granted
	for id, s := range b.users {
		p := maskPerm(s.allow, dir)
		mask |= p
		acl = append(acl, fsadapters.ACLEntry{Tag: fsadapters.ACLUser, Perm: p, ID: id})
	}
	for id, s := range b.groups {
		p := maskPerm(s.allow, dir)
		mask |= p
		acl = append(acl, fsadapters.ACLEntry{Tag: fsadapters.ACLGroup, Perm: p, ID: id})
	}
	acl = append(acl, fsadapters.ACLEntry{Tag: fsadapters.ACLMask, Perm: mask})
	fsadapters.SortACL(acl)
	return acl
}

// all applies an ACE to every principal but other.
func (b *posixBuilder) all(allow bool, m uint32) {
	b.owner.apply(allow, m)
	b.group.apply(allow, m)
	b.everyone.apply(allow, m)
	for _, u := range b.users {
		u.apply(allow, m)
	}
	for _, g := range b.groups {
		g.apply(allow, m)
	}
}

const (
	whoOwner = iota
	whoGroup
	whoEveryone
	whoNamedUser
	whoNamedGroup
)

// aceWho classifies an ACE's who (RFC 7530 §6.2.1.5): the special
// OWNER@/GROUP@/EVERYONE@, else a user or (ACE4_IDENTIFIER_GROUP) group
// named as owner/owner_group are (parseOwner: numeric or name@domain).
func aceWho(a *nfs4.ACE) (kind int, id uint32, st nfs4.Status) {
	switch string(a.Who) {
	case nfs4.WhoOwner:
		return whoOwner, 0, nfs4.OK
	case nfs4.WhoGroup:
		return whoGroup, 0, nfs4.OK
	case nfs4.WhoEveryone:
		return whoEveryone, 0, nfs4.OK
	}
	group := a.Flag&nfs4.ACE4IdentifierGroup != 0
	id, st = parseOwner(a.Who, group)
	if group {
		return whoNamedGroup, id, st
	}
	return whoNamedUser, id, st
}

// posixACL maps a client's NFSv4 ACL to the POSIX ACLs of an object
// (dir: a directory). AUDIT/ALARM ACEs, unknown flags, and inheritance
// on a non-directory or without both FILE_ and DIRECTORY_INHERIT cannot
// be held → NFS4ERR_ATTRNOTSUPP (knfsd); unresolvable who →
// NFS4ERR_BADOWNER. An ACL without inheritable ACEs removes the default
// ACL: SETATTR replaces the whole ACL.
func posixACL(aces []nfs4.ACE, dir bool) (*fsadapters.ACL, nfs4.Status) {
	var acc, def posixBuilder
	for i := range aces {
		a := &aces[i]
		if a.Type != nfs4.ACE4AccessAllowed && a.Type != nfs4.ACE4AccessDenied {
			return nil, nfs4.ErrAttrNotSupp
		}
		if a.Flag&^aceKnownFlg != 0 {
			return nil, nfs4.ErrAttrNotSupp
		}
		kind, id, st := aceWho(a)
		if st != nfs4.OK {
			return nil, st
		}
		allow := a.Type == nfs4.ACE4AccessAllowed
		inh := a.Flag & (aceInherit | nfs4.ACE4InheritOnly)
		if inh == 0 {
			acc.add(allow, kind, id, a.AccessMask)
			continue
		}
		// POSIX default ACLs apply to files and directories alike, and
		// only directories have them.
		if !dir || a.Flag&aceInherit != aceInherit {
			return nil, nfs4.ErrAttrNotSupp
		}
		def.add(allow, kind, id, a.AccessMask)
		if a.Flag&nfs4.ACE4InheritOnly == 0 {
			acc.add(allow, kind, id, a.AccessMask)
		}
	}
	out := &fsadapters.ACL{Access: acc.entries(dir)}
	if def.used {
		out.Default = def.entries(dir)
	}
	return out, nfs4.OK
}

// getACLAttr fills a.ACL for the object fh of export ex; false if the
// backend could not read it (the caller then leaves acl out).
func (c *compound) getACLAttr(a *nfs4.Attrs, ex int, fh fsadapters.FileHandle, at *fsadapters.Attr) bool {
	al, ok := c.exportACLer(ex)
	if !ok {
		return false
	}
	acl, err := al.GetACL(c.ctx, &c.cred, fh)
	if err != nil {
		return false
	}
	a.ACL = nfs4ACL(acl, at.Type == fsadapters.TypeDir)
	return true
}

// setACL applies a SETATTR acl value to the current object.
func (c *compound) setACL(aces []nfs4.ACE) nfs4.Status {
	al, ok := c.exportACLer(c.cur.ex)
	if !ok {
		return nfs4.ErrAttrNotSupp
	}
	at, st := c.curAttr()
	if st != nfs4.OK {
		return st
	}
	if at.Type == fsadapters.TypeSymlink {
		return nfs4.ErrAttrNotSupp // Linux keeps no ACLs on symlinks
	}
	acl, st := posixACL(aces, at.Type == fsadapters.TypeDir)
	if st != nfs4.OK {
		return st
	}
	err := al.SetACL(c.ctx, &c.cred, c.cur.h, acl)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return nfs4.ErrAttrNotSupp
	case errors.Is(err, unix.E2BIG):
		return nfs4.ErrNoSpc // more entries than the filesystem holds
	}
	return statusOf(err)
}

// accessAllowed is fsadapters.AccessAllowed for the object fh of the
// current export, including its POSIX ACL where the backend has one (the
// mode-only answer would refuse a user an ACL entry grants). On a backend
// error the mode decides, and the backend's own check still applies.
func (c *compound) accessAllowed(fh fsadapters.FileHandle, at *fsadapters.Attr, want uint32) uint32 {
	got, err := fsadapters.Access(c.ctx, c.fs(), &c.cred, fh, at, want)
	if err != nil {
		return fsadapters.AccessAllowed(at, &c.cred, want)
	}
	return got
}
