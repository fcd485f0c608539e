package nfs4srv

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

func TestBuildTableRejects(t *testing.T) {
	m := mem.New()
	for _, tc := range []struct {
		list []ExportConfig
		want string
	}{
		{[]ExportConfig{{Path: "rel", FS: m}}, "not absolute"},
		{[]ExportConfig{{Path: "/a", FS: m}, {Path: "/a/", FS: m}}, "twice"},
		{[]ExportConfig{{Path: "/", FS: m}, {Path: "/b", FS: m}}, "only one"},
		{[]ExportConfig{{Path: "/a", FS: m}, {Path: "/a/b", FS: m}}, "nest"},
		{[]ExportConfig{{Path: "/a"}}, "no filesystem"},
		{[]ExportConfig{{Path: "/a", FS: m, Sec: []rpc.AuthFlavor{6}}}, "flavour"},
		{[]ExportConfig{{Path: "/a", FS: m, Sec: []rpc.AuthFlavor{}}}, "flavour"},
		{[]ExportConfig{{Path: "/a", FS: m, Clients: []netip.Prefix{{}}}}, "client"},
	} {
		err := CheckExports(tc.list)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error about %q", tc.list, err, tc.want)
		}
	}
	if err := CheckExports([]ExportConfig{{Path: "/a/b", FS: m}, {Path: "/a/c", FS: m}, {Path: "/ab", FS: m}}); err != nil {
		t.Errorf("siblings refused: %v", err)
	}
}

// Export ids depend on path and source only, so reloads keep handles.
func TestExportIDStable(t *testing.T) {
	if exportID("/", "") != legacyRootID {
		t.Error("the legacy root export must keep id 0")
	}
	a := exportID("/data", "/srv/data")
	if a != exportID("/data", "/srv/data") || a == exportID("/data", "/srv/other") || a == exportID("/dat", "/srv/data") {
		t.Error("export ids not a function of (path, source)")
	}
	t1, err := buildTable([]ExportConfig{{Path: "/x", FS: mem.New(), Source: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	t2, err := buildTable([]ExportConfig{{Path: "/y", FS: mem.New(), Source: "t"}, {Path: "/x", FS: mem.New(), Source: "s", ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	if t1.list[0].id != t2.list[1].id || string(t1.root.root) != string(t2.root.root) {
		t.Error("export id or pseudo root handle changed with the table")
	}
	if t1.list[0].caps.FSIDMajor == t2.list[0].caps.FSIDMajor {
		t.Error("two exports share an fsid")
	}
}

func TestCredFor(t *testing.T) {
	anon := fsadapters.Cred{UID: 7, GID: 8}
	groups := []uint32{5, 0, 9}
	raw := fsadapters.Cred{UID: 0, GID: 0, Groups: groups}
	user := fsadapters.Cred{UID: 1000, GID: 100, Groups: []uint32{0}}
	e := &export{squash: RootSquash, anon: anon}
	got := e.credFor(raw, rpc.AuthSys)
	if got.UID != 7 || got.GID != 8 || !slices.Equal(got.Groups, []uint32{5, 8, 9}) {
		t.Errorf("root_squash of root: %+v", got)
	}
	if !slices.Equal(groups, []uint32{5, 0, 9}) {
		t.Error("squashing changed the caller's group slice")
	}
	if got := e.credFor(user, rpc.AuthSys); got.UID != 1000 || got.GID != 100 || got.Groups[0] != 8 {
		t.Errorf("root_squash of a user in group 0: %+v", got)
	}
	if got := e.credFor(user, rpc.AuthNone); got.UID != 7 || got.GID != 8 || got.Groups != nil {
		t.Errorf("AUTH_NONE: %+v", got)
	}
	e.squash = AllSquash
	if got := e.credFor(user, rpc.AuthSys); got.UID != 7 || got.GID != 8 || got.Groups != nil {
		t.Errorf("all_squash: %+v", got)
	}
	e.squash = NoSquash
	if got := e.credFor(raw, rpc.AuthSys); got.UID != 0 || !slices.Equal(got.Groups, groups) {
		t.Errorf("no_root_squash: %+v", got)
	}
}

// The pseudo filesystem lists children by cookie and hides exports a
// client may not use.
func TestPseudoFSReadDir(t *testing.T) {
	tab, err := buildTable([]ExportConfig{
		{Path: "/a", FS: mem.New(), Source: "1"},
		{Path: "/b/x", FS: mem.New(), Source: "2", Clients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		{Path: "/c", FS: mem.New(), Source: "3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pfs := tab.root.fs.(*pseudoFS)
	list := func(ctx context.Context, cookie uint64) (names []string, last uint64) {
		_, eof, err := pfs.ReadDir(ctx, nil, pfs.Root(), cookie, fsadapters.CookieVerf{}, func(e *fsadapters.DirEntry) bool {
			names = append(names, e.Name)
			last = e.Cookie
			return len(names) < 2
		})
		if err != nil {
			t.Fatal(err)
		}
		if eof != (len(names) < 2) {
			t.Errorf("eof %v after %q", eof, names)
		}
		return names, last
	}
	in := context.WithValue(context.Background(), peerKey{}, netip.MustParseAddr("10.1.2.3"))
	out := context.WithValue(context.Background(), peerKey{}, netip.MustParseAddr("192.168.1.1"))
	n, last := list(in, 0)
	if !slices.Equal(n, []string{"a", "b"}) {
		t.Fatalf("first page %q", n)
	}
	if n, _ := list(in, last); !slices.Equal(n, []string{"c"}) {
		t.Errorf("second page %q", n)
	}
	if n, _ := list(out, 0); !slices.Equal(n, []string{"a", "c"}) {
		t.Errorf("outsider sees %q", n)
	}
	if _, _, err := pfs.Lookup(out, nil, pfs.Root(), "b"); err == nil {
		t.Error("outsider can look up b")
	}
	h, _, err := pfs.Lookup(in, nil, pfs.Root(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err := pfs.LookupParent(in, nil, h); err != nil || string(p) != string(pfs.Root()) {
		t.Errorf("LookupParent: %x %v", p, err)
	}
	if _, _, err := pfs.ReadDir(in, nil, pfs.Root(), 99, fsadapters.CookieVerf{}, func(*fsadapters.DirEntry) bool { return true }); err == nil {
		t.Error("bad cookie accepted")
	}
	if err := pfs.CheckHandle(in, []byte("12345678")); err != fsadapters.ErrStale {
		t.Errorf("unknown pseudo handle: %v", err)
	}
}
