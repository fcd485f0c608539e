package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func statusFile(fsuid, fsgid uint32, groups string) []byte {
	return fmt.Appendf(nil, "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t42\n"+
		"Uid:\t1000\t1000\t1000\t%d\nGid:\t100\t100\t100\t%d\nFDSize:\t64\nGroups:\t%s\nNStgid:\t42\n",
		fsuid, fsgid, groups)
}

func TestParseStatusGroups(t *testing.T) {
	// The primary gid is left out; the rest in order.
	if got := parseStatusGroups(statusFile(1000, 100, "100 20 30 "), 1000, 100); !slices.Equal(got, []uint32{20, 30}) {
		t.Errorf("groups: %v", got)
	}
	// No groups at all.
	if got := parseStatusGroups(statusFile(1000, 100, ""), 1000, 100); len(got) != 0 {
		t.Errorf("empty Groups: %v", got)
	}
	// The process acts as someone else now (or the pid was reused).
	if got := parseStatusGroups(statusFile(1001, 100, "20"), 1000, 100); got != nil {
		t.Errorf("fsuid mismatch: %v", got)
	}
	if got := parseStatusGroups(statusFile(1000, 101, "20"), 1000, 100); got != nil {
		t.Errorf("fsgid mismatch: %v", got)
	}
	// At most 16 (AUTH_SYS gids<16>).
	var many []string
	for i := range 40 {
		many = append(many, fmt.Sprint(2000+i))
	}
	got := parseStatusGroups(statusFile(1000, 100, strings.Join(many, " ")), 1000, 100)
	if len(got) != MaxAuthSysGroups || got[0] != 2000 || got[15] != 2015 {
		t.Errorf("40 groups: %v", got)
	}
	// Garbage is no groups, not a panic.
	for _, bad := range []string{"", "Uid: x\n", "Uid:\t1\t2\nGid:\t1\t2\t3\t4\n", "Groups:\tabc\n"} {
		if got := parseStatusGroups([]byte(bad), 1, 4); got != nil {
			t.Errorf("%q: %v", bad, got)
		}
	}
	if got := parseStatusGroups(statusFile(1000, 100, "20 x"), 1000, 100); got != nil {
		t.Errorf("bad group number: %v", got)
	}
}

func TestGroupCache(t *testing.T) {
	proc := t.TempDir()
	write := func(pid int, groups string) {
		d := filepath.Join(proc, fmt.Sprint(pid))
		os.MkdirAll(d, 0o755)
		if err := os.WriteFile(filepath.Join(d, "status"), statusFile(1000, 100, groups), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Unix(1000, 0)
	g := &groupCache{ttl: time.Second, max: 3, proc: proc, now: func() time.Time { return now }}
	write(7, "20 30")
	if got := g.get(7, 1000, 100); !slices.Equal(got, []uint32{20, 30}) {
		t.Fatalf("first read: %v", got)
	}
	// Within the TTL the cached answer stands, after it /proc is read again.
	write(7, "40")
	if got := g.get(7, 1000, 100); !slices.Equal(got, []uint32{20, 30}) {
		t.Fatalf("cached: %v", got)
	}
	now = now.Add(1500 * time.Millisecond)
	if got := g.get(7, 1000, 100); !slices.Equal(got, []uint32{40}) {
		t.Fatalf("after TTL: %v", got)
	}
	// Another uid for the same pid is another key (and does not match
	// the status file: no groups).
	if got := g.get(7, 1001, 100); got != nil {
		t.Fatalf("other uid: %v", got)
	}
	// A process that is gone, and pid 0, have no groups.
	if got := g.get(99, 1000, 100); got != nil {
		t.Fatalf("gone: %v", got)
	}
	if got := g.get(0, 1000, 100); got != nil {
		t.Fatalf("pid 0: %v", got)
	}
	// The table stays bounded.
	for pid := 100; pid < 120; pid++ {
		write(pid, "5")
		g.get(uint32(pid), 1000, 100)
		if len(g.m) > g.max {
			t.Fatalf("cache grew to %d entries (max %d)", len(g.m), g.max)
		}
	}
}

// The real /proc: this process's own groups come back.
func TestGroupCacheSelf(t *testing.T) {
	want, err := os.Getgroups()
	if err != nil {
		t.Skip(err)
	}
	g := &groupCache{ttl: time.Second, max: 10, proc: "/proc", now: time.Now}
	got := g.get(uint32(os.Getpid()), uint32(os.Geteuid()), uint32(os.Getegid()))
	want = slices.DeleteFunc(want, func(x int) bool { return x == os.Getegid() })
	if len(got) != min(len(want), MaxAuthSysGroups) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if int(got[i]) != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// Concurrent FUSE requests share the cache (run with -race).
func TestGroupCacheConcurrent(t *testing.T) {
	g := &groupCache{ttl: time.Millisecond, max: 8, proc: "/proc", now: time.Now}
	pid, uid, gid := uint32(os.Getpid()), uint32(os.Geteuid()), uint32(os.Getegid())
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				g.get(pid+uint32(w*1000+i%20), uid, gid)
				g.get(pid, uid, gid)
			}
		}()
	}
	for range 4 {
		<-done
	}
	if len(g.m) > g.max {
		t.Fatalf("%d entries, max %d", len(g.m), g.max)
	}
}
