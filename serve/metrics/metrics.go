// Package metrics exposes fs_serv's counters in the Prometheus text
// exposition format (version 0.0.4), written by hand: a Registry of
// collectors, each writing whole metric families through a Writer, served
// by Registry's http.Handler.
//
// Counters touched per request (NFS, Histogram, Counter) are plain atomics
// in fixed arrays: recording never allocates, locks or looks up a map.
// Everything else (state sizes, connections, process figures) is computed
// when scraped.
package metrics

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Metric types of the text format's "# TYPE" line.
const (
	TypeCounter   = "counter"
	TypeGauge     = "gauge"
	TypeHistogram = "histogram"
)

// Writer builds an exposition. Labels are given as name, value pairs;
// names must be valid label names, values are escaped here.
type Writer struct {
	buf []byte
}

// Family starts a metric family: its HELP and TYPE lines. All samples of
// the family must follow before the next family starts.
func (w *Writer) Family(name, typ, help string) {
	w.buf = append(w.buf, "# HELP "...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ' ')
	w.buf = appendEscaped(w.buf, help, false)
	w.buf = append(w.buf, "\n# TYPE "...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, typ...)
	w.buf = append(w.buf, '\n')
}

// Uint writes one sample with an integer value.
func (w *Writer) Uint(name string, v uint64, labels ...string) {
	w.series(name, labels, "", "")
	w.buf = strconv.AppendUint(w.buf, v, 10)
	w.buf = append(w.buf, '\n')
}

// Int writes one sample with a signed integer value.
func (w *Writer) Int(name string, v int64, labels ...string) {
	w.series(name, labels, "", "")
	w.buf = strconv.AppendInt(w.buf, v, 10)
	w.buf = append(w.buf, '\n')
}

// Float writes one sample.
func (w *Writer) Float(name string, v float64, labels ...string) {
	w.series(name, labels, "", "")
	w.buf = appendFloat(w.buf, v)
	w.buf = append(w.buf, '\n')
}

// Histogram writes the _bucket, _sum and _count samples of h (whose
// family, of TypeHistogram, has been started) in seconds.
func (w *Writer) Histogram(name string, h *Histogram, labels ...string) {
	var s HistogramSnapshot
	h.Snapshot(&s)
	w.HistogramSnapshot(name, &s, labels...)
}

// HistogramSnapshot writes a snapshot as Histogram does.
func (w *Writer) HistogramSnapshot(name string, s *HistogramSnapshot, labels ...string) {
	bucket := name + "_bucket"
	var cum uint64
	for i := range LatencyBuckets {
		cum += s.Counts[i]
		w.series(bucket, labels, "le", bucketLabels[i])
		w.buf = strconv.AppendUint(w.buf, cum, 10)
		w.buf = append(w.buf, '\n')
	}
	cum += s.Counts[len(LatencyBuckets)]
	w.series(bucket, labels, "le", "+Inf")
	w.buf = strconv.AppendUint(w.buf, cum, 10)
	w.buf = append(w.buf, '\n')
	w.Float(name+"_sum", s.Sum.Seconds(), labels...)
	w.Uint(name+"_count", cum, labels...)
}

// series writes "name{labels} " with an optional extra label (le).
func (w *Writer) series(name string, labels []string, k, v string) {
	w.buf = append(w.buf, name...)
	if len(labels) >= 2 || k != "" {
		w.buf = append(w.buf, '{')
		sep := false
		for i := 0; i+1 < len(labels); i += 2 {
			if sep {
				w.buf = append(w.buf, ',')
			}
			w.buf = appendLabel(w.buf, labels[i], labels[i+1])
			sep = true
		}
		if k != "" {
			if sep {
				w.buf = append(w.buf, ',')
			}
			w.buf = appendLabel(w.buf, k, v)
		}
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, ' ')
}

func appendLabel(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, '=', '"')
	b = appendEscaped(b, v, true)
	return append(b, '"')
}

// appendEscaped escapes as the text format requires: backslash and
// newline everywhere, the double quote in label values.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// Bytes returns what has been written.
func (w *Writer) Bytes() []byte { return w.buf }

// ---------------------------------------------------------------- collectors

// Collector writes one or more complete metric families.
type Collector interface {
	Collect(w *Writer)
}

// CollectorFunc adapts a function to Collector.
type CollectorFunc func(w *Writer)

func (f CollectorFunc) Collect(w *Writer) { f(w) }

// Registry is an ordered set of collectors. It is an http.Handler
// serving the exposition.
type Registry struct {
	mu         sync.Mutex
	collectors []Collector
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds c. Family names must be unique across collectors.
func (r *Registry) Register(c Collector) {
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
}

// Counter registers and returns a counter without labels.
func (r *Registry) Counter(name, help string) *Counter {
	c := &Counter{}
	r.Register(CollectorFunc(func(w *Writer) {
		w.Family(name, TypeCounter, help)
		w.Uint(name, c.Load())
	}))
	return c
}

// GaugeFunc registers a gauge whose value f computes at scrape time.
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	r.Register(CollectorFunc(func(w *Writer) {
		w.Family(name, TypeGauge, help)
		w.Float(name, f())
	}))
}

// Gather runs every collector and returns the exposition.
func (r *Registry) Gather() []byte {
	r.mu.Lock()
	cs := append([]Collector(nil), r.collectors...)
	r.mu.Unlock()
	w := &Writer{buf: make([]byte, 0, 16<<10)}
	for _, c := range cs {
		c.Collect(w)
	}
	return w.buf
}

// WriteTo writes the exposition to out.
func (r *Registry) WriteTo(out io.Writer) (int64, error) {
	n, err := out.Write(r.Gather())
	return int64(n), err
}

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ServeHTTP answers GET and HEAD with the exposition.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b := r.Gather()
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if req.Method == http.MethodGet {
		w.Write(b)
	}
}

// ---------------------------------------------------------------- values

// Counter is a monotonically increasing count.
type Counter struct{ v atomic.Uint64 }

// Add adds n; a nil Counter ignores it.
func (c *Counter) Add(n uint64) {
	if c != nil {
		c.v.Add(n)
	}
}

// Inc adds one.
func (c *Counter) Inc() { c.Add(1) }

// Load returns the count.
func (c *Counter) Load() uint64 {
	if c == nil {
		return 0
	}
	return c.v.Load()
}

// LatencyBuckets are the upper bounds of every Histogram: 50µs to 10s,
// roughly 1-2.5-5 per decade, from a cached GETATTR to a stalled backend.
var LatencyBuckets = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// NumBuckets counts the buckets including +Inf.
const NumBuckets = len(LatencyBuckets) + 1

// bucketLabels are the "le" values, in seconds.
var bucketLabels = func() (l [len(LatencyBuckets)]string) {
	for i, b := range LatencyBuckets {
		l[i] = strconv.FormatFloat(b.Seconds(), 'f', -1, 64)
	}
	return
}()

// Histogram is a latency histogram over LatencyBuckets. Observe is a
// short scan and two atomic adds.
type Histogram struct {
	counts [NumBuckets]atomic.Uint64 // per bucket, not cumulative
	sum    atomic.Int64              // nanoseconds
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// HistogramSnapshot is a copy of a Histogram's values.
type HistogramSnapshot struct {
	Counts [NumBuckets]uint64 // per bucket, not cumulative
	Sum    time.Duration
}

// Snapshot copies h into s. Concurrent Observes may be half seen (sum
// without count); the exposition's +Inf bucket and _count agree anyway.
func (h *Histogram) Snapshot(s *HistogramSnapshot) {
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Sum = time.Duration(h.sum.Load())
}

// Total returns the number of observations in s.
func (s *HistogramSnapshot) Total() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// ---------------------------------------------------------------- logging

// LogLimiter lets through at most one event per interval and counts the
// ones it holds back, so a flood of faults cannot become a flood of log
// lines. The zero value allows one event per second.
type LogLimiter struct {
	Interval time.Duration // 0: one second
	next     atomic.Int64  // unix nanoseconds before which events are suppressed
	quiet    atomic.Uint64 // suppressed since the last allowed event
}

// Allow reports whether an event at now may be logged and, if so, how many
// were suppressed before it.
func (l *LogLimiter) Allow(now time.Time) (ok bool, suppressed uint64) {
	iv := l.Interval
	if iv <= 0 {
		iv = time.Second
	}
	t := now.UnixNano()
	next := l.next.Load()
	if t < next || !l.next.CompareAndSwap(next, t+int64(iv)) {
		l.quiet.Add(1)
		return false, 0
	}
	return true, l.quiet.Swap(0)
}
