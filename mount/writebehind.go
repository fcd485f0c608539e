package mount

import (
	"bytes"
	"context"
	"log"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Write-behind: a FUSE WRITE is acknowledged to the kernel once its data
// is copied, and the NFS WRITE goes out in the background, several at a
// time. This is what the Linux NFS client's page cache does (dirty pages
// written back asynchronously, waited for at close), and it turns a file
// written in small pieces (tar's 10 KiB records, a 1 MiB dd) from one
// round trip per write(2) into writes that overlap each other.
//
// What the program can observe stays what it was with synchronous writes:
//   - the node's writes in flight are waited for by everything that
//     reads or depends on the file's data or size on the server: READ
//     (overlapping writes only), GETATTR, SETATTR (a truncate or a
//     utimens must come after the data), close (FLUSH: close-to-open
//     consistency, RFC 7530 §10.3.1), fsync and COMMIT, RELEASE, byte-range
//     locks (data written under a lock reaches the server before the lock
//     is released), SEEK, COPY, fallocate, open with O_TRUNC, and the
//     delegation recall before DELEGRETURN;
//   - two writes that overlap are never in flight together, so the server
//     applies them in the order the program made them;
//   - an error of a background write is returned by every later write(2)
//     and close(2) of that open file until an fsync(2) has returned it
//     (a close, also the implicit one of a child's exec, does not use it
//     up: fsync must still report the loss, as Linux reports writeback
//     errors), and the kernel's cached pages and attributes of the file
//     are dropped, so nothing shows data the server does not have;
//   - attributes that reach the kernel by another path (LOOKUP, READDIR
//     with attributes, a lookahead listing) while a write of the object is
//     in flight, or that the server produced before such a write landed,
//     are not trusted: the writes are waited for and GETATTR asked
//     (newChild, Node.freshAttrs, touchedFHs.written).
//
// Small writes that continue each other are gathered: a write(2) that
// starts where the open's previous one ended joins it, and the pieces go
// out as one WRITE when they reach the WRITE size, when anything waits
// for them (all of the above, and a write that does not continue them),
// or gatherDelay after the first piece. tar's 10 KiB records then cost
// one WRITE per file, and an 8 KiB dd one per megabyte, as the Linux NFS
// client's page cache coalesces dirty pages.
//
// O_SYNC/O_DSYNC and O_DIRECT opens write synchronously, as does
// -o nowritebehind. Memory is bounded per file (maxBehindFileBytes,
// maxBehindFileWrites) and per mount (maxBehindBytes): past them a
// write(2) waits for earlier ones to be answered.

const (
	maxBehindFileBytes  = 8 << 20
	maxBehindFileWrites = 64
	maxBehindBytes      = 32 << 20
	// gatherDelay bounds how long gathered pieces wait for more when
	// nothing waits for them.
	gatherDelay = 10 * time.Millisecond
)

// nodeWrites are a node's WRITEs acknowledged to the kernel and not yet
// answered by the server.
type nodeWrites struct {
	mu    sync.Mutex
	cond  sync.Cond // L is &mu (set by lock)
	next  uint64    // sequence number of the next write started
	ws    []behindWrite
	bytes int
	g     *gathering // pieces not sent yet: the last of ws
}

// gathering is a run of contiguous writes of one open, acknowledged and
// not sent yet; its entry in nodeWrites.ws covers them all.
type gathering struct {
	h     *fileHandle
	ctx   context.Context
	seq   uint64
	off   uint64
	parts [][]byte
	size  int
	timer *time.Timer
	// set are attribute changes acknowledged to the kernel that go out
	// after the data, in its COMPOUND (setattrbehind.go), or nil; setSeq
	// is their entry in nodeWrites.ws.
	set    *nfs4.Attrs
	setSeq uint64
	pred   *nfs4.Attrs // the file's attributes once set is applied
}

func (g *gathering) end() uint64 { return g.off + uint64(g.size) }

type behindWrite struct {
	seq, off, end uint64
	attrs         bool // a deferred SETATTR (no data): later writes wait for it
}

func (w *nodeWrites) lock() {
	w.mu.Lock()
	if w.cond.L == nil {
		w.cond.L = &w.mu
	}
}

// overlapsLocked reports whether a write started before seq and covering
// part of [off, end) is in flight.
func (w *nodeWrites) overlapsLocked(off, end, seq uint64) bool {
	for _, x := range w.ws {
		if x.seq < seq && x.off < end && off < x.end {
			return true
		}
	}
	return false
}

// start registers the acknowledged write cp at off of the open h and
// sees that it is sent: joined to the gathering it continues, gathered
// itself if smaller than gatherMax, or sent now. A write that neither
// continues nor is gathered first waits until no write in flight overlaps
// it and the file's bounds allow one more.
func (w *nodeWrites) start(h *fileHandle, ctx context.Context, off uint64, cp []byte, gatherMax int) {
	fsys := h.n.fsys
	size := len(cp)
	end := off + uint64(size)
	w.lock()
	if g := w.g; g != nil && g.set == nil && g.h == h && g.end() == off && g.size+size <= gatherMax &&
		w.bytes+size <= maxBehindFileBytes && w.ws[len(w.ws)-1].seq == g.seq {
		g.parts = append(g.parts, cp)
		g.size += size
		w.ws[len(w.ws)-1].end = end
		w.bytes += size
		full := g.size >= gatherMax
		if full {
			w.g = nil
			g.timer.Stop()
		}
		w.mu.Unlock()
		fsys.touched.touch(h.n.fh, fsys.lookaheadTTL())
		if full {
			go g.send()
		}
		return
	}
	for {
		w.kickLocked() // whatever this write waits for goes out
		if !w.overlapsLocked(off, end, w.next) && !w.attrsPendingLocked() && len(w.ws) < maxBehindFileWrites &&
			(w.bytes == 0 || w.bytes+size <= maxBehindFileBytes) {
			break
		}
		w.cond.Wait()
	}
	seq := w.next
	w.next++
	w.ws = append(w.ws, behindWrite{seq: seq, off: off, end: end})
	w.bytes += size
	// Under w.mu, so the writer is counted before sendBehind ends it.
	fsys.touched.busy(h.n, +1, fsys.lookaheadTTL())
	if size < gatherMax {
		g := &gathering{h: h, ctx: ctx, seq: seq, off: off, parts: [][]byte{cp}, size: size}
		w.g = g
		delay := fsys.Opts.GatherDelay
		if delay <= 0 {
			delay = gatherDelay
		}
		g.timer = time.AfterFunc(delay, func() { w.expire(g) })
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	go h.sendBehind(ctx, seq, off, cp)
}

// attrsPendingLocked reports whether a deferred SETATTR is in flight: a
// later write must not land before it, or the times it sets would hide
// the write's (w.mu held).
func (w *nodeWrites) attrsPendingLocked() bool {
	for _, x := range w.ws {
		if x.attrs {
			return true
		}
	}
	return false
}

// kickLocked sends the gathering, if any (w.mu held).
func (w *nodeWrites) kickLocked() {
	if g := w.g; g != nil {
		w.g = nil
		g.timer.Stop()
		go g.send()
	}
}

// expire sends g if it still waits for more.
func (w *nodeWrites) expire(g *gathering) {
	w.lock()
	mine := w.g == g
	if mine {
		w.g = nil
	}
	w.mu.Unlock()
	if mine {
		g.send()
	}
}

// send sends the gathered pieces as one WRITE, with the attribute
// changes deferred behind them if any.
func (g *gathering) send() {
	if g.set != nil {
		g.h.n.sendAttrsBehind(g)
		return
	}
	g.h.sendBehind(g.ctx, g.seq, g.off, g.data())
}

// data is the gathered pieces in one slice.
func (g *gathering) data() []byte {
	if len(g.parts) == 1 {
		return g.parts[0]
	}
	return g.h.n.fsys.writeCopies.join(g.parts, g.size)
}

// takeAlone hands the gathering to a caller that sends it itself, with a
// request that must follow it (setAttrsAfter), when it is all the node
// has in flight and was written with the caller's credential cctx; else
// nil. The caller ends it with wroteBehind.
func (w *nodeWrites) takeAlone(cctx context.Context) *gathering {
	w.lock()
	defer w.mu.Unlock()
	g := w.g
	if g == nil || g.set != nil || len(w.ws) != 1 || !sameCred(g.ctx, cctx) {
		return nil
	}
	w.g = nil
	g.timer.Stop()
	return g
}

// sameCred reports whether two request contexts carry the same credential.
func sameCred(a, b context.Context) bool {
	ca, oka := nfs4client.CredFrom(a)
	cb, okb := nfs4client.CredFrom(b)
	if !oka || !okb {
		return oka == okb
	}
	return ca.Flavor == cb.Flavor && bytes.Equal(ca.Body, cb.Body) && ca.Sys.UID == cb.Sys.UID &&
		ca.Sys.GID == cb.Sys.GID && slices.Equal(ca.Sys.GIDs, cb.Sys.GIDs) && ca.Sys.MachineName == cb.Sys.MachineName
}

// setAttrsAfter sends g's data and the SETATTR set (no size change) of
// n in one COMPOUND: a utimens, chmod or chown after writes (tar's, for
// each file) costs one round trip instead of two. Should the WRITE fail,
// it goes the usual way and the SETATTR after it; should it be short, the
// rest is written and the attributes set once more (the times must
// follow the data).
func (n *Node) setAttrsAfter(cctx context.Context, g *gathering, sid nfs4.StateID, set *nfs4.Attrs) (*nfs4.Attrs, error) {
	h, c := g.h, n.fsys.C
	data := g.data()
	w, a, err := c.WriteSetAttrs(cctx, n.fh, h.of.SID(), g.off, data, nfs4.Unstable4, sid, set)
	if w == nil {
		committed, verf, werr := h.writeAll(cctx, g.off, data, nfs4.Unstable4)
		h.wroteBehind(g.seq, g.off, data, committed, verf, werr)
		return c.SetAttrs(cctx, n.fh, sid, set)
	}
	committed, verf := w.Committed, w.WriteVerf
	if rest := data[w.Count:]; len(rest) > 0 {
		c2, v2, werr := h.writeAll(cctx, g.off+uint64(w.Count), rest, nfs4.Unstable4)
		if werr == nil && v2 != verf {
			h.mu.Lock()
			h.mixed = true // a restart in between: resent at COMMIT
			h.mu.Unlock()
		}
		committed = min(committed, c2)
		h.wroteBehind(g.seq, g.off, data, committed, verf, werr)
		return c.SetAttrs(cctx, n.fh, sid, set)
	}
	h.wroteBehind(g.seq, g.off, data, committed, verf, nil)
	return a, err
}

// done ends the write seq.
func (w *nodeWrites) done(seq uint64) {
	w.lock()
	defer w.mu.Unlock()
	for i, x := range w.ws {
		if x.seq == seq {
			w.bytes -= int(x.end - x.off)
			w.ws = append(w.ws[:i], w.ws[i+1:]...)
			break
		}
	}
	w.cond.Broadcast()
}

// drain waits for every write started before the call (not for those
// started meanwhile, so a steady writer cannot starve it).
func (w *nodeWrites) drain() {
	w.lock()
	defer w.mu.Unlock()
	w.kickLocked()
	target := w.next
	for len(w.ws) > 0 && w.ws[0].seq < target {
		w.cond.Wait()
	}
}

// waitRange waits for the writes started before the call that overlap
// [off, end).
func (w *nodeWrites) waitRange(off, end uint64) {
	w.lock()
	defer w.mu.Unlock()
	if g := w.g; g != nil && g.off < end && off < g.end() {
		w.kickLocked()
	}
	target := w.next
	for w.overlapsLocked(off, end, target) {
		w.cond.Wait()
	}
}

// behindBudget bounds the bytes of background writes of a whole mount.
type behindBudget struct {
	mu    sync.Mutex
	cond  sync.Cond
	bytes int
}

func (b *behindBudget) acquire(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cond.L == nil {
		b.cond.L = &b.mu
	}
	for b.bytes > 0 && b.bytes+n > maxBehindBytes {
		b.cond.Wait()
	}
	b.bytes += n
}

func (b *behindBudget) release(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bytes -= n
	b.cond.Broadcast()
}

// writeBehind acknowledges data at off and sends it in the background
// (h.behind), gathered with what it continues. The copy it sends stays in
// h.pending until COMMITted.
func (h *fileHandle) writeBehind(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	if errno := h.behindErr; errno != 0 {
		h.mu.Unlock()
		return 0, errno
	}
	over := h.pendingBytes > maxPending
	h.mu.Unlock()
	if over {
		// Uncommitted copies are bounded too (file.go).
		if errno := h.commit(ctx); errno != 0 {
			return 0, errno
		}
	}
	fsys := h.n.fsys
	cp := fsys.writeCopies.copy(data)
	fsys.behind.acquire(len(cp))
	h.n.forgetCache()
	h.n.wroteCached(uint64(off) + uint64(len(data)))
	h.n.writes.start(h, ctx, uint64(off), cp, int(fsys.C.WSize))
	return uint32(len(data)), 0
}

// sendBehind sends one acknowledged write and records its outcome.
func (h *fileHandle) sendBehind(ctx context.Context, seq, off uint64, data []byte) {
	committed, verf, err := h.writeAll(ctx, off, data, nfs4.Unstable4)
	h.wroteBehind(seq, off, data, committed, verf, err)
}

// wroteBehind records the outcome of the acknowledged write seq of data at
// off, and ends it.
func (h *fileHandle) wroteBehind(seq, off uint64, data []byte, committed uint32, verf nfs4.Verifier, err error) {
	fsys := h.n.fsys
	size := len(data)
	h.mu.Lock()
	failed := err != nil
	switch {
	case failed:
		log.Printf("mount: background WRITE of %d bytes at %d failed: %v (reported at the next write, close or fsync)", len(data), off, err)
		if h.behindErr == 0 {
			h.behindErr = ToErrno(err)
		}
		fsys.writeCopies.put(data)
	case committed == nfs4.FileSync4:
		fsys.writeCopies.put(data)
	default:
		h.keepUnstableLocked(off, data, verf)
	}
	h.mu.Unlock()
	// The kernel and the lookahead must not take attributes from before
	// this write for current (touchedFHs.since), nor pages the server
	// does not have.
	fsys.touched.busy(h.n, -1, fsys.lookaheadTTL())
	if failed {
		h.n.dropAttrs()
		h.n.forgetCache()
	}
	h.n.writes.done(seq)
	fsys.behind.release(size)
	if failed {
		// Only now: the kernel's invalidation may wait for page locks
		// that a write(2) holds while its FUSE WRITE waits for this
		// write to be done (an overlapping write, begin).
		h.n.NotifyContent(0, 0)
	}
}

// behindError returns the error of a background write; take also
// clears it (fsync has reported it).
func (h *fileHandle) behindError(take bool) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	errno := h.behindErr
	if take {
		h.behindErr = 0
	}
	return errno
}

// freshAttrs makes an entry reply of n about the object fh trustworthy:
// attributes the server sent in answer to a request made at since may
// predate a write of fh that was already acknowledged to the kernel
// (write-behind) and land with it after the write, shrinking the size the
// kernel knows. If fh was written since then or still is, the writes are
// waited for and the attributes asked again (nil: a is good).
func (n *Node) freshAttrs(ctx context.Context, fh []byte, since time.Time) *nfs4.Attrs {
	changed, writer := n.fsys.touched.written(fh, since)
	if !changed {
		return nil
	}
	if writer != nil {
		writer.writes.drain()
	}
	a, err := n.fsys.C.GetAttr(n.call(ctx), fh, nfs4client.FileAttrs)
	if err != nil {
		return nil
	}
	return a
}
