package rpcsrv

import (
	"context"
	"sync"
	"time"
)

// fairSem is the server's MaxInFlightTotal handler slots, handed out
// round-robin over the connections that wait for one. With a plain FIFO a
// client that pipelines MaxInFlight calls on each of many connections would
// queue thousands of calls ahead of a newcomer's one; here the newcomer
// waits for at most one call per waiting connection. Waiters per
// connection are bounded by its MaxInFlight.
type fairSem struct {
	mu      sync.Mutex
	free    int
	ring    []*fairQueue // connections with waiters, in service order
	running int
}

// fairQueue is one connection's waiters, oldest first.
type fairQueue struct {
	waiters []chan struct{}
	inRing  bool
}

func newFairSem(n int) *fairSem { return &fairSem{free: n} }

// tryAcquire takes a slot if one is free and nobody waits.
func (s *fairSem) tryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.free > 0 && len(s.ring) == 0 {
		s.free--
		s.running++
		return true
	}
	return false
}

// acquire takes a slot for q's connection, waiting until one is handed to
// it or ctx ends (false).
func (s *fairSem) acquire(ctx context.Context, q *fairQueue) bool {
	return s.acquireWithin(ctx, q, nil) == acquired
}

type acquireResult int

const (
	acquired acquireResult = iota
	cancelled
	timedOut
)

// acquireWithin is acquire that also gives up when timeout (if not nil)
// fires.
func (s *fairSem) acquireWithin(ctx context.Context, q *fairQueue, timeout <-chan time.Time) acquireResult {
	if s.tryAcquire() {
		return acquired
	}
	s.mu.Lock()
	ch := make(chan struct{})
	q.waiters = append(q.waiters, ch)
	if !q.inRing {
		q.inRing = true
		s.ring = append(s.ring, q)
	}
	s.dispatch()
	s.mu.Unlock()
	res := cancelled
	select {
	case <-ch:
		return acquired
	case <-ctx.Done():
	case <-timeout:
		res = timedOut
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range q.waiters {
		if w == ch {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return res
		}
	}
	// Handed a slot as we gave up: give it back.
	s.running--
	s.free++
	s.dispatch()
	return res
}

// release returns a slot.
func (s *fairSem) release() {
	s.mu.Lock()
	s.running--
	s.free++
	s.dispatch()
	s.mu.Unlock()
}

// dispatch hands free slots to the waiting connections in turn: the first
// waiter of the connection at the head of the ring, which then moves to
// the back if it has more.
func (s *fairSem) dispatch() {
	for s.free > 0 && len(s.ring) > 0 {
		q := s.ring[0]
		s.ring = s.ring[1:]
		if len(q.waiters) == 0 {
			q.inRing = false
			continue
		}
		ch := q.waiters[0]
		q.waiters = q.waiters[1:]
		s.free--
		s.running++
		close(ch)
		if len(q.waiters) > 0 {
			s.ring = append(s.ring, q)
		} else {
			q.inRing = false
		}
	}
}

func (s *fairSem) load() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}
