package state

import (
	"encoding/binary"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// SessionID is sessionid4: 8 random bytes fixed per boot + an 8-byte counter.
type SessionID [nfs4.SessionIDSize]byte

// ChannelAttrs is channel_attrs4 (RFC 8881 §18.36.3).
type ChannelAttrs struct {
	HeaderPadSize         uint32
	MaxRequestSize        uint32
	MaxResponseSize       uint32
	MaxResponseSizeCached uint32
	MaxOperations         uint32
	MaxRequests           uint32
	RDMAIRD               []uint32
}

// CreateSessionArgs are the parts of CREATE_SESSION4args we model.
type CreateSessionArgs struct {
	ClientID  uint64
	Sequence  uint32
	Flags     uint32
	Fore      ChannelAttrs
	Back      ChannelAttrs
	CBProgram uint32
	CBSec     any    // the decoded csa_sec_parms, kept for the callback issuer
	Principal string // caller's principal
	Conn      any    // the connection the request came on (comparable key)
}

// CreateSessionResult is CREATE_SESSION4resok. A retransmitted
// CREATE_SESSION gets the same value back.
type CreateSessionResult struct {
	SessionID SessionID
	Sequence  uint32
	Flags     uint32
	Fore      ChannelAttrs
	Back      ChannelAttrs
}

// Session is a 4.1 session: a slot table (the fore channel's reply cache)
// plus the connections bound to it (RFC 8881 §2.10).
type Session struct {
	id        SessionID
	client    *Client
	fore      ChannelAttrs
	back      ChannelAttrs
	flags     uint32
	slots     []*Slot
	cbProgram uint32
	cbSec     any
	foreConns []any
	backConns []any
	dead      bool
}

// Slot is one fore-channel slot (RFC 8881 §2.10.6.1). After SEQUENCE
// returns a new request on it, the engine must call StoreReply exactly once.
type Slot struct {
	m      *Manager
	seqid  uint32
	used   bool // a request has completed or is in progress on this slot
	busy   bool // a request is in progress
	cached bool
	reply  []byte
}

// StoreReply ends the request in progress on the slot. reply is the
// complete encoded COMPOUND reply to return for a retransmission, or nil if
// it is not cached (a retry then gets NFS4ERR_RETRY_UNCACHED_REP). The slot
// takes ownership of reply.
func (s *Slot) StoreReply(reply []byte) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.busy = false
	s.reply = reply
	s.cached = reply != nil
}

func clampNZ(v, max uint32) uint32 {
	if v == 0 || v > max {
		return max
	}
	return v
}

// CreateSession implements CREATE_SESSION (RFC 8881 §18.36.4). The client
// record has a one-entry reply cache: csa_sequence equal to the last one
// replays the cached result, last+1 is new, anything else is
// NFS4ERR_SEQ_MISORDERED. A successful call confirms an unconfirmed record
// (expiring an older confirmed record of the same owner: client restart).
func (m *Manager) CreateSession(a CreateSessionArgs) (CreateSessionResult, error) {
	m.lock()
	defer m.unlock()
	if uint32(a.ClientID>>32) != m.epoch {
		return CreateSessionResult{}, nfs4.ErrStaleClientID
	}
	c := m.confByID[a.ClientID]
	if c == nil {
		c = m.unconfByID[a.ClientID]
	}
	if c == nil || c.minor == 0 {
		return CreateSessionResult{}, nfs4.ErrStaleClientID
	}
	if c.csCache != nil && a.Sequence == c.csSeq {
		return *c.csCache, nil // retransmission
	}
	if a.Sequence != c.csSeq+1 {
		return CreateSessionResult{}, nfs4.ErrSeqMisordered
	}
	if !c.confirmed && c.principal != a.Principal {
		return CreateSessionResult{}, nfs4.ErrClidInUse
	}
	if a.Fore.MaxRequestSize != 0 && a.Fore.MaxRequestSize < 256 ||
		a.Fore.MaxResponseSize != 0 && a.Fore.MaxResponseSize < 256 {
		return CreateSessionResult{}, nfs4.ErrTooSmall
	}

	// Negotiate: the server may only lower what the client asked for.
	fore := ChannelAttrs{
		MaxRequestSize:        clampNZ(a.Fore.MaxRequestSize, m.cfg.MaxRequestSize),
		MaxResponseSize:       clampNZ(a.Fore.MaxResponseSize, m.cfg.MaxResponseSize),
		MaxResponseSizeCached: min(a.Fore.MaxResponseSizeCached, m.cfg.MaxResponseSizeCached),
		MaxOperations:         clampNZ(a.Fore.MaxOperations, m.cfg.MaxOps),
		MaxRequests:           clampNZ(a.Fore.MaxRequests, m.cfg.MaxSlots),
	}
	back := ChannelAttrs{
		MaxRequestSize:        a.Back.MaxRequestSize,
		MaxResponseSize:       a.Back.MaxResponseSize,
		MaxResponseSizeCached: a.Back.MaxResponseSizeCached,
		MaxOperations:         a.Back.MaxOperations,
		MaxRequests:           clampNZ(a.Back.MaxRequests, MaxBackSlots),
	}
	s := &Session{client: c, fore: fore, back: back, cbProgram: a.CBProgram, cbSec: a.CBSec}
	m.nextSession++
	copy(s.id[:8], m.rnd[:])
	binary.BigEndian.PutUint64(s.id[8:], m.nextSession)
	s.slots = make([]*Slot, fore.MaxRequests)
	for i := range s.slots {
		s.slots[i] = &Slot{m: m}
	}
	if a.Conn != nil {
		s.foreConns = append(s.foreConns, a.Conn)
		if a.Flags&nfs4.CreateSessionFlagConnBackChan != 0 {
			s.backConns = append(s.backConns, a.Conn)
			s.flags |= nfs4.CreateSessionFlagConnBackChan
		}
	}
	if !c.confirmed {
		m.confirm(c)
	}
	c.sessions[s.id] = s
	m.sessions[s.id] = s
	c.lastRenew = m.now()
	res := CreateSessionResult{SessionID: s.id, Sequence: a.Sequence, Flags: s.flags, Fore: fore, Back: back}
	c.csSeq = a.Sequence
	c.csCache = &res
	return res, nil
}

// SequenceArgs are SEQUENCE4args plus the connection.
type SequenceArgs struct {
	SessionID     SessionID
	SeqID         uint32
	SlotID        uint32
	HighestSlotID uint32
	CacheThis     bool
	Conn          any
}

// SequenceResult is SEQUENCE4resok plus what the engine needs next.
type SequenceResult struct {
	SessionID           SessionID
	SeqID               uint32
	SlotID              uint32
	HighestSlotID       uint32
	TargetHighestSlotID uint32
	StatusFlags         uint32

	ClientID uint64
	Fore     ChannelAttrs // negotiated limits (maxops, maxresponsesize_cached, …)
	// Replay, when non-nil, is the cached reply of a retransmitted request:
	// send it as is (read-only: the slot still owns it) and do not execute
	// the COMPOUND.
	Replay []byte
	// Slot is set for a new request; call Slot.StoreReply when done.
	Slot *Slot
}

// Sequence implements the slot logic of SEQUENCE (RFC 8881 §2.10.6.1,
// §18.46.4) and renews the client's lease (RFC 8881 §8.3).
func (m *Manager) Sequence(a SequenceArgs) (SequenceResult, error) {
	m.lock()
	defer m.unlock()
	s := m.sessions[a.SessionID]
	if s == nil {
		return SequenceResult{}, nfs4.ErrBadSession
	}
	if a.SlotID >= uint32(len(s.slots)) {
		return SequenceResult{}, nfs4.ErrBadSlot
	}
	sl := s.slots[a.SlotID]
	res := SequenceResult{
		SessionID: s.id, SeqID: a.SeqID, SlotID: a.SlotID,
		HighestSlotID:       uint32(len(s.slots) - 1),
		TargetHighestSlotID: uint32(len(s.slots) - 1),
		ClientID:            s.client.id,
		Fore:                s.fore,
	}
	switch {
	case sl.busy:
		if a.SeqID == sl.seqid {
			return SequenceResult{}, nfs4.ErrDelay // retry of a request still running
		}
		return SequenceResult{}, nfs4.ErrSeqMisordered
	case a.SeqID == sl.seqid+1:
		sl.seqid = a.SeqID
		sl.used, sl.busy, sl.cached, sl.reply = true, true, false, nil
		res.Slot = sl
	case a.SeqID == sl.seqid && sl.used:
		if !sl.cached {
			return SequenceResult{}, nfs4.ErrRetryUncachedRep
		}
		res.Replay = sl.reply
	default:
		return SequenceResult{}, nfs4.ErrSeqMisordered
	}
	s.client.lastRenew = m.now()
	// With SP4_NONE a connection is implicitly bound to the fore channel
	// by use (RFC 8881 §2.10.3.1).
	if a.Conn != nil && !hasConn(s.foreConns, a.Conn) {
		s.foreConns = append(s.foreConns, a.Conn)
	}
	res.StatusFlags |= m.delegSeqFlags(s.client)
	if len(s.backConns) == 0 {
		res.StatusFlags |= nfs4.SeqStatusCBPathDownSession
		if !clientHasBackChannel(s.client) {
			res.StatusFlags |= nfs4.SeqStatusCBPathDown
		}
	}
	return res, nil
}

func hasConn(l []any, c any) bool {
	for _, x := range l {
		if x == c {
			return true
		}
	}
	return false
}

func removeConn(l []any, c any) []any {
	out := l[:0]
	for _, x := range l {
		if x != c {
			out = append(out, x)
		}
	}
	return out
}

func clientHasBackChannel(c *Client) bool {
	for _, s := range c.sessions {
		if len(s.backConns) > 0 {
			return true
		}
	}
	return false
}

// DestroySession implements DESTROY_SESSION (RFC 8881 §18.37).
func (m *Manager) DestroySession(id SessionID) error {
	m.lock()
	defer m.unlock()
	s := m.sessions[id]
	if s == nil {
		return nfs4.ErrBadSession
	}
	m.destroySession(s)
	return nil
}

func (m *Manager) destroySession(s *Session) {
	s.dead = true
	delete(m.sessions, s.id)
	delete(s.client.sessions, s.id)
	s.foreConns, s.backConns = nil, nil
}

// SessionClientID returns the client owning a session.
func (m *Manager) SessionClientID(id SessionID) (uint64, error) {
	m.lock()
	defer m.unlock()
	s := m.sessions[id]
	if s == nil {
		return 0, nfs4.ErrBadSession
	}
	return s.client.id, nil
}

// BindConnToSession implements BIND_CONN_TO_SESSION (RFC 8881 §18.34) for
// channel_dir_from_client4 dir; it returns channel_dir_from_server4.
func (m *Manager) BindConnToSession(id SessionID, dir uint32, conn any) (uint32, error) {
	m.lock()
	defer m.unlock()
	s := m.sessions[id]
	if s == nil {
		return 0, nfs4.ErrBadSession
	}
	var fore, back bool
	var res uint32
	switch dir {
	case nfs4.CDFCForeChan:
		fore, res = true, nfs4.CDFSForeChan
	case nfs4.CDFCBackChan:
		back, res = true, nfs4.CDFSBackChan
	case nfs4.CDFCForeOrBoth, nfs4.CDFCBackOrBoth:
		fore, back, res = true, true, nfs4.CDFSBoth
	default:
		return 0, nfs4.ErrInval
	}
	// A binding replaces the connection's previous directions.
	s.foreConns = removeConn(s.foreConns, conn)
	s.backConns = removeConn(s.backConns, conn)
	if fore {
		s.foreConns = append(s.foreConns, conn)
	}
	if back {
		s.backConns = append(s.backConns, conn)
	}
	s.client.lastRenew = m.now()
	return res, nil
}

// BackchannelCtl implements BACKCHANNEL_CTL (RFC 8881 §18.33).
func (m *Manager) BackchannelCtl(id SessionID, program uint32, sec any) error {
	m.lock()
	defer m.unlock()
	s := m.sessions[id]
	if s == nil {
		return nfs4.ErrBadSession
	}
	s.cbProgram, s.cbSec = program, sec
	return nil
}

// BackChannel describes a connection usable for callbacks.
type BackChannel struct {
	SessionID SessionID
	Conn      any
	Program   uint32
	Sec       any
	Attrs     ChannelAttrs
}

// FindBackChannel returns a back-channel connection of the client (the most
// recently bound one of any session), for a callback issuer.
func (m *Manager) FindBackChannel(clientID uint64) (BackChannel, bool) {
	m.lock()
	defer m.unlock()
	c := m.confByID[clientID]
	if c == nil {
		return BackChannel{}, false
	}
	for _, s := range c.sessions {
		if n := len(s.backConns); n > 0 {
			return BackChannel{SessionID: s.id, Conn: s.backConns[n-1], Program: s.cbProgram,
				Sec: s.cbSec, Attrs: s.back}, true
		}
	}
	return BackChannel{}, false
}

// ConnClosed unbinds a connection from every session (RFC 8881 §2.10.3.1:
// a session survives losing its connections).
func (m *Manager) ConnClosed(conn any) {
	m.lock()
	defer m.unlock()
	for _, s := range m.sessions {
		s.foreConns = removeConn(s.foreConns, conn)
		s.backConns = removeConn(s.backConns, conn)
	}
}

// ConnBound reports whether conn is bound to session id, in either
// direction (DESTROY_SESSION outside the session needs that, RFC 8881
// §18.37.3).
func (m *Manager) ConnBound(id SessionID, conn any) bool {
	m.lock()
	defer m.unlock()
	s := m.sessions[id]
	return s != nil && (hasConn(s.foreConns, conn) || hasConn(s.backConns, conn))
}
