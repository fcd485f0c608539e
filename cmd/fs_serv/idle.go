package main

import (
	"runtime/debug"
	"time"
)

// idleRelease returns free heap memory to the OS once the server has gone
// quiet after a busy spell. Go's scavenger paces itself by GC cycles, which
// an idle process hardly runs, so after a load peak (I/O buffers of many
// clients) the RSS would otherwise stay near the peak for many minutes.
// Two debug.FreeOSMemory (a GC plus a full scavenge each) per quiet spell
// cost a few milliseconds of CPU.
type idleRelease struct {
	calls func() uint64 // RPC calls served so far
	free  func()        // debug.FreeOSMemory

	last uint64
	busy bool // calls came in since the last release
}

// tick is called periodically: a period without calls that follows one
// with calls releases memory.
func (r *idleRelease) tick() {
	n := r.calls()
	switch {
	case n != r.last:
		r.busy = true
	case r.busy:
		r.free()
		r.busy = false
	}
	r.last = n
}

// run ticks every period until stop is closed.
func (r *idleRelease) run(period time.Duration, stop <-chan struct{}) {
	if r.free == nil {
		r.free = func() {
			// Twice: a sync.Pool keeps what it held for one more GC
			// cycle (its victim cache), and the RPC layer pools
			// record buffers of up to a MiB.
			debug.FreeOSMemory()
			debug.FreeOSMemory()
		}
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.tick()
		case <-stop:
			return
		}
	}
}
