package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/metrics"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// env is an in-process NFS server with metrics on loopback, and its
// scrape URL.
type env struct {
	addr, url string
	nfs       *nfs4srv.Server
}

func start(t *testing.T) *env {
	t.Helper()
	nm := metrics.NewNFS()
	nfs := nfs4srv.New(nfs4srv.Config{FS: mem.New(), Log: slog.New(slog.DiscardHandler), Metrics: nm})
	srv := &rpcsrv.Server{Handler: nfs, DRC: nfs4srv.NewDRC(), Logf: func(string, ...any) {}}
	reg := metrics.NewRegistry()
	reg.Register(nfs)
	reg.Register(metrics.NewTransport(srv))
	reg.Register(metrics.Process())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	hs := httptest.NewServer(reg)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		nfs.Close()
	})
	return &env{addr: l.Addr().String(), url: hs.URL + "/metrics", nfs: nfs}
}

func (e *env) scrape(t *testing.T) *metrics.Exposition {
	t.Helper()
	resp, err := http.Get(e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	x, err := metrics.ParseExposition(string(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return x
}

func get(x *metrics.Exposition, name string, labels ...string) float64 {
	v, _ := x.Get(name, labels...)
	return v
}

// delta checks that a series grew by exactly d between two scrapes.
func delta(t *testing.T, before, after *metrics.Exposition, d float64, name string, labels ...string) {
	t.Helper()
	if got := get(after, name, labels...) - get(before, name, labels...); got != d {
		t.Errorf("%s%v grew by %v, want %v", name, labels, got, d)
	}
}

func TestServerMetrics(t *testing.T) {
	for _, minor := range []uint32{0, 1} {
		t.Run(map[uint32]string{0: "v4.0", 1: "v4.1"}[minor], func(t *testing.T) { testServerMetrics(t, minor) })
	}
}

func testServerMetrics(t *testing.T, minor uint32) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x0 := e.scrape(t)
	if get(x0, "fsbridge_connections_open") != 0 || get(x0, "fsbridge_nfs_clients", "state", "active") != 0 {
		t.Fatal("a fresh server has connections or clients")
	}

	c, err := nfs4client.Dial(ctx, e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if minor == 0 {
		err = c.SetupClientID(ctx)
	} else {
		err = c.SetupSession(ctx, minor)
	}
	if err != nil {
		t.Fatal(err)
	}
	root, err := c.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, root, "f", nfs4client.CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("metrics!"), 1000) // 8000 bytes

	x1 := e.scrape(t)
	if _, err := c.Write(ctx, f.FH, f.StateID, 0, data, nfs4.FileSync4); err != nil {
		t.Fatal(err)
	}
	x2 := e.scrape(t)
	delta(t, x1, x2, float64(len(data)), "fsbridge_nfs_write_bytes_total")
	delta(t, x1, x2, 1, "fsbridge_nfs_ops_total", "op", "WRITE")
	delta(t, x1, x2, 1, "fsbridge_nfs_op_duration_seconds_count", "op", "WRITE")
	delta(t, x1, x2, 1, "fsbridge_nfs_op_duration_seconds_bucket", "op", "WRITE", "le", "+Inf")
	delta(t, x1, x2, 1, "fsbridge_rpc_calls_total", "program", "nfs", "proc", "COMPOUND")
	delta(t, x1, x2, 1, "fsbridge_nfs_compound_duration_seconds_count")
	delta(t, x1, x2, 0, "fsbridge_nfs_read_bytes_total")

	got, _, err := c.Read(ctx, f.FH, f.StateID, 0, 1<<20)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	if _, err := c.LookupPath(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	_, err = c.LookupPath(ctx, "missing")
	if !errors.Is(err, nfs4.ErrNoEnt) {
		t.Fatalf("lookup of a missing name: %v", err)
	}
	x3 := e.scrape(t)
	delta(t, x2, x3, float64(len(data)), "fsbridge_nfs_read_bytes_total")
	delta(t, x2, x3, 1, "fsbridge_nfs_ops_total", "op", "READ")
	delta(t, x2, x3, 2, "fsbridge_nfs_ops_total", "op", "LOOKUP")
	delta(t, x2, x3, 1, "fsbridge_nfs_op_errors_total", "op", "LOOKUP", "status", "NFS4ERR_NOENT")
	delta(t, x2, x3, 0, "fsbridge_nfs_op_errors_total", "op", "READ", "status", "NFS4ERR_NOENT")
	// The GETFH after the failed LOOKUP never ran.
	delta(t, x2, x3, 1, "fsbridge_nfs_ops_total", "op", "GETFH")
	delta(t, x2, x3, 3, "fsbridge_rpc_calls_total", "program", "nfs", "proc", "COMPOUND")
	if minor == 1 {
		delta(t, x2, x3, 3, "fsbridge_nfs_ops_total", "op", "SEQUENCE")
	}
	// Every op's count agrees with its histogram.
	for _, op := range []string{"WRITE", "READ", "LOOKUP", "PUTROOTFH", "OPEN"} {
		n := get(x3, "fsbridge_nfs_ops_total", "op", op)
		if n == 0 || n != get(x3, "fsbridge_nfs_op_duration_seconds_count", "op", op) {
			t.Errorf("%s: ops_total %v, histogram count %v", op, n, get(x3, "fsbridge_nfs_op_duration_seconds_count", "op", op))
		}
	}

	// State and connections.
	want := func(v float64, name string, labels ...string) {
		t.Helper()
		if got := get(x3, name, labels...); got != v {
			t.Errorf("%s%v = %v, want %v", name, labels, got, v)
		}
	}
	want(1, "fsbridge_connections_open")
	want(1, "fsbridge_connections_accepted_total")
	want(0, "fsbridge_connections_refused_total")
	want(1, "fsbridge_nfs_clients", "state", "active")
	want(1, "fsbridge_nfs_opens")
	want(float64(minor), "fsbridge_nfs_sessions")
	if st := e.nfs.StateStats(); st.Clients != 1 || st.Opens != 1 {
		t.Errorf("StateStats %+v", st)
	}
	if g := get(x3, "go_goroutines"); g < 5 {
		t.Errorf("go_goroutines = %v", g)
	}
	if get(x3, "process_resident_memory_bytes") < 1<<20 || get(x3, "process_open_fds") < 3 {
		t.Error("process figures missing")
	}

	if err := c.CloseFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	if x := e.scrape(t); get(x, "fsbridge_nfs_opens") != 0 {
		t.Errorf("opens after CLOSE: %v", get(x, "fsbridge_nfs_opens"))
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		x := e.scrape(t)
		if get(x, "fsbridge_connections_open") == 0 && get(x, "fsbridge_connections_closed_total") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("closed connection still counted as open")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRPCRejections: calls refused before reaching COMPOUND are counted.
func TestRPCRejections(t *testing.T) {
	m := metrics.NewNFS()
	nfs := nfs4srv.New(nfs4srv.Config{FS: mem.New(), Log: slog.New(slog.DiscardHandler), Metrics: m})
	defer nfs.Close()
	ctx := context.Background()
	call := func(prog, vers, proc uint32) {
		c := &rpcsrv.Call{}
		c.Prog, c.Vers, c.Proc = prog, vers, proc
		nfs.ServeRPC(ctx, c)
	}
	call(nfs4.Program, nfs4.Version, nfs4.ProcNull)
	call(nfs4.Program, 3, 0)
	call(100005, 3, 0)
	call(nfs4.Program, nfs4.Version, 7)
	reg := metrics.NewRegistry()
	reg.Register(nfs)
	x, err := metrics.ParseExposition(string(reg.Gather()))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		v      float64
	}{
		{"fsbridge_rpc_calls_total", []string{"program", "nfs", "proc", "NULL"}, 1},
		{"fsbridge_rpc_calls_total", []string{"program", "nfs", "proc", "other"}, 2},
		{"fsbridge_rpc_calls_total", []string{"program", "other", "proc", "other"}, 1},
		{"fsbridge_rpc_rejected_total", []string{"reason", "prog_mismatch"}, 1},
		{"fsbridge_rpc_rejected_total", []string{"reason", "prog_unavail"}, 1},
		{"fsbridge_rpc_rejected_total", []string{"reason", "proc_unavail"}, 1},
		{"fsbridge_rpc_rejected_total", []string{"reason", "auth"}, 0},
	} {
		if got := get(x, c.name, c.labels...); got != c.v {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.v)
		}
	}
}
