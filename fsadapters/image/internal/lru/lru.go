// Package lru is the bounded cache the image readers share: a
// least-recently-used map bounded by the summed cost of its values (bytes,
// or whatever unit the caller gives), and optionally by the number of
// values. It is safe for concurrent use.
package lru

import (
	"container/list"
	"sync"
)

// Cache maps K to V, evicting the least recently used values beyond its
// bounds.
type Cache[K comparable, V any] struct {
	mu       sync.Mutex
	maxCost  int64
	maxItems int // 0: no bound on the count
	used     int64
	ll       *list.List
	items    map[K]*list.Element
}

type entry[K comparable, V any] struct {
	k    K
	v    V
	cost int64
}

// New returns a cache bounded by maxCost (and by maxItems values when
// maxItems > 0).
func New[K comparable, V any](maxCost int64, maxItems int) *Cache[K, V] {
	return &Cache[K, V]{maxCost: maxCost, maxItems: maxItems, ll: list.New(), items: map[K]*list.Element{}}
}

// Get returns the value for k and marks it used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*entry[K, V]).v, true
	}
	var zero V
	return zero, false
}

// Put stores v under k at the given cost (at least 1, so that free values
// still count). A value costing more than the whole budget is not kept: it
// would evict everything else, and the caller holds its own copy.
func (c *Cache[K, V]) Put(k K, v V, cost int64) {
	cost = max(cost, 1)
	if cost > c.maxCost {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		ent := e.Value.(*entry[K, V])
		c.used += cost - ent.cost
		ent.v, ent.cost = v, cost
		c.ll.MoveToFront(e)
	} else {
		c.items[k] = c.ll.PushFront(&entry[K, V]{k: k, v: v, cost: cost})
		c.used += cost
	}
	for c.used > c.maxCost || (c.maxItems > 0 && c.ll.Len() > c.maxItems) {
		e := c.ll.Back()
		ent := e.Value.(*entry[K, V])
		c.ll.Remove(e)
		delete(c.items, ent.k)
		c.used -= ent.cost
	}
}

// Reset empties the cache.
func (c *Cache[K, V]) Reset() {
	c.mu.Lock()
	c.ll.Init()
	clear(c.items)
	c.used = 0
	c.mu.Unlock()
}

// Len is the number of values held.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// Used is the summed cost of the values held.
func (c *Cache[K, V]) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// MaxCost is the bound New was given.
func (c *Cache[K, V]) MaxCost() int64 { return c.maxCost }
