package nfs4srv

import (
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// comp42 is e.comp in minor version 2 with credential cred.
func (e *ioEnv) comp42(h fsadapters.FileHandle, cred fsadapters.Cred) *compound {
	c := e.comp(h)
	c.minor, c.cred = 2, cred
	return c
}

func TestXattrOps(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e := newIOEnv(t, mk(), 0)
			root := fsadapters.Root
			set := func(h fsadapters.FileHandle, opt uint32, k, v string) *nfs4.SetXattrRes {
				return opSetXattr(e.comp42(h, root), &nfs4.SetXattrArgs{Option: opt, Name: []byte(k), Value: []byte(v)}).(*nfs4.SetXattrRes)
			}
			get := func(h fsadapters.FileHandle, k string) *nfs4.GetXattrRes {
				return opGetXattr(e.comp42(h, root), &nfs4.GetXattrArgs{Name: []byte(k)}).(*nfs4.GetXattrRes)
			}
			list := func(h fsadapters.FileHandle, cookie uint64, max uint32) *nfs4.ListXattrsRes {
				return opListXattrs(e.comp42(h, root), &nfs4.ListXattrsArgs{Cookie: cookie, MaxCount: max}).(*nfs4.ListXattrsRes)
			}
			if r := get(e.file, "a"); r.Status != nfs4.ErrNoXattr {
				t.Fatalf("GETXATTR missing: %v", r.Status)
			}
			r := set(e.file, nfs4.SetXattrCreate, "a", "1")
			if r.Status != nfs4.OK || r.CInfo.Before == r.CInfo.After || r.CInfo.Atomic {
				t.Fatalf("SETXATTR: %+v", r)
			}
			if r := set(e.file, nfs4.SetXattrCreate, "a", "2"); r.Status != nfs4.ErrExist {
				t.Fatalf("SETXATTR CREATE present: %v", r.Status)
			}
			if r := set(e.file, nfs4.SetXattrReplace, "zz", "2"); r.Status != nfs4.ErrNoXattr {
				t.Fatalf("SETXATTR REPLACE missing: %v", r.Status)
			}
			if r := set(e.file, 3, "a", "2"); r.Status != nfs4.ErrInval {
				t.Fatalf("SETXATTR option 3: %v", r.Status)
			}
			if r := set(e.file, nfs4.SetXattrEither, "", "2"); r.Status != nfs4.ErrInval {
				t.Fatalf("SETXATTR empty name: %v", r.Status)
			}
			if r := set(e.link, nfs4.SetXattrEither, "a", "2"); r.Status != nfs4.ErrPerm {
				t.Fatalf("SETXATTR on a symlink: %v", r.Status)
			}
			if r := get(e.file, "a"); r.Status != nfs4.OK || string(r.Value) != "1" {
				t.Fatalf("GETXATTR: %+v", r)
			}
			for _, k := range []string{"b", "c"} {
				set(e.file, nfs4.SetXattrEither, k, "v")
			}
			// Each one-byte name is 8 bytes on the wire, after 16 of resok.
			l := list(e.file, 0, 16+2*8)
			if l.Status != nfs4.OK || l.EOF || l.Cookie != 2 || len(l.Names) != 2 || string(l.Names[1]) != "b" {
				t.Fatalf("LISTXATTRS page 1: %+v", l)
			}
			l = list(e.file, l.Cookie, 16+2*8)
			if l.Status != nfs4.OK || !l.EOF || l.Cookie != 3 || len(l.Names) != 1 || string(l.Names[0]) != "c" {
				t.Fatalf("LISTXATTRS page 2: %+v", l)
			}
			if l := list(e.file, 0, 16+7); l.Status != nfs4.ErrTooSmall {
				t.Fatalf("LISTXATTRS without room: %v", l.Status)
			}
			if l := list(e.file, 4, 4096); l.Status != nfs4.ErrBadCookie {
				t.Fatalf("LISTXATTRS cookie 4 of 3: %v", l.Status)
			}
			if l := list(e.dir, 0, 16); l.Status != nfs4.OK || !l.EOF || len(l.Names) != 0 {
				t.Fatalf("LISTXATTRS of an empty dir: %+v", l)
			}
			rm := opRemoveXattr(e.comp42(e.file, root), &nfs4.RemoveXattrArgs{Name: []byte("a")}).(*nfs4.RemoveXattrRes)
			if rm.Status != nfs4.OK || rm.CInfo.Before == rm.CInfo.After {
				t.Fatalf("REMOVEXATTR: %+v", rm)
			}
			rm = opRemoveXattr(e.comp42(e.file, root), &nfs4.RemoveXattrArgs{Name: []byte("a")}).(*nfs4.RemoveXattrRes)
			if rm.Status != nfs4.ErrNoXattr {
				t.Fatalf("REMOVEXATTR missing: %v", rm.Status)
			}

			// xattr_support and the ACCESS4_XA* bits (minor 2 only).
			c := e.comp42(e.file, root)
			at, _ := c.curAttr()
			var a nfs4.Attrs
			c.fillAttrs(&a, 0, c.cur.wire, &at, nil)
			if !a.XattrSupport || !a.Supported.Has(nfs4.AttrXattrSupport) {
				t.Fatalf("xattr_support %v, supported %v", a.XattrSupport, a.Supported)
			}
			c.minor = 1
			c.fillAttrs(&a, 0, c.cur.wire, &at, nil)
			if a.Supported.Has(nfs4.AttrXattrSupport) {
				t.Fatal("xattr_support is supported in minor version 1")
			}
			xa := uint32(nfs4.AccessXARead | nfs4.AccessXAWrite | nfs4.AccessXAList)
			for _, tc := range []struct {
				uid  uint32
				h    fsadapters.FileHandle
				want uint32
			}{
				{0, e.file, xa},
				{1000, e.file, nfs4.AccessXARead | nfs4.AccessXAList}, // 0644 root's
				{1000, e.link, nfs4.AccessXARead | nfs4.AccessXAList}, // lists empty, cannot be written
			} {
				ar := opAccess(e.comp42(tc.h, fsadapters.Cred{UID: tc.uid, GID: tc.uid}), &nfs4.AccessArgs{Access: xa}).(*nfs4.AccessRes)
				if ar.Status != nfs4.OK || ar.Supported != xa || ar.Access != tc.want {
					t.Errorf("ACCESS uid %d: %+v, want access %#x", tc.uid, ar, tc.want)
				}
			}
		})
	}
}

// The xattr ops do not exist before minor version 2: OP_ILLEGAL, reported
// as op ILLEGAL (RFC 8881 §15.2 / RFC 7530 §15.2.4).
func TestXattrOpsIllegalBefore42(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		for _, o := range []nfs4.ArgOp{
			{Op: nfs4.OpGetXattr, Args: &nfs4.GetXattrArgs{Name: []byte("a")}},
			{Op: nfs4.OpSetXattr, Args: &nfs4.SetXattrArgs{Name: []byte("a")}},
			{Op: nfs4.OpListXattrs, Args: &nfs4.ListXattrsArgs{MaxCount: 4096}},
			{Op: nfs4.OpRemoveXattr, Args: &nfs4.RemoveXattrArgs{Name: []byte("a")}},
		} {
			// In 4.1 the op comes first: the minor-version check precedes
			// the SEQUENCE-first rule.
			for minor, ops := range [][]nfs4.ArgOp{{putRoot(), o}, {o}} {
				r := e.runMinor(uint32(minor), 0, ops...)
				n := len(ops)
				if r.Status != nfs4.ErrOpIllegal || len(r.Results) != n || r.Results[n-1].Op != nfs4.OpIllegal {
					t.Errorf("minor %d %v: status %v, results %d", minor, o.Op, r.Status, len(r.Results))
				}
			}
		}
	})
}
