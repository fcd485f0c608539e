package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Config is one load-test run.
type Config struct {
	Addr    string // fs_serv's host:port (loopback only)
	PID     int    // fs_serv's process id, to sample /proc (0: not sampled)
	Metrics string // fs_serv's metrics address or URL for go_goroutines ("": none)

	Clients  int           // concurrent clients, one connection and session each
	Duration time.Duration // how long clients start new operations
	Seed     int64         // client i draws from a generator seeded with (Seed, i)
	Minor    uint32        // NFSv4 minor version: 0, 1 or 2

	MaxFiles  int     // files a client keeps at once
	MaxSize   int     // most files are 0..MaxSize bytes
	LargeSize int     // a fraction LargeProb are up to LargeSize bytes
	LargeProb float64 // (LargeSize ≥ MaxSize)

	OpTimeout      time.Duration // bound on one COMPOUND
	Settle         time.Duration // wait this long at most for fds to return after disconnect
	FDSlack        int           // fds after may exceed fds before by this much
	GoroutineSlack int           // likewise goroutines (with Metrics)
	Progress       time.Duration // print a progress line this often (0: never)
	MaxReported    int           // failures kept for the report
}

// DefaultConfig is the `make load` configuration.
func DefaultConfig() Config {
	return Config{Clients: 64, Duration: 10 * time.Minute, Seed: 1, Minor: 1,
		MaxFiles: 3, MaxSize: 1 << 20, LargeSize: 8 << 20, LargeProb: 0.05,
		OpTimeout: 2 * time.Minute, Settle: 15 * time.Second, FDSlack: 4, GoroutineSlack: 8,
		MaxReported: 50}
}

// Operation kinds, one latency histogram each: every kind is one COMPOUND.
const (
	opSession = iota // EXCHANGE_ID + CREATE_SESSION + RECLAIM_COMPLETE, NegotiateIO
	opMkdir
	opCreate // OPEN(CREATE, GUARDED)
	opOpen   // OPEN of an existing file (CLAIM_NULL or CLAIM_FH)
	opWrite
	opCommit
	opRead
	opClose
	opGetattr
	opLookup
	opRename
	opReaddir // one whole listing (may be several READDIRs)
	opRemove
	nOps
)

var opNames = [nOps]string{"session", "mkdir", "create", "open", "write", "commit", "read",
	"close", "getattr", "lookup", "rename", "readdir", "remove"}

// OpStats is one row of the report.
type OpStats struct {
	Name          string
	Count, Errors uint64
	P50, P99, Max time.Duration
}

// Result is what a run found.
type Result struct {
	Ops                     []OpStats
	Errors                  uint64   // failed operations
	Mismatches              uint64   // wrong data, attributes or listings
	Warnings                uint64   // change attribute not bumped by a write (see stat)
	Failures                []string // the first MaxReported errors and mismatches
	BytesWritten, BytesRead uint64
	Elapsed                 time.Duration
	Sampled                 bool // Before/After/Peak are valid
	Before, After           ProcStats
	Peak                    ProcStats // highest fds, threads, RSS seen during the run (sampled each second)
	Leaks                   []string  // fd / goroutine counts that did not return
}

// Pass says the run had no errors, mismatches or leaks.
func (r *Result) Pass() bool { return r.Errors == 0 && r.Mismatches == 0 && len(r.Leaks) == 0 }

type run struct {
	cfg        Config
	hists      [nOps]hist
	errs       [nOps]atomic.Uint64
	mismatches atomic.Uint64
	warnings   atomic.Uint64
	bytesW     atomic.Uint64
	bytesR     atomic.Uint64
	deadline   time.Time

	mu       sync.Mutex
	failures []string
}

func (r *run) report(kind string, client int, op, file, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) < r.cfg.MaxReported {
		r.failures = append(r.failures, fmt.Sprintf("%s: client %d %s %s: %s", kind, client, op, file,
			fmt.Sprintf(format, args...)))
	}
}

// Run runs the load test against cfg.Addr and writes the report to out.
// The error is for a run that could not start; failures of the server
// under test are in the Result.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Result, error) {
	def := DefaultConfig()
	if cfg.Clients <= 0 {
		cfg.Clients = def.Clients
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = def.MaxFiles
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = def.MaxSize
	}
	cfg.LargeSize = max(cfg.LargeSize, cfg.MaxSize)
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = def.OpTimeout
	}
	if cfg.MaxReported <= 0 {
		cfg.MaxReported = def.MaxReported
	}
	if cfg.Minor > 2 {
		return nil, fmt.Errorf("minor version %d: want 0, 1 or 2", cfg.Minor)
	}
	if err := checkLoopback(cfg.Addr); err != nil {
		return nil, err
	}
	res := &Result{}
	if cfg.PID > 0 {
		b, err := procStats(cfg.PID, cfg.Metrics)
		if err != nil {
			return nil, fmt.Errorf("sampling fs_serv: %w", err)
		}
		res.Before, res.Sampled = b, true
	}

	r := &run{cfg: cfg}
	// The run's own directory, so runs against a shared export do not meet.
	setup, err := newClient(ctx, r, -1)
	if err != nil {
		return nil, fmt.Errorf("setting up: %w", err)
	}
	root, err := setup.RootFH(ctx)
	if err != nil {
		setup.Close()
		return nil, fmt.Errorf("root: %w", err)
	}
	runName := fmt.Sprintf("loadtest-%d-%d", cfg.Seed, time.Now().UnixNano())
	base, err := setup.Mkdir(ctx, root, runName)
	if err != nil {
		setup.Close()
		return nil, fmt.Errorf("mkdir %s: %w", runName, err)
	}

	start := time.Now()
	r.deadline = start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Go(func() { runClient(ctx, r, i, base) })
	}
	stopProgress := make(chan struct{})
	var pwg sync.WaitGroup
	if cfg.Progress > 0 {
		pwg.Go(func() { progress(r, out, start, cfg.Progress, cfg.PID, stopProgress) })
	}
	if res.Sampled {
		res.Peak = res.Before
		pwg.Go(func() { samplePeak(cfg.PID, &res.Peak, stopProgress) })
	}
	wg.Wait()
	close(stopProgress)
	pwg.Wait()
	res.Elapsed = time.Since(start)

	cctx, cancel := context.WithTimeout(context.Background(), cfg.OpTimeout)
	if err := setup.Remove(cctx, root, runName); err != nil {
		r.errs[opRemove].Add(1)
		r.report("error", -1, "remove", runName, "%v", err)
	}
	setup.Shutdown(cctx)
	cancel()

	if res.Sampled {
		res.After, res.Leaks = settle(cfg, res.Before)
	}
	for i := range nOps {
		h := &r.hists[i]
		res.Ops = append(res.Ops, OpStats{Name: opNames[i], Count: h.Count(), Errors: r.errs[i].Load(),
			P50: h.Quantile(0.50), P99: h.Quantile(0.99), Max: h.Max()})
		res.Errors += r.errs[i].Load()
	}
	res.Mismatches, res.Warnings = r.mismatches.Load(), r.warnings.Load()
	res.BytesWritten, res.BytesRead = r.bytesW.Load(), r.bytesR.Load()
	res.Failures = r.failures
	writeReport(out, cfg, res)
	return res, nil
}

// settle waits (up to cfg.Settle) for fs_serv's fds and goroutines to fall
// back to their counts before the run (connections close asynchronously),
// and names those still above them by more than the slack.
func settle(cfg Config, before ProcStats) (ProcStats, []string) {
	end := time.Now().Add(cfg.Settle)
	for {
		a, err := procStats(cfg.PID, cfg.Metrics)
		if err != nil {
			return a, []string{fmt.Sprintf("sampling fs_serv after the run: %v", err)}
		}
		var leaks []string
		if a.FDs > before.FDs+cfg.FDSlack {
			leaks = append(leaks, fmt.Sprintf("fds %d after, %d before (slack %d)", a.FDs, before.FDs, cfg.FDSlack))
		}
		if a.Goroutines >= 0 && before.Goroutines >= 0 && a.Goroutines > before.Goroutines+cfg.GoroutineSlack {
			leaks = append(leaks, fmt.Sprintf("goroutines %d after, %d before (slack %d)",
				a.Goroutines, before.Goroutines, cfg.GoroutineSlack))
		}
		back := a.FDs <= before.FDs && (a.Goroutines < 0 || a.Goroutines <= before.Goroutines)
		if back || time.Now().After(end) {
			return a, leaks
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// samplePeak keeps the highest fds, threads and RSS of pid in peak until
// stop is closed.
func samplePeak(pid int, peak *ProcStats, stop chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if p, err := procStats(pid, ""); err == nil {
			peak.FDs, peak.Threads, peak.RSS = max(peak.FDs, p.FDs), max(peak.Threads, p.Threads), max(peak.RSS, p.RSS)
		}
	}
}

func progress(r *run, out io.Writer, start time.Time, every time.Duration, pid int, stop chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var n, e uint64
		for i := range nOps {
			n += r.hists[i].Count()
			e += r.errs[i].Load()
		}
		srv := ""
		if p, err := procStats(pid, ""); pid > 0 && err == nil {
			srv = fmt.Sprintf("  fs_serv fds %d threads %d rss %d MiB", p.FDs, p.Threads, p.RSS>>20)
		}
		fmt.Fprintf(out, "%6.0fs  ops %d  errors %d  mismatches %d  written %d MiB  read %d MiB%s\n",
			time.Since(start).Seconds(), n, e, r.mismatches.Load(), r.bytesW.Load()>>20, r.bytesR.Load()>>20, srv)
	}
}

func writeReport(out io.Writer, cfg Config, res *Result) {
	fmt.Fprintf(out, "loadtest: %d clients, NFSv4.%d, %v (seed %d), %d MiB written, %d MiB read\n",
		cfg.Clients, cfg.Minor, res.Elapsed.Round(time.Second), cfg.Seed, res.BytesWritten>>20, res.BytesRead>>20)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\terrors\tp50\tp99\tmax\t")
	var n, e uint64
	for _, o := range res.Ops {
		if o.Count == 0 && o.Errors == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\n", o.Name, o.Count, o.Errors, ms(o.P50), ms(o.P99), ms(o.Max))
		n, e = n+o.Count, e+o.Errors
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t\t\t\t\n", n, e)
	tw.Flush()
	fmt.Fprintf(out, "errors %d  mismatches %d  warnings %d (change attribute not bumped by a write)\n",
		res.Errors, res.Mismatches, res.Warnings)
	if res.Sampled {
		fmt.Fprintf(out, "fs_serv before: %v\nfs_serv peak:   %v\nfs_serv after:  %v\n", res.Before, res.Peak, res.After)
		if res.Before.Goroutines < 0 {
			fmt.Fprintln(out, "(goroutines: fs_serv has no metrics endpoint here; pass -metrics when it has)")
		}
	}
	for _, l := range res.Leaks {
		fmt.Fprintf(out, "LEAK: %s\n", l)
	}
	for _, f := range res.Failures {
		fmt.Fprintln(out, f)
	}
	if res.Pass() {
		fmt.Fprintln(out, "PASS")
	} else {
		fmt.Fprintln(out, "FAIL")
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

// ------------------------------------------------------------------ clients

// file is a client's bookkeeping for one of its files: what it must read.
type file struct {
	name   string
	fh     []byte
	fileid uint64
	data   []byte
	sum    [sha256.Size]byte

	change      uint64 // change attribute last seen
	changeKnown bool   // no modification since change was seen
	prev        uint64 // change before the last write, if havePrev
	havePrev    bool
}

type worker struct {
	r     *run
	id    int
	c     *nfs4client.Client
	dir   []byte
	rng   *rand.Rand
	data  *rand.ChaCha8
	files []*file
	next  int
	buf   []byte
}

// newClient connects one client and sets up its session (timed as
// "session").
func newClient(ctx context.Context, r *run, id int) (*nfs4client.Client, error) {
	t0 := time.Now()
	c, err := nfs4client.Dial(ctx, r.cfg.Addr)
	if err != nil {
		return nil, err
	}
	c.Timeout = r.cfg.OpTimeout
	if r.cfg.Minor == 0 {
		err = c.SetupClientID(ctx)
	} else {
		err = c.SetupSession(ctx, r.cfg.Minor)
	}
	if err == nil {
		var root []byte
		if root, err = c.RootFH(ctx); err == nil {
			_, err = c.NegotiateIO(ctx, root)
		}
	}
	r.hists[opSession].Record(time.Since(t0))
	if err != nil {
		c.Close()
		r.errs[opSession].Add(1)
		r.report("error", id, "session", "", "%v", err)
		return nil, err
	}
	return c, nil
}

// newWorker returns client id's state with its generators: decisions from
// PCG(seed, id), file contents from ChaCha8(seed, id).
func newWorker(r *run, id int) *worker {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(r.cfg.Seed))
	binary.LittleEndian.PutUint64(seed[8:], uint64(id))
	return &worker{r: r, id: id, rng: rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(id))),
		data: rand.NewChaCha8(seed)}
}

func runClient(ctx context.Context, r *run, id int, base []byte) {
	w := newWorker(r, id)
	c, err := newClient(ctx, r, id)
	if err != nil {
		return
	}
	w.c = c
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), r.cfg.OpTimeout)
		defer cancel()
		c.Shutdown(sctx)
	}()
	name := fmt.Sprintf("c%03d", id)
	if w.do(opMkdir, name, func(ctx context.Context) (err error) {
		w.dir, err = c.Mkdir(ctx, base, name)
		return err
	}) != nil {
		return
	}
	for time.Now().Before(r.deadline) && ctx.Err() == nil {
		if !w.step() && !w.resync() {
			return
		}
	}
	if w.resync() {
		w.do(opRemove, name, func(ctx context.Context) error { return c.Remove(ctx, base, name) })
	}
}

// do runs one timed operation on file, counting and reporting its error.
func (w *worker) do(op int, file string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.r.cfg.OpTimeout)
	defer cancel()
	t0 := time.Now()
	err := f(ctx)
	w.r.hists[op].Record(time.Since(t0))
	if err != nil {
		w.r.errs[op].Add(1)
		w.r.report("error", w.id, opNames[op], file, "%v", err)
	}
	return err
}

func (w *worker) mismatch(op int, file, format string, args ...any) {
	w.r.mismatches.Add(1)
	w.r.report("MISMATCH", w.id, opNames[op], file, format, args...)
}

// step does one random action and says whether the client's bookkeeping
// still matches the server (false after an error or a mismatch).
func (w *worker) step() bool {
	n := len(w.files)
	if n == 0 {
		return w.create()
	}
	f := w.files[w.rng.IntN(n)]
	switch x := w.rng.IntN(100); {
	case x < 15:
		if n < w.r.cfg.MaxFiles {
			return w.create()
		}
		return w.remove(f)
	case x < 35:
		return w.verify(f)
	case x < 55:
		return w.stat(f)
	case x < 65:
		return w.rename(f)
	case x < 80:
		return w.overwrite(f)
	case x < 88:
		return w.readdir()
	default:
		return w.remove(f)
	}
}

// resync forgets the bookkeeping and empties the client's directory, so a
// failure is reported once rather than as a cascade. It says whether the
// directory is now empty.
func (w *worker) resync() bool {
	w.files = nil
	var ents []nfs4.DirEntry
	if w.do(opReaddir, ".", func(ctx context.Context) (err error) {
		ents, err = w.c.ReadDir(ctx, w.dir, nil)
		return err
	}) != nil {
		return false
	}
	ok := true
	for _, e := range ents {
		name := string(e.Name)
		if w.do(opRemove, name, func(ctx context.Context) error { return w.c.Remove(ctx, w.dir, name) }) != nil {
			ok = false
		}
	}
	return ok
}

func (w *worker) newName() string {
	w.next++
	return fmt.Sprintf("f%d", w.next)
}

func (w *worker) pickSize() int {
	if w.rng.Float64() < w.r.cfg.LargeProb {
		return w.rng.IntN(w.r.cfg.LargeSize + 1)
	}
	return w.rng.IntN(w.r.cfg.MaxSize + 1)
}

// chunk picks an I/O size up to limit: small, medium or the full size.
func (w *worker) chunk(limit uint32) int {
	l := int(max(limit, 4096))
	switch x := w.rng.IntN(10); {
	case x < 3:
		return 1 + w.rng.IntN(4096)
	case x < 7:
		return min(4096+w.rng.IntN(60<<10), l)
	default:
		return l
	}
}

var modeAttr = func() nfs4.Bitmap { var b nfs4.Bitmap; b.Set(nfs4.AttrMode); return b }()

// create makes a new file (OPEN GUARDED), writes it in random chunks
// UNSTABLE+COMMIT or FILE_SYNC, closes it and reads it back.
func (w *worker) create() bool {
	name := w.newName()
	f := &file{name: name, data: make([]byte, w.pickSize())}
	w.data.Read(f.data)
	var of *nfs4client.OpenFile
	how := nfs4client.CreateHow{Mode: nfs4.Guarded4, Attrs: &nfs4.Attrs{Present: modeAttr, Mode: 0o644}}
	if w.do(opCreate, name, func(ctx context.Context) (err error) {
		of, err = w.c.Create(ctx, w.dir, name, how)
		return err
	}) != nil {
		return false
	}
	f.fh, f.fileid = of.FH, of.Attrs.FileID
	if len(f.data) > 0 {
		f.modified(of.Attrs.Change)
	} else {
		f.change, f.changeKnown = of.Attrs.Change, true
	}
	w.files = append(w.files, f)
	if of.Attrs.Type != nfs4.NF4REG || of.Attrs.Size != 0 {
		w.mismatch(opCreate, name, "new file has type %d size %d", of.Attrs.Type, of.Attrs.Size)
		w.closeFile(of, name)
		return false
	}
	ok := w.writeRange(of, name, 0, f.data)
	if !w.closeFile(of, name) || !ok {
		return false
	}
	f.sum = sha256.Sum256(f.data)
	return w.verify(f)
}

func (w *worker) closeFile(of *nfs4client.OpenFile, name string) bool {
	return w.do(opClose, name, func(ctx context.Context) error { return w.c.CloseFile(ctx, of) }) == nil
}

// writeRange writes data at off through of in random chunk sizes, either
// all UNSTABLE followed by COMMIT or all FILE_SYNC, checking the committed
// levels and that the write and commit verifiers agree (RFC 8881 §18.32.3,
// §18.3.3: a changed verifier means the server lost unstable data).
func (w *worker) writeRange(of *nfs4client.OpenFile, name string, off uint64, data []byte) bool {
	stable := uint32(nfs4.Unstable4)
	if w.rng.IntN(4) == 0 {
		stable = nfs4.FileSync4
	}
	var verf nfs4.Verifier
	unstable, first := false, true
	for len(data) > 0 {
		n := min(w.chunk(w.c.WSize), len(data))
		var wr *nfs4.WriteRes
		if w.do(opWrite, name, func(ctx context.Context) (err error) {
			wr, err = w.c.Write(ctx, of.FH, of.SID(), off, data[:n], stable)
			return err
		}) != nil {
			return false
		}
		if wr.Count == 0 || int(wr.Count) > n {
			w.mismatch(opWrite, name, "wrote %d of %d bytes at %d", wr.Count, n, off)
			return false
		}
		if wr.Committed < stable {
			w.mismatch(opWrite, name, "asked stable_how %d, got %d", stable, wr.Committed)
			return false
		}
		if wr.Committed == nfs4.Unstable4 {
			if !first && wr.WriteVerf != verf {
				w.mismatch(opWrite, name, "write verifier changed within one file's writes")
				return false
			}
			verf, unstable, first = wr.WriteVerf, true, false
		}
		w.r.bytesW.Add(uint64(wr.Count))
		off += uint64(wr.Count)
		data = data[wr.Count:]
	}
	if unstable {
		var cv nfs4.Verifier
		if w.do(opCommit, name, func(ctx context.Context) (err error) {
			cv, err = w.c.Commit(ctx, of.FH, 0, 0)
			return err
		}) != nil {
			return false
		}
		if cv != verf {
			w.mismatch(opCommit, name, "commit verifier differs from the writes' verifier")
			return false
		}
	}
	return true
}

// readRange reads [off, off+n) of an open file into w.buf, in random chunk
// sizes, and checks that EOF comes exactly at size.
func (w *worker) readRange(of *nfs4client.OpenFile, name string, off uint64, n int, size int) ([]byte, bool) {
	w.buf = w.buf[:0]
	for len(w.buf) < n {
		want := uint32(min(w.chunk(w.c.RSize), n-len(w.buf)))
		var d []byte
		var eof bool
		pos := off + uint64(len(w.buf))
		if w.do(opRead, name, func(ctx context.Context) (err error) {
			d, eof, err = w.c.Read(ctx, of.FH, of.SID(), pos, want)
			return err
		}) != nil {
			return nil, false
		}
		w.r.bytesR.Add(uint64(len(d)))
		if len(d) > int(want) {
			w.mismatch(opRead, name, "asked %d bytes at %d, got %d", want, pos, len(d))
			return nil, false
		}
		w.buf = append(w.buf, d...)
		end := int(pos) + len(d)
		if eof != (end >= size) {
			w.mismatch(opRead, name, "read to %d of a %d-byte file: eof %v", end, size, eof)
			return nil, false
		}
		if eof {
			break
		}
		if len(d) == 0 {
			w.mismatch(opRead, name, "empty read at %d of %d bytes without eof", pos, size)
			return nil, false
		}
	}
	return w.buf, true
}

// verify opens f by name (or, on 4.1+, sometimes by handle), reads it
// whole and compares its sha256 with the bookkeeping.
func (w *worker) verify(f *file) bool {
	var of *nfs4client.OpenFile
	byFH := w.c.Minor > 0 && w.rng.IntN(2) == 0
	if w.do(opOpen, f.name, func(ctx context.Context) (err error) {
		if byFH {
			of, err = w.c.OpenFH(ctx, f.fh, nfs4.ShareAccessRead)
		} else {
			of, err = w.c.Open(ctx, w.dir, f.name, nfs4.ShareAccessRead)
		}
		return err
	}) != nil {
		return false
	}
	ok := w.checkAttrs(opOpen, f, of.Attrs)
	if ok {
		var got []byte
		if got, ok = w.readRange(of, f.name, 0, len(f.data)+1, len(f.data)); ok {
			if len(got) != len(f.data) {
				w.mismatch(opRead, f.name, "read %d bytes, file has %d", len(got), len(f.data))
				ok = false
			} else if sha256.Sum256(got) != f.sum {
				w.mismatch(opRead, f.name, "sha256 differs (first differing byte at %d)", firstDiff(got, f.data))
				ok = false
			}
		}
	}
	return w.closeFile(of, f.name) && ok
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkAttrs compares attributes from the server with the bookkeeping: a
// regular file of the expected size and fileid whose change attribute
// moved only if the client modified it (RFC 8881 §5.8.1.4).
func (w *worker) checkAttrs(op int, f *file, a *nfs4.Attrs) bool {
	if a.Type != nfs4.NF4REG || a.Size != uint64(len(f.data)) || a.FileID != f.fileid {
		w.mismatch(op, f.name, "type %d size %d fileid %d, want type %d size %d fileid %d",
			a.Type, a.Size, a.FileID, nfs4.NF4REG, len(f.data), f.fileid)
		return false
	}
	if !a.Present.Has(nfs4.AttrChange) {
		return true
	}
	switch {
	case f.changeKnown && a.Change != f.change:
		w.mismatch(op, f.name, "change attribute moved from %d to %d with no modification", f.change, a.Change)
		return false
	case !f.changeKnown && f.havePrev && a.Change == f.prev:
		// A backend deriving change from a coarse ctime can miss a write
		// made within the same clock tick; worth seeing, not a data error.
		w.r.warnings.Add(1)
	}
	f.change, f.changeKnown, f.havePrev = a.Change, true, false
	return true
}

// modified records that f was written: its change attribute must move.
func (f *file) modified(before uint64) {
	f.prev, f.havePrev, f.changeKnown = before, true, false
}

func (w *worker) stat(f *file) bool {
	var a *nfs4.Attrs
	if w.do(opGetattr, f.name, func(ctx context.Context) (err error) {
		a, err = w.c.GetAttr(ctx, f.fh, nil)
		return err
	}) != nil {
		return false
	}
	return w.checkAttrs(opGetattr, f, a)
}

// overwrite opens f read-write, writes a random range (sometimes past EOF,
// leaving a hole), reads the range back through the same open and closes.
func (w *worker) overwrite(f *file) bool {
	var of *nfs4client.OpenFile
	if w.do(opOpen, f.name, func(ctx context.Context) (err error) {
		of, err = w.c.Open(ctx, w.dir, f.name, nfs4.ShareAccessBoth)
		return err
	}) != nil {
		return false
	}
	if !w.checkAttrs(opOpen, f, of.Attrs) {
		w.closeFile(of, f.name)
		return false
	}
	size := len(f.data)
	off := w.rng.IntN(size + 1)
	if w.rng.IntN(10) == 0 {
		off = size + w.rng.IntN(64<<10)
	}
	patch := make([]byte, 1+w.rng.IntN(256<<10))
	w.data.Read(patch)
	f.modified(of.Attrs.Change)
	ok := w.writeRange(of, f.name, uint64(off), patch)
	if ok {
		if end := off + len(patch); end > size {
			f.data = append(f.data, make([]byte, end-size)...)
		}
		copy(f.data[off:], patch)
		f.sum = sha256.Sum256(f.data)
		var got []byte
		if got, ok = w.readRange(of, f.name, uint64(off), len(patch), len(f.data)); ok && !bytes.Equal(got, patch) {
			w.mismatch(opRead, f.name, "overwritten range [%d,+%d) reads back differently (at +%d)",
				off, len(patch), firstDiff(got, patch))
			ok = false
		}
	}
	return w.closeFile(of, f.name) && ok
}

// rename gives f a new name in the same directory; the new name must find
// the same file and the old one nothing.
func (w *worker) rename(f *file) bool {
	old, nu := f.name, w.newName()
	if w.do(opRename, old, func(ctx context.Context) error { return w.c.Rename(ctx, w.dir, old, w.dir, nu) }) != nil {
		return false
	}
	f.name = nu
	f.modified(f.change)
	f.havePrev = false // rename may or may not touch ctime
	var a *nfs4.Attrs
	if w.do(opLookup, nu, func(ctx context.Context) (err error) {
		_, a, err = w.c.LookupAttrs(ctx, w.dir, nu)
		return err
	}) != nil || !w.checkAttrs(opLookup, f, a) {
		return false
	}
	return w.gone(old)
}

// gone checks that name no longer exists (LOOKUP answers NFS4ERR_NOENT).
func (w *worker) gone(name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), w.r.cfg.OpTimeout)
	defer cancel()
	t0 := time.Now()
	_, _, err := w.c.LookupAttrs(ctx, w.dir, name)
	w.r.hists[opLookup].Record(time.Since(t0))
	switch {
	case err == nil:
		w.mismatch(opLookup, name, "still exists after rename/remove")
		return false
	case !errors.Is(err, nfs4.ErrNoEnt):
		w.r.errs[opLookup].Add(1)
		w.r.report("error", w.id, "lookup", name, "want NFS4ERR_NOENT: %v", err)
		return false
	}
	return true
}

// readdir lists the client's directory: exactly its own files.
func (w *worker) readdir() bool {
	var ents []nfs4.DirEntry
	if w.do(opReaddir, ".", func(ctx context.Context) (err error) {
		ents, err = w.c.ReadDir(ctx, w.dir, nil)
		return err
	}) != nil {
		return false
	}
	var got, want []string
	for _, e := range ents {
		got = append(got, string(e.Name))
	}
	for _, f := range w.files {
		want = append(want, f.name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		w.mismatch(opReaddir, ".", "listing [%s], want [%s]", strings.Join(got, " "), strings.Join(want, " "))
		return false
	}
	return true
}

func (w *worker) remove(f *file) bool {
	if w.do(opRemove, f.name, func(ctx context.Context) error { return w.c.Remove(ctx, w.dir, f.name) }) != nil {
		return false
	}
	w.files = slices.DeleteFunc(w.files, func(g *file) bool { return g == f })
	return w.gone(f.name)
}
