package nfs4srv

import "sync"

// syncGroup gathers concurrent COMMITs of one file into as few fsyncs as
// possible (the seed's "concurrent COMMITs gathered into one fsync"). A
// COMMIT arriving while an fsync runs cannot ride on it — its writes may
// have landed after that fsync started — so it waits for the next round;
// every COMMIT arriving during one fsync shares that next round. N
// concurrent COMMITs cost at most two fsyncs instead of N.
//
// All callers of one group must pass an fn that syncs the same file; the
// queued round runs the fn of whichever caller queued it first.
type syncGroup struct {
	mu      sync.Mutex
	running bool
	next    *syncRound // round that starts when the running one ends
}

type syncRound struct {
	fn   func() error
	done chan struct{}
	err  error
}

// Sync runs fn, or joins a round that covers every write completed before
// this call, and returns that round's result.
func (g *syncGroup) Sync(fn func() error) error {
	g.mu.Lock()
	if !g.running {
		g.running = true
		g.mu.Unlock()
		err := fn()
		g.runQueued()
		return err
	}
	r := g.next
	if r == nil {
		r = &syncRound{fn: fn, done: make(chan struct{})}
		g.next = r
	}
	g.mu.Unlock()
	<-r.done
	return r.err
}

// runQueued runs queued rounds until none is left, then marks the group
// idle. It runs in the goroutine that finished the previous round.
func (g *syncGroup) runQueued() {
	for {
		g.mu.Lock()
		r := g.next
		g.next = nil
		if r == nil {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		r.err = r.fn()
		close(r.done)
	}
}

// syncGroups hands out one syncGroup per file key.
type syncGroups struct {
	mu     sync.Mutex
	groups map[string]*syncGroupRef
}

type syncGroupRef struct {
	g    syncGroup
	refs int
}

// Sync syncs the file identified by key through its group.
func (s *syncGroups) Sync(key string, fn func() error) error {
	s.mu.Lock()
	if s.groups == nil {
		s.groups = make(map[string]*syncGroupRef)
	}
	ref := s.groups[key]
	if ref == nil {
		ref = &syncGroupRef{}
		s.groups[key] = ref
	}
	ref.refs++
	s.mu.Unlock()

	err := ref.g.Sync(fn)

	s.mu.Lock()
	if ref.refs--; ref.refs == 0 {
		delete(s.groups, key)
	}
	s.mu.Unlock()
	return err
}
