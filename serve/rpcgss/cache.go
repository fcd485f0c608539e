package rpcgss

import (
	"container/list"
	"hash/crc32"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// replyCache is the duplicate request cache for RPCSEC_GSS DATA calls.
// rpcsrv.DRC cannot serve them: it replays whole reply messages, and a
// retransmission carries a new seq_num (RFC 2203 §5.3.3.1) whose verifier
// and wrapping the old message lacks. This cache keeps the plaintext
// results instead, keyed on the unwrapped arguments, and the Handler
// verifies and wraps them for the retransmission like fresh results (as
// Linux nfsd does: its cache sits between svcauth_gss and the procedure).
//
// The key is that of rpcsrv.DRC (peer IP, xid, program, version,
// procedure, length and CRC32C of the first arguments) plus the context
// handle: one user never gets another's results, and a client that starts
// again with a new context and xids from the same origin (pynfs counts
// from 0) is not answered with its previous run's results. A context
// outlives connections, so a retransmission after a reconnect still hits.
type replyCache struct {
	mu    sync.Mutex
	m     map[cacheKey]*cacheEntry
	lru   list.List // completed entries, most recent first
	bytes int
}

const (
	cacheEntries  = 4096
	cacheBytes    = 8 << 20
	cacheMaxReply = 64 << 10
	cacheMaxAge   = 120 * time.Second // as rpcsrv.DefaultDRCMaxAge
	cacheSumLen   = 1024
)

type cacheKey struct {
	peer       netip.Addr
	handle     string
	xid        uint32
	prog, vers uint32
	proc       uint32
	alen, csum uint32
}

type cacheEntry struct {
	key    cacheKey
	done   bool
	accept rpc.AcceptStat
	body   []byte
	at     time.Time
	elem   *list.Element
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func cacheKeyOf(call *rpcsrv.Call, handle string) cacheKey {
	k := cacheKey{handle: handle, xid: call.XID, prog: call.Prog, vers: call.Vers, proc: call.Proc,
		alen: uint32(len(call.Args)), csum: crc32.Checksum(call.Args[:min(len(call.Args), cacheSumLen)], castagnoli)}
	if call.Conn != nil {
		if ta, ok := call.Conn.RemoteAddr().(*net.TCPAddr); ok {
			k.peer = ta.AddrPort().Addr().Unmap()
		}
	}
	return k
}

type cacheState int

const (
	cacheMiss       cacheState = iota // run it, then finish
	cacheHit                          // entry holds the results
	cacheInProgress                   // the original is running: drop
	cacheFull                         // run without caching
)

func (c *replyCache) begin(k cacheKey, now time.Time) (*cacheEntry, cacheState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Back(); e != nil && now.Sub(e.Value.(*cacheEntry).at) >= cacheMaxAge; e = c.lru.Back() {
		c.evict(e.Value.(*cacheEntry))
	}
	if c.m == nil {
		c.m = map[cacheKey]*cacheEntry{}
	}
	if e := c.m[k]; e != nil {
		if !e.done {
			return nil, cacheInProgress
		}
		c.lru.MoveToFront(e.elem)
		return e, cacheHit
	}
	for len(c.m) >= cacheEntries {
		b := c.lru.Back()
		if b == nil {
			return nil, cacheFull // every entry is in progress
		}
		c.evict(b.Value.(*cacheEntry))
	}
	e := &cacheEntry{key: k}
	c.m[k] = e
	return e, cacheMiss
}

// finish stores the results of e's call (body nil with keep false: the
// call is forgotten, so that a retransmission runs again).
func (c *replyCache) finish(e *cacheEntry, keep bool, accept rpc.AcceptStat, body []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !keep || len(body) > cacheMaxReply {
		delete(c.m, e.key)
		return
	}
	e.done, e.accept, e.body, e.at = true, accept, body, now
	e.elem = c.lru.PushFront(e)
	c.bytes += len(body)
	for c.bytes > cacheBytes {
		c.evict(c.lru.Back().Value.(*cacheEntry))
	}
}

func (c *replyCache) evict(e *cacheEntry) {
	delete(c.m, e.key)
	c.lru.Remove(e.elem)
	c.bytes -= len(e.body)
}
