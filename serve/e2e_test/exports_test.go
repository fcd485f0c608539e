package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/internal/testbin"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// Exports and access policy (issue 6 item 2): pseudo filesystem, reload,
// client networks, squashing, read-only exports, forged handles, SECINFO.

// startExports serves list on 127.0.0.1 and returns the address and the
// server (for SetExports).
func startExports(t *testing.T, list []nfs4srv.ExportConfig) (string, *nfs4srv.Server) {
	t.Helper()
	nfs := nfs4srv.New(nfs4srv.Config{Exports: list, Log: slog.New(slog.DiscardHandler)})
	srv := &rpcsrv.Server{Handler: nfs, Logf: func(string, ...any) {}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		nfs.Close()
	})
	return l.Addr().String(), nfs
}

// dialFrom connects from the local address from (nfs4client.Dial cannot
// choose one) and sets up a 4.1 session.
func dialFrom(t *testing.T, from, addr string) *nfs4client.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from %s: %v", from, err)
	}
	c := nfs4client.New(conn)
	t.Cleanup(func() { c.Close() })
	if err := c.SetupSession(ctxT(t), 1); err != nil {
		t.Fatal(err)
	}
	return c
}

func wantSt(t *testing.T, err error, want ...nfs4.Status) {
	t.Helper()
	var se *nfs4client.StatusError
	if !errors.As(err, &se) || !slices.Contains(want, se.Status) {
		t.Fatalf("got %v, want status %v", err, want)
	}
}

// owners returns the numeric owner and group of a.
func owners(a *nfs4.Attrs) (uint32, uint32) {
	u, _ := strconv.ParseUint(string(a.Owner), 10, 32)
	g, _ := strconv.ParseUint(string(a.OwnerGroup), 10, 32)
	return uint32(u), uint32(g)
}

func attrs(t *testing.T, c *nfs4client.Client, fh []byte, ids ...int) *nfs4.Attrs {
	t.Helper()
	var b nfs4.Bitmap
	for _, id := range ids {
		b.Set(id)
	}
	a, err := c.GetAttr(ctxT(t), fh, b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestExportsPseudoFS(t *testing.T) {
	a, b := mem.New(), mem.New()
	addr, _ := startExports(t, []nfs4srv.ExportConfig{
		{Path: "/a", FS: a, Source: "a"},
		{Path: "/b/c", FS: b, Source: "b"},
	})
	c := dial(t, addr, 1)
	ctx := ctxT(t)

	root, err := c.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := c.ReadDir(ctx, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, string(e.Name))
	}
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("pseudo root lists %q, want [a b]", names)
	}

	fa, err := c.LookupPath(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	fb, err := c.LookupPath(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	fbc, err := c.LookupPath(ctx, "b/c")
	if err != nil {
		t.Fatal(err)
	}
	want := []int{nfs4.AttrFSID, nfs4.AttrFileID, nfs4.AttrMountedOnFileID, nfs4.AttrType}
	ar, aa, ab, abc := attrs(t, c, root, want...), attrs(t, c, fa, want...), attrs(t, c, fb, want...), attrs(t, c, fbc, want...)
	if ar.FSID != ab.FSID {
		t.Errorf("pseudo dirs differ in fsid: %v %v", ar.FSID, ab.FSID)
	}
	if aa.FSID == ar.FSID || abc.FSID == ar.FSID || aa.FSID == abc.FSID {
		t.Errorf("fsid does not change at export roots: root %v, /a %v, /b/c %v", ar.FSID, aa.FSID, abc.FSID)
	}
	// mounted_on_fileid of an export root is the pseudo directory's fileid
	// (as READDIR of its parent shows it).
	var ea *nfs4.Attrs
	ents, err = c.ReadDir(ctx, root, nfs4client.BasicAttrs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if string(e.Name) == "a" {
			if ea, err = nfs4.DecodeAttrs(&e.Attrs); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ea == nil || aa.MountedOnFileID != ea.FileID || aa.FileID == aa.MountedOnFileID {
		t.Errorf("/a: fileid %d mounted_on_fileid %d, pseudo entry %+v", aa.FileID, aa.MountedOnFileID, ea)
	}

	// LOOKUPP from an export root returns to the pseudo directory.
	res, err := c.Do(ctx, nfs4client.PutFH(fbc), nfs4.ArgOp{Op: nfs4.OpLookupP, Args: &nfs4.LookupPArgs{}}, nfs4client.GetFH())
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Results[2].Res.(*nfs4.GetFHRes).Object; string(got) != string(fb) {
		t.Errorf("LOOKUPP of /b/c root: %x, want /b %x", got, fb)
	}

	// The exports are separate: a file made in /a is not in /b/c, and the
	// pseudo directories refuse changes.
	f, err := c.Create(ctx, fa, "x", nfs4client.CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	c.CloseFile(ctx, f)
	if _, err := c.LookupPath(ctx, "a/x"); err != nil {
		t.Fatal(err)
	}
	_, err = c.LookupPath(ctx, "b/c/x")
	wantSt(t, err, nfs4.ErrNoEnt)
	_, err = c.Mkdir(ctx, root, "new")
	wantSt(t, err, nfs4.ErrROFS)
	_, err = c.LookupPath(ctx, "nothere")
	wantSt(t, err, nfs4.ErrNoEnt)
}

func TestExportsReload(t *testing.T) {
	a, b, d := mem.New(), mem.New(), mem.New()
	ea := nfs4srv.ExportConfig{Path: "/a", FS: a, Source: "a"}
	addr, srv := startExports(t, []nfs4srv.ExportConfig{ea, {Path: "/b", FS: b, Source: "b"}})
	c := dial(t, addr, 1)
	ctx := ctxT(t)
	fa, err := c.LookupPath(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	fb, err := c.LookupPath(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, fa, "kept", nfs4client.CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, f.FH, f.SID(), 0, []byte("hello"), nfs4.FileSync4); err != nil {
		t.Fatal(err)
	}

	// Reload: /a stays (now read-only), /b goes, /d arrives. The
	// connection and the open survive.
	ea.ReadOnly = true
	if err := srv.SetExports([]nfs4srv.ExportConfig{ea, {Path: "/d", FS: d, Source: "d"}}); err != nil {
		t.Fatal(err)
	}
	if data, _, err := c.Read(ctx, f.FH, f.SID(), 0, 100); err != nil || string(data) != "hello" {
		t.Fatalf("read after reload: %q %v", data, err)
	}
	_, err = c.Write(ctx, f.FH, f.SID(), 0, []byte("x"), nfs4.FileSync4)
	wantSt(t, err, nfs4.ErrROFS)
	if err := c.CloseFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	if fa2, err := c.LookupPath(ctx, "a"); err != nil || string(fa2) != string(fa) {
		t.Fatalf("/a after reload: %x %v, want %x", fa2, err, fa)
	}
	_, err = c.GetAttr(ctx, fb, nil)
	wantSt(t, err, nfs4.ErrStale)
	_, err = c.LookupPath(ctx, "b")
	wantSt(t, err, nfs4.ErrNoEnt)
	if _, err := c.LookupPath(ctx, "d"); err != nil {
		t.Fatal(err)
	}

	// A bad table is refused and the old one stays.
	if err := srv.SetExports([]nfs4srv.ExportConfig{ea, {Path: "/a/in", FS: d, Source: "d"}}); err == nil {
		t.Fatal("nested export accepted")
	}
	if _, err := c.LookupPath(ctx, "d"); err != nil {
		t.Fatal(err)
	}
}

func TestExportsClientNetworks(t *testing.T) {
	only1 := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	addr, _ := startExports(t, []nfs4srv.ExportConfig{
		{Path: "/priv", FS: mem.New(), Source: "p", Clients: only1},
		{Path: "/pub", FS: mem.New(), Source: "q"},
	})
	ctx := ctxT(t)
	good := dialFrom(t, "127.0.0.1", addr)
	fh, err := good.LookupPath(ctx, "priv")
	if err != nil {
		t.Fatal(err)
	}
	bad := dialFrom(t, "127.0.0.2", addr)
	// The pseudo root hides what the client may not use…
	root, err := bad.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := bad.ReadDir(ctx, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || string(ents[0].Name) != "pub" {
		t.Errorf("127.0.0.2 sees %d entries, want only pub", len(ents))
	}
	_, err = bad.LookupPath(ctx, "priv")
	wantSt(t, err, nfs4.ErrNoEnt)
	// …and a handle obtained elsewhere is refused.
	_, err = bad.GetAttr(ctx, fh, nil)
	wantSt(t, err, nfs4.ErrAccess)
	if _, err := bad.LookupPath(ctx, "pub"); err != nil {
		t.Fatal(err)
	}

	// A single export at "/" refuses outright.
	addr1, _ := startExports(t, []nfs4srv.ExportConfig{{Path: "/", FS: mem.New(), Clients: only1}})
	_, err = dialFrom(t, "127.0.0.2", addr1).RootFH(ctx)
	wantSt(t, err, nfs4.ErrAccess)
	if _, err := dialFrom(t, "127.0.0.1", addr1).RootFH(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestExportsSquash(t *testing.T) {
	anon := &fsadapters.Cred{UID: 1234, GID: 4321}
	open := func() *mem.FS {
		fs := mem.New() // root 0777: squashed users may create
		if _, err := fs.SetAttr(context.Background(), &fsadapters.Root, fs.Root(),
			&fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o777}); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	addr, _ := startExports(t, []nfs4srv.ExportConfig{
		{Path: "/ns", FS: open(), Source: "ns"},
		{Path: "/all", FS: open(), Source: "all", Squash: nfs4srv.AllSquash, Anon: anon},
		{Path: "/rs", FS: open(), Source: "rs", Squash: nfs4srv.RootSquash, Anon: anon},
	})
	c := dial(t, addr, 1)
	ctx := ctxT(t)
	n := 0
	check := func(export string, cred rpc.Auth, uid, gid uint32) {
		t.Helper()
		cctx := nfs4client.WithCred(ctx, cred)
		dfh, err := c.LookupPath(cctx, export)
		if err != nil {
			t.Fatal(err)
		}
		n++
		name := fmt.Sprint("d", n)
		if _, err := c.Mkdir(cctx, dfh, name); err != nil {
			t.Fatalf("%s: mkdir as %d: %v", export, cred.Sys.UID, err)
		}
		fh, err := c.LookupPath(ctx, export+"/"+name)
		if err != nil {
			t.Fatal(err)
		}
		u, g := owners(attrs(t, c, fh, nfs4.AttrOwner, nfs4.AttrOwnerGroup))
		if u != uid || g != gid {
			t.Errorf("%s: created by %d:%d, owned by %d:%d, want %d:%d", export, cred.Sys.UID, cred.Sys.GID, u, g, uid, gid)
		}
	}
	root := rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "t"})
	user := rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "t", UID: 1000, GID: 100})
	check("ns", root, 0, 0)
	check("ns", user, 1000, 100)
	check("all", user, 1234, 4321)
	check("all", root, 1234, 4321)
	check("rs", root, 1234, 4321)
	check("rs", user, 1000, 100)
	check("ns", rpc.Auth{Flavor: rpc.AuthNone}, 65534, 65534)
}

// TestExportsRootSquashed: files created by root land as 65534 (the
// export root must allow others to create: root_squash makes root an
// ordinary user).
func TestExportsRootSquashed(t *testing.T) {
	fs := mem.New()
	if _, err := fs.SetAttr(context.Background(), &fsadapters.Root, fs.Root(), &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o777}); err != nil {
		t.Fatal(err)
	}
	addr, _ := startExports(t, []nfs4srv.ExportConfig{{Path: "/rs", FS: fs, Source: "rs", Squash: nfs4srv.RootSquash}})
	c := dial(t, addr, 1)
	ctx := ctxT(t)
	dfh, err := c.LookupPath(ctx, "rs")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, dfh, "byroot", nfs4client.CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	c.CloseFile(ctx, f)
	u, g := owners(attrs(t, c, f.FH, nfs4.AttrOwner, nfs4.AttrOwnerGroup))
	if u != 65534 || g != 65534 {
		t.Errorf("file created as root owned by %d:%d, want 65534:65534", u, g)
	}
	// Squashed root cannot chown either.
	own := nfs4.Attrs{UID: 0}
	own.Present.Set(nfs4.AttrOwner)
	_, err = c.SetAttrs(ctx, f.FH, nfs4.StateID{}, &own)
	wantSt(t, err, nfs4.ErrPerm, nfs4.ErrAccess)
}

func TestExportsReadOnly(t *testing.T) {
	fs := mem.New()
	bg := context.Background()
	fh, _, _, err := fs.Create(bg, &fsadapters.Root, fs.Root(), "f", &fsadapters.CreateReq{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.SetAttr(bg, &fsadapters.Root, fh, &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o666}); err != nil {
		t.Fatal(err)
	}
	addr, _ := startExports(t, []nfs4srv.ExportConfig{{Path: "/ro", FS: fs, Source: "ro", ReadOnly: true}})
	c := dial(t, addr, 1)
	ctx := ctxT(t)
	dfh, err := c.LookupPath(ctx, "ro")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Create(ctx, dfh, "new", nfs4client.CreateHow{Mode: nfs4.Unchecked4})
	wantSt(t, err, nfs4.ErrROFS)
	_, err = c.Open(ctx, dfh, "f", nfs4.ShareAccessWrite)
	wantSt(t, err, nfs4.ErrROFS)
	err = c.Remove(ctx, dfh, "f")
	wantSt(t, err, nfs4.ErrROFS)
	f, err := c.Open(ctx, dfh, "f", nfs4.ShareAccessRead)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Write(ctx, f.FH, f.SID(), 0, []byte("x"), nfs4.FileSync4)
	wantSt(t, err, nfs4.ErrROFS, nfs4.ErrOpenMode)
	c.CloseFile(ctx, f)
}

func TestExportsForgedHandles(t *testing.T) {
	top := t.TempDir()
	exp, outside := filepath.Join(top, "exp"), filepath.Join(top, "outside")
	for _, d := range []string{exp, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("no"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(exp, "f"), []byte("yes"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, err := dir.New(exp, dir.Options{})
	if err != nil {
		t.Skipf("dir backend: %v", err)
	}
	defer fs.Close()
	addr, _ := startExports(t, []nfs4srv.ExportConfig{{Path: "/e", FS: fs, Source: exp}})
	c := dial(t, addr, 1)
	ctx := ctxT(t)
	good, err := c.LookupPath(ctx, "e/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAttr(ctx, good, nil); err != nil {
		t.Fatal(err)
	}
	// Every single-bit flip is refused.
	for i := range len(good) * 8 {
		bad := slices.Clone(good)
		bad[i/8] ^= 1 << (i % 8)
		_, err := c.GetAttr(ctx, bad, nil)
		wantSt(t, err, nfs4.ErrBadHandle, nfs4.ErrStale)
	}
	// The kernel handle of a file outside the export, in the backend's
	// layout (version, type, f_handle, 8-byte MAC) under our header.
	kh, _, err := unix.NameToHandleAt(unix.AT_FDCWD, secret, 0)
	if err != nil {
		t.Skipf("name_to_handle_at: %v", err)
	}
	forged := slices.Clone(good[:5])
	forged = append(forged, 1)
	forged = binary.BigEndian.AppendUint32(forged, uint32(kh.Type()))
	forged = append(forged, kh.Bytes()...)
	forged = append(forged, make([]byte, 8)...)
	_, err = c.GetAttr(ctx, forged, nil)
	wantSt(t, err, nfs4.ErrBadHandle, nfs4.ErrStale)
	_, err = c.OpenFH(ctx, forged, nfs4.ShareAccessRead)
	wantSt(t, err, nfs4.ErrBadHandle, nfs4.ErrStale)
}

func TestExportsSecInfo(t *testing.T) {
	addr, _ := startExports(t, []nfs4srv.ExportConfig{
		{Path: "/sys", FS: mem.New(), Source: "s", Sec: []rpc.AuthFlavor{rpc.AuthSys}},
		{Path: "/any", FS: mem.New(), Source: "a", Sec: []rpc.AuthFlavor{rpc.AuthNone, rpc.AuthSys}},
	})
	c := dial(t, addr, 1)
	ctx := ctxT(t)
	flavors := func(res *nfs4.CompoundRes, i int) []uint32 {
		var f []uint32
		switch r := res.Results[i].Res.(type) {
		case *nfs4.SecInfoRes:
			for _, s := range r.Flavors {
				f = append(f, s.Flavor)
			}
		case *nfs4.SecInfoNoNameRes:
			for _, s := range r.Flavors {
				f = append(f, s.Flavor)
			}
		}
		return f
	}
	secinfo := func(name string) nfs4.ArgOp {
		return nfs4.ArgOp{Op: nfs4.OpSecInfo, Args: &nfs4.SecInfoArgs{Name: []byte(name)}}
	}
	noName := func(style uint32) nfs4.ArgOp {
		return nfs4.ArgOp{Op: nfs4.OpSecInfoNoName, Args: &nfs4.SecInfoNoNameArgs{Style: style}}
	}
	for name, want := range map[string][]uint32{"sys": {1}, "any": {0, 1}} {
		res, err := c.Do(ctx, nfs4client.PutRootFH(), secinfo(name))
		if err != nil {
			t.Fatal(err)
		}
		if got := flavors(res, 1); !slices.Equal(got, want) {
			t.Errorf("SECINFO %s: %v, want %v", name, got, want)
		}
		res, err = c.Do(ctx, nfs4client.PutRootFH(), nfs4client.Lookup(name), noName(nfs4.SecInfoStyleCurrentFH))
		if err != nil {
			t.Fatal(err)
		}
		if got := flavors(res, 2); !slices.Equal(got, want) {
			t.Errorf("SECINFO_NO_NAME %s: %v, want %v", name, got, want)
		}
		res, err = c.Do(ctx, nfs4client.PutRootFH(), nfs4client.Lookup(name), noName(nfs4.SecInfoStyleParent))
		if err != nil {
			t.Fatal(err)
		}
		if got := flavors(res, 2); !slices.Equal(got, []uint32{1, 0}) {
			t.Errorf("SECINFO_NO_NAME parent of %s: %v, want the pseudo root's [1 0]", name, got)
		}
	}
	fh, err := c.LookupPath(ctx, "sys")
	if err != nil {
		t.Fatal(err)
	}
	none := nfs4client.WithCred(ctx, rpc.Auth{Flavor: rpc.AuthNone})
	_, err = c.LookupPath(none, "sys")
	wantSt(t, err, nfs4.ErrWrongSec)
	_, err = c.GetAttr(none, fh, nil)
	wantSt(t, err, nfs4.ErrWrongSec)
	// SECINFO itself works with any flavour.
	if _, err := c.Do(none, nfs4client.PutFH(fh), noName(nfs4.SecInfoStyleCurrentFH)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupPath(none, "any"); err != nil {
		t.Fatal(err)
	}
}

// TestExportsConfigReload runs fs_serv with --config and reloads it with
// SIGHUP on the same client connection.
func TestExportsConfigReload(t *testing.T) {
	top := t.TempDir()
	da, db := filepath.Join(top, "a"), filepath.Join(top, "b")
	for _, d := range []string{da, db} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(top, "exports")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# test\n/a " + da + " rw,no_root_squash\n")
	srv := testbin.StartFsServ(t, "-p", "0", "--listen", "127.0.0.1", "--state-dir", "none", "--config", cfg)
	c := dial(t, srv.Addr, 1)
	ctx := ctxT(t)
	fa, err := c.LookupPath(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mkdir(ctx, fa, "made"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(da, "made")); err != nil || st.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
		t.Fatalf("made: %v", err)
	}
	hup := func() {
		t.Helper()
		if err := syscall.Kill(srv.PID(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); !ok(); {
			if time.Now().After(end) {
				t.Fatalf("after SIGHUP: %s did not happen", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	write("/a " + da + " ro,no_root_squash\n/b " + db + "\n")
	hup()
	eventually("/b appears", func() bool { _, err := c.LookupPath(ctx, "b"); return err == nil })
	_, err = c.Mkdir(ctx, fa, "more")
	wantSt(t, err, nfs4.ErrROFS)

	write("/b " + db + "\n")
	hup()
	eventually("/a goes stale", func() bool {
		_, err := c.GetAttr(ctx, fa, nil)
		return errors.Is(err, nfs4.ErrStale)
	})

	// A broken file keeps the running exports.
	write("/b relative/path\n")
	hup()
	time.Sleep(200 * time.Millisecond)
	if _, err := c.LookupPath(ctx, "b"); err != nil {
		t.Fatal(err)
	}
}
