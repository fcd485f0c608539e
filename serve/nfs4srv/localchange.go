package nfs4srv

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Recalls for changes made by local processes on the server host.
//
// A delegation promises its holder that nobody else changes the file (and,
// for a write delegation, that nobody else even reads it) without a recall
// first (RFC 8881 §10.4, RFC 7530 §10.4). Requests of other NFS clients are
// checked by serve/state; a process on the server host changing a file of a
// backend such as fsadapters/dir bypasses the server entirely. Backends
// that can report such changes implement fsadapters.ChangeWatcher: before
// a delegation is granted on a file of such a backend, the server watches
// the file, and a reported change recalls the file's delegations exactly
// as a conflicting request of another client does (BreakDelegations:
// CB_RECALL now, revocation a lease later if not returned). A modification
// recalls every delegation, an open or read only write delegations.
//
// The watch is placed before the grant, so no change between the grant and
// the watch can be missed, and it is dropped once the file has no
// delegation left: at DELEGRETURN, at the next lease sweep after a
// revocation or a client's expiry, or at the next event.
//
// A backend that implements ChangeWatcher but cannot watch at all
// (fsadapters.ErrWatchUnavailable: no fanotify, no CAP_SYS_ADMIN) gets no
// delegations: handing out caches the server cannot keep coherent would
// let clients read stale data for as long as they hold them. This is
// logged once per export. Backends without ChangeWatcher (mem, images)
// have no writer but fs_serv and are delegated as before.
//
// The recall is asynchronous: the local process is not blocked, so a
// holder may serve stale data from its cache until the CB_RECALL arrives
// (normally a few milliseconds).
//
// Each watched file costs the backend a descriptor (fsadapters/dir pins
// the inode with an O_PATH fd) and a kernel mark, and clients keep
// delegations as long as nobody conflicts: one client unpacking a large
// tree would hold one per file and run the server out of descriptors. So
// the watched files are bounded (Config.MaxDelegatedFiles, by default
// fsadapters.FDQuarter); at the bound a new file gets no delegation (WND4_
// RESOURCE for 4.1 clients) and the least recently granted delegations
// are recalled to make room, as the Linux server and client bound theirs.

// localWatches are one Server's watches, by wire file handle (the state
// FHKey).
type localWatches struct {
	mu       sync.Mutex
	closed   bool
	m        map[string]*localWatch
	noWatch  map[int]bool // export ids whose backend cannot watch (logged)
	recalled time.Time    // last recallOldestLocked
}

type localWatch struct {
	cancel  func()
	write   bool      // also reports opens and reads (write delegations)
	pending int       // grants in progress relying on this watch
	used    time.Time // last grant relying on it
}

// recallInterval spaces the recalls made to stay under the bound.
const recallInterval = time.Second

// local returns s's watches: created on demand, nil once s is closed.
func (s *Server) local(create bool) *localWatches {
	s.localMu.Lock()
	defer s.localMu.Unlock()
	lw := s.localW
	if lw == nil && create {
		select {
		case <-s.stop:
			return nil
		default:
		}
		lw = &localWatches{m: map[string]*localWatch{}, noWatch: map[int]bool{}}
		s.localW = lw
	}
	return lw
}

// holdLocalWatch makes sure file h of export ex (wire handle fhKey) is
// watched for local changes before a delegation on it is granted: with
// write, also for local opens and reads. ok=false: the file must not be
// delegated. release must be called once the grant was decided.
func (s *Server) holdLocalWatch(fs fsadapters.FS, ex int, h fsadapters.FileHandle, fhKey string, write bool) (release func(), ok bool) {
	cw, isWatcher := fs.(fsadapters.ChangeWatcher)
	if !isWatcher {
		return func() {}, true
	}
	lw := s.local(true)
	if lw == nil {
		return nil, false
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.closed || lw.noWatch[ex] {
		return nil, false
	}
	w := lw.m[fhKey]
	if w == nil && len(lw.m) >= s.maxWatches {
		s.recallOldestLocked(lw)
		return nil, false
	}
	if w == nil || (write && !w.write) {
		cancel, err := cw.Watch(h, write, func(ch fsadapters.Change) { s.localChange(fhKey, ch) })
		if err != nil {
			if errors.Is(err, fsadapters.ErrWatchUnavailable) {
				lw.noWatch[ex] = true
				s.log.Warn("no delegations on this export: changes by local processes cannot be watched",
					"export", s.exportPath(ex), "err", err)
			} else {
				s.log.Debug("no delegation: cannot watch the file", "err", err)
			}
			return nil, false
		}
		if w == nil {
			w = &localWatch{}
			lw.m[fhKey] = w
		} else {
			w.cancel() // the new watch covers what it did
		}
		w.cancel, w.write = cancel, write
	}
	w.pending++
	w.used = time.Now()
	return func() {
		lw.mu.Lock()
		defer lw.mu.Unlock()
		w.pending--
		s.dropIdleLocked(lw, fhKey, w)
	}, true
}

// recallOldestLocked recalls the delegations of the least recently
// granted sixteenth of the watched files, at most once per recallInterval
// (lw.mu held; the recalls run on their own goroutine, since they take the
// state lock).
func (s *Server) recallOldestLocked(lw *localWatches) {
	now := time.Now()
	if now.Sub(lw.recalled) < recallInterval {
		return
	}
	lw.recalled = now
	type aged struct {
		key  string
		used time.Time
	}
	all := make([]aged, 0, len(lw.m))
	for k, w := range lw.m {
		if w.pending == 0 {
			all = append(all, aged{k, w.used})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return a.used.Compare(b.used) })
	n := min(len(all), max(1, len(lw.m)/16))
	keys := make([]string, n)
	for i := range n {
		keys[i] = all[i].key
	}
	s.log.Info("too many delegated files: recalling the oldest", "watched", len(lw.m), "recalling", n)
	go func() {
		for _, k := range keys {
			s.state.BreakDelegations(k, 0, true)
		}
	}()
}

// dropIdleLocked cancels the watch of fhKey when no delegation needs it.
func (s *Server) dropIdleLocked(lw *localWatches, fhKey string, w *localWatch) {
	if w.pending > 0 || lw.m[fhKey] != w || s.state.FileDelegated(fhKey) {
		return
	}
	delete(lw.m, fhKey)
	w.cancel()
}

// localChange is the watch callback: a local process changed (or, for
// ChangeAccess, opened or read) the file. It recalls the delegations the
// change conflicts with, as another client's request would.
func (s *Server) localChange(fhKey string, ch fsadapters.Change) {
	if s.state.BreakDelegations(fhKey, 0, ch == fsadapters.ChangeModify) != nil {
		s.log.Debug("file changed on the server host: delegations recalled", "change", ch.String())
		return
	}
	s.dropIdleWatch(fhKey)
}

// dropIdleWatch cancels the watch of fhKey if no delegation needs it
// (after a DELEGRETURN).
func (s *Server) dropIdleWatch(fhKey string) {
	lw := s.local(false)
	if lw == nil {
		return
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if w := lw.m[fhKey]; w != nil {
		s.dropIdleLocked(lw, fhKey, w)
	}
}

// sweepLocalWatches drops the watches of files whose delegations ended
// without a DELEGRETURN (revocation, client expiry); the lease reaper
// calls it.
func (s *Server) sweepLocalWatches() {
	lw := s.local(false)
	if lw == nil {
		return
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for key, w := range lw.m {
		s.dropIdleLocked(lw, key, w)
	}
}

// closeLocalWatches ends all watches (Server.Close).
func (s *Server) closeLocalWatches() {
	s.localMu.Lock()
	lw := s.localW
	s.localW = nil
	s.localMu.Unlock()
	if lw == nil {
		return
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.closed = true
	for key, w := range lw.m {
		delete(lw.m, key)
		w.cancel()
	}
}

// localWatchCount is the number of files watched (tests).
func (s *Server) localWatchCount() int {
	lw := s.local(false)
	if lw == nil {
		return 0
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return len(lw.m)
}

// exportPath names export ex for logs.
func (s *Server) exportPath(ex int) string {
	if e := s.exportByID(ex); e != nil {
		return e.path
	}
	return "?"
}
