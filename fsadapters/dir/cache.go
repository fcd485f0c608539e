package dir

import (
	"container/list"
	"sync"

	"golang.org/x/sys/unix"
)

// fdCache is a bounded LRU of O_PATH fds keyed by the full handle bytes.
// Entries are reference counted: an evicted entry is closed only when the
// last user releases it, so a descriptor number is never closed (and
// possibly reused by the kernel) while a syscall is still using it.
type fdCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*fdEntry
	lru *list.List // front = most recently used; values are *fdEntry
}

type fdEntry struct {
	key     string
	fd      int
	refs    int // guarded by fdCache.mu
	evicted bool
	elem    *list.Element
}

func newFdCache(max int) *fdCache {
	return &fdCache{max: max, m: make(map[string]*fdEntry), lru: list.New()}
}

// get returns the entry for key with a reference taken, or nil.
func (c *fdCache) get(key string) *fdEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil {
		return nil
	}
	e.refs++
	c.lru.MoveToFront(e.elem)
	return e
}

// add inserts fd under key and returns the entry with a reference taken.
// If key is already cached (a concurrent miss), fd is closed and the existing
// entry returned. Entries beyond the bound are evicted.
func (c *fdCache) add(key string, fd int) *fdEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil {
		unix.Close(fd)
		e.refs++
		c.lru.MoveToFront(e.elem)
		return e
	}
	e := &fdEntry{key: key, fd: fd, refs: 1}
	e.elem = c.lru.PushFront(e)
	c.m[key] = e
	for c.lru.Len() > c.max {
		c.evictLocked(c.lru.Back().Value.(*fdEntry))
	}
	return e
}

func (c *fdCache) evictLocked(e *fdEntry) {
	if e.evicted {
		return
	}
	e.evicted = true
	c.lru.Remove(e.elem)
	delete(c.m, e.key)
	if e.refs == 0 {
		unix.Close(e.fd)
	}
}

// release drops a reference taken by get or add.
func (c *fdCache) release(e *fdEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.evicted {
		unix.Close(e.fd)
	}
}

// remove evicts key if cached (the object was removed or found stale).
func (c *fdCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil {
		c.evictLocked(e)
	}
}

// len reports the number of cached entries (tests).
func (c *fdCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// closeAll evicts everything.
func (c *fdCache) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		c.evictLocked(c.lru.Back().Value.(*fdEntry))
	}
}
