package nfs4srv

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
	"github.com/fsbridge/fsbridge/serve/state"
)

// Callbacks to clients (RFC 7530 §16.x callback program, RFC 8881 §20).
//
// NFSv4.0: SETCLIENTID gives a callback program and a universal address;
// after SETCLIENTID_CONFIRM the server dials it and sends CB_NULL. Only a
// client whose CB_NULL was answered gets delegations (RFC 7530 §10.2.1).
//
// NFSv4.1+: callbacks go over a connection the client bound to the back
// channel (CREATE_SESSION with CONN_BACK_CHAN, BIND_CONN_TO_SESSION),
// prefixed by CB_SEQUENCE on back-channel slot 0 (RFC 8881 §2.10.3.1,
// §20.9). One callback at a time per client: one slot is enough for
// recalls and keeps the slot's sequence simple.
//
// A callback that gets no answer (connection failure or timeout) marks the
// path down: no new delegations, RENEW answers NFS4ERR_CB_PATH_DOWN (4.0)
// and SEQUENCE sets SEQ4_STATUS_CB_PATH_DOWN (4.1) until the client gives
// a new callback address or binds a new back-channel connection.

// cbVersion is the callback program version (RFC 7530 §16.33.1,
// RFC 8881 §20: NFS_CB version 1).
const cbVersion = 1

// maxCBTimeout bounds one callback round trip; shorter leases shorten it.
const maxCBTimeout = 5 * time.Second

// errCBDown is returned when no callback path to the client exists.
var errCBDown = errors.New("nfs4srv: callback path down")

// cbPath is what the server knows of one client's callback path.
type cbPath struct {
	callMu sync.Mutex // one callback at a time (one back-channel slot)

	// Guarded by callbacks.mu.
	cb       state.Callback    // 4.0: the address probed
	gen      uint64            // 4.0: bumped when cb changes
	rc       *rpcclient.Client // 4.0: the connection to it
	up       bool              // 4.0: CB_NULL answered on cb
	down     bool              // a callback went unanswered
	downConn any               // 4.1: the back-channel connection that failed
	seq      map[state.SessionID]uint32
}

// callbacks tracks the callback paths of all clients.
type callbacks struct {
	s       *Server
	timeout time.Duration
	machine string // AUTH_SYS machine name for 4.0 callbacks

	mu    sync.Mutex
	paths map[uint64]*cbPath
}

func newCallbacks(s *Server) *callbacks {
	h, _ := os.Hostname()
	if h == "" {
		h = "fsbridge"
	}
	return &callbacks{s: s, machine: h, paths: map[uint64]*cbPath{},
		timeout: min(maxCBTimeout, max(s.cfg.LeaseTime/4, 100*time.Millisecond))}
}

func (cb *callbacks) path(id uint64) *cbPath {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	p := cb.paths[id]
	if p == nil {
		p = &cbPath{seq: map[state.SessionID]uint32{}}
		cb.paths[id] = p
	}
	return p
}

// forget drops what is known of a client that went away.
func (cb *callbacks) forget(id uint64) {
	cb.mu.Lock()
	var rc *rpcclient.Client
	if p := cb.paths[id]; p != nil {
		rc, p.rc, p.up = p.rc, nil, false
		p.gen++ // a probe under way discards its result
	}
	delete(cb.paths, id)
	cb.mu.Unlock()
	if rc != nil {
		rc.Close()
	}
}

// closeAll closes the 4.0 callback connections (server shutdown).
func (cb *callbacks) closeAll() {
	cb.mu.Lock()
	ids := make([]uint64, 0, len(cb.paths))
	for id := range cb.paths {
		ids = append(ids, id)
	}
	cb.mu.Unlock()
	for _, id := range ids {
		cb.forget(id)
	}
}

// parseUaddr turns a universal address (RFC 5665 §5.2.3.3 for IPv4,
// §5.2.3.4 for IPv6: host + ".p1.p2") into host:port. The wildcard and
// port 0 mean "no callbacks".
func parseUaddr(netid, uaddr string) (string, bool) {
	i := strings.LastIndexByte(uaddr, '.')
	if i < 0 {
		return "", false
	}
	j := strings.LastIndexByte(uaddr[:i], '.')
	if j < 0 {
		return "", false
	}
	p1, err1 := strconv.Atoi(uaddr[j+1 : i])
	p2, err2 := strconv.Atoi(uaddr[i+1:])
	if err1 != nil || err2 != nil || p1 < 0 || p1 > 255 || p2 < 0 || p2 > 255 {
		return "", false
	}
	port := p1<<8 | p2
	ip := net.ParseIP(uaddr[:j])
	if ip == nil || ip.IsUnspecified() || port == 0 {
		return "", false
	}
	if (netid == "tcp") != (ip.To4() != nil) {
		return "", false
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(port)), true
}

// probe40 checks the 4.0 callback path of a client just confirmed
// (SETCLIENTID_CONFIRM): dial the address and send CB_NULL, in the
// background. A changed callback (a callback update) is probed afresh.
func (cb *callbacks) probe40(id uint64) {
	info, ok := cb.s.state.ClientCallback(id)
	if !ok {
		return
	}
	p := cb.path(id)
	cb.mu.Lock()
	if p.cb == info && p.gen != 0 {
		cb.mu.Unlock()
		return // already probed (a SETCLIENTID_CONFIRM retransmission)
	}
	old := p.rc
	p.cb, p.rc, p.up, p.down = info, nil, false, false
	p.gen++
	gen := p.gen
	cb.mu.Unlock()
	if old != nil {
		old.Close()
	}
	addr, ok := parseUaddr(info.NetID, info.Addr)
	if !ok || (info.NetID != "tcp" && info.NetID != "tcp6") {
		return // no usable callback address: no delegations
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), cb.timeout)
		defer cancel()
		rc, err := rpcclient.Dial(ctx, "tcp", addr)
		if err == nil {
			_, err = rc.Call(ctx, info.Program, cbVersion, nfs4.CBProcNull, rpc.Auth{}, nil)
		}
		cb.mu.Lock()
		defer cb.mu.Unlock()
		if p.gen != gen {
			if rc != nil {
				rc.Close()
			}
			return
		}
		if err != nil {
			cb.s.log.Info("callback path down", "clientid", id, "addr", addr, "err", err)
			p.down = true
			if rc != nil {
				rc.Close()
			}
			return
		}
		p.rc, p.up = rc, true
	}()
}

// pathOK reports whether delegations may be granted to the client: its
// callback path is confirmed and has not failed.
func (cb *callbacks) pathOK(id uint64, minor uint32) bool {
	if minor == 0 {
		cb.mu.Lock()
		defer cb.mu.Unlock()
		p := cb.paths[id]
		return p != nil && p.up && !p.down
	}
	bc, ok := cb.s.state.FindBackChannel(id)
	if !ok || !usableSec(bc.Sec) {
		return false
	}
	if _, ok := bc.Conn.(*rpcsrv.Conn); !ok {
		return false
	}
	cb.mu.Lock()
	defer cb.mu.Unlock()
	p := cb.paths[id]
	return p == nil || !p.down || p.downConn != bc.Conn
}

// seqFlags are the SEQUENCE status flags for callback failures on the
// client's current back channel (RFC 8881 §18.46.3).
func (cb *callbacks) seqFlags(id uint64) uint32 {
	cb.mu.Lock()
	p := cb.paths[id]
	down := p != nil && p.down
	cb.mu.Unlock()
	if !down || cb.pathOK(id, 1) {
		return 0
	}
	return nfs4.SeqStatusCBPathDown | nfs4.SeqStatusCBPathDownSession
}

// pathDown40 reports whether a 4.0 client's callback path has failed.
func (cb *callbacks) pathDown40(id uint64) bool {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	p := cb.paths[id]
	return p != nil && p.down
}

// usableSec reports whether callback_sec_parms4 offer a flavour we can
// send (AUTH_NONE or AUTH_SYS; not RPCSEC_GSS).
func usableSec(sec any) bool {
	_, ok := secCred(sec)
	return ok
}

// secCred picks the callback credential from the client's
// callback_sec_parms4 (RFC 8881 §18.36.3, §18.33.3): the first AUTH_NONE
// or AUTH_SYS entry, used as given.
func secCred(sec any) (rpc.Auth, bool) {
	l, _ := sec.([]nfs4.CallbackSecParms)
	for _, p := range l {
		switch p.Flavor {
		case uint32(rpc.AuthNone):
			return rpc.Auth{}, true
		case uint32(rpc.AuthSys):
			return rpc.NewAuthSys(p.Sys), true
		}
	}
	return rpc.Auth{}, false
}

// markDown records a callback failure.
func (cb *callbacks) markDown(id uint64, conn any, err error) {
	cb.s.log.Info("callback path down", "clientid", id, "err", err)
	p := cb.path(id)
	cb.mu.Lock()
	p.down, p.downConn = true, conn
	cb.mu.Unlock()
}

// call sends one CB_COMPOUND with ops to the client and returns the
// decoded reply. minor is the client's minor version. A transport failure
// or timeout marks the path down.
func (cb *callbacks) call(id uint64, minor uint32, ops []nfs4.CBArgOp) (*nfs4.CBCompoundRes, error) {
	p := cb.path(id)
	p.callMu.Lock()
	defer p.callMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), cb.timeout)
	defer cancel()
	args := nfs4.CBCompoundArgs{MinorVersion: minor}
	var (
		body []byte
		err  error
	)
	if minor == 0 {
		body, err = cb.call40(ctx, id, p, &args, ops)
	} else {
		body, err = cb.call41(ctx, id, p, &args, ops)
	}
	if err != nil {
		return nil, err
	}
	var res nfs4.CBCompoundRes
	d := xdr.NewDecoder(body)
	res.Decode(d)
	if d.Err() != nil {
		return nil, d.Err()
	}
	if minor >= 1 {
		// The slot's sequence advances once the client processed
		// CB_SEQUENCE (RFC 8881 §20.9.3).
		if len(res.Results) > 0 && res.Results[0].Op == nfs4.CBOpSequence &&
			res.Results[0].Res.GetStatus() == nfs4.OK {
			sq := res.Results[0].Res.(*nfs4.CBSequenceRes)
			cb.mu.Lock()
			p.seq[state.SessionID(sq.SessionID)] = sq.SequenceID
			cb.mu.Unlock()
		}
		if len(res.Results) > 0 && res.Results[0].Op == nfs4.CBOpSequence {
			res.Results = res.Results[1:]
		}
	}
	return &res, nil
}

func encodeCB(args *nfs4.CBCompoundArgs) net.Buffers {
	var e xdr.Encoder
	args.Encode(&e)
	return net.Buffers{e.Buf}
}

func (cb *callbacks) call40(ctx context.Context, id uint64, p *cbPath, args *nfs4.CBCompoundArgs, ops []nfs4.CBArgOp) ([]byte, error) {
	cb.mu.Lock()
	rc, info, up, gen := p.rc, p.cb, p.up, p.gen
	cb.mu.Unlock()
	if !up {
		return nil, errCBDown
	}
	if rc == nil || rc.Err() != nil {
		// The client closed the callback connection: dial it again.
		addr, _ := parseUaddr(info.NetID, info.Addr)
		var err error
		if rc, err = rpcclient.Dial(ctx, "tcp", addr); err != nil {
			cb.markDown(id, nil, err)
			return nil, err
		}
		cb.mu.Lock()
		if p.gen != gen {
			cb.mu.Unlock()
			rc.Close()
			return nil, errCBDown
		}
		if p.rc != nil {
			p.rc.Close()
		}
		p.rc = rc
		cb.mu.Unlock()
	}
	args.CallbackIdent = info.Ident
	args.Ops = ops
	// Linux accepts AUTH_NONE only for CB_NULL: send AUTH_SYS as root.
	cred := rpc.NewAuthSys(rpc.AuthSysParams{MachineName: cb.machine})
	body, err := rc.Call(ctx, info.Program, cbVersion, nfs4.CBProcCompound, cred, encodeCB(args))
	if err != nil && !isRPCReplyError(err) {
		cb.markDown(id, nil, err)
	}
	return body, err
}

func (cb *callbacks) call41(ctx context.Context, id uint64, p *cbPath, args *nfs4.CBCompoundArgs, ops []nfs4.CBArgOp) ([]byte, error) {
	bc, ok := cb.s.state.FindBackChannel(id)
	if !ok {
		return nil, errCBDown
	}
	conn, ok := bc.Conn.(*rpcsrv.Conn)
	cred, okSec := secCred(bc.Sec)
	if !ok || !okSec {
		return nil, errCBDown
	}
	cb.mu.Lock()
	seq := p.seq[bc.SessionID] + 1
	cb.mu.Unlock()
	sq := &nfs4.CBSequenceArgs{SessionID: nfs4.SessionID(bc.SessionID), SequenceID: seq}
	args.Ops = append([]nfs4.CBArgOp{{Op: nfs4.CBOpSequence, Args: sq}}, ops...)
	body, err := conn.Call(ctx, bc.Program, cbVersion, nfs4.CBProcCompound, cred, encodeCB(args))
	if err != nil && !isRPCReplyError(err) {
		cb.markDown(id, bc.Conn, err)
	}
	return body, err
}

// isRPCReplyError reports whether err is an RPC-level rejection: the peer
// answered, so the path itself works.
func isRPCReplyError(err error) bool {
	var ae *rpc.AcceptedError
	var de *rpc.DeniedError
	return errors.As(err, &ae) || errors.As(err, &de)
}
