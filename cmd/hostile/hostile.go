package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// Config is one run.
type Config struct {
	Addr      string        // target host:port; must be loopback
	PID       int           // fs_serv's pid for RSS sampling (0: not sampled)
	Duration  time.Duration // how long the scenarios run (concurrently)
	Scenarios []string      // names to run (nil: all)
	Seed      uint64

	// Counts (upper bounds; a scenario also stops at Duration).
	BigMarks  int // connections sending a 2 GiB record mark
	Holds     int // connections sending 3 bytes and holding
	HoldAddrs int // source addresses the holders spread over
	Randoms   int // connections sending random bytes
	Garbled   int // garbled COMPOUNDs
	Opcounts  int // COMPOUNDs claiming 1e9 ops
	Pipelined int // tiny COMPOUNDs per pipelining connection
	PipeConns int // pipelining connections

	MaxLatency time.Duration // checker bound per call
	MaxRSS     int64         // bytes
	Interval   time.Duration // checker period
}

// ShortConfig is the ~10 s run for `make test`.
func ShortConfig() Config {
	return Config{Duration: 10 * time.Second, BigMarks: 100, Holds: 300, HoldAddrs: 2,
		Randoms: 300, Garbled: 3000, Opcounts: 300, Pipelined: 10000, PipeConns: 2,
		MaxLatency: time.Second, MaxRSS: 256 << 20, Interval: 100 * time.Millisecond, Seed: 1}
}

// FullConfig is the ~2 min run for `make stress`, with the counts.
func FullConfig() Config {
	return Config{Duration: 2 * time.Minute, BigMarks: 1000, Holds: 1000, HoldAddrs: 4,
		Randoms: 3000, Garbled: 50000, Opcounts: 3000, Pipelined: 10000, PipeConns: 8,
		MaxLatency: time.Second, MaxRSS: 256 << 20, Interval: 100 * time.Millisecond, Seed: 1}
}

// Result is what a run found.
type Result struct {
	Scenarios  []*Stats
	Checks     int
	NullMax    time.Duration
	GetattrMax time.Duration
	MaxRSS     int64
	Failures   []string
}

// Pass reports whether every bound held.
func (r *Result) Pass() bool { return len(r.Failures) == 0 }

// Stats counts what one scenario did and saw.
type Stats struct {
	Name string
	mu   sync.Mutex
	n    map[string]int
	fail []string
}

func (s *Stats) add(key string, d int) {
	s.mu.Lock()
	if s.n == nil {
		s.n = make(map[string]int)
	}
	s.n[key] += d
	s.mu.Unlock()
}

func (s *Stats) failf(format string, args ...any) {
	s.mu.Lock()
	if len(s.fail) < 5 {
		s.fail = append(s.fail, fmt.Sprintf(format, args...))
	} else if len(s.fail) == 5 {
		s.fail = append(s.fail, "(more failures not shown)")
	}
	s.mu.Unlock()
}

// Get returns a counter.
func (s *Stats) Get(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[key]
}

func (s *Stats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.n))
	for k := range s.n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%-9s", s.Name)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, s.n[k])
	}
	return b.String()
}

// checkLoopback refuses any target that is not a loopback address: this
// program attacks a server and must never leave the machine.
func checkLoopback(addr string) (net.IP, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return nil, fmt.Errorf("%s resolves to %v, not a loopback address: refusing", host, ip)
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s: no address", host)
	}
	return ips[0], nil
}

type runner struct {
	cfg    Config
	target net.IP
	xid    atomic.Uint32
}

// dialer connects from source address 127.0.0.<last> (all of 127/8 is
// local on Linux), so that per-address limits see the scenarios and the
// checker as different clients. For an IPv6 target the source is not set.
func (r *runner) dialer(src net.IP) *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if r.target.To4() != nil && src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	return d
}

func srcIP(a, b, c byte) net.IP { return net.IPv4(127, a, b, c) }

func (r *runner) nextXID() uint32 { return r.xid.Add(1) }

// Run runs the scenarios concurrently for cfg.Duration while checking the
// server's latency and memory, prints a summary to out and returns it.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Result, error) {
	target, err := checkLoopback(cfg.Addr)
	if err != nil {
		return nil, err
	}
	need := uint64(cfg.Holds + cfg.PipeConns + 256)
	if lim := raiseNoFile(); lim < need {
		fmt.Fprintf(out, "hostile: RLIMIT_NOFILE %d < %d: holding %d connections\n", lim, need, int(lim)-256-cfg.PipeConns)
		cfg.Holds = max(0, int(lim)-256-cfg.PipeConns)
	}
	r := &runner{cfg: cfg, target: target}
	r.xid.Store(rand.Uint32())
	res := &Result{}

	all := []struct {
		name string
		fn   func(context.Context, *Stats)
	}{
		{"bigmark", r.bigMark},
		{"hold", r.hold},
		{"random", r.random},
		{"garbled", r.garbled},
		{"opcount", r.opcount},
		{"pipeline", r.pipeline},
	}
	fmt.Fprintf(out, "hostile: target %s pid %d, scenarios for %v\n", cfg.Addr, cfg.PID, cfg.Duration)

	sctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, sc := range all {
		if len(cfg.Scenarios) > 0 && !contains(cfg.Scenarios, sc.name) {
			continue
		}
		st := &Stats{Name: sc.name}
		res.Scenarios = append(res.Scenarios, st)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc.fn(sctx, st)
		}()
	}

	// The checker and the RSS sampler run until the scenarios have ended.
	cctx, cstop := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	var chk checker
	cwg.Add(1)
	go func() { defer cwg.Done(); r.check(cctx, &chk) }()
	var rssMax atomic.Int64
	var rssErr atomic.Value
	if cfg.PID > 0 {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				rss, err := readRSS(cfg.PID)
				if err != nil {
					rssErr.Store(err.Error())
					return
				}
				if rss > rssMax.Load() {
					rssMax.Store(rss)
				}
				select {
				case <-cctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
	<-sctx.Done() // the checker runs for the whole Duration
	// A last check after the storm: the server must still answer.
	time.Sleep(cfg.Interval)
	cstop()
	cwg.Wait()
	r.checkOnce(&chk, true)

	res.Checks, res.NullMax, res.GetattrMax = chk.rounds, chk.nullMax, chk.getattrMax
	res.MaxRSS = rssMax.Load()
	res.Failures = append(res.Failures, chk.fails...)
	if e, ok := rssErr.Load().(string); ok {
		res.Failures = append(res.Failures, "fs_serv RSS: "+e+" (did it die?)")
	}
	if cfg.MaxRSS > 0 && res.MaxRSS > cfg.MaxRSS {
		res.Failures = append(res.Failures, fmt.Sprintf("fs_serv RSS reached %s > %s", mib(res.MaxRSS), mib(cfg.MaxRSS)))
	}
	for _, st := range res.Scenarios {
		fmt.Fprintln(out, st)
		for _, f := range st.fail {
			res.Failures = append(res.Failures, st.Name+": "+f)
		}
	}
	fmt.Fprintf(out, "checker:  %d rounds (fresh connection: NULL, PUTROOTFH+GETATTR); max latency NULL %v, GETATTR %v (bound %v)\n",
		res.Checks, res.NullMax.Round(time.Microsecond), res.GetattrMax.Round(time.Microsecond), cfg.MaxLatency)
	if cfg.PID > 0 {
		fmt.Fprintf(out, "fs_serv:  max RSS %s (bound %s)\n", mib(res.MaxRSS), mib(cfg.MaxRSS))
	}
	for _, f := range res.Failures {
		fmt.Fprintln(out, "FAIL:", f)
	}
	if res.Pass() {
		fmt.Fprintln(out, "PASS")
	} else {
		fmt.Fprintln(out, "FAIL")
	}
	return res, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// readRSS returns VmRSS of pid in bytes.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status (process gone?)")
}

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit (Go does
// this itself since 1.19; done again in case it did not) and returns it.
func raiseNoFile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
	}
	return rl.Cur
}

// ---------------------------------------------------------------- checker

type checker struct {
	rounds              int
	nullMax, getattrMax time.Duration
	fails               []string
}

func (c *checker) failf(format string, args ...any) {
	if len(c.fails) < 10 {
		c.fails = append(c.fails, fmt.Sprintf(format, args...))
	}
}

// check runs checkOnce every Interval until ctx ends.
func (r *runner) check(ctx context.Context, c *checker) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		r.checkOnce(c, false)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkOnce is one round of the well-behaved client (source 127.0.0.2): a
// fresh connection, a NULL call (timed from the connect) and a
// PUTROOTFH+GETATTR, each within MaxLatency.
func (r *runner) checkOnce(c *checker, final bool) {
	c.rounds++
	what := "checker"
	if final {
		what = "final check"
	}
	bound := r.cfg.MaxLatency
	t0 := time.Now()
	nc, err := r.dialer(srcIP(0, 0, 2)).Dial("tcp", r.cfg.Addr)
	if err != nil {
		c.failf("%s: connect: %v", what, err)
		return
	}
	defer nc.Close()
	h, _, err := roundTrip(nc, r.nextXID(), nfs4.ProcNull, nil, 5*bound)
	d := time.Since(t0)
	c.nullMax = max(c.nullMax, d)
	switch {
	case err != nil:
		c.failf("%s: NULL: %v (after %v)", what, err, d)
		return
	case h.Err() != nil:
		c.failf("%s: NULL: %v", what, h.Err())
	case d > bound:
		c.failf("%s: NULL took %v > %v", what, d, bound)
	}
	t1 := time.Now()
	h, body, err := roundTrip(nc, r.nextXID(), nfs4.ProcCompound, getattrBody(), 5*bound)
	d = time.Since(t1)
	c.getattrMax = max(c.getattrMax, d)
	switch {
	case err != nil:
		c.failf("%s: GETATTR: %v (after %v)", what, err, d)
		return
	case h.Err() != nil:
		c.failf("%s: GETATTR: %v", what, h.Err())
		return
	case d > bound:
		c.failf("%s: GETATTR took %v > %v", what, d, bound)
	}
	if st, err := compoundStatus(body); err != nil || st != nfs4.OK {
		c.failf("%s: GETATTR: status %v %v", what, st, err)
	}
}

// ---------------------------------------------------------------- scenarios

// workers runs fn(i) for i < count on n goroutines until ctx ends.
func workers(ctx context.Context, n, count int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// awaitClose waits up to d for the server to close nc; it returns how
// long that took, or false if it did not (or sent data instead).
func awaitClose(ctx context.Context, nc net.Conn, d time.Duration) (time.Duration, bool) {
	t0 := time.Now()
	deadline := t0.Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	nc.SetReadDeadline(deadline)
	buf := make([]byte, 512)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue // data (a reply): keep waiting for the close
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return time.Since(t0), false
		}
		return time.Since(t0), true // EOF or reset
	}
}

// bigMark: a record mark claiming 2 GiB (2^31-1, the most a fragment can
// say), then silence. The server must drop the connection at once (RFC
// 5531 §11 gives it no way to skip the record) without allocating.
func (r *runner) bigMark(ctx context.Context, st *Stats) {
	workers(ctx, 4, r.cfg.BigMarks, func(i int) {
		nc, err := r.dialer(srcIP(0, 0, 10)).DialContext(ctx, "tcp", r.cfg.Addr)
		if err != nil {
			if ctx.Err() == nil {
				st.add("dial-error", 1)
			}
			return
		}
		defer nc.Close()
		mark := uint32(0x7fffffff) // non-last fragment
		if i%2 == 0 {
			mark |= 1 << 31
		}
		nc.Write(binary.BigEndian.AppendUint32(nil, mark))
		st.add("conns", 1)
		d, closed := awaitClose(ctx, nc, 2*time.Second)
		switch {
		case closed:
			st.add("closed", 1)
		case ctx.Err() == nil:
			st.add("not-closed", 1)
			st.failf("connection with a 2 GiB record mark still open after %v", d.Round(time.Millisecond))
		}
		sleepCtx(ctx, 20*time.Millisecond)
	})
}

// hold: many connections that send 3 bytes (part of a record mark) and
// wait. The server refuses those over its per-address limit and closes the
// others at its partial-record timeout; none may hold a worker.
func (r *runner) hold(ctx context.Context, st *Stats) {
	naddr := max(1, r.cfg.HoldAddrs)
	workers(ctx, r.cfg.Holds, r.cfg.Holds, func(i int) {
		src := srcIP(0, 1, byte(1+i%naddr))
		for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
			nc, err := r.dialer(src).DialContext(ctx, "tcp", r.cfg.Addr)
			if err != nil {
				if ctx.Err() == nil {
					st.add("dial-error", 1)
					sleepCtx(ctx, 200*time.Millisecond)
				}
				continue
			}
			st.add("conns", 1)
			nc.Write([]byte{0x80, 0, 0})
			d, closed := awaitClose(ctx, nc, time.Hour)
			nc.Close()
			switch {
			case !closed:
				st.add("held-to-end", 1)
				return
			case d < 500*time.Millisecond:
				st.add("refused", 1) // closed at once: over a connection limit
			default:
				st.add("timed-out", 1) // closed by the partial-record timeout
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
	})
}

// random: connections that send random bytes: sometimes pure noise,
// sometimes a plausible record mark with noise inside, sometimes a CALL
// header followed by noise.
func (r *runner) random(ctx context.Context, st *Stats) {
	workers(ctx, 16, r.cfg.Randoms, func(i int) {
		rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(i)))
		nc, err := r.dialer(srcIP(0, 0, 11)).DialContext(ctx, "tcp", r.cfg.Addr)
		if err != nil {
			if ctx.Err() == nil {
				st.add("dial-error", 1)
			}
			return
		}
		defer nc.Close()
		st.add("conns", 1)
		noise := make([]byte, 1+rng.IntN(16<<10))
		for j := range noise {
			noise[j] = byte(rng.Uint32())
		}
		var msg []byte
		switch i % 3 {
		case 0:
			msg = noise
		case 1:
			msg = record(noise)
		case 2:
			hdr := callMsg(r.nextXID(), nfs4.ProcCompound, nil)
			msg = record(append(hdr[:rng.IntN(len(hdr)+1)], noise...))
		}
		nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := nc.Write(msg); err != nil {
			st.add("write-cut", 1) // the server closed while we sent: fine
		}
		nc.SetReadDeadline(time.Now().Add(time.Second))
		b, err := io.ReadAll(nc)
		switch {
		case len(b) > 0:
			st.add("answered", 1)
		case err == nil || !errors.Is(err, os.ErrDeadlineExceeded):
			st.add("closed", 1)
		default:
			st.add("waiting", 1) // a short mark: the server waits for the rest
		}
	})
}

// garbled: valid RPC CALL headers whose COMPOUND body is truncated, has
// bytes flipped or is followed by noise, on long-lived connections; every
// complete record must get a reply (an RPC or NFS error), and the
// connection must stay up. A few records are cut short and the connection
// closed.
func (r *runner) garbled(ctx context.Context, st *Stats) {
	const conns = 4
	per := (r.cfg.Garbled + conns - 1) / conns
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(r.cfg.Seed, 1000+uint64(w)))
			r.garbledConn(ctx, st, rng, per)
		}()
	}
	wg.Wait()
}

func (r *runner) garbledConn(ctx context.Context, st *Stats, rng *rand.Rand, count int) {
	dial := func() *pipe {
		nc, err := r.dialer(srcIP(0, 0, 12)).DialContext(ctx, "tcp", r.cfg.Addr)
		if err != nil {
			if ctx.Err() == nil {
				st.add("dial-error", 1)
			}
			return nil
		}
		return newPipe(nc)
	}
	p := dial()
	if p == nil {
		return
	}
	defer func() { p.nc.Close() }()
	for i := 0; i < count && ctx.Err() == nil; i++ {
		body := readOnlyBody(uint32(rng.IntN(3)))
		switch rng.IntN(4) {
		case 0: // truncated
			body = body[:rng.IntN(len(body))]
		case 1: // bytes flipped
			for range 1 + rng.IntN(4) {
				body[rng.IntN(len(body))] ^= byte(1 + rng.IntN(255))
			}
		case 2: // noise after a valid prefix
			body = body[:rng.IntN(len(body))]
			for range rng.IntN(512) {
				body = append(body, byte(rng.Uint32()))
			}
		case 3: // a lying length somewhere in the header: tag or opcount
			// Offsets 0 and 16: the tag's length ("hostile": 4+8
			// bytes, then minorversion) and the argarray count.
			binary.BigEndian.PutUint32(body[[]int{0, 16}[rng.IntN(2)]:], rng.Uint32())
		}
		xid := r.nextXID()
		msg := callMsg(xid, nfs4.ProcCompound, body)
		if rng.IntN(8) == 0 {
			// Garble the call header past xid and msg_type (which the
			// server needs to answer at all): rpcvers, program, version,
			// procedure, credential and verifier.
			hdrLen := len(msg) - len(body)
			msg[8+rng.IntN(hdrLen-8)] ^= byte(1 + rng.IntN(255))
		}
		rec := record(msg)
		if i%100 == 99 {
			// A record cut short, then the connection closed.
			p.nc.Write(rec[:rng.IntN(len(rec))])
			p.nc.Close()
			st.add("cut-records", 1)
			if p = dial(); p == nil {
				return
			}
			continue
		}
		msg, err := p.call(ctx, xid, rec, 5*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			st.add("no-reply", 1)
			st.failf("garbled COMPOUND got no reply: %v", err)
			p.nc.Close()
			if p = dial(); p == nil {
				return
			}
			continue
		}
		h, res, err := rpc.DecodeReply(msg)
		switch {
		case err != nil:
			st.add("bad-reply", 1)
			st.failf("undecodable reply: %v", err)
		case h.Err() != nil:
			st.add("rpc-error", 1) // GARBAGE_ARGS, AUTH_BADCRED...
		case len(res) == 0:
			st.add("null-reply", 1) // the procedure garbled into NULL
		default:
			if s, err := compoundStatus(res); err != nil {
				st.add("bad-reply", 1)
				st.failf("reply: %v", err)
			} else if s == nfs4.OK {
				st.add("nfs-ok", 1)
			} else {
				st.add("nfs-error", 1)
			}
		}
	}
}

// opcount: COMPOUNDs claiming 10^9 operations. The decoder must refuse the
// count before allocating: NFS4ERR_RESOURCE in 4.0 (RFC 7530 §15.2),
// NFS4ERR_TOO_MANY_OPS in 4.1+ (RFC 8881 §15.1.1.6, §18.46.3).
func (r *runner) opcount(ctx context.Context, st *Stats) {
	nc, err := r.dialer(srcIP(0, 0, 13)).DialContext(ctx, "tcp", r.cfg.Addr)
	if err != nil {
		st.add("dial-error", 1)
		return
	}
	p := newPipe(nc)
	defer nc.Close()
	for i := 0; i < r.cfg.Opcounts && ctx.Err() == nil; i++ {
		minor := uint32(i % 3)
		want := nfs4.ErrResource
		if minor >= 1 {
			want = nfs4.ErrTooManyOps
		}
		xid := r.nextXID()
		msg, err := p.call(ctx, xid, record(callMsg(xid, nfs4.ProcCompound, hugeOpcountBody(minor, 1e9))), 5*time.Second)
		if err != nil {
			if ctx.Err() == nil {
				st.failf("opcount 1e9: %v", err)
			}
			return
		}
		body, err := rpc.ReplyBody(msg)
		if err == nil {
			var s nfs4.Status
			if s, err = compoundStatus(body); err == nil && s != want {
				err = fmt.Errorf("status %v, want %v", s, want)
			}
		}
		if err != nil {
			st.add("wrong", 1)
			st.failf("minor %d opcount 1e9: %v", minor, err)
			continue
		}
		st.add("refused-ok", 1)
	}
}

// pipeline: tiny COMPOUNDs written back to back without ever reading a
// reply. The server must stop reading (bounded reply queue, in-flight
// bound) instead of buffering replies, and drop the connection at its
// write timeout.
func (r *runner) pipeline(ctx context.Context, st *Stats) {
	rec := func(xid uint32) []byte {
		return record(callMsg(xid, nfs4.ProcCompound, compoundBody(0,
			nfs4.ArgOp{Op: nfs4.OpPutRootFH, Args: &nfs4.PutRootFHArgs{}},
			nfs4.ArgOp{Op: nfs4.OpGetattr, Args: &nfs4.GetattrArgs{AttrRequest: attrReq}})))
	}
	workers(ctx, r.cfg.PipeConns, r.cfg.PipeConns, func(i int) {
		d := r.dialer(srcIP(0, 0, 14))
		// A small receive buffer from the SYN on (a window that never
		// opens), so that replies back up in the server quickly.
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
		}
		nc, err := d.DialContext(ctx, "tcp", r.cfg.Addr)
		if err != nil {
			st.add("dial-error", 1)
			return
		}
		defer nc.Close()
		sent := 0
		var buf []byte
		for sent < r.cfg.Pipelined && ctx.Err() == nil {
			buf = buf[:0]
			for range 100 {
				buf = append(buf, rec(r.nextXID())...)
			}
			nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := nc.Write(buf); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					st.add("stopped-being-read", 1) // backpressure
				} else {
					st.add("closed-while-sending", 1)
				}
				break
			}
			sent += 100
		}
		st.add("sent", sent)
		// Never read; wait for the server's write timeout to end it.
		if awaitCloseNoRead(ctx, nc) {
			st.add("closed-by-server", 1)
		}
	})
}

// awaitCloseNoRead waits until ctx ends for the peer to close nc, without
// consuming its replies: it probes with writes of an empty non-last
// fragment (a no-op for the peer's record reader) until one fails other
// than by timing out.
func awaitCloseNoRead(ctx context.Context, nc net.Conn) bool {
	probe := []byte{0, 0, 0, 0}
	for ctx.Err() == nil {
		nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := nc.Write(probe); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return true
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
