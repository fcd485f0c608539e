package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
)

func TestParseConfig(t *testing.T) {
	specs, err := parseConfig(`
# pseudo  source        options
/data     /srv/data     rw,all_squash,anonuid=1000,anongid=100,client=127.0.0.1/32,client=10.0.0.0/8+::1
/iso      /img/x.iso    ro,type=iso9660,partition=2,sec=sys:none   # trailing comment
/scratch  mem
`, "exports")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 3 {
		t.Fatalf("%d specs", len(specs))
	}
	d := specs[0].ec
	if d.Path != "/data" || d.ReadOnly || d.Squash != nfs4srv.AllSquash || d.Anon == nil || d.Anon.UID != 1000 || d.Anon.GID != 100 {
		t.Errorf("/data: %+v", d)
	}
	wantNets := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !slices.Equal(d.Clients, wantNets) {
		t.Errorf("/data clients %v", d.Clients)
	}
	if !slices.Equal(d.Sec, []rpc.AuthFlavor{rpc.AuthSys}) {
		t.Errorf("default sec %v, want sys (exports(5))", d.Sec)
	}
	iso := specs[1]
	if !iso.ec.ReadOnly || iso.bo.typ != "iso9660" || iso.bo.partition != 2 || !slices.Equal(iso.ec.Sec, []rpc.AuthFlavor{rpc.AuthSys, rpc.AuthNone}) {
		t.Errorf("/iso: %+v", iso)
	}
	if iso.ec.Squash != nfs4srv.RootSquash || specs[2].ec.Squash != nfs4srv.RootSquash || specs[2].source != "mem" {
		t.Error("config exports must default to root_squash")
	}
	if !strings.HasPrefix(iso.where, "exports:4") {
		t.Errorf("where %q", iso.where)
	}

	for _, bad := range []string{
		"/a",                     // no source
		"/a relative",            // relative source
		"/a /x ro extra",         // too many fields
		"/a /x rw,bogus",         // unknown option
		"/a /x sec=krb6",         // unsupported flavour
		"/a /x client=300.0.0.1", // bad address
		"/a /x anonuid=-1",       // bad id
		"/a /x partition=0",      // partitions from 1
	} {
		if _, err := parseConfig(bad+"\n", "f"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The command-line export keeps the historical behaviour (no squashing,
// AUTH_NONE allowed) unless asked.
func TestSingleExportDefaults(t *testing.T) {
	no, off := "", false
	l := newExportLoader(&exportFlags{config: &no, opts: &no, rootSquash: &off}, "", nil)
	list, err := l.single(nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := list[0]; e.Path != "/" || e.Squash != nfs4srv.NoSquash || e.ReadOnly || len(e.Clients) != 0 || len(e.Sec) != 2 {
		t.Errorf("defaults: %+v", e)
	}
	on, opts := true, "ro,client=127.0.0.1"
	l = newExportLoader(&exportFlags{config: &no, opts: &opts, rootSquash: &on}, "", nil)
	list, err = l.single(nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := list[0]; e.Squash != nfs4srv.RootSquash || !e.ReadOnly || len(e.Clients) != 1 {
		t.Errorf("--root-squash -o %s: %+v", opts, e)
	}
}
