package nfs4srv

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// While one fsync is slow, 50 COMMITs arrive: they must share one more
// fsync, and each must return only after an fsync that started after it.
func TestSyncGroupGathersCommits(t *testing.T) {
	var g syncGroups
	var calls atomic.Int32
	started := make(chan struct{})
	release := make(chan struct{})
	slow := func() error {
		if calls.Add(1) == 1 {
			close(started)
			<-release
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.Sync("f", slow) }()
	<-started
	var lastStart atomic.Int64
	var early atomic.Int32
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enter := time.Now().UnixNano()
			g.Sync("f", func() error {
				lastStart.Store(time.Now().UnixNano())
				return slow()
			})
			if lastStart.Load() < enter {
				early.Add(1)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them queue behind the slow fsync
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 2 {
		t.Fatalf("fsync ran %d times for 51 concurrent commits, want 2", n)
	}
	if early.Load() != 0 {
		t.Fatalf("%d commits returned on an fsync that started before them", early.Load())
	}
	if len(g.groups) != 0 {
		t.Fatalf("group map not cleaned: %d left", len(g.groups))
	}
}
