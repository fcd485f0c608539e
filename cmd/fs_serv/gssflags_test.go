package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcgss"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

func TestParseSecKerberos(t *testing.T) {
	var ec nfs4srv.ExportConfig
	var bo backendOpts
	if err := parseExportOptions("rw,sec=krb5p:krb5i:krb5:sys", &ec, &bo); err != nil {
		t.Fatal(err)
	}
	if want := []rpc.AuthFlavor{390005, 390004, 390003, rpc.AuthSys}; !slices.Equal(ec.Sec, want) {
		t.Fatalf("sec %v, want %v", ec.Sec, want)
	}
	if err := parseExportOptions("sec=krb5x", &ec, &bo); err == nil {
		t.Fatal("sec=krb5x accepted")
	}
}

func TestGSSFlags(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	next := rpcsrv.HandlerFunc(func(context.Context, *rpcsrv.Call) rpcsrv.Reply { return rpcsrv.Success() })
	parse := func(args ...string) *gssFlags {
		fl := flag.NewFlagSet("t", flag.ContinueOnError)
		g := addGSSFlags(fl)
		if err := fl.Parse(args); err != nil {
			t.Fatal(err)
		}
		return g
	}
	h, err := parse("--keytab", "none").wrap(next, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, gss := h.(*rpcgss.Handler); gss {
		t.Fatal("--keytab none still wraps the handler")
	}
	if _, err := parse("--keytab", filepath.Join(t.TempDir(), "missing")).wrap(next, log); err == nil {
		t.Fatal("a missing explicit keytab is not an error")
	}
}
