package lru

import (
	"sync"
	"testing"
)

func TestBounds(t *testing.T) {
	c := New[int, string](10, 0)
	for i := 0; i < 5; i++ {
		c.Put(i, "x", 3)
	}
	// 5×3 = 15 > 10: only the 3 most recent fit.
	if n := c.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	if _, ok := c.Get(0); ok {
		t.Error("oldest value survived the cost bound")
	}
	if _, ok := c.Get(4); !ok {
		t.Error("newest value evicted")
	}
	c.Get(2) // 2 is now the most recent; 3 is the oldest
	c.Put(9, "y", 3)
	if _, ok := c.Get(3); ok {
		t.Error("least recently used value not the one evicted")
	}
	if _, ok := c.Get(2); !ok {
		t.Error("recently used value evicted")
	}
	c.Put(7, "big", 11)
	if _, ok := c.Get(7); ok {
		t.Error("value over the whole budget kept")
	}
	// Zero-cost values still count, so the cache stays bounded.
	z := New[int, int](4, 0)
	for i := 0; i < 100; i++ {
		z.Put(i, i, 0)
	}
	if n := z.Len(); n != 4 {
		t.Fatalf("zero-cost values: Len = %d, want 4", n)
	}
	// The item bound.
	m := New[int, int](1<<20, 2)
	m.Put(1, 1, 1)
	m.Put(2, 2, 1)
	m.Put(3, 3, 1)
	if _, ok := m.Get(1); ok || m.Len() != 2 {
		t.Fatalf("item bound not kept: Len %d", m.Len())
	}
	// Replacing a value adjusts its cost.
	r := New[string, int](10, 0)
	r.Put("a", 1, 9)
	r.Put("a", 2, 1)
	r.Put("b", 3, 9)
	if v, ok := r.Get("a"); !ok || v != 2 {
		t.Fatalf("replaced value: %v %v", v, ok)
	}
	r.Reset()
	if r.Len() != 0 {
		t.Fatal("Reset left values")
	}
}

func TestConcurrent(t *testing.T) {
	c := New[int, int](64, 0)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				c.Put(i%100, g, int64(i%5))
				c.Get(i % 100)
			}
		}(g)
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Fatalf("Len %d over the bound", c.Len())
	}
}
