package nfs4srv

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/metrics"
	"github.com/fsbridge/fsbridge/serve/state"
)

// maxMinor is the highest minor version we accept. 4.2 is 4.1 plus optional
// operations (RFC 7862 §1.4); those we lack answer NFS4ERR_NOTSUPP.
const maxMinor = 2

// Default limits advertised to clients.
const (
	DefaultMaxIO     = 1 << 20 // maxread/maxwrite (1 MiB)
	DefaultLeaseTime = 90 * time.Second
	nobodyID         = 65534
)

// Config configures a Server.
type Config struct {
	FS fsadapters.FS // a single export at "/", if Exports is empty
	// Exports, if set, are the exports (exports.go); SetExports replaces
	// them while serving. New panics if they are invalid (CheckExports).
	Exports   []ExportConfig
	LeaseTime time.Duration // 0: DefaultLeaseTime
	// MaxDelegatedFiles bounds the files delegated on backends that watch
	// for local changes (each watch holds a descriptor; localchange.go).
	// 0: a quarter of the descriptor limit.
	MaxDelegatedFiles int
	MaxIO             uint32       // 0: DefaultMaxIO
	Log               *slog.Logger // nil: slog.Default()

	// NoDelegations turns off file delegations (deleg.go).
	NoDelegations bool

	// StateDir, if set, keeps client records across restarts so clients
	// can reclaim their opens and locks (RFC 8881 §8.4). If the previous
	// instance recorded clients, the server starts in a grace period of
	// GraceTime (0: the lease time; negative: none).
	StateDir  string
	GraceTime time.Duration
	// CourtesyTime, if positive, keeps the state of a client whose lease
	// expired for up to this long while no other client's request
	// conflicts with it (serve/state/courtesy.go; fs_serv uses
	// state.DefaultCourtesyTime). 0: state goes when the lease does.
	CourtesyTime time.Duration

	// Metrics, if set, counts every RPC call and operation (metrics.go).
	Metrics *metrics.NFS
}

// Server is the NFSv4 COMPOUND service: it turns decoded RPC calls into
// backend calls. Transport (serve/rpcsrv) and state (serve/state) are
// separate packages; this one is the glue and the per-op semantics.
type Server struct {
	cfg Config
	log *slog.Logger

	// table is the current export table (exports.go); retired keeps
	// exports removed by a reload for open files that outlive it.
	table     atomic.Pointer[exportTable]
	exportsMu sync.Mutex
	retired   map[int]*export

	// writeVerf changes on every start of fs_serv, so clients notice that
	// UNSTABLE data they have not COMMITted may be lost (RFC 7530 §16.36.4).
	writeVerf nfs4.Verifier
	syncs     syncGroups

	state *state.Manager
	cb    *callbacks    // client callback paths (callback.go)
	store *state.Store  // client records (Config.StateDir), or nil
	locks *lockMirror   // byte-range locks mirrored to the backend (OFD)
	stop  chan struct{} // closed by Close: stops the lease reaper

	localMu sync.Mutex
	localW  *localWatches // watches for local changes (localchange.go), created on demand
	// maxWatches bounds len(localW.m) (Config.MaxDelegatedFiles).
	maxWatches int

	dirChanging dirChanges // directory entry changes under way (dirdeleg.go)
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.LeaseTime == 0 {
		cfg.LeaseTime = DefaultLeaseTime
	}
	if cfg.MaxIO == 0 {
		cfg.MaxIO = DefaultMaxIO
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log, maxWatches: cfg.MaxDelegatedFiles}
	if s.maxWatches <= 0 {
		s.maxWatches = fsadapters.FDQuarter(64, 1<<16) // localchange.go
	}
	binary.BigEndian.PutUint64(s.writeVerf[:], uint64(time.Now().UnixNano()))
	rand.Read(s.writeVerf[4:])
	s.stop = make(chan struct{})
	s.locks = newLockMirror(s)
	scfg := state.Config{LeaseTime: cfg.LeaseTime, OnRelease: s.onRelease, Locks: s.locks, GraceTime: cfg.GraceTime,
		CourtesyTime: cfg.CourtesyTime}
	if cfg.StateDir != "" {
		st, prev, err := state.OpenStore(cfg.StateDir)
		if err != nil {
			// Serving without recovery beats not serving; fs_serv checks
			// the directory before it gets here.
			log.Error("client records disabled: clients cannot reclaim state after a restart", "err", err)
		} else {
			st.OnError = func(err error) { log.Error("writing client records", "err", err) }
			s.store, scfg.Store, scfg.PrevClients = st, st, prev
		}
	}
	s.initDelegations(&scfg)
	s.state = state.NewManager(scfg)
	if end := s.state.GraceEnd(); !end.IsZero() {
		log.Info("grace period: clients of the previous instance may reclaim their state",
			"clients", len(scfg.PrevClients), "until", end.Format(time.RFC3339))
	}
	go s.reap()
	list := cfg.Exports
	if len(list) == 0 && cfg.FS != nil {
		list = []ExportConfig{{Path: "/", FS: cfg.FS}}
	}
	if err := s.SetExports(list); err != nil {
		panic("nfs4srv: " + err.Error())
	}
	return s
}

// credOf turns an RPC credential into the identity backend calls run as,
// and a principal string that owns client state. AUTH_NONE maps to nobody.
func credOf(a *rpc.Auth) (fsadapters.Cred, string) {
	if a.Flavor != rpc.AuthSys {
		return fsadapters.Cred{UID: nobodyID, GID: nobodyID}, "none"
	}
	c := fsadapters.Cred{UID: a.Sys.UID, GID: a.Sys.GID, Groups: a.Sys.GIDs}
	return c, state.AuthSysPrincipal(a.Sys.UID, a.Sys.MachineName)
}

// Compound runs one COMPOUND call. conn identifies the transport
// connection (for 4.1 session binding and the back channel). The returned
// buffers are the XDR COMPOUND4res; release must be called once they have
// been written.
func (s *Server) Compound(ctx context.Context, auth *rpc.Auth, conn any, body []byte) (reply net.Buffers, release func()) {
	c := &compound{s: s, ctx: ctx, conn: conn}
	c.cred, c.princ = credOf(auth)
	c.setPeer(auth, conn) // export policy (exports.go)
	reply = c.run(body)
	return reply, func() {
		for _, f := range c.release {
			f()
		}
	}
}

// setStatus stores st in a result's Status field. It is used only on error
// paths (reflection keeps the op types free of a setter each).
func setStatus(res nfs4.Res, st nfs4.Status) {
	reflect.ValueOf(res).Elem().FieldByName("Status").SetUint(uint64(st))
}

// Close stops background work. Open backend files of clients are closed
// as their state is released.
func (s *Server) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		s.store.Close()
	}
}

// reap expires clients whose lease ran out (RFC 7530 §9.5, RFC 8881 §8.3),
// checking a few times per lease period.
func (s *Server) reap() {
	t := time.NewTicker(max(s.cfg.LeaseTime/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.state.Reap(now)
			s.revokeDelegations(now)
		}
	}
}

// onRelease closes the backend files of opens torn down by the state
// manager (lease expiry, client reboot, DESTROY_CLIENTID).
func (s *Server) onRelease(r state.Released) {
	if r.Reason != nfs4.ErrAdminRevoked {
		s.cb.forget(r.ClientID) // the client is gone (callback.go)
	}
	for _, h := range r.Handles {
		if of, ok := h.(*openFile); ok {
			of.close()
		}
	}
	// An expired lease is worth an operator's attention; a client that
	// destroyed its own state or rebooted is routine.
	level := slog.LevelDebug
	if r.Reason == nfs4.ErrExpired {
		level = slog.LevelInfo
	}
	s.log.Log(context.Background(), level, "client state released",
		"clientid", r.ClientID, "reason", r.Reason.Error(), "opens", len(r.Handles))
}
