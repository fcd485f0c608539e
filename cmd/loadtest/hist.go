package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// hist is a log-linear latency histogram in the manner of HDR histograms:
// values below 2^subBits ns are exact; above, each power of two is split
// into 2^(subBits-1) equal buckets, so a reported percentile is within
// 1/64 (1.6 %) of the true value. Record is lock-free, so all clients share
// one histogram per op.
type hist struct {
	counts [nBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const (
	subBits  = 7
	subCount = 1 << subBits // exact values below this
	half     = subCount / 2
	nBuckets = subCount + (64-subBits)*half
)

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits // ≥ 1
	m := v >> e                  // in [half, subCount)
	return subCount + (e-1)*half + int(m-half)
}

// bucketTop is the largest value that falls in bucket i.
func bucketTop(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	e := (i-subCount)/half + 1
	m := uint64((i-subCount)%half + half)
	return (m+1)<<e - 1
}

func (h *hist) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

func (h *hist) Count() uint64      { return h.n.Load() }
func (h *hist) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the latency at or below which a fraction q of the
// samples lie (the top of the bucket holding that rank, capped at the
// maximum seen). 0 without samples.
func (h *hist) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(time.Duration(bucketTop(i)), h.Max())
		}
	}
	return h.Max()
}
