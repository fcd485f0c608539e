package nfs4srv

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/metrics"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

type peer struct{ net.Addr }

func (p peer) RemoteAddr() net.Addr { return p.Addr }

func metricsCompound(t testing.TB, log *slog.Logger, m *metrics.NFS) *compound {
	s := New(Config{FS: mem.New(), Log: log, Metrics: m})
	t.Cleanup(s.Close)
	c := &compound{s: s, ctx: context.Background(), princ: "sys:0@h", minor: 1,
		conn: peer{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 700}}}
	c.start = time.Now()
	c.mark = c.start
	return c
}

// TestObserveLogs: slow ops and server faults are logged with the client
// address, op and status, at most once per second each; ordinary errors
// are not logged; all are counted.
func TestObserveLogs(t *testing.T) {
	faultLog, slowLog = metrics.LogLimiter{}, metrics.LogLimiter{}
	var buf lockedBuf
	m := metrics.NewNFS()
	c := metricsCompound(t, slog.New(slog.NewTextHandler(&buf, nil)), m)

	c.mark = time.Now().Add(-1500 * time.Millisecond)
	c.observe(nfs4.OpRead, &nfs4.ReadRes{Data: make([]byte, 10)}, nfs4.OK)
	c.observe(nfs4.OpLookup, &nfs4.LookupRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrNoEnt}}, nfs4.ErrNoEnt)
	for range 3 {
		c.observe(nfs4.OpWrite, &nfs4.WriteRes{Status: nfs4.ErrServerFault}, nfs4.ErrServerFault)
	}
	lines := buf.lines()
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines (slow READ, one fault), got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, w := range []string{"level=WARN", `msg="slow operation"`, "client=192.0.2.7:700", "op=READ", "status=NFS4_OK", "principal=sys:0@h"} {
		if !strings.Contains(lines[0], w) {
			t.Errorf("slow-op line lacks %q: %s", w, lines[0])
		}
	}
	for _, w := range []string{"level=ERROR", "client=192.0.2.7:700", "op=WRITE", "status=NFS4ERR_SERVERFAULT"} {
		if !strings.Contains(lines[1], w) {
			t.Errorf("fault line lacks %q: %s", w, lines[1])
		}
	}
	if m.OpCount(nfs4.OpRead) != 1 || m.OpErrors(nfs4.OpWrite, nfs4.ErrServerFault) != 3 || m.OpErrors(nfs4.OpLookup, nfs4.ErrNoEnt) != 1 {
		t.Error("ops not counted")
	}
	// The next allowed fault line reports the two held back.
	if ok, quiet := faultLog.Allow(time.Now().Add(2 * time.Second)); !ok || quiet != 2 {
		t.Errorf("suppressed faults: %v %d, want 2", ok, quiet)
	}
}

// TestObserveAllocs: the per-op hook allocates nothing, with or without
// metrics.
func TestObserveAllocs(t *testing.T) {
	for _, m := range []*metrics.NFS{nil, metrics.NewNFS()} {
		c := metricsCompound(t, slog.New(slog.DiscardHandler), m)
		res := &nfs4.ReadRes{Data: make([]byte, 4096)}
		lres := &nfs4.LookupRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrNoEnt}}
		n := testing.AllocsPerRun(1000, func() {
			c.observe(nfs4.OpRead, res, nfs4.OK)
			c.observe(nfs4.OpLookup, lres, nfs4.ErrNoEnt)
			c.finish()
		})
		if n != 0 {
			t.Errorf("metrics %v: %v allocations", m != nil, n)
		}
	}
}

// BenchmarkObserve is the per-op cost of instrumentation: one clock read
// and a few atomic adds.
func BenchmarkObserve(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		var m *metrics.NFS
		if on {
			name, m = "on", metrics.NewNFS()
		}
		b.Run(name, func(b *testing.B) {
			c := metricsCompound(b, slog.New(slog.DiscardHandler), m)
			res := &nfs4.GetattrRes{}
			b.ReportAllocs()
			for b.Loop() {
				c.observe(nfs4.OpGetattr, res, nfs4.OK)
			}
		})
	}
}
