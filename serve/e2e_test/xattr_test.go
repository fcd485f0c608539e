package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// Extended attributes (RFC 8276) through the client library against a dir
// export: what the client sets is the file's user.* xattr on the server
// host and the other way round.

func wantStatus(t *testing.T, err error, st nfs4.Status, what string) {
	t.Helper()
	if !errors.Is(err, st) {
		t.Fatalf("%s: got %v, want %v", what, err, st)
	}
}

func TestXattrDirExport(t *testing.T) {
	addr, root := startDirServer(t)
	c := dial(t, addr, 2)
	ctx := ctxT(t)
	p := filepath.Join(root, "f")
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	fh, err := c.LookupPath(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}

	a, err := c.GetAttr(ctx, fh, nfs4.Bitmap{0, 0, 1 << (nfs4.AttrXattrSupport - 64)})
	if err != nil || !a.Present.Has(nfs4.AttrXattrSupport) || !a.XattrSupport {
		t.Fatalf("xattr_support: %+v, %v", a, err)
	}

	_, err = c.GetXattr(ctx, fh, "a")
	wantStatus(t, err, nfs4.ErrNoXattr, "GETXATTR of a missing name")
	_, err = c.SetXattr(ctx, fh, "a", []byte("x"), nfs4.SetXattrReplace)
	wantStatus(t, err, nfs4.ErrNoXattr, "SETXATTR REPLACE of a missing name")

	ci, err := c.SetXattr(ctx, fh, "a", []byte("one"), nfs4.SetXattrCreate)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Before == ci.After {
		t.Errorf("SETXATTR change_info %+v: change attribute did not move", ci)
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(p, "user.a", buf); err != nil || string(buf[:n]) != "one" {
		t.Fatalf("user.a on the export: %q, %v", buf[:max(n, 0)], err)
	}
	_, err = c.SetXattr(ctx, fh, "a", []byte("two"), nfs4.SetXattrCreate)
	wantStatus(t, err, nfs4.ErrExist, "SETXATTR CREATE of a present name")
	if _, err := c.SetXattr(ctx, fh, "a", []byte("two"), nfs4.SetXattrReplace); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetXattr(ctx, fh, "empty", nil, nfs4.SetXattrEither); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetXattr(ctx, fh, "a"); err != nil || string(v) != "two" {
		t.Fatalf("GETXATTR a: %q, %v", v, err)
	}
	if v, err := c.GetXattr(ctx, fh, "empty"); err != nil || len(v) != 0 {
		t.Fatalf("GETXATTR empty: %q, %v", v, err)
	}

	// Set locally, seen remotely; other namespaces are not exposed.
	if err := unix.Setxattr(p, "user.local", []byte{0, 1, 2}, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "trusted.hidden", []byte("h"), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetXattr(ctx, fh, "local"); err != nil || !bytes.Equal(v, []byte{0, 1, 2}) {
		t.Fatalf("GETXATTR local: %q, %v", v, err)
	}
	_, err = c.GetXattr(ctx, fh, "trusted.hidden")
	wantStatus(t, err, nfs4.ErrNoXattr, "GETXATTR trusted.hidden (is user.trusted.hidden)")
	names, err := c.ListXattrs(ctx, fh)
	if want := []string{"a", "empty", "local"}; err != nil || !slices.Equal(names, want) {
		t.Fatalf("LISTXATTRS: %q, %v; want %q", names, err, want)
	}

	ci, err = c.RemoveXattr(ctx, fh, "a")
	if err != nil {
		t.Fatal(err)
	}
	if ci.Before == ci.After {
		t.Errorf("REMOVEXATTR change_info %+v: change attribute did not move", ci)
	}
	if _, err := unix.Getxattr(p, "user.a", buf); !errors.Is(err, unix.ENODATA) {
		t.Fatalf("user.a after REMOVEXATTR: %v", err)
	}
	_, err = c.RemoveXattr(ctx, fh, "a")
	wantStatus(t, err, nfs4.ErrNoXattr, "REMOVEXATTR of a missing name")

	// Names: empty is INVAL, user.+name over 255 is NAMETOOLONG.
	_, err = c.GetXattr(ctx, fh, "")
	wantStatus(t, err, nfs4.ErrInval, "GETXATTR of the empty name")
	_, err = c.SetXattr(ctx, fh, strings.Repeat("n", 251), nil, nfs4.SetXattrEither)
	wantStatus(t, err, nfs4.ErrNameTooLong, "SETXATTR of a 251-byte name")
	if _, err := c.SetXattr(ctx, fh, strings.Repeat("n", 250), nil, nfs4.SetXattrEither); err != nil {
		t.Fatalf("SETXATTR of a 250-byte name: %v", err)
	}
	_, err = c.SetXattr(ctx, fh, "bad", []byte("x"), 7)
	wantStatus(t, err, nfs4.ErrInval, "SETXATTR with option 7")

	// Directories carry xattrs too.
	rootFH, _ := c.RootFH(ctx)
	if _, err := c.SetXattr(ctx, rootFH, "d", []byte("dir"), nfs4.SetXattrEither); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Getxattr(root, "user.d", buf); err != nil || string(buf[:n]) != "dir" {
		t.Fatalf("user.d on the export root: %v", err)
	}
}

func TestXattrListPaging(t *testing.T) {
	addr, root := startDirServer(t)
	c := dial(t, addr, 2)
	ctx := ctxT(t)
	p := filepath.Join(root, "f")
	os.WriteFile(p, nil, 0o644)
	fh, err := c.LookupPath(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	if names, next, eof, err := c.ListXattrsPage(ctx, fh, 0, 16); err != nil || len(names) != 0 || !eof || next != 0 {
		t.Fatalf("empty list: %q next %d eof %v, %v", names, next, eof, err)
	}
	var want []string
	for i := range 20 {
		n := fmt.Sprintf("name%02d", i) // 6 bytes: 4+8 on the wire
		want = append(want, n)
		if err := unix.Setxattr(p, "user."+n, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	// maxcount 16 (resok overhead) + 3 names of 12 bytes.
	var got []string
	var cookie uint64
	for pages := 0; ; pages++ {
		names, next, eof, err := c.ListXattrsPage(ctx, fh, cookie, 16+3*12)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 3 && !eof {
			t.Fatalf("page of %d names, want 3", len(names))
		}
		got = append(got, names...)
		cookie = next
		if eof {
			break
		}
		if pages > 10 {
			t.Fatal("no eof")
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged list %q, want %q", got, want)
	}
	_, _, _, err = c.ListXattrsPage(ctx, fh, 0, 16+11)
	wantStatus(t, err, nfs4.ErrTooSmall, "LISTXATTRS with room for no name")
	_, _, _, err = c.ListXattrsPage(ctx, fh, 0, 15)
	wantStatus(t, err, nfs4.ErrTooSmall, "LISTXATTRS with maxcount 15")
	_, _, _, err = c.ListXattrsPage(ctx, fh, 21, 4096)
	wantStatus(t, err, nfs4.ErrBadCookie, "LISTXATTRS past the end")
	if names, _, eof, err := c.ListXattrsPage(ctx, fh, 20, 4096); err != nil || len(names) != 0 || !eof {
		t.Fatalf("LISTXATTRS at the end: %q %v %v", names, eof, err)
	}
	if all, err := c.ListXattrs(ctx, fh); err != nil || !slices.Equal(all, want) {
		t.Fatalf("ListXattrs: %q, %v", all, err)
	}
}

func TestXattrPermissions(t *testing.T) {
	addr, root := startDirServer(t)
	c := dial(t, addr, 2)
	ctx := ctxT(t)
	user := nfs4client.WithCred(ctx, rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "t", UID: 1000, GID: 1000}))
	mk := func(name string, mode os.FileMode, uid int) []byte {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, nil, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		os.Chown(p, uid, uid)
		unix.Setxattr(p, "user.x", []byte("v"), 0)
		fh, err := c.LookupPath(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return fh
	}
	private := mk("private", 0o600, 0)   // root's, unreadable to uid 1000
	readable := mk("readable", 0o644, 0) // readable, not writable
	own := mk("own", 0o400, 1000)        // uid 1000's, read-only mode

	_, err := c.GetXattr(user, private, "x")
	wantStatus(t, err, nfs4.ErrAccess, "GETXATTR without read permission")
	_, err = c.ListXattrs(user, private)
	wantStatus(t, err, nfs4.ErrAccess, "LISTXATTRS without read permission")
	if _, err := c.GetXattr(user, readable, "x"); err != nil {
		t.Fatal(err)
	}
	_, err = c.SetXattr(user, readable, "x", nil, nfs4.SetXattrEither)
	wantStatus(t, err, nfs4.ErrAccess, "SETXATTR without write permission")
	_, err = c.RemoveXattr(user, readable, "x")
	wantStatus(t, err, nfs4.ErrAccess, "REMOVEXATTR without write permission")
	if _, err := c.GetXattr(user, own, "x"); err != nil {
		t.Fatalf("owner reading a 0400 file's xattr: %v", err)
	}

	acc := func(cx context.Context, fh []byte) uint32 {
		t.Helper()
		got, err := c.Access(cx, fh, nfs4.AccessXARead|nfs4.AccessXAWrite|nfs4.AccessXAList)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := acc(user, private); got != 0 {
		t.Errorf("ACCESS XA on private as uid 1000: %#x, want 0", got)
	}
	if got := acc(user, readable); got != nfs4.AccessXARead|nfs4.AccessXAList {
		t.Errorf("ACCESS XA on readable as uid 1000: %#x", got)
	}
	if got := acc(ctx, private); got != nfs4.AccessXARead|nfs4.AccessXAWrite|nfs4.AccessXAList {
		t.Errorf("ACCESS XA on private as root: %#x", got)
	}

	// Symlinks carry no user xattrs (Linux): reading finds none, writing
	// is NFS4ERR_PERM, the list is empty.
	if err := os.Symlink("f", filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	l, err := c.LookupPath(ctx, "l")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetXattr(ctx, l, "x")
	wantStatus(t, err, nfs4.ErrNoXattr, "GETXATTR on a symlink")
	_, err = c.SetXattr(ctx, l, "x", nil, nfs4.SetXattrEither)
	wantStatus(t, err, nfs4.ErrPerm, "SETXATTR on a symlink")
	if names, err := c.ListXattrs(ctx, l); err != nil || len(names) != 0 {
		t.Fatalf("LISTXATTRS on a symlink: %q, %v", names, err)
	}
}

// In 4.0 and 4.1 the xattr ops do not exist (NFS4ERR_OP_ILLEGAL); the
// client refuses them before sending.
func TestXattrMinorVersions(t *testing.T) {
	addr, _ := startDirServer(t)
	ctx := ctxT(t)
	for _, minor := range []uint32{0, 1} {
		c := dial(t, addr, minor)
		rootFH, err := c.RootFH(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetXattr(ctx, rootFH, "a"); !errors.Is(err, nfs4client.ErrXattrMinor) || !errors.Is(err, nfs4.ErrNotSupp) {
			t.Fatalf("minor %d GetXattr: %v", minor, err)
		}
		for _, o := range []nfs4.ArgOp{
			{Op: nfs4.OpGetXattr, Args: &nfs4.GetXattrArgs{Name: []byte("a")}},
			{Op: nfs4.OpSetXattr, Args: &nfs4.SetXattrArgs{Name: []byte("a")}},
			{Op: nfs4.OpListXattrs, Args: &nfs4.ListXattrsArgs{MaxCount: 4096}},
			{Op: nfs4.OpRemoveXattr, Args: &nfs4.RemoveXattrArgs{Name: []byte("a")}},
		} {
			res, err := c.Compound(ctx, minor, []nfs4.ArgOp{nfs4client.PutFH(rootFH), o})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != nfs4.ErrOpIllegal || len(res.Results) != 2 || res.Results[1].Op != nfs4.OpIllegal {
				t.Fatalf("minor %d %v: status %v", minor, o.Op, res.Status)
			}
		}
		a, err := c.GetAttr(ctx, rootFH, nfs4.Bitmap{0, 0, 1 << (nfs4.AttrXattrSupport - 64)})
		if err != nil || a.Present.Has(nfs4.AttrXattrSupport) {
			t.Fatalf("minor %d: xattr_support answered: %+v %v", minor, a, err)
		}
	}
}

// A backend without fsadapters.Xattrer answers NFS4ERR_NOTSUPP and reports
// xattr_support FALSE.
func TestXattrBackendWithout(t *testing.T) {
	addr := startServer(t, noXattrFS{mem.New()})
	c := dial(t, addr, 2)
	ctx := ctxT(t)
	rootFH, _ := c.RootFH(ctx)
	a, err := c.GetAttr(ctx, rootFH, nfs4.Bitmap{0, 0, 1 << (nfs4.AttrXattrSupport - 64)})
	if err != nil || !a.Present.Has(nfs4.AttrXattrSupport) || a.XattrSupport {
		t.Fatalf("xattr_support: %+v %v", a, err)
	}
	_, err = c.GetXattr(ctx, rootFH, "a")
	wantStatus(t, err, nfs4.ErrNotSupp, "GETXATTR without backend support")
}

// noXattrFS hides any Xattrer the wrapped backend has.
type noXattrFS struct{ fsadapters.FS }
