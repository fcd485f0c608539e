package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/internal/testbin"
)

func startFsServ(t *testing.T) (*testbin.Server, string) {
	dir := t.TempDir()
	srv := testbin.StartFsServ(t, "-p", "0", "--listen", "127.0.0.1", "--state-dir", "none", dir)
	return srv, dir
}

// TestLoad is issue 6's load test in small: 64 clients against a real
// fs_serv for 15 s (5 s with -short). No errors, no mismatches, and
// fs_serv's fds back to where they were.
func TestLoad(t *testing.T) {
	srv, export := startFsServ(t)
	cfg := DefaultConfig()
	cfg.Addr, cfg.PID = srv.Addr, srv.PID()
	cfg.Duration = 15 * time.Second
	if testing.Short() {
		cfg.Duration = 5 * time.Second
	}
	// Smaller files than `make load`: the race detector is slow and the
	// machine shared.
	cfg.MaxSize, cfg.LargeSize = 256<<10, 2<<20
	cfg.Settle = 10 * time.Second
	var out bytes.Buffer
	res, err := Run(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Mismatches != 0 {
		t.Errorf("%d errors, %d mismatches", res.Errors, res.Mismatches)
	}
	if !res.Sampled || res.Before.FDs == 0 {
		t.Fatal("fs_serv's fds were not sampled")
	}
	if res.After.FDs > res.Before.FDs+cfg.FDSlack || len(res.Leaks) != 0 {
		t.Errorf("fd leak: %d before, %d after; %v", res.Before.FDs, res.After.FDs, res.Leaks)
	}
	// The mix really ran: every kind of operation, by every client.
	for _, o := range res.Ops {
		if o.Count == 0 {
			t.Errorf("no %s operations", o.Name)
		}
		if o.P99 < o.P50 || o.Max < o.P99 {
			t.Errorf("%s: p50 %v p99 %v max %v out of order", o.Name, o.P50, o.P99, o.Max)
		}
	}
	if got := res.Ops[opSession].Count; got != uint64(cfg.Clients)+1 {
		t.Errorf("%d sessions, want %d", got, cfg.Clients+1)
	}
	if res.BytesWritten == 0 || res.BytesRead < res.BytesWritten/2 {
		t.Errorf("wrote %d bytes, read %d", res.BytesWritten, res.BytesRead)
	}
	if !res.Pass() || !strings.Contains(out.String(), "PASS") {
		t.Error("run did not pass")
	}
	// The clients cleaned up after themselves.
	if ents, err := os.ReadDir(export); err != nil || len(ents) != 0 {
		t.Errorf("export not empty after the run: %d entries, %v", len(ents), err)
	}
}

// setupWorker connects one client to a fresh fs_serv and gives it a
// directory; it returns the worker and the directory's path on disk.
func setupWorker(t *testing.T) (*worker, string) {
	srv, dir := startFsServ(t)
	cfg := DefaultConfig()
	cfg.Addr, cfg.MaxSize, cfg.LargeProb = srv.Addr, 64<<10, 0
	r := &run{cfg: cfg}
	ctx := context.Background()
	c, err := newClient(ctx, r, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	root, err := c.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorker(r, 0)
	w.c = c
	if w.dir, err = c.Mkdir(ctx, root, "c"); err != nil {
		t.Fatal(err)
	}
	return w, filepath.Join(dir, "c")
}

func lastFile(t *testing.T, w *worker) *file {
	t.Helper()
	for len(w.files) == 0 || len(w.files[len(w.files)-1].data) < 2 {
		if !w.create() {
			t.Fatalf("create failed: %v", w.r.failures)
		}
	}
	return w.files[len(w.files)-1]
}

// The checks can fail: data changed behind the client's back is caught by
// the sha256 comparison, and by the change attribute.
func TestDetectsCorruption(t *testing.T) {
	w, dir := setupWorker(t)
	f := lastFile(t, w)
	if !w.verify(f) || !w.stat(f) || w.r.mismatches.Load() != 0 {
		t.Fatalf("clean file fails: %v", w.r.failures)
	}
	// Flip one byte on disk, keeping the size (a little later, so even a
	// coarse ctime moves).
	time.Sleep(20 * time.Millisecond)
	p := filepath.Join(dir, f.name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x55
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if w.stat(f) {
		t.Error("stat: change attribute moved without a client write, not reported")
	}
	f.changeKnown = false // now only the contents can tell
	if w.verify(f) {
		t.Error("verify: corrupted contents not reported")
	}
	if n := w.r.mismatches.Load(); n != 2 || !strings.Contains(strings.Join(w.r.failures, "\n"), "sha256 differs") {
		t.Errorf("%d mismatches: %v", n, w.r.failures)
	}
}

// A listing with a file the client does not know about is a mismatch, and
// so is a file that vanished.
func TestDetectsForeignEntries(t *testing.T) {
	w, dir := setupWorker(t)
	f := lastFile(t, w)
	if !w.readdir() {
		t.Fatalf("clean readdir fails: %v", w.r.failures)
	}
	if err := os.WriteFile(filepath.Join(dir, "intruder"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if w.readdir() {
		t.Error("extra entry not reported")
	}
	os.Remove(filepath.Join(dir, "intruder"))
	if err := os.Remove(filepath.Join(dir, f.name)); err != nil {
		t.Fatal(err)
	}
	if w.readdir() {
		t.Error("missing entry not reported")
	}
	if w.r.mismatches.Load() != 2 {
		t.Errorf("mismatches: %v", w.r.failures)
	}
	// resync empties the directory and the bookkeeping.
	if !w.resync() || len(w.files) != 0 || !w.readdir() {
		t.Errorf("resync: %v", w.r.failures)
	}
}

// Each action keeps the bookkeeping in step with the server.
func TestActions(t *testing.T) {
	w, _ := setupWorker(t)
	f := lastFile(t, w)
	for i := range 20 {
		for _, a := range []func() bool{
			func() bool { return w.overwrite(f) },
			func() bool { return w.stat(f) },
			func() bool { return w.rename(f) },
			func() bool { return w.verify(f) },
			w.readdir,
		} {
			if !a() {
				t.Fatalf("round %d: %v", i, w.r.failures)
			}
		}
	}
	if !w.remove(f) || !w.readdir() {
		t.Fatalf("remove: %v", w.r.failures)
	}
	if w.r.mismatches.Load() != 0 || w.r.errs[opWrite].Load() != 0 {
		t.Fatalf("%v", w.r.failures)
	}
}

// fd leaks are detected: the test's own process opens files after the
// "before" sample.
func TestSettleDetectsFDLeak(t *testing.T) {
	cfg := Config{PID: os.Getpid(), Settle: 300 * time.Millisecond, FDSlack: 2}
	before, err := procStats(cfg.PID, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, leaks := settle(cfg, before); len(leaks) != 0 {
		t.Fatalf("no leak yet: %v", leaks)
	}
	for range 5 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	after, leaks := settle(cfg, before)
	if len(leaks) != 1 || after.FDs < before.FDs+5 || after.Threads == 0 || after.RSS == 0 {
		t.Fatalf("before %v after %v leaks %v", before, after, leaks)
	}
}

// Quantiles are within the histogram's 1/64 resolution of the exact ones.
func TestHistQuantiles(t *testing.T) {
	var h hist
	rng := rand.New(rand.NewPCG(1, 2))
	var vals []time.Duration
	for range 100000 {
		v := time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if d := float64(got - exact); d < 0 || d > float64(exact)/64+1 {
			t.Errorf("q%.3f: %v, exact %v", q, got, exact)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Quantile(1) != h.Max() || h.Count() != uint64(len(vals)) {
		t.Errorf("max %v q1 %v count %d", h.Max(), h.Quantile(1), h.Count())
	}
	for _, v := range []uint64{0, 1, 127, 128, 129, 1 << 20, 1<<20 + 12345, 1 << 62} {
		i := bucketOf(v)
		if bucketTop(i) < v || (i > 0 && bucketTop(i-1) >= v) {
			t.Errorf("%d: bucket %d spans (%d, %d]", v, i, bucketTop(i-1), bucketTop(i))
		}
	}
	var empty hist
	if empty.Quantile(0.99) != 0 {
		t.Error("empty histogram")
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, a := range []string{"192.0.2.1:2049", "[2001:db8::1]:2049"} {
		if _, err := Run(context.Background(), Config{Addr: a}, new(bytes.Buffer)); err == nil ||
			!strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v", a, err)
		}
	}
}

// With a metrics endpoint, go_goroutines is read and a rise beyond the
// slack is a leak.
func TestGoroutinesFromMetrics(t *testing.T) {
	var n atomic.Int64
	n.Store(10)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\n"+
			"go_goroutines_other 5\ngo_goroutines %d\n", n.Load())
	}))
	defer ts.Close()
	cfg := Config{PID: os.Getpid(), Metrics: strings.TrimPrefix(ts.URL, "http://"), Settle: 200 * time.Millisecond,
		FDSlack: 1000, GoroutineSlack: 8}
	before, err := procStats(cfg.PID, cfg.Metrics)
	if err != nil || before.Goroutines != 10 {
		t.Fatalf("goroutines %d, %v", before.Goroutines, err)
	}
	n.Store(15)
	if _, leaks := settle(cfg, before); len(leaks) != 0 {
		t.Errorf("within slack: %v", leaks)
	}
	n.Store(40)
	if a, leaks := settle(cfg, before); len(leaks) != 1 || a.Goroutines != 40 {
		t.Errorf("goroutines %d: leaks %v", a.Goroutines, leaks)
	}
	if _, err := scrapeGauge(ts.URL+"/metrics", "no_such_metric"); err == nil {
		t.Error("missing metric not reported")
	}
}
