package rpcgss

import (
	"container/list"
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// Mechanism is a GSS-API acceptor (RFC 2743 GSS_Accept_sec_context) whose
// contexts are established in one step, as Kerberos v5 contexts are (RFC
// 4121: AP-REQ in, AP-REP out).
type Mechanism interface {
	// Accept consumes the initiator's token and returns the established
	// context and the token to return (nil if none). On error, out (if
	// not nil) is still sent back, for example a KRB-ERROR.
	Accept(token []byte) (ctx Context, out []byte, err error)
}

// Context is an established security context. Its methods may be called
// concurrently.
type Context interface {
	Initiator() string // "name@REALM"
	Expiry() time.Time // zero: does not expire
	VerifyMIC(msg, token []byte) error
	GetMIC(msg []byte) []byte
	Wrap(msg []byte, conf bool) []byte
	Unwrap(token []byte) (msg []byte, conf bool, err error)
}

// MajorStatus may be implemented by Accept errors to choose the GSS-API
// major status returned in rpc_gss_init_res (default GSS_S_FAILURE).
type MajorStatus interface{ GSSMajor() uint32 }

// Defaults for the zero-valued Config fields.
const (
	DefaultMaxContexts = 4096
	DefaultIdleTimeout = time.Hour
	// DefaultWindow is the seq_window granted (RFC 2203 §5.2.3.1); the
	// Linux client keeps at most this many requests of one context in
	// flight before waiting.
	DefaultWindow = 128
)

// Config configures a Handler.
type Config struct {
	// Mech accepts contexts; nil refuses every RPCSEC_GSS call.
	Mech Mechanism
	// Map maps the initiator to a local identity, once per context; nil:
	// UserMapper("").
	Map Mapper
	// MaxContexts bounds the contexts kept; past it the least recently
	// used is dropped (its client gets RPCSEC_GSS_CREDPROBLEM and creates
	// a new one). IdleTimeout drops a context unused this long.
	MaxContexts int
	IdleTimeout time.Duration
	Window      uint32
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logf, if set, logs refused context creations.
	Logf func(format string, args ...any)
	// Cacheable selects the DATA calls whose results are kept for
	// retransmissions (cache.go), judged on the unwrapped call: for NFS,
	// nfs4srv.DRCCacheable. nil: none.
	Cacheable func(*rpcsrv.Call) bool
}

// Handler serves RPCSEC_GSS calls in front of Next and passes other calls
// through unchanged. Set it as rpcsrv.Server.Handler.
type Handler struct {
	next rpcsrv.Handler
	cfg  Config

	mu   sync.Mutex
	ctxs map[string]*gssCtx
	lru  list.List // of *gssCtx, most recently used first

	cache replyCache
}

// gssCtx is one established context.
type gssCtx struct {
	handle string
	mech   Context
	expiry time.Time
	id     Identity // Flavor unset
	elem   *list.Element
	used   time.Time // under Handler.mu

	mu  sync.Mutex
	win *window
}

// handleLen is the size of our context handles: random, so that one
// client cannot guess another's (the verifier would fail anyway).
const handleLen = 16

// New returns a Handler serving RPCSEC_GSS in front of next.
func New(next rpcsrv.Handler, cfg Config) *Handler {
	if cfg.Map == nil {
		cfg.Map = UserMapper("")
	}
	if cfg.MaxContexts <= 0 {
		cfg.MaxContexts = DefaultMaxContexts
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{next: next, cfg: cfg, ctxs: map[string]*gssCtx{}}
}

// Contexts returns the number of contexts held.
func (h *Handler) Contexts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ctxs)
}

// Overloaded passes the question to the wrapped handler for other
// flavours. An RPCSEC_GSS call is never answered unstarted: the answer
// would need its verifier and wrapping, and its seq_num is then used up.
func (h *Handler) Overloaded(c *rpcsrv.Call) (rpcsrv.Reply, bool) {
	if ov, ok := h.next.(rpcsrv.Overloader); ok && c.Cred.Flavor != rpc.RPCSecGSS {
		return ov.Overloaded(c)
	}
	return rpcsrv.Reply{}, false
}

func authErr(st rpc.AuthStat) rpcsrv.Reply { return rpcsrv.AuthError(st) }

// ServeRPC implements rpcsrv.Handler.
func (h *Handler) ServeRPC(ctx context.Context, call *rpcsrv.Call) rpcsrv.Reply {
	if call.Cred.Flavor != rpc.RPCSecGSS {
		return h.next.ServeRPC(ctx, call)
	}
	if h.cfg.Mech == nil {
		// No keytab: we serve no RPCSEC_GSS at all, so the credential is
		// one we cannot use (RFC 5531 §9 AUTH_BADCRED, as Linux nfsd
		// answers flavours it does not serve).
		return authErr(rpc.AuthBadCred)
	}
	cred, err := DecodeCred(call.Cred.Body)
	if err != nil {
		return authErr(rpc.AuthBadCred) // §5.3.3.3
	}
	if cred.Proc == ProcInit || cred.Proc == ProcContinueInit {
		return h.init(call, &cred)
	}
	gc, st := h.lookup(cred.Handle)
	if st != rpc.AuthOK {
		return authErr(st)
	}
	if cred.Seq >= MaxSeq {
		// §5.3.3.1: the context cannot go on; the client must create a
		// new one.
		return authErr(rpc.RPCSecGSSCtxProblem)
	}
	// §5.3.1: the verifier is the MIC of the header up to and including
	// the credential. A bad one is RPCSEC_GSS_CREDPROBLEM (§5.3.3.3; what
	// pynfs GSS3 and Linux nfsd expect), checked before the seq_num so a
	// forged request cannot use up a number.
	hdr := callHeaderBytes(call.XID, call.Prog, call.Vers, call.Proc, &call.Cred)
	if call.Verf.Flavor != rpc.RPCSecGSS || gc.mech.VerifyMIC(hdr, call.Verf.Body) != nil {
		return authErr(rpc.RPCSecGSSCredProblem)
	}
	gc.mu.Lock()
	fresh := gc.win.accept(cred.Seq)
	gc.mu.Unlock()
	if !fresh {
		// §5.3.3.1: a replay or a number below the window is silently
		// dropped (the client retransmits with a new seq_num).
		return rpcsrv.Reply{NoReply: true}
	}
	// §5.3.3.2: the reply verifier is the MIC of the seq_num.
	verf := rpc.Auth{Flavor: rpc.RPCSecGSS, Body: gc.mech.GetMIC(seqBytes(cred.Seq))}
	if cred.Proc == ProcDestroy {
		// §5.4: destroy, answering with a verifier.
		h.remove(gc)
		return rpcsrv.Reply{Verf: verf}
	}
	args, ok := unwrapArgs(gc.mech, &cred, call.Args)
	if !ok {
		// §5.3.3.4.2: the arguments cannot be trusted: GARBAGE_ARGS.
		r := rpcsrv.Accepted(rpc.GarbageArgs)
		r.Verf = verf
		return r
	}
	id := gc.id
	id.Flavor = PseudoFlavor(cred.Service)
	inner := *call
	inner.Args = args
	r := h.serveInner(NewContext(ctx, &id), &inner, gc.handle)
	if r.NoReply || r.Denied {
		return r
	}
	r.Verf = verf
	if r.Accept == rpc.Success && cred.Service != ServiceNone {
		wrapResults(gc.mech, &cred, &r)
	}
	return r
}

// serveInner runs the unwrapped call, through the reply cache if
// Cacheable selects it; a retransmission of a call still running is
// dropped.
func (h *Handler) serveInner(ctx context.Context, inner *rpcsrv.Call, handle string) rpcsrv.Reply {
	if h.cfg.Cacheable == nil || !h.cfg.Cacheable(inner) {
		return h.next.ServeRPC(ctx, inner)
	}
	e, st := h.cache.begin(cacheKeyOf(inner, handle), h.cfg.Now())
	switch st {
	case cacheHit:
		return rpcsrv.Reply{Accept: e.accept, Body: [][]byte{e.body}}
	case cacheInProgress:
		return rpcsrv.Reply{NoReply: true}
	case cacheFull:
		return h.next.ServeRPC(ctx, inner)
	}
	r := h.next.ServeRPC(ctx, inner)
	// Keep what a retransmission must see again; not transient failures
	// or calls that got no answer.
	keep := !r.NoReply && !r.Denied && r.Accept != rpc.SystemErr
	var flat []byte
	if keep {
		for _, b := range r.Body {
			flat = append(flat, b...)
		}
		if r.Release != nil {
			r.Release()
			r.Release = nil
		}
		r.Body = [][]byte{flat}
	}
	h.cache.finish(e, keep, r.Accept, flat, h.cfg.Now())
	return r
}

// unwrapArgs returns the procedure arguments of a DATA request (§5.3.2):
// as sent for service none; for integrity, databody_integ after verifying
// its checksum; for privacy, the unwrapped databody_priv. Both start with
// the seq_num, which must be the credential's (§5.3.2.2; else
// GARBAGE_ARGS, pynfs GSS2).
func unwrapArgs(m Context, cred *Cred, args []byte) ([]byte, bool) {
	var d xdr.Decoder
	d.Reset(args)
	var body []byte
	switch cred.Service {
	case ServiceNone:
		return args, true
	case ServiceIntegrity:
		body = d.Opaque("databody_integ", uint32(len(args)))
		sum := d.Opaque("integ checksum", MaxChecksum)
		if d.Err() != nil || d.Remaining() != 0 || m.VerifyMIC(body, sum) != nil {
			return nil, false
		}
	case ServicePrivacy:
		tok := d.Opaque("databody_priv", uint32(len(args)))
		if d.Err() != nil || d.Remaining() != 0 {
			return nil, false
		}
		// §5.3.2.3: privacy means the body was sealed, not just signed.
		var err error
		var conf bool
		if body, conf, err = m.Unwrap(tok); err != nil || !conf {
			return nil, false
		}
	default:
		return nil, false
	}
	if len(body) < 4 || uint32(body[0])<<24|uint32(body[1])<<16|uint32(body[2])<<8|uint32(body[3]) != cred.Seq {
		return nil, false
	}
	return body[4:], true
}

// wrapResults replaces a SUCCESS reply's body with rpc_gss_integ_data or
// rpc_gss_priv_data over seq_num + results (§5.3.3.4.2, §5.3.3.4.3).
func wrapResults(m Context, cred *Cred, r *rpcsrv.Reply) {
	n := 4
	for _, b := range r.Body {
		n += len(b)
	}
	flat := make([]byte, 4, n)
	copy(flat, seqBytes(cred.Seq))
	for _, b := range r.Body {
		flat = append(flat, b...)
	}
	if r.Release != nil {
		r.Release() // the body has been copied
		r.Release = nil
	}
	var e xdr.Encoder
	if cred.Service == ServiceIntegrity {
		sum := m.GetMIC(flat)
		e.Buf = make([]byte, 0, 8+xdr.Padded(len(flat))+xdr.Padded(len(sum)))
		e.Opaque(flat)
		e.Opaque(sum)
	} else {
		tok := m.Wrap(flat, true)
		e.Buf = make([]byte, 0, 4+xdr.Padded(len(tok)))
		e.Opaque(tok)
	}
	r.Body = [][]byte{e.Buf}
}

// init serves RPCSEC_GSS_INIT and CONTINUE_INIT (§5.2).
func (h *Handler) init(call *rpcsrv.Call, cred *Cred) rpcsrv.Reply {
	if call.Proc != 0 {
		// §5.2.1: context creation uses the NULL procedure only.
		return authErr(rpc.AuthBadCred)
	}
	if call.Verf.Flavor != rpc.AuthNone {
		return authErr(rpc.AuthBadVerf) // §5.2.2: the verifier is AUTH_NONE
	}
	if cred.Proc == ProcContinueInit {
		// Our mechanism completes in one step, so no context is ever
		// pending continuation: the handle names nothing we know.
		return authErr(rpc.RPCSecGSSCredProblem)
	}
	var d xdr.Decoder
	d.Reset(call.Args)
	tok := d.Opaque("gss token", MaxToken)
	if d.Err() != nil || d.Remaining() != 0 {
		return rpcsrv.Accepted(rpc.GarbageArgs)
	}
	mc, out, err := h.cfg.Mech.Accept(tok)
	if err == nil && !mc.Expiry().IsZero() && !h.cfg.Now().Before(mc.Expiry()) {
		err = errExpired
	}
	if err != nil {
		// §5.2.3.1: the failure is reported in rpc_gss_init_res, with a
		// null handle and an AUTH_NONE verifier.
		major := uint32(gssFailure)
		if ms, ok := err.(MajorStatus); ok {
			major = ms.GSSMajor()
		}
		if h.cfg.Logf != nil {
			h.cfg.Logf("rpcgss: context creation from %v refused: %v", remote(call), err)
		}
		return initReply(&InitRes{Major: major, Token: out}, rpc.Auth{})
	}
	gc := &gssCtx{mech: mc, expiry: mc.Expiry(), win: newWindow(h.cfg.Window)}
	gc.id.Principal = mc.Initiator()
	gc.id.Cred, gc.id.Mapped = h.cfg.Map(gc.id.Principal)
	h.add(gc)
	res := InitRes{Handle: []byte(gc.handle), Major: gssComplete, Window: h.cfg.Window, Token: out}
	// §5.2.3.1: the verifier of a successful reply is the MIC of seq_window.
	return initReply(&res, rpc.Auth{Flavor: rpc.RPCSecGSS, Body: mc.GetMIC(seqBytes(h.cfg.Window))})
}

type expiredError struct{}

func (expiredError) Error() string    { return "context already expired" }
func (expiredError) GSSMajor() uint32 { return gssCredExpire }

var errExpired error = expiredError{}

func remote(call *rpcsrv.Call) any {
	if call.Conn == nil {
		return "?"
	}
	return call.Conn.RemoteAddr()
}

func initReply(res *InitRes, verf rpc.Auth) rpcsrv.Reply {
	var e xdr.Encoder
	res.Encode(&e)
	return rpcsrv.Reply{Body: [][]byte{e.Buf}, Verf: verf}
}

// ---------------------------------------------------------------- table

// add gives gc a fresh handle and enters it, making room if the table is
// full.
func (h *Handler) add(gc *gssCtx) {
	var b [handleLen]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read does not fail (Go ≥ 1.24)
	gc.handle = string(b[:])
	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sweep(now)
	for len(h.ctxs) >= h.cfg.MaxContexts {
		h.drop(h.lru.Back().Value.(*gssCtx))
	}
	gc.used = now
	gc.elem = h.lru.PushFront(gc)
	h.ctxs[gc.handle] = gc
}

// lookup finds the context of a DATA or DESTROY request: unknown is
// RPCSEC_GSS_CREDPROBLEM, expired RPCSEC_GSS_CTXPROBLEM (§5.3.3.3).
func (h *Handler) lookup(handle []byte) (*gssCtx, rpc.AuthStat) {
	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sweep(now)
	gc := h.ctxs[string(handle)]
	if gc == nil {
		return nil, rpc.RPCSecGSSCredProblem
	}
	if !gc.expiry.IsZero() && !now.Before(gc.expiry) {
		h.drop(gc)
		return nil, rpc.RPCSecGSSCtxProblem
	}
	gc.used = now
	h.lru.MoveToFront(gc.elem)
	return gc, rpc.AuthOK
}

func (h *Handler) remove(gc *gssCtx) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctxs[gc.handle] == gc {
		h.drop(gc)
	}
}

// sweep drops contexts idle longer than IdleTimeout (the least recently
// used are at the back, so this stops at the first fresh one).
func (h *Handler) sweep(now time.Time) {
	for e := h.lru.Back(); e != nil; e = h.lru.Back() {
		gc := e.Value.(*gssCtx)
		if now.Sub(gc.used) < h.cfg.IdleTimeout {
			return
		}
		h.drop(gc)
	}
}

func (h *Handler) drop(gc *gssCtx) {
	delete(h.ctxs, gc.handle)
	h.lru.Remove(gc.elem)
}
