package dir

import (
	"testing"

	"golang.org/x/sys/unix"
)

func fdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

func TestFdCacheEvictWhileInUse(t *testing.T) {
	c := newFdCache(1)
	a, _ := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	b, _ := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	ea := c.add("a", a) // held
	eb := c.add("b", b) // evicts a, which is still referenced
	if c.get("a") != nil || c.len() != 1 {
		t.Fatalf("a still cached")
	}
	if !fdOpen(a) {
		t.Fatalf("evicted fd closed while still in use")
	}
	c.release(ea)
	if fdOpen(a) {
		t.Errorf("evicted fd not closed by its last release")
	}
	c.release(eb)
	if !fdOpen(b) {
		t.Errorf("cached, unreferenced fd closed")
	}
	// A concurrent miss adding the same key keeps one fd.
	b2, _ := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if e := c.add("b", b2); e.fd != b || fdOpen(b2) {
		t.Errorf("duplicate add: got fd %d (want %d), duplicate open=%v", e.fd, b, fdOpen(b2))
	} else {
		c.release(e)
	}
	c.closeAll()
	if fdOpen(b) {
		t.Errorf("closeAll left fd open")
	}
}
