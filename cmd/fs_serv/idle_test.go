package main

import "testing"

func TestIdleRelease(t *testing.T) {
	var calls uint64
	freed := 0
	r := &idleRelease{calls: func() uint64 { return calls }, free: func() { freed++ }}
	step := func(newCalls uint64, want int) {
		t.Helper()
		calls += newCalls
		r.tick()
		if freed != want {
			t.Fatalf("after a tick with %d new calls: %d releases, want %d", newCalls, freed, want)
		}
	}
	step(0, 0) // idle from the start: nothing to give back
	step(5, 0) // busy
	step(7, 0) // still busy
	step(0, 1) // quiet after busy: release
	step(0, 1) // still quiet: once per quiet spell
	step(1, 1) // busy again
	step(0, 2) // quiet again
}
