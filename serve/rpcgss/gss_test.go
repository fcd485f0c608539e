package rpcgss

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// fakeMech accepts a token "principal" (or fails for "bad..."): the
// context key is derived from the token, so client and server share it.
// MICs are HMAC-SHA256; Wrap XORs with a key byte and appends a MIC.
type fakeMech struct{ expiry time.Time }

type fakeCtx struct {
	key    []byte
	who    string
	expiry time.Time
}

func newFakeCtx(principal string, exp time.Time) *fakeCtx {
	k := sha256.Sum256([]byte("key:" + principal))
	return &fakeCtx{key: k[:], who: principal, expiry: exp}
}

func (m *fakeMech) Accept(tok []byte) (Context, []byte, error) {
	if bytes.HasPrefix(tok, []byte("bad")) {
		return nil, []byte("krb-error"), errors.New("bad token")
	}
	return newFakeCtx(string(tok), m.expiry), []byte("ap-rep"), nil
}

func (c *fakeCtx) Initiator() string { return c.who }
func (c *fakeCtx) Expiry() time.Time { return c.expiry }
func (c *fakeCtx) GetMIC(msg []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(msg)
	return m.Sum(nil)[:16]
}
func (c *fakeCtx) VerifyMIC(msg, tok []byte) error {
	if !hmac.Equal(c.GetMIC(msg), tok) {
		return errors.New("bad mic")
	}
	return nil
}
func (c *fakeCtx) Wrap(msg []byte, conf bool) []byte {
	out := make([]byte, len(msg))
	for i := range msg {
		out[i] = msg[i] ^ c.key[0]
	}
	return append(out, c.GetMIC(msg)...)
}
func (c *fakeCtx) Unwrap(tok []byte) ([]byte, bool, error) {
	if len(tok) < 16 {
		return nil, false, errors.New("short")
	}
	msg := make([]byte, len(tok)-16)
	for i := range msg {
		msg[i] = tok[i] ^ c.key[0]
	}
	if err := c.VerifyMIC(msg, tok[len(msg):]); err != nil {
		return nil, false, err
	}
	return msg, true, nil
}

// echo returns its arguments and remembers the identity it ran as.
type echo struct {
	mu   sync.Mutex
	last *Identity
	n    atomic.Int64
}

func (e *echo) ServeRPC(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
	e.n.Add(1)
	id, _ := FromContext(ctx)
	e.mu.Lock()
	e.last = id
	e.mu.Unlock()
	return rpcsrv.Success(append([]byte(nil), c.Args...))
}

const testProg, testVers, testProc = 100003, 4, 1

func testMapper(p string) (fsadapters.Cred, bool) {
	if p == "alice@EX" {
		return fsadapters.Cred{UID: 1000, GID: 100, Groups: []uint32{27}}, true
	}
	return fsadapters.Cred{}, false
}

type rig struct {
	t    testing.TB
	h    *Handler
	next *echo
	now  time.Time
	xid  uint32
}

func newRig(t testing.TB, cfg Config) *rig {
	r := &rig{t: t, next: &echo{}, now: time.Unix(1e9, 0)}
	if cfg.Mech == nil {
		cfg.Mech = &fakeMech{}
	}
	if cfg.Map == nil {
		cfg.Map = testMapper
	}
	cfg.Now = func() time.Time { return r.now }
	r.h = New(r.next, cfg)
	return r
}

// client is one established context as the client sees it.
type client struct {
	r      *rig
	ctx    *fakeCtx
	handle []byte
	seq    uint32
}

func credAuth(c Cred) rpc.Auth {
	var e xdr.Encoder
	c.Encode(&e)
	return rpc.Auth{Flavor: rpc.RPCSecGSS, Body: e.Buf}
}

func (r *rig) serve(proc uint32, cred, verf rpc.Auth, args []byte) rpcsrv.Reply {
	r.xid++
	call := &rpcsrv.Call{CallHeader: rpc.CallHeader{XID: r.xid, Prog: testProg, Vers: testVers, Proc: proc, Cred: cred, Verf: verf}, Args: args}
	return r.h.ServeRPC(context.Background(), call)
}

func (r *rig) init(principal string) *client {
	r.t.Helper()
	var e xdr.Encoder
	e.Opaque([]byte(principal))
	rep := r.serve(0, credAuth(Cred{Proc: ProcInit, Service: ServiceNone}), rpc.Auth{}, e.Buf)
	res := decodeInit(r.t, rep)
	if res.Major != 0 || len(res.Handle) != handleLen || string(res.Token) != "ap-rep" {
		r.t.Fatalf("init: %+v", res)
	}
	cc := newFakeCtx(principal, time.Time{})
	if rep.Verf.Flavor != rpc.RPCSecGSS || cc.VerifyMIC(seqBytes(res.Window), rep.Verf.Body) != nil {
		r.t.Fatalf("init verifier is not the MIC of seq_window %d", res.Window)
	}
	return &client{r: r, ctx: cc, handle: res.Handle}
}

func decodeInit(t testing.TB, rep rpcsrv.Reply) InitRes {
	t.Helper()
	if rep.Denied || rep.Accept != rpc.Success || len(rep.Body) != 1 {
		t.Fatalf("init reply %+v", rep)
	}
	var d xdr.Decoder
	d.Reset(rep.Body[0])
	var res InitRes
	res.Decode(&d)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("init_res: %v", d.Err())
	}
	return res
}

// callOpts tamper with a DATA call.
type callOpts struct {
	proc       Proc
	seq        *uint32 // seq_num in the credential (default: next)
	innerSeq   *uint32 // seq_num inside the body
	badVerf    bool
	badSum     bool
	version    uint32
	rawService uint32
}

func (c *client) call(svc Service, args []byte, o callOpts) (rpcsrv.Reply, uint32) {
	seq := c.seq
	c.seq++
	if o.seq != nil {
		seq = *o.seq
	}
	cr := Cred{Proc: o.proc, Seq: seq, Service: svc, Handle: c.handle}
	cred := credAuth(cr)
	if o.version != 0 || o.rawService != 0 {
		var e xdr.Encoder
		e.Uint32(max(o.version, 1))
		e.Uint32(uint32(o.proc))
		e.Uint32(seq)
		e.Uint32(max(o.rawService, uint32(svc)))
		e.Opaque(c.handle)
		cred.Body = e.Buf
	}
	xid := c.r.xid + 1
	hdr := callHeaderBytes(xid, testProg, testVers, testProc, &cred)
	mic := c.ctx.GetMIC(hdr)
	if o.badVerf {
		mic[0] ^= 1
	}
	inner := seq
	if o.innerSeq != nil {
		inner = *o.innerSeq
	}
	body := append(seqBytes(inner), args...)
	var e xdr.Encoder
	switch svc {
	case ServiceNone:
		e.Buf = args
	case ServiceIntegrity:
		sum := c.ctx.GetMIC(body)
		if o.badSum {
			sum[3] ^= 1
		}
		e.Opaque(body)
		e.Opaque(sum)
	case ServicePrivacy:
		w := c.ctx.Wrap(body, true)
		if o.badSum {
			w[len(w)-1] ^= 1
		}
		e.Opaque(w)
	}
	c.r.xid = xid - 1
	return c.r.serve(testProc, cred, rpc.Auth{Flavor: rpc.RPCSecGSS, Body: mic}, e.Buf), seq
}

// results checks a reply's verifier and unwraps its results.
func (c *client) results(t *testing.T, rep rpcsrv.Reply, svc Service, seq uint32) []byte {
	t.Helper()
	if rep.Denied || rep.NoReply || rep.Accept != rpc.Success {
		t.Fatalf("reply %+v", rep)
	}
	if rep.Verf.Flavor != rpc.RPCSecGSS || c.ctx.VerifyMIC(seqBytes(seq), rep.Verf.Body) != nil {
		t.Fatalf("reply verifier is not the MIC of seq_num %d", seq)
	}
	var flat []byte
	for _, b := range rep.Body {
		flat = append(flat, b...)
	}
	if svc == ServiceNone {
		return flat
	}
	var d xdr.Decoder
	d.Reset(flat)
	var body []byte
	if svc == ServiceIntegrity {
		body = d.Opaque("", 1<<20)
		if err := c.ctx.VerifyMIC(body, d.Opaque("", 1024)); err != nil {
			t.Fatalf("result checksum: %v", err)
		}
	} else {
		var err error
		if body, _, err = c.ctx.Unwrap(d.Opaque("", 1<<20)); err != nil {
			t.Fatalf("unwrap results: %v", err)
		}
	}
	if d.Err() != nil || d.Remaining() != 0 || len(body) < 4 || !bytes.Equal(body[:4], seqBytes(seq)) {
		t.Fatalf("results not prefixed with seq_num %d: %x", seq, body)
	}
	return body[4:]
}

func wantAuth(t *testing.T, rep rpcsrv.Reply, st rpc.AuthStat) {
	t.Helper()
	if !rep.Denied || rep.Reject != rpc.AuthError || rep.AuthStat != st {
		t.Fatalf("got %+v, want AUTH_ERROR %v", rep, st)
	}
}

func wantGarbage(t *testing.T, c *client, rep rpcsrv.Reply, seq uint32) {
	t.Helper()
	if rep.Denied || rep.Accept != rpc.GarbageArgs {
		t.Fatalf("got %+v, want GARBAGE_ARGS", rep)
	}
	if c.ctx.VerifyMIC(seqBytes(seq), rep.Verf.Body) != nil {
		t.Fatalf("GARBAGE_ARGS reply lacks the seq_num MIC")
	}
}

func u32(v uint32) *uint32 { return &v }

func TestServices(t *testing.T) {
	r := newRig(t, Config{})
	c := r.init("alice@EX")
	for _, svc := range []Service{ServiceNone, ServiceIntegrity, ServicePrivacy} {
		args := []byte(fmt.Sprintf("args for %v....", svc))
		rep, seq := c.call(svc, args, callOpts{})
		if got := c.results(t, rep, svc, seq); !bytes.Equal(got, args) {
			t.Fatalf("%v: handler saw/echoed %q, want %q", svc, got, args)
		}
		id := r.next.last
		if id == nil || id.Flavor != PseudoFlavor(svc) || id.Principal != "alice@EX" || !id.Mapped || id.Cred.UID != 1000 || id.Cred.GID != 100 {
			t.Fatalf("%v: identity %+v", svc, id)
		}
	}
	// An unknown principal reaches the handler unmapped.
	c2 := r.init("nfs/host@EX")
	rep, seq := c2.call(ServiceIntegrity, nil, callOpts{})
	c2.results(t, rep, ServiceIntegrity, seq)
	if id := r.next.last; id.Mapped || id.Principal != "nfs/host@EX" || id.Flavor != Krb5i {
		t.Fatalf("machine principal identity %+v", id)
	}
}

func TestPassThroughAndNoMech(t *testing.T) {
	r := newRig(t, Config{})
	rep := r.serve(testProc, rpc.NewAuthSys(rpc.AuthSysParams{UID: 5}), rpc.Auth{}, []byte("x"))
	if rep.Denied || string(rep.Body[0]) != "x" {
		t.Fatalf("AUTH_SYS call not passed through: %+v", rep)
	}
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("identity in a bare context")
	}
	h := New(&echo{}, Config{})
	h.cfg.Mech = nil
	rep = h.ServeRPC(context.Background(), &rpcsrv.Call{CallHeader: rpc.CallHeader{Cred: credAuth(Cred{Proc: ProcInit, Service: ServiceNone})}})
	wantAuth(t, rep, rpc.AuthBadCred)
}

func TestSequenceWindow(t *testing.T) {
	r := newRig(t, Config{Window: 8})
	c := r.init("alice@EX")
	ok := func(seq uint32) {
		t.Helper()
		rep, s := c.call(ServiceNone, nil, callOpts{seq: u32(seq)})
		c.results(t, rep, ServiceNone, s)
	}
	dropped := func(seq uint32) {
		t.Helper()
		if rep, _ := c.call(ServiceNone, nil, callOpts{seq: u32(seq)}); !rep.NoReply {
			t.Fatalf("seq %d: got %+v, want dropped", seq, rep)
		}
	}
	ok(1)
	dropped(1) // replay
	ok(5)
	ok(3) // late but inside the window
	dropped(3)
	ok(12)      // window now 5..12
	dropped(4)  // below it
	ok(6)       // inside, unseen
	dropped(5)  // seen before the slide
	ok(100)     // a jump clears everything
	dropped(92) // 100-8
	ok(93)
	before := r.next.n.Load()
	dropped(100)
	if r.next.n.Load() != before {
		t.Fatal("dropped request reached the handler")
	}
}

func TestWindowUnit(t *testing.T) {
	// Compare with a naive model over random sequences.
	for _, size := range []uint32{1, 3, 64, 65, 128} {
		w := newWindow(size)
		seen := map[uint32]bool{}
		var hi uint32
		started := false
		rng := rand.New(rand.NewPCG(1, uint64(size)))
		for i := 0; i < 5000; i++ {
			seq := uint32(rng.IntN(400)) + uint32(i/4)
			want := !seen[seq] && (!started || seq > hi || hi-seq < size)
			if got := w.accept(seq); got != want {
				t.Fatalf("size %d step %d seq %d (hi %d): got %v want %v", size, i, seq, hi, got, want)
			}
			if want {
				seen[seq] = true
				if !started || seq > hi {
					hi, started = seq, true
				}
			}
		}
	}
}

func TestBadVerifierDoesNotUseSeq(t *testing.T) {
	r := newRig(t, Config{})
	c := r.init("alice@EX")
	rep, _ := c.call(ServiceIntegrity, []byte("abcd"), callOpts{seq: u32(7), badVerf: true})
	wantAuth(t, rep, rpc.RPCSecGSSCredProblem)
	rep, seq := c.call(ServiceIntegrity, []byte("abcd"), callOpts{seq: u32(7)})
	c.results(t, rep, ServiceIntegrity, seq)
}

func TestArgumentChecks(t *testing.T) {
	r := newRig(t, Config{})
	c := r.init("alice@EX")
	n := r.next.n.Load()
	for _, svc := range []Service{ServiceIntegrity, ServicePrivacy} {
		rep, seq := c.call(svc, []byte("abcd"), callOpts{badSum: true})
		wantGarbage(t, c, rep, seq)
		rep, seq = c.call(svc, []byte("abcd"), callOpts{innerSeq: u32(c.seq + 40)})
		wantGarbage(t, c, rep, seq)
	}
	// Truncated integ data.
	rep, seq := c.call(ServiceNone, nil, callOpts{})
	c.results(t, rep, ServiceNone, seq)
	n++
	if r.next.n.Load() != n {
		t.Fatal("garbage arguments reached the handler")
	}
}

func TestBadCredentials(t *testing.T) {
	r := newRig(t, Config{})
	c := r.init("alice@EX")
	for _, v := range []uint32{2, 3, 1024} { // pynfs GSS5 (0 is "default" here)
		rep, _ := c.call(ServiceNone, nil, callOpts{version: v})
		wantAuth(t, rep, rpc.AuthBadCred)
	}
	for _, p := range []Proc{4, 5, 1024} { // GSS7
		rep, _ := c.call(ServiceNone, nil, callOpts{proc: p})
		wantAuth(t, rep, rpc.AuthBadCred)
	}
	for _, s := range []uint32{4, 5, 1024} { // GSS8
		rep, _ := c.call(ServiceNone, nil, callOpts{rawService: s})
		wantAuth(t, rep, rpc.AuthBadCred)
	}
	for _, body := range [][]byte{nil, {0, 0, 0, 0}, {0, 0, 0, 1, 0, 0, 0, 0}} { // version 0, truncated
		wantAuth(t, r.serve(1, rpc.Auth{Flavor: rpc.RPCSecGSS, Body: body}, rpc.Auth{}, nil), rpc.AuthBadCred)
	}
	// MAXSEQ and beyond: GSS6.
	rep, _ := c.call(ServiceNone, nil, callOpts{seq: u32(MaxSeq + 1)})
	wantAuth(t, rep, rpc.RPCSecGSSCtxProblem)
	// Unknown handle.
	stranger := &client{r: r, ctx: c.ctx, handle: []byte("no such handle")}
	rep, _ = stranger.call(ServiceNone, nil, callOpts{})
	wantAuth(t, rep, rpc.RPCSecGSSCredProblem)
	// The context survives all that.
	rep, seq := c.call(ServicePrivacy, []byte("ok"), callOpts{})
	c.results(t, rep, ServicePrivacy, seq)
}

func TestInitErrors(t *testing.T) {
	r := newRig(t, Config{})
	var e xdr.Encoder
	e.Opaque([]byte("bad token"))
	res := decodeInit(t, r.serve(0, credAuth(Cred{Proc: ProcInit, Service: ServiceNone}), rpc.Auth{}, e.Buf))
	if res.Major != gssFailure || len(res.Handle) != 0 || string(res.Token) != "krb-error" {
		t.Fatalf("failed init: %+v", res)
	}
	// INIT on a procedure other than NULL; a verifier; trailing bytes.
	wantAuth(t, r.serve(1, credAuth(Cred{Proc: ProcInit, Service: ServiceNone}), rpc.Auth{}, e.Buf), rpc.AuthBadCred)
	wantAuth(t, r.serve(0, credAuth(Cred{Proc: ProcInit, Service: ServiceNone}), rpc.Auth{Flavor: rpc.RPCSecGSS, Body: []byte{1}}, e.Buf), rpc.AuthBadVerf)
	if rep := r.serve(0, credAuth(Cred{Proc: ProcInit, Service: ServiceNone}), rpc.Auth{}, append(e.Buf, 0, 0, 0, 0)); rep.Accept != rpc.GarbageArgs {
		t.Fatalf("trailing bytes: %+v", rep)
	}
	wantAuth(t, r.serve(0, credAuth(Cred{Proc: ProcContinueInit, Service: ServiceNone, Handle: []byte("x")}), rpc.Auth{}, e.Buf), rpc.RPCSecGSSCredProblem)
	if r.h.Contexts() != 0 {
		t.Fatal("failed inits left contexts")
	}
}

func TestDestroy(t *testing.T) {
	r := newRig(t, Config{})
	c := r.init("alice@EX")
	keep := r.init("bob@EX")
	rep, seq := c.call(ServiceIntegrity, nil, callOpts{proc: ProcDestroy})
	if rep.Denied || c.ctx.VerifyMIC(seqBytes(seq), rep.Verf.Body) != nil {
		t.Fatalf("destroy reply %+v", rep)
	}
	rep, _ = c.call(ServiceNone, nil, callOpts{})
	wantAuth(t, rep, rpc.RPCSecGSSCredProblem)
	if r.h.Contexts() != 1 {
		t.Fatalf("%d contexts after destroy, want 1", r.h.Contexts())
	}
	rep, seq = keep.call(ServiceNone, nil, callOpts{})
	keep.results(t, rep, ServiceNone, seq)
}

func TestExpiry(t *testing.T) {
	r := newRig(t, Config{})
	r.h.cfg.Mech = &fakeMech{expiry: r.now.Add(time.Minute)}
	c := r.init("alice@EX")
	rep, seq := c.call(ServiceNone, nil, callOpts{})
	c.results(t, rep, ServiceNone, seq)
	r.now = r.now.Add(time.Minute)
	rep, _ = c.call(ServiceNone, nil, callOpts{})
	wantAuth(t, rep, rpc.RPCSecGSSCtxProblem)
	// A ticket already expired at INIT gives no context.
	var e xdr.Encoder
	e.Opaque([]byte("alice@EX"))
	res := decodeInit(t, r.serve(0, credAuth(Cred{Proc: ProcInit, Service: ServiceNone}), rpc.Auth{}, e.Buf))
	if res.Major != gssCredExpire || r.h.Contexts() != 0 {
		t.Fatalf("init with expired context: %+v, %d contexts", res, r.h.Contexts())
	}
}

func TestContextLimits(t *testing.T) {
	r := newRig(t, Config{MaxContexts: 2, IdleTimeout: time.Minute})
	a := r.init("alice@EX")
	b := r.init("bob@EX")
	// Use a, so b is the least recently used.
	rep, seq := a.call(ServiceNone, nil, callOpts{})
	a.results(t, rep, ServiceNone, seq)
	c := r.init("carol@EX")
	if r.h.Contexts() != 2 {
		t.Fatalf("%d contexts, limit 2", r.h.Contexts())
	}
	rep, _ = b.call(ServiceNone, nil, callOpts{})
	wantAuth(t, rep, rpc.RPCSecGSSCredProblem)
	rep, seq = a.call(ServiceNone, nil, callOpts{})
	a.results(t, rep, ServiceNone, seq)
	// Idle eviction: c idle for the timeout, a used just before.
	r.now = r.now.Add(59 * time.Second)
	rep, seq = a.call(ServiceNone, nil, callOpts{})
	a.results(t, rep, ServiceNone, seq)
	r.now = r.now.Add(time.Second)
	rep, _ = c.call(ServiceNone, nil, callOpts{})
	wantAuth(t, rep, rpc.RPCSecGSSCredProblem)
	if r.h.Contexts() != 1 {
		t.Fatalf("%d contexts after idle sweep, want 1", r.h.Contexts())
	}
}

func TestConcurrent(t *testing.T) {
	r := newRig(t, Config{Window: 1024})
	c := r.init("alice@EX")
	var wg sync.WaitGroup
	var served atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				seq := uint32(g*50 + i)
				// Each seq is sent twice; exactly one gets through.
				for range 2 {
					cred := credAuth(Cred{Seq: seq, Service: ServiceIntegrity, Handle: c.handle})
					xid := uint32(g<<16 | i)
					hdr := callHeaderBytes(xid, testProg, testVers, testProc, &cred)
					body := seqBytes(seq)
					var e xdr.Encoder
					e.Opaque(body)
					e.Opaque(c.ctx.GetMIC(body))
					call := &rpcsrv.Call{CallHeader: rpc.CallHeader{XID: xid, Prog: testProg, Vers: testVers, Proc: testProc,
						Cred: cred, Verf: rpc.Auth{Flavor: rpc.RPCSecGSS, Body: c.ctx.GetMIC(hdr)}}, Args: e.Buf}
					rep := r.h.ServeRPC(context.Background(), call)
					if !rep.NoReply {
						served.Add(1)
					}
				}
				if i%10 == 0 {
					r.h.Contexts()
				}
			}
		}()
	}
	wg.Wait()
	if served.Load() != 400 {
		t.Fatalf("%d requests served, want 400 (each seq once)", served.Load())
	}
}

func TestDecodeCredNoPanic(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	good := credAuth(Cred{Proc: ProcData, Seq: 9, Service: ServicePrivacy, Handle: []byte("0123456789abcdef")}).Body
	if c, err := DecodeCred(good); err != nil || c.Seq != 9 || c.Service != ServicePrivacy || string(c.Handle) != "0123456789abcdef" {
		t.Fatalf("DecodeCred(good) = %+v, %v", c, err)
	}
	for i := 0; i < 20000; i++ {
		b := append([]byte(nil), good[:rng.IntN(len(good)+1)]...)
		for j := 0; j < 3 && len(b) > 0; j++ {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		DecodeCred(b) //nolint:errcheck // must not panic
	}
	if _, err := DecodeCred(append(good, 0, 0, 0, 0)); err == nil {
		t.Fatal("trailing bytes accepted")
	}
}

func TestFlavors(t *testing.T) {
	for svc, f := range map[Service]rpc.AuthFlavor{ServiceNone: Krb5, ServiceIntegrity: Krb5i, ServicePrivacy: Krb5p} {
		if PseudoFlavor(svc) != f {
			t.Fatalf("PseudoFlavor(%v) = %d", svc, PseudoFlavor(svc))
		}
		if s, ok := ServiceOf(f); !ok || s != svc {
			t.Fatalf("ServiceOf(%d) = %v %v", f, s, ok)
		}
	}
	if IsPseudoFlavor(rpc.AuthSys) || IsPseudoFlavor(390006) || IsPseudoFlavor(390002) {
		t.Fatal("non-krb5 flavour taken as pseudo-flavor")
	}
}

func TestUserMapper(t *testing.T) {
	m := UserMapper("")
	if c, ok := m("root@ANY.REALM"); !ok || c.UID != 0 || c.GID != 0 {
		t.Fatalf("root: %+v %v", c, ok)
	}
	for _, p := range []string{"nfs/localhost@R", "host/x@R", "no-such-user-xyz@R", "root", "@R", "root@"} {
		if c, ok := m(p); ok {
			t.Fatalf("%q mapped to %+v", p, c)
		}
	}
	if _, ok := UserMapper("EXAMPLE.COM")("root@OTHER.ORG"); ok {
		t.Fatal("principal of another realm mapped")
	}
	if _, ok := UserMapper("EXAMPLE.COM")("root@EXAMPLE.COM"); !ok {
		t.Fatal("principal of the accepted realm not mapped")
	}
	if n, r, ok := SplitPrincipal(`a\@b@R`); !ok || n != `a\@b` || r != "R" {
		t.Fatalf("SplitPrincipal escaped: %q %q %v", n, r, ok)
	}
}

func TestReplyCache(t *testing.T) {
	r := newRig(t, Config{Cacheable: func(c *rpcsrv.Call) bool { return c.Proc == testProc }})
	a := r.init("alice@EX")
	b := r.init("bob@EX")
	send := func(c *client, xid uint32, svc Service, args string) (rpcsrv.Reply, uint32) {
		r.xid = xid - 1
		return c.call(svc, []byte(args), callOpts{})
	}
	rep, seq := send(a, 50, ServiceIntegrity, "mkdir x")
	first := a.results(t, rep, ServiceIntegrity, seq)
	if r.next.n.Load() != 1 {
		t.Fatal("not run")
	}
	// The retransmission (same xid and arguments, new seq_num, even
	// another service) gets the cached results, verified and wrapped for
	// its own seq_num.
	rep, seq = send(a, 50, ServicePrivacy, "mkdir x")
	if got := a.results(t, rep, ServicePrivacy, seq); !bytes.Equal(got, first) {
		t.Fatalf("replayed results %q, want %q", got, first)
	}
	if n := r.next.n.Load(); n != 1 {
		t.Fatalf("handler ran %d times for a retransmission", n)
	}
	// Another principal, another context of the same one, or other
	// arguments, with the same xid run.
	rep, seq = send(b, 50, ServiceIntegrity, "mkdir x")
	b.results(t, rep, ServiceIntegrity, seq)
	a2 := r.init("alice@EX")
	rep, seq = send(a2, 50, ServiceIntegrity, "mkdir x")
	a2.results(t, rep, ServiceIntegrity, seq)
	rep, seq = send(a, 50, ServiceIntegrity, "mkdir y")
	a.results(t, rep, ServiceIntegrity, seq)
	if n := r.next.n.Load(); n != 4 {
		t.Fatalf("handler ran %d times, want 4", n)
	}
	// Entries expire.
	r.now = r.now.Add(cacheMaxAge)
	rep, seq = send(a, 50, ServiceIntegrity, "mkdir x")
	a.results(t, rep, ServiceIntegrity, seq)
	if n := r.next.n.Load(); n != 5 {
		t.Fatalf("handler ran %d times after expiry, want 5", n)
	}
}
