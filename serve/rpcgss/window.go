package rpcgss

// window is the per-context sequence window of RFC 2203 §5.3.3.1: the
// server remembers the highest seq_num it accepted and which of the size
// numbers below it it has seen; a number at or below highest-size, or one
// seen already, is a replay or too old and its request is dropped. Not safe
// for concurrent use (the context's mutex guards it).
type window struct {
	size    uint32
	highest uint32
	started bool
	seen    []uint64 // bit seq%size set: seq seen (for seqs in the window)
}

func newWindow(size uint32) *window {
	return &window{size: size, seen: make([]uint64, (size+63)/64)}
}

func (w *window) bit(seq uint32) (int, uint64) {
	i := seq % w.size
	return int(i / 64), 1 << (i % 64)
}

// accept records seq and reports whether it is new and inside the window.
// Callers pass seq < MaxSeq only, so the arithmetic does not wrap.
func (w *window) accept(seq uint32) bool {
	if !w.started || seq > w.highest {
		// Forget the numbers that slide out: those in (highest, seq]
		// reuse their bits (all of them if the jump is a window or more).
		if !w.started || seq-w.highest >= w.size {
			clear(w.seen)
		} else {
			for s := w.highest + 1; s != seq+1; s++ {
				i, b := w.bit(s)
				w.seen[i] &^= b
			}
		}
		w.started, w.highest = true, seq
		i, b := w.bit(seq)
		w.seen[i] |= b
		return true
	}
	if w.highest-seq >= w.size {
		return false // below the window
	}
	i, b := w.bit(seq)
	if w.seen[i]&b != 0 {
		return false // replay
	}
	w.seen[i] |= b
	return true
}
