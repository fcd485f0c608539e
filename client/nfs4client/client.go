// Package nfs4client is the NFSv4 protocol client behind mount_remote,
// fsctl and the tests: NFSv4.0 (RFC 7530) and NFSv4.1/4.2 (RFC 8881,
// RFC 7862) COMPOUNDs, 4.1 sessions with a slot table, lease renewal,
// byte-range locks, and reconnection with state recovery after a lost
// connection or a server restart (recover.go), and 4.1 delegations with
// the back channel that recalls them (deleg.go, callback.go).
//
// Use:
//
//	c, err := nfs4client.Dial(ctx, "127.0.0.1:2049")
//	err = c.SetupSession(ctx, 1)   // 4.1: EXCHANGE_ID + CREATE_SESSION
//	// or c.SetupClientID(ctx)     // 4.0: SETCLIENTID + SETCLIENTID_CONFIRM
//	dir, err := c.LookupPath(ctx, "a/b")
//	f, err := c.Create(ctx, dir, "x", nfs4client.CreateHow{Mode: nfs4.Unchecked4})
//	_, err = c.Write(ctx, f.FH, f.StateID, 0, data, nfs4.FileSync4)
//	err = c.CloseFile(ctx, f)
//
// Compound is the raw form: it sends any ops (with SEQUENCE prepended once
// a 4.1 session exists) and returns the decoded COMPOUND4res. Do is the
// same with a non-OK status turned into a *StatusError. Credentials are
// AUTH_SYS uid 0 unless Cred is changed before use.
package nfs4client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Client is one connection to an NFSv4 server. Its methods are safe for
// concurrent use; 4.0 open/close calls are serialized (one open-owner,
// one seqid), 4.1 calls run in parallel up to the slot count.
type Client struct {
	RPC  *rpcclient.Client
	Cred rpc.Auth // sent with every call; AUTH_SYS uid 0 by default

	// Minor is the minor version the convenience calls use: 0 until
	// SetupSession sets it.
	Minor uint32

	ClientID uint64 // from SETCLIENTID or EXCHANGE_ID
	Session  *Session

	// Timeout bounds each round trip (DefaultTimeout when 0). A caller's
	// context may end a call sooner.
	Timeout time.Duration

	// RSize and WSize are the READ and WRITE sizes to use, set by
	// NegotiateIO (0 before).
	RSize, WSize uint32

	sessMu   sync.RWMutex // guards Session replacement
	csSeq    uint32       // next CREATE_SESSION sequence id (RFC 8881 §18.36.3)
	setupMu  sync.Mutex   // one session re-creation at a time
	lastSend atomic.Int64 // UnixNano of the last request, for lease renewal
	stop     chan struct{}
	stopOnce sync.Once

	ownerMu  sync.Mutex    // 4.0: owner seqid order
	owner    []byte        // open-owner name
	ownerSeq uint32        // 4.0 open-owner seqid
	opens    atomic.Uint64 // 4.1: numbers the per-OPEN open-owners

	// Reconnection and state recovery (recover.go).
	rpcMu     sync.RWMutex // guards RPC replacement
	redial    func(ctx context.Context) (*rpcclient.Client, error)
	reconnMu  sync.Mutex // one reconnection at a time
	verf      nfs4.Verifier
	epoch     atomic.Uint64 // bumped by every state recovery (server restart)
	filesMu   sync.Mutex
	files     map[*OpenFile]struct{} // open files, reopened after a server restart
	Recovered func(epoch uint64)     // optional: called after a state recovery

	dg delegState // delegations and the back channel (deleg.go, callback.go)
	lk lockTable  // granted byte-range locks, for reclaim (lockreclaim.go)
}

// Dial connects to an NFSv4 server at addr (host:port, TCP). A lost
// connection is re-dialled on the next call (see recover.go).
func Dial(ctx context.Context, addr string) (*Client, error) {
	rc, err := rpcclient.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := newClient(rc)
	c.redial = func(ctx context.Context) (*rpcclient.Client, error) { return rpcclient.Dial(ctx, "tcp", addr) }
	return c, nil
}

// DialTLS is Dial with RPC-with-TLS (RFC 9289): each connection, the
// first and every re-dialled one, probes with AUTH_TLS and runs the TLS
// handshake with cfg before any NFS call (rpcclient.DialTLS).
func DialTLS(ctx context.Context, addr string, cfg *tls.Config) (*Client, error) {
	dial := func(ctx context.Context) (*rpcclient.Client, error) {
		return rpcclient.DialTLS(ctx, "tcp", addr, nfs4.Program, nfs4.Version, cfg)
	}
	rc, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	c := newClient(rc)
	c.redial = dial
	return c, nil
}

// New returns a Client speaking over rwc.
func New(rwc io.ReadWriteCloser) *Client { return newClient(rpcclient.NewClient(rwc)) }

func newClient(rc *rpcclient.Client) *Client {
	id := make([]byte, 8)
	rand.Read(id)
	c := &Client{
		RPC:   rc,
		Cred:  rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "nfs4client"}),
		owner: fmt.Appendf(nil, "nfs4client-owner-%x", id),
		stop:  make(chan struct{}),
	}
	// The 4.1 back channel: the server's CB_COMPOUNDs arrive on this
	// connection (callback.go); reconnect carries the handler over.
	rc.HandleCallbacks(c.handleCallback)
	return c
}

// Close stops lease renewal and closes the connection (it does not destroy
// server state; see Shutdown).
func (c *Client) Close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	return c.conn().Close()
}

// StatusError is a COMPOUND that failed at Op with Status.
type StatusError struct {
	Op     nfs4.Op
	Status nfs4.Status
}

func (e *StatusError) Error() string { return fmt.Sprintf("nfs4: %v: %v", e.Op, e.Status) }

// Unwrap lets errors.Is(err, nfs4.ErrNoEnt) and the like work.
func (e *StatusError) Unwrap() error { return e.Status }

// Send sends args exactly as given (no SEQUENCE added) and decodes the
// reply. Tests use it to retransmit a request byte for byte.
func (c *Client) Send(ctx context.Context, args *nfs4.CompoundArgs) (*nfs4.CompoundRes, error) {
	return c.sendCred(ctx, c.Cred, args)
}

func (c *Client) sendCred(ctx context.Context, cred rpc.Auth, args *nfs4.CompoundArgs) (*nfs4.CompoundRes, error) {
	e := getEncoder(args)
	args.Encode(e)
	body, err := c.call(ctx, nfs4.ProcCompound, cred, net.Buffers{e.Buf})
	putEncoder(e) // the call has been written (or failed): the bytes are free
	if err != nil {
		return nil, err
	}
	res := new(nfs4.CompoundRes)
	d := xdr.NewDecoder(body)
	res.Decode(d)
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("nfs4client: decoding COMPOUND reply: %w", err)
	}
	// The results answer the ops in order, all of them when the status
	// is OK (RFC 7530 §15.2, RFC 8881 §16.2.3); an unknown op is answered
	// by OP_ILLEGAL. Callers rely on this to pick results by position.
	if n := len(res.Results); n > len(args.Ops) || res.Status == nfs4.OK && n != len(args.Ops) {
		return nil, fmt.Errorf("nfs4client: COMPOUND reply has %d results for %d ops", n, len(args.Ops))
	}
	for i, r := range res.Results {
		if r.Op != args.Ops[i].Op && (r.Op != nfs4.OpIllegal || i != len(res.Results)-1) {
			return nil, fmt.Errorf("nfs4client: COMPOUND result %d is for %v, not %v", i, r.Op, args.Ops[i].Op)
		}
	}
	return res, nil
}

// encoders recycles COMPOUND argument buffers: a 1 MiB WRITE would
// otherwise allocate (and zero) a fresh buffer and grow it by doubling,
// copying the data several times.
var encoders sync.Pool

// getEncoder returns an encoder with room for args' WRITE payloads.
func getEncoder(args *nfs4.CompoundArgs) *xdr.Encoder {
	need := 512
	for _, op := range args.Ops {
		if w, ok := op.Args.(*nfs4.WriteArgs); ok {
			need += len(w.Data) + 64
		}
	}
	e, _ := encoders.Get().(*xdr.Encoder)
	if e == nil || cap(e.Buf) < need {
		e = &xdr.Encoder{Buf: make([]byte, 0, max(need, 4<<10))}
	}
	e.Buf = e.Buf[:0]
	return e
}

// putEncoder recycles e unless it is too big to keep around idle.
func putEncoder(e *xdr.Encoder) {
	if cap(e.Buf) <= 2<<20 {
		encoders.Put(e)
	}
}

// maxDelayRetries bounds the NFS4ERR_DELAY retries of one call; maxSlotRetries
// the immediate retries after a slot or session error.
const (
	maxDelayRetries = 50
	maxSlotRetries  = 8
)

// DefaultTimeout bounds one COMPOUND round trip when Client.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// ErrTimeout is returned when the server did not answer within Timeout.
var ErrTimeout = errors.New("nfs4client: request timed out")

// ErrNoSlots is returned when every slot of the session has been retired
// (after BADSLOT / SEQ_MISORDERED / timeouts) and no new session could be made.
var ErrNoSlots = errors.New("nfs4client: no usable session slots")

type credKey struct{}

// WithCred returns a context whose calls are sent with cred instead of
// Client.Cred (a FUSE layer passes each caller's uid/gid this way).
func WithCred(ctx context.Context, cred rpc.Auth) context.Context {
	return context.WithValue(ctx, credKey{}, cred)
}

// CredFrom returns the credential ctx carries (WithCred), if any.
func CredFrom(ctx context.Context) (rpc.Auth, bool) {
	a, ok := ctx.Value(credKey{}).(rpc.Auth)
	return a, ok
}

// Compound runs ops in minor version minor. With a 4.1 session set up and
// minor ≥ 1, a SEQUENCE on a free slot is prepended and its result removed
// from the reply (Results line up with ops). A reply whose status is
// NFS4ERR_DELAY is retried after a growing pause (RFC 8881 §15.1.1.3: the
// request was not executed); BADSLOT and SEQ_MISORDERED retire the slot and
// retry on another one, BADSESSION/DEADSESSION re-create the session
// (RFC 8881 §2.10.6, §2.10.13). The result status may be an error; see Do.
func (c *Client) Compound(ctx context.Context, minor uint32, ops []nfs4.ArgOp) (*nfs4.CompoundRes, error) {
	slotTries := 0
	for try := 0; ; try++ {
		res, err := c.compoundOnce(ctx, minor, ops)
		if err == errRetrySlot || err == errSessionGone {
			slotTries++
			if slotTries > maxSlotRetries {
				return nil, ErrNoSlots
			}
			if err == errSessionGone {
				if rerr := c.recreateSession(ctx); rerr != nil {
					return nil, rerr
				}
			}
			continue
		}
		// NFS4ERR_GRACE: the server restarted and waits for clients to
		// reclaim (RFC 8881 §8.4.2); retry, like DELAY, until the grace
		// period ends or ctx does.
		grace := err == nil && res.Status == nfs4.ErrGrace
		if err != nil || (res.Status != nfs4.ErrDelay && !grace) || (!grace && try >= maxDelayRetries) {
			return res, err
		}
		// Back off 10 ms, 20 ms, … up to 1 s between DELAY retries.
		select {
		case <-time.After(min(time.Duration(1<<min(try, 7))*10*time.Millisecond, time.Second)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// needsSession reports whether a 4.1 COMPOUND starting with op must begin
// with SEQUENCE: all but the operations that may stand alone (RFC 8881
// §2.10.6.1: EXCHANGE_ID, CREATE_SESSION, BIND_CONN_TO_SESSION,
// DESTROY_SESSION, DESTROY_CLIENTID).
func needsSession(op nfs4.Op) bool {
	switch op {
	case nfs4.OpExchangeID, nfs4.OpCreateSession, nfs4.OpBindConnToSession,
		nfs4.OpDestroySession, nfs4.OpDestroyClientID, nfs4.OpSequence:
		return false
	}
	return true
}

var (
	errRetrySlot   = errors.New("nfs4client: retry on another slot")
	errSessionGone = errors.New("nfs4client: session gone")
)

func (c *Client) cred(ctx context.Context) rpc.Auth {
	if a, ok := ctx.Value(credKey{}).(rpc.Auth); ok {
		return a
	}
	return c.Cred
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Client) session() *Session {
	c.sessMu.RLock()
	defer c.sessMu.RUnlock()
	return c.Session
}

func (c *Client) compoundOnce(ctx context.Context, minor uint32, ops []nfs4.ArgOp) (*nfs4.CompoundRes, error) {
	c.lastSend.Store(time.Now().UnixNano())
	s := c.session()
	cred := c.cred(ctx)
	if minor > 0 && s == nil && len(ops) > 0 && needsSession(ops[0].Op) {
		// No session while recoverClient re-creates it: sent without
		// SEQUENCE, this would earn NFS4ERR_OP_NOT_IN_SESSION. Compound
		// waits for the new session (recreateSession) and sends again.
		return nil, errSessionGone
	}
	if minor == 0 || s == nil {
		rctx, cancel := context.WithTimeout(ctx, c.timeout())
		defer cancel()
		res, err := c.sendCred(rctx, cred, &nfs4.CompoundArgs{MinorVersion: minor, Ops: ops})
		if err != nil && rctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			err = ErrTimeout
		}
		return res, err
	}
	slot, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	seq := &nfs4.SequenceArgs{SessionID: s.ID, SequenceID: s.seqids[slot], SlotID: slot,
		HighestSlotID: s.highestInUse()}
	s.mu.Unlock()
	all := append([]nfs4.ArgOp{{Op: nfs4.OpSequence, Args: seq}}, ops...)
	args := &nfs4.CompoundArgs{MinorVersion: minor, Ops: all}

	// The slot stays ours until the server answers (or the request times
	// out), even if the caller gives up first: reusing it with the next
	// seqid while the old request is in flight would be misordered
	// (RFC 8881 §2.10.6.1).
	type result struct {
		res *nfs4.CompoundRes
		err error
	}
	send := func() result {
		// Detached from ctx's end but not from its values (a reply
		// buffer, rpcclient.WithReplyBuffer).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout())
		res, err := c.sendCred(rctx, cred, args)
		if err != nil && rctx.Err() != nil {
			err = ErrTimeout
		}
		cancel()
		err = s.finish(slot, res, err)
		return result{res, err}
	}
	var r result
	if ctx.Done() == nil {
		// A caller that cannot give up (mount's requests) waits here:
		// no goroutine needed to keep the slot until the reply.
		r = send()
	} else {
		done := make(chan result, 1)
		go func() { done <- send() }()
		select {
		case r = <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	res := r.res
	if len(res.Results) > 0 && res.Results[0].Op == nfs4.OpSequence && res.Results[0].Res.GetStatus() == nfs4.OK {
		if sr, ok := res.Results[0].Res.(*nfs4.SequenceRes); ok && sr.StatusFlags != 0 {
			c.seqStatus(sr.StatusFlags) // callback.go
		}
		res.Results = res.Results[1:]
	}
	return res, nil
}

// finish returns slot to the table after a call, advancing its seqid when
// the server executed SEQUENCE (RFC 8881 §2.10.6.1), and classifies
// SEQUENCE failures for Compound's retry loop.
func (s *Session) finish(slot uint32, res *nfs4.CompoundRes, err error) error {
	if err != nil {
		if err == ErrTimeout {
			// Unknown whether the server ran it and what it now expects.
			s.retire(slot)
		} else {
			// The connection is most likely gone; assume it was seen.
			s.release(slot, true)
		}
		return err
	}
	if len(res.Results) == 0 || res.Results[0].Op != nfs4.OpSequence {
		s.release(slot, false) // e.g. MINOR_VERS_MISMATCH: no results at all
		return nil
	}
	sr, _ := res.Results[0].Res.(*nfs4.SequenceRes)
	switch st := res.Results[0].Res.GetStatus(); st {
	case nfs4.OK:
		if sr != nil {
			s.setTarget(sr.TargetHighestSlotID)
		}
		s.release(slot, true)
	case nfs4.ErrBadSlot, nfs4.ErrSeqMisordered:
		s.retire(slot)
		return errRetrySlot
	case nfs4.ErrBadSession, nfs4.ErrDeadSession:
		s.release(slot, false)
		return errSessionGone
	default:
		s.release(slot, false)
	}
	return nil
}

// Do runs ops in c.Minor and turns a failed status into a *StatusError
// naming the failing op. The results are returned either way.
func (c *Client) Do(ctx context.Context, ops ...nfs4.ArgOp) (*nfs4.CompoundRes, error) {
	res, err := c.Compound(ctx, c.Minor, ops)
	if err != nil {
		return nil, err
	}
	if res.Status != nfs4.OK {
		op := nfs4.OpIllegal
		if n := len(res.Results); n > 0 {
			op = res.Results[n-1].Op
		}
		return res, &StatusError{Op: op, Status: res.Status}
	}
	return res, nil
}

// Session is a 4.1 session with its slot table (RFC 8881 §2.10.6): a free
// list of slot ids and the next sequence id of each slot. Slots above the
// server's target_highest_slotid are parked, not used, until the target
// rises again; a slot whose state became unknown is retired for good.
type Session struct {
	ID     nfs4.SessionID
	free   chan uint32
	mu     sync.Mutex
	seqids []uint32
	target uint32   // highest slot id the server wants used
	parked []uint32 // free slots above target
	inUse  map[uint32]bool
	gone   int // retired slots

	// MaxRequest/MaxResponse are the negotiated fore-channel limits.
	MaxRequest, MaxResponse uint32
}

func newSession(id nfs4.SessionID, n uint32) *Session {
	s := &Session{ID: id, free: make(chan uint32, n), seqids: make([]uint32, n), target: n - 1}
	for i := range n {
		s.free <- i
		s.seqids[i] = 1 // a new slot's first seqid is 1 (RFC 8881 §2.10.6.1)
	}
	return s
}

func (s *Session) acquire(ctx context.Context) (uint32, error) {
	for {
		s.mu.Lock()
		if s.gone >= len(s.seqids) {
			s.mu.Unlock()
			return 0, errSessionGone
		}
		s.mu.Unlock()
		select {
		case slot := <-s.free:
			s.mu.Lock()
			if slot > s.target && slot != 0 {
				s.parked = append(s.parked, slot)
				s.mu.Unlock()
				continue
			}
			if s.inUse == nil {
				s.inUse = make(map[uint32]bool)
			}
			s.inUse[slot] = true
			s.mu.Unlock()
			return slot, nil
		case <-time.After(time.Second): // re-check for retired slots
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// highestInUse is sa_highest_slotid: the highest slot id in use (s.mu held).
func (s *Session) highestInUse() uint32 {
	var h uint32
	for id := range s.inUse {
		h = max(h, id)
	}
	return h
}

func (s *Session) setTarget(t uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.target = min(t, uint32(len(s.seqids)-1))
	keep := s.parked[:0]
	for _, slot := range s.parked {
		if slot <= s.target {
			s.free <- slot
		} else {
			keep = append(keep, slot)
		}
	}
	s.parked = keep
}

func (s *Session) release(slot uint32, used bool) {
	s.mu.Lock()
	if used {
		s.seqids[slot]++
	}
	delete(s.inUse, slot)
	s.mu.Unlock()
	s.free <- slot
}

// retire takes slot out of use for the life of the session.
func (s *Session) retire(slot uint32) {
	s.mu.Lock()
	delete(s.inUse, slot)
	s.gone++
	s.mu.Unlock()
}

// NextSlot returns a free slot id and its sequence id, taking the slot out
// of use until ReleaseSlot; for tests that build SEQUENCE by hand.
func (s *Session) NextSlot(ctx context.Context) (slot, seqid uint32, err error) {
	slot, err = s.acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slot, s.seqids[slot], nil
}

// ReleaseSlot returns a slot taken by NextSlot; used says whether a
// SEQUENCE with its seqid succeeded.
func (s *Session) ReleaseSlot(slot uint32, used bool) { s.release(slot, used) }

// Slots is the size of the slot table asked for in CREATE_SESSION.
const Slots = 16

// SetupSession registers a 4.1+ client (EXCHANGE_ID, RFC 8881 §18.35),
// creates a session (CREATE_SESSION, §18.36) and sends RECLAIM_COMPLETE
// (§18.51) so non-reclaim OPENs are allowed. minor is 1 or 2.
func (c *Client) SetupSession(ctx context.Context, minor uint32) error {
	if c.verf == (nfs4.Verifier{}) {
		// One verifier per client incarnation: the same after a
		// reconnection, so the server keeps our state (RFC 8881 §2.4).
		rand.Read(c.verf[:])
	}
	res, err := c.Compound(ctx, minor, []nfs4.ArgOp{{Op: nfs4.OpExchangeID, Args: &nfs4.ExchangeIDArgs{
		ClientOwner:  nfs4.ClientOwner{Verifier: c.verf, OwnerID: append([]byte("nfs4client-"), c.owner...)},
		StateProtect: nfs4.StateProtectA{How: nfs4.SP4None},
	}}})
	if err := resErr(res, err); err != nil {
		return err
	}
	ex := res.Results[0].Res.(*nfs4.ExchangeIDRes)
	res, err = c.Compound(ctx, minor, []nfs4.ArgOp{createSessionOp(ex.ClientID, ex.SequenceID)})
	if err := resErr(res, err); err != nil {
		return err
	}
	cs := res.Results[0].Res.(*nfs4.CreateSessionRes)
	s := sessionFrom(cs)
	c.setBackChannel(cs.Flags&nfs4.CreateSessionFlagConnBackChan != 0)
	c.sessMu.Lock()
	c.ClientID, c.Session, c.Minor, c.csSeq = ex.ClientID, s, minor, ex.SequenceID+1
	c.sessMu.Unlock()
	res, err = c.Compound(ctx, minor, []nfs4.ArgOp{{Op: nfs4.OpReclaimComplete, Args: &nfs4.ReclaimCompleteArgs{}}})
	if err != nil {
		return err
	}
	switch res.Status {
	case nfs4.OK, nfs4.ErrCompleteAlready, nfs4.ErrNotSupp:
		return nil
	}
	return &StatusError{Op: nfs4.OpReclaimComplete, Status: res.Status}
}

func createSessionOp(clientID uint64, seq uint32) nfs4.ArgOp {
	attrs := nfs4.ChannelAttrs{MaxRequestSize: 1<<20 + 1<<16, MaxResponseSize: 1<<20 + 1<<16,
		MaxResponseSizeCached: 1 << 16, MaxOperations: 64, MaxRequests: Slots}
	// This connection is also the back channel (RFC 8881 §18.36.3:
	// CREATE_SESSION4_FLAG_CONN_BACK_CHAN), served by callback.go.
	return nfs4.ArgOp{Op: nfs4.OpCreateSession, Args: &nfs4.CreateSessionArgs{
		ClientID: clientID, Sequence: seq, Flags: nfs4.CreateSessionFlagConnBackChan,
		ForeChanAttrs: attrs, BackChanAttrs: backChanAttrs(),
		CBProgram: CBProgram, SecParms: cbSecParms(),
	}}
}

func sessionFrom(cs *nfs4.CreateSessionRes) *Session {
	n := max(1, min(cs.ForeChanAttrs.MaxRequests, Slots))
	s := newSession(cs.SessionID, n)
	s.MaxRequest, s.MaxResponse = cs.ForeChanAttrs.MaxRequestSize, cs.ForeChanAttrs.MaxResponseSize
	return s
}

// recreateSession replaces a session the server no longer knows (or whose
// slots are all retired) with a new one for the same client ID
// (RFC 8881 §2.10.13). Open state belongs to the client ID and survives.
func (c *Client) recreateSession(ctx context.Context) error {
	old := c.session()
	c.setupMu.Lock()
	defer c.setupMu.Unlock()
	if c.session() != old {
		return nil // another caller already did it
	}
	// CREATE_SESSION goes alone, without SEQUENCE (RFC 8881 §18.36.3).
	rctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	res, err := c.Send(rctx, &nfs4.CompoundArgs{MinorVersion: c.Minor,
		Ops: []nfs4.ArgOp{createSessionOp(c.ClientID, c.csSeq)}})
	if err := resErr(res, err); err != nil {
		if errors.Is(err, nfs4.ErrStaleClientID) || errors.Is(err, nfs4.ErrExpired) {
			// The server restarted (or expired us): a new client ID,
			// then our opens back (recover.go).
			return c.recoverClient(ctx)
		}
		return fmt.Errorf("nfs4client: re-creating session: %w", err)
	}
	cs := res.Results[0].Res.(*nfs4.CreateSessionRes)
	s := sessionFrom(cs)
	c.setBackChannel(cs.Flags&nfs4.CreateSessionFlagConnBackChan != 0)
	c.sessMu.Lock()
	c.Session, c.csSeq = s, c.csSeq+1
	c.sessMu.Unlock()
	return nil
}

// StartRenewal keeps the lease alive (RFC 8881 §8.3): when no request has
// been sent for lease/3, it sends a SEQUENCE-only COMPOUND (4.1) or RENEW
// (4.0). It stops when the client is closed.
func (c *Client) StartRenewal(lease time.Duration) {
	every := max(lease/3, 100*time.Millisecond)
	go func() {
		t := time.NewTicker(every / 2)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return

			case <-t.C:
			}
			if time.Since(time.Unix(0, c.lastSend.Load())) < every {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), every)
			if c.Minor == 0 {
				c.Compound(ctx, 0, []nfs4.ArgOp{{Op: nfs4.OpRenew, Args: &nfs4.RenewArgs{ClientID: c.ClientID}}})
			} else {
				c.Compound(ctx, c.Minor, nil)
			}
			cancel()
		}
	}()
}

// Shutdown destroys the session and client ID on the server (RFC 8881
// §18.37, §18.50), releasing its state at once, then closes the client.
func (c *Client) Shutdown(ctx context.Context) error {
	if s := c.session(); s != nil && c.Minor > 0 {
		c.ReturnAllDelegations(ctx) // DELEGRETURN each (deleg.go)
		c.Compound(ctx, c.Minor, []nfs4.ArgOp{{Op: nfs4.OpDestroySession, Args: &nfs4.DestroySessionArgs{SessionID: s.ID}}})
		c.sessMu.Lock()
		c.Session = nil
		c.sessMu.Unlock()
		c.Compound(ctx, c.Minor, []nfs4.ArgOp{{Op: nfs4.OpDestroyClientID, Args: &nfs4.DestroyClientIDArgs{ClientID: c.ClientID}}})
	}
	return c.Close()
}

// SetupClientID registers a 4.0 client: SETCLIENTID and
// SETCLIENTID_CONFIRM (RFC 7530 §16.33, §16.34), without a callback.
func (c *Client) SetupClientID(ctx context.Context) error {
	var v nfs4.Verifier
	rand.Read(v[:])
	res, err := c.Compound(ctx, 0, []nfs4.ArgOp{{Op: nfs4.OpSetClientID, Args: &nfs4.SetClientIDArgs{
		Verifier: v, ID: append([]byte("nfs4client-"), c.owner...),
		Callback: nfs4.CBClient{CBLocation: nfs4.NetAddr{NetID: []byte("tcp"), Addr: []byte("127.0.0.1.0.0")}},
	}}})
	if err := resErr(res, err); err != nil {
		return err
	}
	sc := res.Results[0].Res.(*nfs4.SetClientIDRes)
	res, err = c.Compound(ctx, 0, []nfs4.ArgOp{{Op: nfs4.OpSetClientIDConfirm, Args: &nfs4.SetClientIDConfirmArgs{
		ClientID: sc.ClientID, SetClientIDConfirm: sc.SetClientIDConfirm}}})
	if err := resErr(res, err); err != nil {
		return err
	}
	c.ClientID, c.Minor, c.ownerSeq = sc.ClientID, 0, 0
	return nil
}

func resErr(res *nfs4.CompoundRes, err error) error {
	if err != nil {
		return err
	}
	if res.Status != nfs4.OK {
		op := nfs4.OpIllegal
		if n := len(res.Results); n > 0 {
			op = res.Results[n-1].Op
		}
		return &StatusError{Op: op, Status: res.Status}
	}
	return nil
}

// ---------------------------------------------------------------- op helpers

// Op builders, for composing COMPOUNDs by hand.
func PutRootFH() nfs4.ArgOp { return nfs4.ArgOp{Op: nfs4.OpPutRootFH, Args: &nfs4.PutRootFHArgs{}} }
func PutFH(fh []byte) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpPutFH, Args: &nfs4.PutFHArgs{Object: fh}}
}
func GetFH() nfs4.ArgOp { return nfs4.ArgOp{Op: nfs4.OpGetFH, Args: &nfs4.GetFHArgs{}} }
func Lookup(name string) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpLookup, Args: &nfs4.LookupArgs{ObjName: []byte(name)}}
}
func GetAttrOp(want nfs4.Bitmap) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpGetattr, Args: &nfs4.GetattrArgs{AttrRequest: want}}
}

// BasicAttrs is the attribute set GetAttr asks for by default.
var BasicAttrs = bitmap(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFileID,
	nfs4.AttrMode, nfs4.AttrNumLinks)

func bitmap(attrs ...int) nfs4.Bitmap {
	var b nfs4.Bitmap
	for _, a := range attrs {
		b.Set(a)
	}
	return b
}

// result returns the i-th result as T (after a successful Do).
func result[T nfs4.Res](res *nfs4.CompoundRes, i int) T {
	return res.Results[i].Res.(T)
}

// RootFH returns the handle of the server's root.
func (c *Client) RootFH(ctx context.Context) ([]byte, error) {
	return c.LookupPath(ctx, "")
}

// LookupPath resolves a slash-separated path from the root and returns
// its handle.
func (c *Client) LookupPath(ctx context.Context, path string) ([]byte, error) {
	ops := []nfs4.ArgOp{PutRootFH()}
	for _, p := range strings.Split(path, "/") {
		if p != "" {
			ops = append(ops, Lookup(p))
		}
	}
	ops = append(ops, GetFH())
	res, err := c.Do(ctx, ops...)
	if err != nil {
		return nil, err
	}
	return result[*nfs4.GetFHRes](res, len(ops)-1).Object, nil
}

// GetAttr fetches attributes of fh (BasicAttrs when want is nil).
func (c *Client) GetAttr(ctx context.Context, fh []byte, want nfs4.Bitmap) (*nfs4.Attrs, error) {
	if want == nil {
		want = BasicAttrs
	}
	res, err := c.Do(ctx, PutFH(fh), GetAttrOp(want))
	if err != nil {
		return nil, err
	}
	f := result[*nfs4.GetattrRes](res, 1).ObjAttributes
	return nfs4.DecodeAttrs(&f)
}

// OpenFile is an open file: its handle and open stateid.
type OpenFile struct {
	FH []byte
	// StateID is the open stateid. A client that may recover its state
	// concurrently (a server restart) replaces it: read it with SID then.
	StateID nfs4.StateID
	Res     *nfs4.OpenRes // the OPEN result (change info, flags, attrset)
	Attrs   *nfs4.Attrs   // the file's attributes after the open (FileAttrs)

	mu     sync.Mutex
	access uint32 // share access, for reopening after a server restart
	local  bool   // opened locally under a delegation (deleg.go OpenLocal)
}

// SID returns the current open stateid.
func (f *OpenFile) SID() nfs4.StateID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.StateID
}

func (f *OpenFile) setSID(sid nfs4.StateID) {
	f.mu.Lock()
	f.StateID = sid
	f.mu.Unlock()
}

// CreateHow selects the OPEN create mode (createhow4): Mode is
// nfs4.Unchecked4, Guarded4, Exclusive4 (4.0) or Exclusive4_1 (4.1);
// Verf is the exclusive verifier; Attrs the create attributes (mode…).
type CreateHow struct {
	Mode  uint32
	Verf  nfs4.Verifier
	Attrs *nfs4.Attrs // Present selects the attributes sent; nil: none

	Access uint32 // share access (nfs4.ShareAccess*); 0: both
}

// Create opens dir/name read-write, creating it as how says (OPEN with
// OPEN4_CREATE, RFC 7530 §16.16, RFC 8881 §18.16).
func (c *Client) Create(ctx context.Context, dir []byte, name string, how CreateHow) (*OpenFile, error) {
	ch := nfs4.CreateHow{Mode: how.Mode, CreateVerf: how.Verf}
	if how.Attrs != nil {
		var e xdr.Encoder
		if err := nfs4.AppendAttrVals(&e, how.Attrs.Present, how.Attrs); err != nil {
			return nil, err
		}
		ch.CreateAttrs = nfs4.Fattr{Mask: how.Attrs.Present, Vals: e.Buf}
	} else if how.Mode != nfs4.Exclusive4 {
		ch.CreateAttrs = nfs4.Fattr{Mask: nfs4.Bitmap{}}
	}
	access := uint32(nfs4.ShareAccessBoth)
	if how.Access != 0 {
		access = how.Access
	}
	return c.open(ctx, dir, name, access, nfs4.OpenFlag{OpenType: nfs4.OpenCreate, CreateHow: ch})
}

// Open opens an existing dir/name with share access (nfs4.ShareAccess*).
func (c *Client) Open(ctx context.Context, dir []byte, name string, access uint32) (*OpenFile, error) {
	return c.open(ctx, dir, name, access, nfs4.OpenFlag{OpenType: nfs4.OpenNoCreate})
}

// OpenFH opens the file fh itself with share access (OPEN with CLAIM_FH,
// RFC 8881 §18.16.3, 4.1 only): the file need not still have the name it
// was looked up by.
func (c *Client) OpenFH(ctx context.Context, fh []byte, access uint32) (*OpenFile, error) {
	return c.openClaim(ctx, fh, nfs4.OpenClaim{Claim: nfs4.ClaimFH}, access, nfs4.OpenFlag{OpenType: nfs4.OpenNoCreate})
}

func (c *Client) open(ctx context.Context, dir []byte, name string, access uint32, how nfs4.OpenFlag) (*OpenFile, error) {
	return c.openClaim(ctx, dir, nfs4.OpenClaim{Claim: nfs4.ClaimNull, File: []byte(name)}, access, how)
}

// openClaim sends PUTFH OPEN GETFH GETATTR: one round trip gives the
// stateid, the handle and the attributes.
func (c *Client) openClaim(ctx context.Context, fh []byte, claim nfs4.OpenClaim, access uint32, how nfs4.OpenFlag) (*OpenFile, error) {
	owner := c.owner
	if c.Minor == 0 {
		c.ownerMu.Lock()
		defer c.ownerMu.Unlock()
	} else {
		// Ask for a delegation when enabled, else say we want none,
		// so the server need not offer one (RFC 8881 §18.16.3).
		access |= c.wantBits(access, claim.Claim)
		// Each OPEN under its own open-owner, so each gets its own open
		// stateid: opens of one file by one owner share a stateid whose
		// seqid every OPEN bumps (older copies: NFS4ERR_OLD_STATEID) and
		// which one CLOSE ends for all (RFC 8881 §9.1.4, §18.2.3). 4.1
		// open-owners need no confirmation or seqid (§8.13, §18.16.3).
		owner = fmt.Appendf(append([]byte(nil), c.owner...), "-%d", c.opens.Add(1))
	}
	args := &nfs4.OpenArgs{SeqID: c.ownerSeq, ShareAccess: access, ShareDeny: nfs4.ShareDenyNone,
		Owner:   nfs4.OpenOwner{ClientID: c.ClientID, Owner: owner},
		OpenHow: how, Claim: claim}
	res, err := c.Do(ctx, PutFH(fh), nfs4.ArgOp{Op: nfs4.OpOpen, Args: args}, GetFH(), GetAttrOp(FileAttrs))
	c.bumpSeq(res)
	if err != nil {
		return nil, err
	}
	or := result[*nfs4.OpenRes](res, 1)
	f := &OpenFile{FH: result[*nfs4.GetFHRes](res, 2).Object, StateID: or.StateID, Res: or,
		access: access &^ nfs4.ShareAccessWantDelegMask}
	ga := result[*nfs4.GetattrRes](res, 3)
	if f.Attrs, err = nfs4.DecodeAttrs(&ga.ObjAttributes); err != nil {
		return nil, err
	}
	if c.Minor > 0 {
		c.gotDelegation(f.FH, &or.Delegation, f.Attrs)
	}
	if c.Minor == 0 && or.RFlags&nfs4.OpenResultConfirm != 0 {
		// 4.0: a new open-owner confirms its first open (RFC 7530 §16.18).
		res, err := c.Do(ctx, PutFH(f.FH), nfs4.ArgOp{Op: nfs4.OpOpenConfirm,
			Args: &nfs4.OpenConfirmArgs{OpenStateID: f.StateID, SeqID: c.ownerSeq}})
		c.bumpSeq(res)
		if err != nil {
			return nil, err
		}
		f.StateID = result[*nfs4.OpenConfirmRes](res, 1).StateID
	}
	c.track(f)
	return f, nil
}

// bumpSeq advances the 4.0 open-owner seqid after a seqid-mutating op got
// a reply that is not one of the errors that leave it unchanged (RFC 7530
// §9.1.7).
func (c *Client) bumpSeq(res *nfs4.CompoundRes) {
	if c.Minor != 0 || res == nil || len(res.Results) < 2 {
		return
	}
	switch res.Status {
	case nfs4.ErrStaleClientID, nfs4.ErrStaleStateID, nfs4.ErrBadStateID,
		nfs4.ErrBadSeqID, nfs4.ErrBadXDR, nfs4.ErrResource, nfs4.ErrNoFileHandle, nfs4.ErrMoved:
		return
	}
	c.ownerSeq++
}

// CloseFile closes an open (CLOSE, RFC 7530 §16.2).
func (c *Client) CloseFile(ctx context.Context, f *OpenFile) error {
	if c.Minor == 0 {
		c.ownerMu.Lock()
		defer c.ownerMu.Unlock()
	}
	if f.isLocal() {
		return nil // never opened on the server (deleg.go)
	}
	c.untrack(f)
	res, err := c.Do(ctx, PutFH(f.FH), nfs4.ArgOp{Op: nfs4.OpClose,
		Args: &nfs4.CloseArgs{SeqID: c.ownerSeq, OpenStateID: f.SID()}})
	c.bumpSeq(res)
	if errors.Is(err, nfs4.ErrStaleStateID) || errors.Is(err, nfs4.ErrBadStateID) {
		// The server restarted and the open could not be recovered:
		// there is nothing left to close.
		return nil
	}
	return err
}

// CloseCommit ends the open f in one COMPOUND where the minor version
// allows (4.1+): PUTFH, COMMIT of the file's unstable writes (when
// commit), CLOSE, and DELEGRETURN of ret (when not nil; the caller has
// marked it with BeginReturn and flushed what it cached under it) —
// one round trip instead of three (RFC 8881 §18.3, §18.2, §18.6).
// committed reports that the COMMIT succeeded, verf its write verifier.
// If the COMMIT did not succeed (err, !committed) nothing else was done:
// f is still open and ret still held. ret is forgotten once sent,
// whatever the server answers to it (returnDeleg).
func (c *Client) CloseCommit(ctx context.Context, f *OpenFile, commit bool, ret *Delegation) (verf nfs4.Verifier, committed bool, err error) {
	if c.Minor == 0 || f.isLocal() {
		// 4.0: CLOSE carries the open-owner seqid (CloseFile).
		if commit {
			if verf, err = c.Commit(ctx, f.FH, 0, 0); err != nil {
				return verf, false, err
			}
		}
		err = c.CloseFile(ctx, f)
		if ret != nil {
			if e := c.returnDeleg(ret, false); err == nil {
				err = e
			}
		}
		return verf, commit, err
	}
	ops := make([]nfs4.ArgOp, 0, 4)
	ops = append(ops, PutFH(f.FH))
	if commit {
		ops = append(ops, nfs4.ArgOp{Op: nfs4.OpCommit, Args: &nfs4.CommitArgs{}})
	}
	closeAt := len(ops)
	ops = append(ops, nfs4.ArgOp{Op: nfs4.OpClose, Args: &nfs4.CloseArgs{OpenStateID: f.SID()}})
	if ret != nil {
		ops = append(ops, nfs4.ArgOp{Op: nfs4.OpDelegReturn, Args: &nfs4.DelegReturnArgs{DelegStateID: ret.StateID}})
	}
	c.untrack(f)
	res, err := c.Do(ctx, ops...)
	done := 0 // ops that succeeded
	if res != nil {
		done = len(res.Results)
		if err != nil {
			done--
		}
	}
	if commit {
		if done < 2 {
			c.track(f) // still open: the caller commits and closes again
			return verf, false, err
		}
		verf, committed = result[*nfs4.CommitRes](res, 1).WriteVerf, true
	}
	if ret != nil {
		switch {
		case done > closeAt+1:
			c.dropDeleg(ret)
		case done == closeAt+1:
			// The DELEGRETURN failed: as returnDeleg, forget it, and
			// an error that says there was nothing to return is none.
			c.dropDeleg(ret)
			if errors.Is(err, nfs4.ErrBadStateID) || errors.Is(err, nfs4.ErrStaleStateID) ||
				errors.Is(err, nfs4.ErrExpired) || errors.Is(err, nfs4.ErrDelegRevoked) {
				err = nil
			}
		default:
			// The CLOSE failed (an open lost to a server restart) or
			// the call did: the delegation goes back on its own.
			if e := c.returnDeleg(ret, false); err == nil {
				err = e
			}
		}
	}
	if done <= closeAt && (errors.Is(err, nfs4.ErrStaleStateID) || errors.Is(err, nfs4.ErrBadStateID)) {
		err = nil // as CloseFile: the open did not survive a server restart
	}
	return verf, committed, err
}

// BeginReturn marks d as being returned by its holder (no longer to be
// relied on) and reports whether it was not already (CloseCommit).
func (c *Client) BeginReturn(d *Delegation) bool { return d.markRecalled() }

// DelegationCount is the number of file delegations held.
func (c *Client) DelegationCount() int {
	c.dg.mu.Lock()
	defer c.dg.mu.Unlock()
	return len(c.dg.byFH)
}

// Read reads up to count bytes of fh at off through stateid sid.
func (c *Client) Read(ctx context.Context, fh []byte, sid nfs4.StateID, off uint64, count uint32) (data []byte, eof bool, err error) {
	res, err := c.Do(ctx, PutFH(fh), nfs4.ArgOp{Op: nfs4.OpRead,
		Args: &nfs4.ReadArgs{StateID: sid, Offset: off, Count: count}})
	if err != nil {
		return nil, false, err
	}
	r := result[*nfs4.ReadRes](res, 1)
	return r.Data, r.EOF, nil
}

// ReadAll reads fh from offset 0 to EOF in chunks of chunk bytes.
func (c *Client) ReadAll(ctx context.Context, fh []byte, sid nfs4.StateID, chunk uint32) ([]byte, error) {
	var out []byte
	for {
		d, eof, err := c.Read(ctx, fh, sid, uint64(len(out)), chunk)
		if err != nil {
			return out, err
		}
		out = append(out, d...)
		if eof || len(d) == 0 {
			return out, nil
		}
	}
}

// Write writes data at off with stable_how stable (nfs4.Unstable4,
// DataSync4, FileSync4) and returns the WRITE result (count, committed,
// verifier).
func (c *Client) Write(ctx context.Context, fh []byte, sid nfs4.StateID, off uint64, data []byte, stable uint32) (*nfs4.WriteRes, error) {
	res, err := c.Do(ctx, PutFH(fh), nfs4.ArgOp{Op: nfs4.OpWrite,
		Args: &nfs4.WriteArgs{StateID: sid, Offset: off, Stable: stable, Data: data}})
	if err != nil {
		return nil, err
	}
	return result[*nfs4.WriteRes](res, 1), nil
}

// Commit commits fh's unstable writes in [off, off+count) and returns the
// write verifier.
func (c *Client) Commit(ctx context.Context, fh []byte, off uint64, count uint32) (nfs4.Verifier, error) {
	res, err := c.Do(ctx, PutFH(fh), nfs4.ArgOp{Op: nfs4.OpCommit,
		Args: &nfs4.CommitArgs{Offset: off, Count: count}})
	if err != nil {
		return nfs4.Verifier{}, err
	}
	return result[*nfs4.CommitRes](res, 1).WriteVerf, nil
}

// Mkdir creates directory dir/name and returns its handle.
func (c *Client) Mkdir(ctx context.Context, dir []byte, name string) ([]byte, error) {
	res, err := c.Do(ctx, PutFH(dir), nfs4.ArgOp{Op: nfs4.OpCreate, Args: &nfs4.CreateArgs{
		ObjType: nfs4.NF4DIR, ObjName: []byte(name), CreateAttrs: nfs4.Fattr{Mask: nfs4.Bitmap{}}}}, GetFH())
	if err != nil {
		return nil, err
	}
	return result[*nfs4.GetFHRes](res, 2).Object, nil
}

// Remove removes dir/name.
func (c *Client) Remove(ctx context.Context, dir []byte, name string) error {
	_, err := c.Do(ctx, PutFH(dir), nfs4.ArgOp{Op: nfs4.OpRemove, Args: &nfs4.RemoveArgs{Target: []byte(name)}})
	return err
}

// Rename renames srcDir/oldName to dstDir/newName (SAVEFH holds the source).
func (c *Client) Rename(ctx context.Context, srcDir []byte, oldName string, dstDir []byte, newName string) error {
	_, err := c.Do(ctx, PutFH(srcDir), nfs4.ArgOp{Op: nfs4.OpSaveFH, Args: &nfs4.SaveFHArgs{}},
		PutFH(dstDir), nfs4.ArgOp{Op: nfs4.OpRename, Args: &nfs4.RenameArgs{OldName: []byte(oldName), NewName: []byte(newName)}})
	return err
}

// ReadDir lists dir completely (following cookies) and returns the
// entries with the attributes in want (may be nil).
func (c *Client) ReadDir(ctx context.Context, dir []byte, want nfs4.Bitmap) ([]nfs4.DirEntry, error) {
	var all []nfs4.DirEntry
	var cookie uint64
	var verf nfs4.Verifier
	for {
		res, err := c.Do(ctx, PutFH(dir), nfs4.ArgOp{Op: nfs4.OpReadDir, Args: &nfs4.ReadDirArgs{
			Cookie: cookie, CookieVerf: verf, DirCount: 8192, MaxCount: 32768, AttrRequest: want}})
		if err != nil {
			return all, err
		}
		r := result[*nfs4.ReadDirRes](res, 1)
		all = append(all, r.Entries...)
		if r.EOF || len(r.Entries) == 0 {
			return all, nil
		}
		// A server that hands back a cookie it already gave, or lists
		// without end, would keep this loop going: refuse it.
		next := r.Entries[len(r.Entries)-1].Cookie
		if next == cookie || len(all) > MaxReadDirEntries {
			return all, fmt.Errorf("nfs4client: READDIR of %x does not end (cookie %d after %d entries)", dir, next, len(all))
		}
		cookie, verf = next, r.CookieVerf
	}
}

// MaxReadDirEntries bounds the listing ReadDir collects in memory.
const MaxReadDirEntries = 1 << 22
