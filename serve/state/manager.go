package state

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Clock is the time source; tests substitute a fake one.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the real wall clock.
var SystemClock Clock = systemClock{}

// Server-side limits for session channels (RFC 8881 §18.36.3: the server
// may lower any requested channel attribute).
const (
	DefaultLeaseTime       = 90 * time.Second
	DefaultMaxSlots        = 64
	DefaultMaxRequestSize  = 1<<20 + 1<<14 // one maximal WRITE plus headers
	DefaultMaxResponseSize = 1<<20 + 1<<14 // one maximal READ plus headers
	DefaultMaxRespCached   = 64 << 10      // replies larger than this are not cached
	DefaultMaxOps          = 64
	MaxBackSlots           = 16
)

// Config configures a Manager; zero fields take the defaults above.
type Config struct {
	LeaseTime             time.Duration
	Clock                 Clock
	MaxSlots              uint32
	MaxRequestSize        uint32
	MaxResponseSize       uint32
	MaxResponseSizeCached uint32
	MaxOps                uint32
	// OnRelease is called (without the Manager's lock held) whenever opens
	// are torn down other than by CLOSE: lease expiry, client restart
	// (a new verifier) or DESTROY_CLIENTID. The engine closes the backend
	// files it attached with SetOpenHandle.
	OnRelease func(Released)
	// Locks, if set, mirrors byte-range lock changes to the backend.
	Locks LockHook
	// OnRecall is called (without the Manager's lock held) with the
	// delegations a conflicting request has just put under recall; the
	// engine sends CB_RECALL for each (deleg.go).
	OnRecall func([]Recall)
	// Store, if set, persists client records (see grace.go); PrevClients
	// are the previous instance's, as OpenStore returned them. With any,
	// the Manager starts in a grace period of GraceTime (0: LeaseTime;
	// negative: none).
	Store       *Store
	PrevClients []ClientRecord
	GraceTime   time.Duration
	// CourtesyTime bounds how long an expired client's state is kept
	// while nothing conflicts with it (courtesy.go); 0: no courtesy,
	// clients expire at the end of their lease.
	CourtesyTime time.Duration
}

// Released lists what was torn down for one client.
type Released struct {
	ClientID uint64
	Reason   nfs4.Status // ErrExpired (lease), ErrStaleClientID (client restart/destroy)
	Handles  []any       // Open handles (SetOpenHandle), never nil entries
}

// Manager holds all NFSv4 state of one server instance ("boot"). One mutex
// protects everything; no method blocks on I/O (hooks excepted, see LockHook).
type Manager struct {
	mu  sync.Mutex
	cfg Config

	epoch    uint32        // boot epoch: high half of client IDs, first 4 bytes of stateid "other"
	bootTime time.Time     //
	bootVerf nfs4.Verifier // WRITE/COMMIT verifier (RFC 7530 §16.36.4)
	rnd      [8]byte       // session id randomness

	nextClient  uint32
	nextState   uint64
	nextSession uint64
	nextVerf    uint64

	confByName   map[string]*Client // confirmed records by co_ownerid / nfs_client_id4.id
	unconfByName map[string]*Client // unconfirmed records by owner id
	confByID     map[uint64]*Client
	unconfByID   map[uint64]*Client

	sessions map[SessionID]*Session
	states   map[[nfs4.OtherSize]byte]*stateRec
	owners   map[ownerKey]*Owner
	retired  map[[nfs4.OtherSize]byte]*Owner // dropped 4.0 stateids → owner, see StateOwner
	files    map[string]*file

	// Stateids and client IDs of clients whose state was torn down (lease
	// expiry, client restart): later use gets NFS4ERR_EXPIRED rather than
	// BAD_STATEID / STALE_CLIENTID (RFC 7530 §9.6.3, pynfs CLOSE8,
	// LKU10, RENEW3, CID1). Bounded: cleared when it grows too big.
	expiredStates  map[[nfs4.OtherSize]byte]struct{}
	expiredClients map[uint64]struct{}

	pending    []Released   // collected under mu, delivered by unlock()
	recalls    []Recall     // likewise, for Config.OnRecall (deleg.go)
	ndelegs    atomic.Int64 // live delegations (deleg.go countDeleg)
	ndirdelegs atomic.Int64 // of which directory delegations

	rec recovery // restart recovery: grace period, persisted client records
}

var lastEpoch atomic.Uint32

// newEpoch returns the boot epoch of a new instance: the time in seconds
// since the Unix epoch, but above min (the last epoch of this state
// directory, so a server restarted within the same second does not hand
// out its predecessor's client IDs and stateids again: a client would then
// find its old client ID valid but naming another client), and strictly
// increasing within the process so that two Managers (tests, restarts in
// one process) never share an epoch.
func newEpoch(now time.Time, min uint32) uint32 {
	e := max(uint32(now.Unix()), min+1)
	for {
		last := lastEpoch.Load()
		if e <= last {
			e = last + 1
		}
		if lastEpoch.CompareAndSwap(last, e) {
			return e
		}
	}
}

// NewManager starts a new server instance.
func NewManager(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	if cfg.LeaseTime <= 0 {
		cfg.LeaseTime = DefaultLeaseTime
	}
	def := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MaxSlots, DefaultMaxSlots)
	def(&cfg.MaxRequestSize, DefaultMaxRequestSize)
	def(&cfg.MaxResponseSize, DefaultMaxResponseSize)
	def(&cfg.MaxResponseSizeCached, DefaultMaxRespCached)
	def(&cfg.MaxOps, DefaultMaxOps)
	now := cfg.Clock.Now()
	m := &Manager{
		cfg:          cfg,
		epoch:        newEpoch(now, cfg.Store.lastEpoch()),
		bootTime:     now,
		confByName:   map[string]*Client{},
		unconfByName: map[string]*Client{},
		confByID:     map[uint64]*Client{},
		unconfByID:   map[uint64]*Client{},
		sessions:     map[SessionID]*Session{},
		states:       map[[nfs4.OtherSize]byte]*stateRec{},
		owners:       map[ownerKey]*Owner{},
		retired:      map[[nfs4.OtherSize]byte]*Owner{},
		files:        map[string]*file{},

		expiredStates:  map[[nfs4.OtherSize]byte]struct{}{},
		expiredClients: map[uint64]struct{}{},
	}
	_, _ = rand.Read(m.rnd[:])
	if cfg.Store != nil {
		if err := cfg.Store.saveEpoch(m.epoch); err != nil && cfg.Store.OnError != nil {
			cfg.Store.OnError(err)
		}
	}
	m.initRecovery(now)
	binary.BigEndian.PutUint32(m.bootVerf[:4], m.epoch)
	copy(m.bootVerf[4:], m.rnd[:4])
	return m
}

// BootVerifier is the write verifier for this boot: it changes on every
// restart so clients resend unstable writes (RFC 7530 §16.36.4).
func (m *Manager) BootVerifier() nfs4.Verifier { return m.bootVerf }

// BootTime is when this Manager was created.
func (m *Manager) BootTime() time.Time { return m.bootTime }

// LeaseTime is the lease period advertised in the lease_time attribute.
func (m *Manager) LeaseTime() time.Duration { return m.cfg.LeaseTime }

// lock/unlock: unlock delivers teardown notifications collected while locked
// so hooks never run under mu.
func (m *Manager) lock() { m.mu.Lock() }

func (m *Manager) unlock() {
	p, rc := m.pending, m.recalls
	m.pending, m.recalls = nil, nil
	gen, recs, save := m.persistSnapshot()
	m.mu.Unlock()
	if save {
		m.persist(gen, recs)
	}
	if m.cfg.OnRelease != nil {
		for _, r := range p {
			m.cfg.OnRelease(r)
		}
	}
	if m.cfg.OnRecall != nil && len(rc) > 0 {
		m.cfg.OnRecall(rc)
	}
}

func (m *Manager) now() time.Time { return m.cfg.Clock.Now() }

// newVerifier returns a fresh SETCLIENTID confirm verifier.
func (m *Manager) newVerifier() nfs4.Verifier {
	m.nextVerf++
	var v nfs4.Verifier
	binary.BigEndian.PutUint64(v[:], m.nextVerf^binary.BigEndian.Uint64(m.rnd[:]))
	return v
}

// AuthSysPrincipal is the principal string used for AUTH_SYS callers: the
// uid plus the machine name from authsys_parms (RFC 5531 App. A).
func AuthSysPrincipal(uid uint32, machine string) string {
	return "sys:" + strconv.FormatUint(uint64(uid), 10) + "@" + machine
}
