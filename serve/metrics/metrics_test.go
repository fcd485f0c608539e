package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

func parse(t *testing.T, b []byte) *Exposition {
	t.Helper()
	e, err := ParseExposition(string(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return e
}

func want(t *testing.T, e *Exposition, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := e.Get(name, labels...)
	if !ok {
		t.Errorf("%s%v missing", name, labels)
		return
	}
	if got != v {
		t.Errorf("%s%v = %v, want %v", name, labels, got, v)
	}
}

func TestWriterEscapes(t *testing.T) {
	var w Writer
	w.Family("x_total", TypeCounter, "help with \\ and\nnewline")
	w.Uint("x_total", 7, "path", "a\"b\\c\nd", "op", "READ")
	w.Family("y", TypeGauge, "g")
	w.Float("y", 0.25)
	w.Int("y", -3, "k", "v")
	out := string(w.Bytes())
	if !strings.Contains(out, `# HELP x_total help with \\ and\nnewline`) {
		t.Errorf("HELP not escaped:\n%s", out)
	}
	if !strings.Contains(out, `x_total{path="a\"b\\c\nd",op="READ"} 7`) {
		t.Errorf("label not escaped:\n%s", out)
	}
	e := parse(t, w.Bytes())
	want(t, e, 7, "x_total", "path", "a\"b\\c\nd", "op", "READ")
	want(t, e, 0.25, "y")
	want(t, e, -3, "y", "k", "v")
}

func TestParserRejects(t *testing.T) {
	for _, bad := range []string{
		"x 1\n",                                    // no family
		"# HELP x h\n# TYPE x counter\nx -1\n",     // negative counter
		"# HELP x h\n# TYPE x counter\ny 1\n",      // outside family
		"# HELP x h\n# TYPE x gauge\nx{a=\"b} 1\n", // unterminated
		"# HELP x h\n# TYPE x gauge\nx 1\nx 2\n",   // duplicate series
		"# HELP x h\n# TYPE x gauge\n# HELP x h\n# TYPE x gauge\n",
		"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
		"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\nh_count 1\n",
		"# HELP x h\n# TYPE x gauge\nx 1", // no final newline
	} {
		if _, err := ParseExposition(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{0, 50 * time.Microsecond, 60 * time.Microsecond, 3 * time.Millisecond, 2 * time.Second, 20 * time.Second} {
		h.Observe(d)
	}
	var w Writer
	w.Family("lat_seconds", TypeHistogram, "latency")
	w.Histogram("lat_seconds", &h, "op", "READ")
	e := parse(t, w.Bytes())
	for le, n := range map[string]float64{"5e-05": -1, "0.00005": 2, "0.0001": 3, "0.0025": 3, "0.005": 4, "1": 4, "2.5": 5, "10": 5, "+Inf": 6} {
		if n < 0 {
			if _, ok := e.Get("lat_seconds_bucket", "op", "READ", "le", le); ok {
				t.Errorf("le %q should be written as decimal", le)
			}
			continue
		}
		want(t, e, n, "lat_seconds_bucket", "op", "READ", "le", le)
	}
	want(t, e, 6, "lat_seconds_count", "op", "READ")
	sum := (50*time.Microsecond + 60*time.Microsecond + 3*time.Millisecond + 22*time.Second).Seconds()
	want(t, e, sum, "lat_seconds_sum", "op", "READ")
	if h.Count() != 6 {
		t.Errorf("Count = %d", h.Count())
	}
}

func TestNFSCollect(t *testing.T) {
	m := NewNFS()
	m.RPC(nfs4.Program, nfs4.Version, nfs4.ProcCompound)
	m.RPC(nfs4.Program, nfs4.Version, nfs4.ProcCompound)
	m.RPC(nfs4.Program, nfs4.Version, nfs4.ProcNull)
	m.RPC(nfs4.Program, 3, 0)
	m.RPC(100005, 3, 1)
	m.Rejected(RejectProgMismatch)
	m.Op(nfs4.OpLookup, nfs4.OK, time.Millisecond)
	m.Op(nfs4.OpLookup, nfs4.ErrNoEnt, 30*time.Microsecond)
	m.Op(nfs4.OpLookup, nfs4.ErrNoEnt, 30*time.Microsecond)
	m.Op(nfs4.OpRead, nfs4.OK, time.Microsecond)
	m.Op(nfs4.OpIllegal, nfs4.ErrOpIllegal, 0)
	m.Op(nfs4.Op(9999), nfs4.Status(4242), 0) // unknown op and status
	m.Compound(2 * time.Millisecond)
	m.BytesRead(100)
	m.BytesWritten(7)
	m.BytesWritten(-1) // ignored

	r := NewRegistry()
	r.Register(m)
	e := parse(t, r.Gather())
	want(t, e, 2, "fsbridge_rpc_calls_total", "program", "nfs", "proc", "COMPOUND")
	want(t, e, 1, "fsbridge_rpc_calls_total", "program", "nfs", "proc", "NULL")
	want(t, e, 1, "fsbridge_rpc_calls_total", "program", "nfs", "proc", "other")
	want(t, e, 1, "fsbridge_rpc_calls_total", "program", "other", "proc", "other")
	want(t, e, 1, "fsbridge_rpc_rejected_total", "reason", "prog_mismatch")
	want(t, e, 0, "fsbridge_rpc_rejected_total", "reason", "auth")
	want(t, e, 3, "fsbridge_nfs_ops_total", "op", "LOOKUP")
	want(t, e, 1, "fsbridge_nfs_ops_total", "op", "READ")
	want(t, e, 2, "fsbridge_nfs_ops_total", "op", "ILLEGAL")
	want(t, e, 2, "fsbridge_nfs_op_errors_total", "op", "LOOKUP", "status", "NFS4ERR_NOENT")
	want(t, e, 1, "fsbridge_nfs_op_errors_total", "op", "ILLEGAL", "status", "NFS4ERR_OP_ILLEGAL")
	want(t, e, 1, "fsbridge_nfs_op_errors_total", "op", "ILLEGAL", "status", "other")
	want(t, e, 2, "fsbridge_nfs_op_duration_seconds_bucket", "op", "LOOKUP", "le", "0.00005")
	want(t, e, 3, "fsbridge_nfs_op_duration_seconds_bucket", "op", "LOOKUP", "le", "0.001")
	want(t, e, 1, "fsbridge_nfs_compound_duration_seconds_count")
	want(t, e, 100, "fsbridge_nfs_read_bytes_total")
	want(t, e, 7, "fsbridge_nfs_write_bytes_total")
	if _, ok := e.Get("fsbridge_nfs_ops_total", "op", "WRITE"); ok {
		t.Error("an op that never ran is exposed")
	}
	if _, ok := e.Get("fsbridge_nfs_op_errors_total", "op", "READ", "status", "NFS4_OK"); ok {
		t.Error("OK counted as an error")
	}
	if m.OpCount(nfs4.OpLookup) != 3 || m.OpErrors(nfs4.OpLookup, nfs4.ErrNoEnt) != 2 {
		t.Error("OpCount/OpErrors disagree with the exposition")
	}
}

func TestNilNFS(t *testing.T) {
	var m *NFS
	m.Op(nfs4.OpRead, nfs4.OK, time.Second)
	m.RPC(1, 2, 3)
	m.Rejected(RejectAuth)
	m.Compound(time.Second)
	m.BytesRead(1)
	m.BytesWritten(1)
	var w Writer
	m.Collect(&w)
	if len(w.Bytes()) != 0 || m.OpCount(nfs4.OpRead) != 0 {
		t.Error("nil NFS wrote or counted something")
	}
}

func TestStatusSlots(t *testing.T) {
	seen := map[int]nfs4.Status{}
	for st := range statusNames {
		s := statusSlot(st)
		if s == 0 {
			t.Errorf("%v has no slot", StatusName(st))
			continue
		}
		if o, dup := seen[s]; dup {
			t.Errorf("%v and %v share slot %d", st, o, s)
		}
		seen[s] = st
		if slotStatus[s] != st {
			t.Errorf("slot %d maps back to %v, not %v", s, slotStatus[s], st)
		}
	}
	for _, st := range []nfs4.Status{3, 99, 9999, 10073, 10100, 1 << 31} {
		if statusSlot(st) != 0 {
			t.Errorf("unnamed status %d got a slot", st)
		}
	}
	if StatusName(nfs4.ErrNoEnt) != "NFS4ERR_NOENT" || StatusName(4242) != "NFS4ERR_4242" {
		t.Error("StatusName")
	}
}

func TestLogLimiter(t *testing.T) {
	l := LogLimiter{Interval: time.Second}
	t0 := time.Unix(1000, 0)
	if ok, q := l.Allow(t0); !ok || q != 0 {
		t.Fatalf("first event: %v %d", ok, q)
	}
	for i := range 5 {
		if ok, _ := l.Allow(t0.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			t.Fatal("allowed within the interval")
		}
	}
	if ok, q := l.Allow(t0.Add(time.Second)); !ok || q != 5 {
		t.Fatalf("after the interval: %v, suppressed %d (want 5)", ok, q)
	}
}

func TestProcessAndHandler(t *testing.T) {
	r := NewRegistry()
	r.Register(Process())
	c := r.Counter("fsbridge_test_total", "A test counter.")
	c.Add(3)
	r.GaugeFunc("fsbridge_test_gauge", "A test gauge.", func() float64 { return 1.5 })
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	e := parse(t, body)
	want(t, e, 3, "fsbridge_test_total")
	want(t, e, 1.5, "fsbridge_test_gauge")
	if g, _ := e.Get("go_goroutines"); g < 2 {
		t.Errorf("go_goroutines = %v", g)
	}
	if h, _ := e.Get("go_memstats_heap_alloc_bytes"); h < 1<<10 {
		t.Errorf("go_memstats_heap_alloc_bytes = %v", h)
	}
	if g, _ := e.Get("go_gc_heap_goal_bytes"); g < 1<<20 {
		t.Errorf("go_gc_heap_goal_bytes = %v", g)
	}
	if runtime.GOOS == "linux" {
		if rss, _ := e.Get("process_resident_memory_bytes"); rss < 1<<20 {
			t.Errorf("process_resident_memory_bytes = %v", rss)
		}
		if fds, _ := e.Get("process_open_fds"); fds < 3 {
			t.Errorf("process_open_fds = %v", fds)
		}
	}
	resp, err = http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// TestHotPathAllocs: recording must not allocate (the server calls it
// for every op).
func TestHotPathAllocs(t *testing.T) {
	m := NewNFS()
	n := testing.AllocsPerRun(1000, func() {
		m.RPC(nfs4.Program, nfs4.Version, nfs4.ProcCompound)
		m.Op(nfs4.OpRead, nfs4.OK, 80*time.Microsecond)
		m.Op(nfs4.OpLookup, nfs4.ErrNoEnt, 3*time.Millisecond)
		m.BytesRead(4096)
		m.Compound(time.Millisecond)
	})
	if n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}

func BenchmarkOp(b *testing.B) {
	m := NewNFS()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			st := nfs4.OK
			if i&7 == 0 {
				st = nfs4.ErrNoEnt
			}
			m.Op(nfs4.OpGetattr, st, time.Duration(i&1023)*time.Microsecond)
			i++
		}
	})
}

func BenchmarkGather(b *testing.B) {
	m := NewNFS()
	for op := range nfs4.Op(76) {
		m.Op(op, nfs4.ErrNoEnt, time.Millisecond)
	}
	r := NewRegistry()
	r.Register(m)
	b.ReportAllocs()
	for b.Loop() {
		r.Gather()
	}
}
