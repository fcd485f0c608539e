package nfs4srv

import (
	"context"
	"slices"
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcgss"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// gssEnv serves two exports: /k accepts krb5i only (root_squash, anon
// 7/8), /s AUTH_SYS only. Both roots are world-writable.
func gssEnv(t *testing.T) *Server {
	var list []ExportConfig
	for _, ec := range []ExportConfig{
		{Path: "/k", Source: "k", Sec: []rpc.AuthFlavor{rpcgss.Krb5i}, Squash: RootSquash, Anon: &fsadapters.Cred{UID: 7, GID: 8}},
		{Path: "/s", Source: "s", Sec: []rpc.AuthFlavor{rpc.AuthSys}},
	} {
		m := mem.New()
		if _, err := m.SetAttr(context.Background(), &fsadapters.Cred{}, m.Root(), &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o777}); err != nil {
			t.Fatal(err)
		}
		ec.FS = m
		list = append(list, ec)
	}
	s := New(Config{Exports: list})
	t.Cleanup(s.Close)
	return s
}

// runAs sends a COMPOUND through ServeRPC as an RPCSEC_GSS call that
// rpcgss.Handler has accepted with identity id (nil: as AUTH_SYS uid 0).
func runAs(t *testing.T, s *Server, id *rpcgss.Identity, ops ...nfs4.ArgOp) *nfs4.CompoundRes {
	t.Helper()
	var enc xdr.Encoder
	(&nfs4.CompoundArgs{Tag: []byte("t"), Ops: ops}).Encode(&enc)
	call := &rpcsrv.Call{CallHeader: rpc.CallHeader{Prog: nfs4.Program, Vers: nfs4.Version, Proc: nfs4.ProcCompound,
		Cred: rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "m"})}, Args: enc.Buf}
	ctx := context.Background()
	if id != nil {
		call.Cred = rpc.Auth{Flavor: rpc.RPCSecGSS, Body: []byte("opaque")}
		ctx = rpcgss.NewContext(ctx, id)
	}
	rep := s.ServeRPC(ctx, call)
	if rep.Denied || rep.Accept != rpc.Success {
		t.Fatalf("reply %+v", rep)
	}
	var body []byte
	for _, b := range rep.Body {
		body = append(body, b...)
	}
	if rep.Release != nil {
		rep.Release()
	}
	var res nfs4.CompoundRes
	d := xdr.NewDecoder(body)
	res.Decode(d)
	if d.Err() != nil {
		t.Fatal(d.Err())
	}
	return &res
}

func TestGSSIdentityAndPolicy(t *testing.T) {
	s := gssEnv(t)
	alice := &rpcgss.Identity{Flavor: rpcgss.Krb5i, Principal: "alice@EX", Mapped: true, Cred: fsadapters.Cred{UID: 1000, GID: 100}}
	owner := func(id *rpcgss.Identity, name string) string {
		t.Helper()
		r := runAs(t, s, id, putRoot(), lookup("k"), mkdirOp(name, 0o755), getattr(nfs4.AttrOwner, nfs4.AttrOwnerGroup))
		if r.Status != nfs4.OK {
			t.Fatalf("%s: mkdir as %+v: status %d", name, id, r.Status)
		}
		a := attrsOf(t, r, 3)
		return string(a.Owner) + ":" + string(a.OwnerGroup)
	}
	if got := owner(alice, "a"); got != "1000:100" {
		t.Errorf("mapped principal created as %s, want 1000:100", got)
	}
	root := &rpcgss.Identity{Flavor: rpcgss.Krb5i, Principal: "root@EX", Mapped: true}
	if got := owner(root, "r"); got != "7:8" {
		t.Errorf("root@REALM on a root_squash export created as %s, want the anonymous 7:8", got)
	}
	machine := &rpcgss.Identity{Flavor: rpcgss.Krb5i, Principal: "nfs/host@EX"}
	if got := owner(machine, "m"); got != "7:8" {
		t.Errorf("unmapped principal created as %s, want the anonymous 7:8", got)
	}
	// Another service than the export allows: WRONGSEC; so is krb5i on
	// the AUTH_SYS export, and AUTH_SYS on the krb5i one.
	for _, tc := range []struct {
		id   *rpcgss.Identity
		path string
	}{
		{&rpcgss.Identity{Flavor: rpcgss.Krb5, Principal: "alice@EX", Mapped: true}, "k"},
		{&rpcgss.Identity{Flavor: rpcgss.Krb5p, Principal: "alice@EX", Mapped: true}, "k"},
		{alice, "s"},
		{nil, "k"},
	} {
		r := runAs(t, s, tc.id, putRoot(), lookup(tc.path), getattr(nfs4.AttrType))
		if r.Status != nfs4.ErrWrongSec {
			t.Errorf("%+v on /%s: status %d, want WRONGSEC", tc.id, tc.path, r.Status)
		}
	}
	// The pseudo root admits krb5i (an export uses it) besides sys/none.
	if r := runAs(t, s, alice, putRoot(), getattr(nfs4.AttrType)); r.Status != nfs4.OK {
		t.Errorf("krb5i on the pseudo root: %d", r.Status)
	}
	if r := runAs(t, s, &rpcgss.Identity{Flavor: rpcgss.Krb5p, Principal: "x@EX"}, putRoot(), getattr(nfs4.AttrType)); r.Status != nfs4.ErrWrongSec {
		t.Errorf("krb5p (no export uses it) on the pseudo root: %d, want WRONGSEC", r.Status)
	}
}

func TestGSSSecInfo(t *testing.T) {
	s := gssEnv(t)
	r := runAs(t, s, nil, putRoot(), nfs4.ArgOp{Op: nfs4.OpSecInfo, Args: &nfs4.SecInfoArgs{Name: []byte("k")}})
	if r.Status != nfs4.OK {
		t.Fatalf("SECINFO: %d", r.Status)
	}
	got := r.Results[1].Res.(*nfs4.SecInfoRes).Flavors
	if len(got) != 1 || got[0].Flavor != uint32(rpc.RPCSecGSS) || got[0].Service != uint32(rpcgss.ServiceIntegrity) ||
		got[0].QOP != 0 || !slices.Equal(got[0].OID, rpcgss.KerberosOID) {
		t.Fatalf("SECINFO k: %+v", got)
	}
	r = runAs(t, s, nil, putRoot(), nfs4.ArgOp{Op: nfs4.OpSecInfo, Args: &nfs4.SecInfoArgs{Name: []byte("s")}})
	if got := r.Results[1].Res.(*nfs4.SecInfoRes).Flavors; len(got) != 1 || got[0].Flavor != uint32(rpc.AuthSys) {
		t.Fatalf("SECINFO s: %+v", got)
	}
	// The encoding is rpcsec_gss_info (RFC 7530 §16.31.4).
	var e xdr.Encoder
	si := secInfoOf(rpcgss.Krb5p)
	si.Encode(&e)
	want := []byte{0, 0, 0, 6, 0, 0, 0, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0, 0, 0 /* pad */, 0, 0, 0, 0 /* qop */, 0, 0, 0, 3}
	if !slices.Equal(e.Buf, want) {
		t.Fatalf("krb5p secinfo4 = % x", e.Buf)
	}
	if err := CheckExports([]ExportConfig{{Path: "/a", FS: mem.New(), Sec: []rpc.AuthFlavor{390006}}}); err == nil {
		t.Fatal("unknown pseudo-flavor accepted")
	}
}

func TestGSSWithoutHandler(t *testing.T) {
	s := gssEnv(t)
	rep := s.ServeRPC(context.Background(), &rpcsrv.Call{CallHeader: rpc.CallHeader{Prog: nfs4.Program, Vers: nfs4.Version,
		Proc: nfs4.ProcCompound, Cred: rpc.Auth{Flavor: rpc.RPCSecGSS}}})
	if !rep.Denied || rep.AuthStat != rpc.AuthBadCred {
		t.Fatalf("RPCSEC_GSS without rpcgss.Handler: %+v", rep)
	}
}
