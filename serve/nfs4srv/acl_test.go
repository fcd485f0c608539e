package nfs4srv

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// effective returns, per principal, what a POSIX ACL grants (named and
// group-class entries limited by the mask): what survives a trip through
// NFSv4 (the mask itself has no NFSv4 counterpart).
func effective(acl []fsadapters.ACLEntry) map[[2]uint32]uint16 {
	mask := uint16(7)
	for _, e := range acl {
		if e.Tag == fsadapters.ACLMask {
			mask = e.Perm
		}
	}
	m := map[[2]uint32]uint16{}
	for _, e := range acl {
		p := e.Perm
		switch e.Tag {
		case fsadapters.ACLMask:
			continue
		case fsadapters.ACLUser, fsadapters.ACLGroup, fsadapters.ACLGroupObj:
			p &= mask
		}
		m[[2]uint32{uint32(e.Tag), e.ID}] = p
	}
	return m
}

func randomACL(r *rand.Rand) []fsadapters.ACLEntry {
	acl := fsadapters.MinimalACL(uint32(r.IntN(0o1000)))
	if r.IntN(3) > 0 {
		for i := range r.IntN(4) {
			acl = append(acl, fsadapters.ACLEntry{Tag: fsadapters.ACLUser, Perm: uint16(r.IntN(8)), ID: uint32(1000 + i)})
		}
		for i := range r.IntN(4) {
			acl = append(acl, fsadapters.ACLEntry{Tag: fsadapters.ACLGroup, Perm: uint16(r.IntN(8)), ID: uint32(2000 + i)})
		}
		acl = append(acl, fsadapters.ACLEntry{Tag: fsadapters.ACLMask, Perm: uint16(r.IntN(8))})
	}
	fsadapters.SortACL(acl)
	return acl
}

// Every POSIX ACL survives GETATTR's mapping and SETATTR's mapping back
// with the same effective permissions, on files and directories, with
// and without a default ACL.
func TestACLMappingRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		isDir := i%2 == 0
		in := &fsadapters.ACL{Access: randomACL(r)}
		if isDir && r.IntN(2) == 0 {
			in.Default = randomACL(r)
		}
		aces := nfs4ACL(in, isDir)
		out, st := posixACL(aces, isDir)
		if st != nfs4.OK {
			t.Fatalf("%v: posixACL status %d for %+v", in, st, aces)
		}
		if err := fsadapters.CheckACL(out.Access); err != nil {
			t.Fatalf("invalid result %v", out.Access)
		}
		if !mapsEqual(effective(in.Access), effective(out.Access)) {
			t.Fatalf("access %v → %+v → %v", in.Access, aces, out.Access)
		}
		if (in.Default == nil) != (out.Default == nil) ||
			in.Default != nil && !mapsEqual(effective(in.Default), effective(out.Default)) {
			t.Fatalf("default %v → %v", in.Default, out.Default)
		}
	}
}

func mapsEqual(a, b map[[2]uint32]uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestACLCanonicalForm(t *testing.T) {
	// 0640 without an extended ACL: no DENY needed but GROUP@'s.
	aces := nfs4ACL(&fsadapters.ACL{Access: fsadapters.MinimalACL(0o604)}, false)
	var got []string
	for _, a := range aces {
		got = append(got, string(a.Who)+map[uint32]string{0: "+", 1: "-"}[a.Type])
	}
	want := []string{"OWNER@+", "GROUP@+", "GROUP@-", "EVERYONE@+"}
	if !slices.Equal(got, want) {
		t.Fatalf("ACEs %v, want %v", got, want)
	}
	if aces[0].AccessMask&(nfs4.ACE4ReadData|nfs4.ACE4WriteData|nfs4.ACE4WriteACL) != nfs4.ACE4ReadData|nfs4.ACE4WriteData|nfs4.ACE4WriteACL ||
		aces[0].AccessMask&nfs4.ACE4Execute != 0 {
		t.Errorf("OWNER@ mask %#x", aces[0].AccessMask)
	}
	if aces[1].Flag != nfs4.ACE4IdentifierGroup || aces[2].AccessMask != nfs4.ACE4ReadData|nfs4.ACE4ReadNamedAttrs {
		t.Errorf("GROUP@ ACEs %+v %+v", aces[1], aces[2])
	}
	// Directory default ACL: inherit-only copies.
	d := nfs4ACL(&fsadapters.ACL{Access: fsadapters.MinimalACL(0o755), Default: fsadapters.MinimalACL(0o700)}, true)
	var inh int
	for _, a := range d {
		if a.Flag&nfs4.ACE4InheritOnly != 0 && a.Flag&aceInherit == aceInherit {
			inh++
		}
	}
	if inh == 0 || d[0].AccessMask&nfs4.ACE4DeleteChild == 0 {
		t.Errorf("directory ACL %+v", d)
	}
}

func TestPOSIXACLRejects(t *testing.T) {
	ok := nfs4.ACE{Type: nfs4.ACE4AccessAllowed, AccessMask: nfs4.ACE4ReadData, Who: []byte("EVERYONE@")}
	for _, tc := range []struct {
		name string
		ace  nfs4.ACE
		dir  bool
		st   nfs4.Status
	}{
		{"audit", nfs4.ACE{Type: nfs4.ACE4SystemAudit, Who: []byte("OWNER@")}, false, nfs4.ErrAttrNotSupp},
		{"unknown flag", nfs4.ACE{Flag: nfs4.ACE4NoPropagateInherit, Who: []byte("OWNER@")}, true, nfs4.ErrAttrNotSupp},
		{"inherit on file", nfs4.ACE{Flag: aceInherit, Who: []byte("OWNER@")}, false, nfs4.ErrAttrNotSupp},
		{"file inherit only", nfs4.ACE{Flag: nfs4.ACE4FileInherit, Who: []byte("OWNER@")}, true, nfs4.ErrAttrNotSupp},
		{"bad who", nfs4.ACE{Who: []byte("no-such-user-xyzzy@example")}, false, nfs4.ErrBadOwner},
		{"empty who", nfs4.ACE{Who: []byte{}}, false, nfs4.ErrInval},
		{"dir inherit", nfs4.ACE{Flag: aceInherit, Who: []byte("OWNER@"), AccessMask: nfs4.ACE4ReadData}, true, nfs4.OK},
	} {
		_, st := posixACL([]nfs4.ACE{ok, tc.ace}, tc.dir)
		if st != tc.st {
			t.Errorf("%s: status %d, want %d", tc.name, st, tc.st)
		}
	}
	// pynfs ACL5: one ALLOW ACE, mask 0, who "123": a valid all-zero ACL
	// with a named user.
	acl, st := posixACL([]nfs4.ACE{{Type: nfs4.ACE4AccessAllowed, Who: []byte("123")}}, false)
	if st != nfs4.OK || fsadapters.CheckACL(acl.Access) != nil ||
		!slices.Contains(acl.Access, fsadapters.ACLEntry{Tag: fsadapters.ACLUser, ID: 123}) {
		t.Errorf("ACL5 shape: %v, %d", acl, st)
	}
	// A DENY before an ALLOW wins; EVERYONE@ grants the named user too.
	acl, _ = posixACL([]nfs4.ACE{
		{Type: nfs4.ACE4AccessDenied, AccessMask: nfs4.ACE4WriteData, Who: []byte("77")},
		{Type: nfs4.ACE4AccessAllowed, AccessMask: nfs4.ACE4ReadData | nfs4.ACE4WriteData | nfs4.ACE4AppendData, Who: []byte("EVERYONE@")},
	}, false)
	if !slices.Contains(acl.Access, fsadapters.ACLEntry{Tag: fsadapters.ACLUser, ID: 77, Perm: fsadapters.MayRead}) ||
		!slices.Contains(acl.Access, fsadapters.ACLEntry{Tag: fsadapters.ACLOther, Perm: fsadapters.MayRead | fsadapters.MayWrite}) {
		t.Errorf("deny/allow order: %v", acl.Access)
	}
}

// aclEnv is a server over the dir backend on a filesystem with ACLs.
func aclEnv(t *testing.T) (*nsEnv, *dir.FS) {
	d, err := dir.New(t.TempDir(), dir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if !d.ACLSupport() {
		t.Skip("no POSIX ACLs on the TempDir filesystem")
	}
	s := New(Config{FS: d})
	t.Cleanup(s.Close)
	return &nsEnv{t: t, s: s, fs: d}, d
}

func aclAttr(acl []nfs4.ACE) (nfs4.Bitmap, *nfs4.Attrs) {
	return bm(nfs4.AttrACL), &nfs4.Attrs{ACL: acl}
}

func TestACLSetGetattr(t *testing.T) {
	e, d := aclEnv(t)
	ctx := context.Background()
	h := e.mkfile("f", 0o600)
	if _, err := d.SetAttr(ctx, &fsadapters.Root, h, &fsadapters.SetAttr{Valid: fsadapters.SetUID | fsadapters.SetGID, UID: 1000, GID: 1000}); err != nil {
		t.Fatal(err)
	}
	r := e.run(0, putRoot(), lookup("f"), getFH(), getattr(nfs4.AttrSupportedAttrs, nfs4.AttrACLSupport, nfs4.AttrACL))
	e.expect(r, nfs4.OK, 4)
	fh := r.Results[2].Res.(*nfs4.GetFHRes).Object
	a := attrsOf(t, r, 3)
	if !a.Supported.Has(nfs4.AttrACL) || a.ACLSupport != nfs4.ACL4SupportAllow|nfs4.ACL4SupportDeny || len(a.ACL) == 0 {
		t.Fatalf("supported %v aclsupport %d acl %+v", a.Supported, a.ACLSupport, a.ACL)
	}

	rw := uint32(nfs4.ACE4ReadData | nfs4.ACE4WriteData | nfs4.ACE4AppendData)
	set := []nfs4.ACE{
		{Type: nfs4.ACE4AccessAllowed, AccessMask: rw, Who: []byte("OWNER@")},
		{Type: nfs4.ACE4AccessAllowed, AccessMask: nfs4.ACE4ReadData, Who: []byte("2000")},
		{Type: nfs4.ACE4AccessAllowed, Flag: nfs4.ACE4IdentifierGroup, Who: []byte("GROUP@")},
		{Type: nfs4.ACE4AccessAllowed, Who: []byte("EVERYONE@")},
	}
	m, v := aclAttr(set)
	// Not the owner: NFS4ERR_PERM.
	e.expect(e.run(2000, putFH(fh), setattr(nfs4.StateID{}, m, v)), nfs4.ErrPerm, 2)
	e.expect(e.run(1000, putFH(fh), setattr(nfs4.StateID{}, m, v)), nfs4.OK, 2)
	r = e.run(1000, putFH(fh), getattr(nfs4.AttrMode, nfs4.AttrACL))
	e.expect(r, nfs4.OK, 2)
	a = attrsOf(t, r, 1)
	if a.Mode != 0o640 {
		t.Errorf("mode %o, want 640 (mask r-- in the group bits)", a.Mode)
	}
	found := false
	for _, ace := range a.ACL {
		if string(ace.Who) == "2000" && ace.Type == nfs4.ACE4AccessAllowed {
			found = ace.AccessMask&nfs4.ACE4ReadData != 0 && ace.AccessMask&nfs4.ACE4WriteData == 0
		}
	}
	if !found {
		t.Errorf("GETATTR acl lacks ALLOW 2000 read: %+v", a.ACL)
	}

	// ACCESS agrees with the ACL: 2000 may read, not write; 3000 nothing.
	acc := func(uid uint32) uint32 {
		r := e.run(uid, putFH(fh), nfs4.ArgOp{Op: nfs4.OpAccess, Args: &nfs4.AccessArgs{Access: nfs4.AccessRead | nfs4.AccessModify}})
		e.expect(r, nfs4.OK, 2)
		return r.Results[1].Res.(*nfs4.AccessRes).Access
	}
	if got := acc(2000); got != nfs4.AccessRead {
		t.Errorf("ACCESS for named user = %#x, want READ", got)
	}
	if got := acc(3000); got != 0 {
		t.Errorf("ACCESS for other = %#x, want 0", got)
	}

	// mode and acl together: mode first, then the ACL decides rwx; the
	// setgid bit of the mode stays.
	mv := &nfs4.Attrs{Mode: 0o2777, ACL: set}
	e.expect(e.run(1000, putFH(fh), setattr(nfs4.StateID{}, bm(nfs4.AttrACL, nfs4.AttrMode), mv)), nfs4.OK, 2)
	r = e.run(1000, putFH(fh), getattr(nfs4.AttrMode))
	if a := attrsOf(t, r, 1); a.Mode != 0o2640 {
		t.Errorf("mode+acl: mode %o, want 2640", a.Mode)
	}

	// Unrepresentable: AUDIT ACE.
	m, v = aclAttr([]nfs4.ACE{{Type: nfs4.ACE4SystemAudit, Who: []byte("OWNER@")}})
	e.expect(e.run(1000, putFH(fh), setattr(nfs4.StateID{}, m, v)), nfs4.ErrAttrNotSupp, 2)

	// VERIFY with the ACL just read matches.
	r = e.run(0, putFH(fh), getattr(nfs4.AttrACL))
	got := attrsOf(t, r, 1).ACL
	e.expect(e.run(0, putFH(fh), nfs4.ArgOp{Op: nfs4.OpVerify, Args: &nfs4.VerifyArgs{ObjAttributes: fattr(bm(nfs4.AttrACL), &nfs4.Attrs{ACL: got})}}), nfs4.OK, 2)
}

// The pynfs ACL5/ACL10 shapes: numeric who, mask 0, one and twenty ACEs.
func TestACLPynfsShapes(t *testing.T) {
	e, _ := aclEnv(t)
	e.mkfile("f", 0o644)
	for _, n := range []int{1, 20} {
		var acl []nfs4.ACE
		for i := range n {
			who := "123"
			if n > 1 {
				who = strconv.Itoa(10000 + i)
			}
			acl = append(acl, nfs4.ACE{Type: nfs4.ACE4AccessAllowed, Who: []byte(who)})
		}
		m, v := aclAttr(acl)
		e.expect(e.run(0, putRoot(), lookup("f"), setattr(nfs4.StateID{}, m, v)), nfs4.OK, 3)
		r := e.run(0, putRoot(), lookup("f"), getattr(nfs4.AttrACL))
		e.expect(r, nfs4.OK, 3)
		named := 0
		for _, ace := range attrsOf(t, r, 2).ACL {
			if ace.Type == nfs4.ACE4AccessAllowed && string(ace.Who) != "OWNER@" && string(ace.Who) != "GROUP@" && string(ace.Who) != "EVERYONE@" {
				named++
			}
		}
		if named != n {
			t.Errorf("%d ACEs set, %d named ALLOW ACEs read back", n, named)
		}
	}
}

// A user an ACL denies gets NFS4ERR_ACCESS on OPEN even though the mode
// would let it in (the backend's check evaluates the ACL).
func TestACLDeniesOpen(t *testing.T) {
	e, _ := aclEnv(t)
	e.mkfile("f", 0o666)
	deny := []nfs4.ACE{
		{Type: nfs4.ACE4AccessDenied, AccessMask: nfs4.ACE4ReadData | nfs4.ACE4WriteData | nfs4.ACE4AppendData, Who: []byte("2000")},
		{Type: nfs4.ACE4AccessAllowed, AccessMask: nfs4.ACE4ReadData | nfs4.ACE4WriteData | nfs4.ACE4AppendData, Who: []byte("EVERYONE@")},
	}
	m, v := aclAttr(deny)
	e.expect(e.run(0, putRoot(), lookup("f"), setattr(nfs4.StateID{}, m, v)), nfs4.OK, 3)

	r := e.run(0, nfs4.ArgOp{Op: nfs4.OpSetClientID, Args: &nfs4.SetClientIDArgs{Verifier: nfs4.Verifier{1}, ID: []byte("acl"),
		Callback: nfs4.CBClient{CBProgram: 0x40000000, CBLocation: nfs4.NetAddr{NetID: []byte("tcp"), Addr: []byte("127.0.0.1.3.4")}}}})
	e.expect(r, nfs4.OK, 1)
	sc := r.Results[0].Res.(*nfs4.SetClientIDRes)
	e.expect(e.run(0, nfs4.ArgOp{Op: nfs4.OpSetClientIDConfirm, Args: &nfs4.SetClientIDConfirmArgs{
		ClientID: sc.ClientID, SetClientIDConfirm: sc.SetClientIDConfirm}}), nfs4.OK, 1)
	open := func(uid uint32, owner string) *nfs4.CompoundRes {
		return e.run(uid, putRoot(), nfs4.ArgOp{Op: nfs4.OpOpen, Args: &nfs4.OpenArgs{SeqID: 1,
			ShareAccess: nfs4.ShareAccessRead, ShareDeny: 0,
			Owner: nfs4.OpenOwner{ClientID: sc.ClientID, Owner: []byte(owner)},
			Claim: nfs4.OpenClaim{Claim: nfs4.ClaimNull, File: []byte("f")}}})
	}
	e.expect(open(2000, "o2000"), nfs4.ErrAccess, 2)
	e.expect(open(3000, "o3000"), nfs4.OK, 2)

	// And one it grants gets in although the mode says no: f is now 0600
	// with read for user 2000 (OPEN checks the ACL, not only the mode).
	grant := []nfs4.ACE{
		{Type: nfs4.ACE4AccessAllowed, AccessMask: nfs4.ACE4ReadData | nfs4.ACE4WriteData | nfs4.ACE4AppendData, Who: []byte("OWNER@")},
		{Type: nfs4.ACE4AccessAllowed, AccessMask: nfs4.ACE4ReadData, Who: []byte("2000")},
	}
	m, v = aclAttr(grant)
	e.expect(e.run(0, putRoot(), lookup("f"), setattr(nfs4.StateID{}, m, v)), nfs4.OK, 3)
	e.expect(open(2000, "o2000b"), nfs4.OK, 2)
	e.expect(open(3000, "o3000b"), nfs4.ErrAccess, 2)
}

// Backends without ACLs: no acl in supported_attrs, aclsupport 0, SETATTR
// acl NFS4ERR_ATTRNOTSUPP.
func TestACLUnsupportedBackend(t *testing.T) {
	s := New(Config{FS: mem.New()})
	t.Cleanup(s.Close)
	e := &nsEnv{t: t, s: s, fs: nil}
	r := e.run(0, putRoot(), getattr(nfs4.AttrSupportedAttrs, nfs4.AttrACLSupport, nfs4.AttrACL))
	e.expect(r, nfs4.OK, 2)
	a := attrsOf(t, r, 1)
	if a.Supported.Has(nfs4.AttrACL) || a.ACLSupport != 0 || a.Present.Has(nfs4.AttrACL) {
		t.Errorf("mem backend: supported %v aclsupport %d present %v", a.Supported, a.ACLSupport, a.Present)
	}
	m, v := aclAttr([]nfs4.ACE{{Who: []byte("OWNER@")}})
	e.expect(e.run(0, putRoot(), setattr(nfs4.StateID{}, m, v)), nfs4.ErrAttrNotSupp, 2)
}
