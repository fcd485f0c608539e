package e2e

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/internal/testbin"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// startServer runs the NFSv4 server in process over fs on a loopback port
// and returns its address.
func startServer(t testing.TB, fs fsadapters.FS) string {
	t.Helper()
	return startServerConfig(t, nfs4srv.Config{FS: fs})
}

// startServerConfig is startServer with a whole Config (lease time, …).
func startServerConfig(t testing.TB, cfg nfs4srv.Config) string {
	t.Helper()
	cfg.Log = slog.New(slog.DiscardHandler)
	nfs := nfs4srv.New(cfg)
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
	return l.Addr().String()
}

// startDirServer exports a new temporary directory in process; it returns
// the address and the directory.
func startDirServer(t testing.TB) (addr, root string) {
	t.Helper()
	root = t.TempDir()
	fs, err := dir.New(root, dir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, fs), root
}

// dial connects a client and sets up minor version minor (0: SETCLIENTID,
// else a session).
func dial(t testing.TB, addr string, minor uint32) *nfs4client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nfs4client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if minor == 0 {
		err = c.SetupClientID(ctx)
	} else {
		err = c.SetupSession(ctx, minor)
	}
	if err != nil {
		t.Fatalf("client setup (minor %d): %v", minor, err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startBinary runs fs_serv exporting dir on a free loopback port.
func startBinary(t *testing.T, dir string) *testbin.Server {
	t.Helper()
	return testbin.StartFsServ(t, "-p", "0", "--listen", "127.0.0.1", "--lease", "5s", dir)
}
