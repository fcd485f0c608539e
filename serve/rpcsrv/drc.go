package rpcsrv

import (
	"container/list"
	"hash/crc32"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// DRC defaults (used for zero-valued DRC fields).
const (
	DefaultDRCEntries  = 4096
	DefaultDRCBytes    = 8 << 20
	DefaultDRCMaxReply = 64 << 10
	DefaultDRCMaxAge   = 120 * time.Second // Linux nfsd's RC_EXPIRE
	// drcSumLen bounds how much of the arguments the checksum covers: the
	// xid does the real work, the checksum only tells a reused xid (client
	// reboot, wrap) from a retransmission, and must stay cheap for 1 MiB
	// WRITEs.
	drcSumLen = 1024
)

// DRC is a duplicate request cache (the "reply cache" of RFC 5531 §8 /
// Juszczak, "Improving the performance and correctness of an NFS server",
// 1989), for programs whose procedures are not idempotent and that have no
// exactly-once semantics of their own (NFSv4.0; NFSv4.1 sessions replace it,
// RFC 8881 §2.10.6.1.3). Set it as Server.DRC; one DRC may serve several
// Servers.
//
// A call is cached when Cacheable says so. Its key is the peer's IP address
// (not the port: a client that lost its connection retransmits on a new one,
// RFC 7530 §3.1.1), xid, program, version, procedure, and the length and a
// CRC32C of the first bytes of the arguments. The first call with a key runs
// and its complete reply message is kept; a retransmission arriving while it
// runs is dropped (the client retransmits again later), one arriving after
// gets the cached reply byte for byte. Entries are evicted least recently
// used, bounded by MaxEntries and MaxBytes, and expire after MaxAge.
type DRC struct {
	// Cacheable selects the calls to cache (nil: all). It runs on the
	// reader's call goroutine and should be cheap.
	Cacheable func(*Call) bool
	// MaxEntries, MaxBytes bound the cache; MaxReply bounds one reply
	// (larger ones are sent but not kept); MaxAge is an entry's lifetime.
	MaxEntries int
	MaxBytes   int
	MaxReply   int
	MaxAge     time.Duration

	mu    sync.Mutex
	m     map[drcKey]*drcEntry
	lru   list.List // completed entries, most recently used first
	bytes int
	stats DRCStats
}

// DRCStats counts what the cache did.
type DRCStats struct {
	Misses    uint64 // calls run and cached
	Hits      uint64 // retransmissions answered from the cache
	Dropped   uint64 // retransmissions dropped while the original ran
	Uncached  uint64 // cacheable calls run without caching (cache full of calls in progress, reply too large)
	Evictions uint64
	Entries   int
	Bytes     int
}

type drcKey struct {
	ip   netip.Addr // zero for non-IP transports (then addr is used)
	addr string
	xid  uint32
	prog uint32
	vers uint32
	proc uint32
	alen uint32
	csum uint32
}

type drcEntry struct {
	key   drcKey
	done  bool
	reply []byte // complete RPC reply message, without the record mark
	at    time.Time
	elem  *list.Element // in lru once done
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Stats returns a snapshot of the counters.
func (d *DRC) Stats() DRCStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.Entries, s.Bytes = len(d.m), d.bytes
	return s
}

func drcKeyOf(c *Conn, call *Call) drcKey {
	k := drcKey{xid: call.XID, prog: call.Prog, vers: call.Vers, proc: call.Proc, alen: uint32(len(call.Args))}
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		k.ip = a.AddrPort().Addr().Unmap()
	case *net.UDPAddr:
		k.ip = a.AddrPort().Addr().Unmap()
	case nil:
	default:
		k.addr = a.String()
	}
	k.csum = crc32.Checksum(call.Args[:min(len(call.Args), drcSumLen)], castagnoli)
	return k
}

type drcState int

const (
	drcNew        drcState = iota // run the call, then finish or abandon e
	drcInProgress                 // drop the retransmission
	drcHit                        // send the cached reply
	drcFull                       // run uncached
)

// begin looks k up and, on a miss, inserts an in-progress entry.
func (d *DRC) begin(k drcKey, now time.Time) (*drcEntry, []byte, drcState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = make(map[drcKey]*drcEntry)
	}
	maxAge := timeout(d.MaxAge, DefaultDRCMaxAge)
	d.expire(now, maxAge)
	if e := d.m[k]; e != nil && e.done && maxAge > 0 && now.Sub(e.at) >= maxAge {
		d.remove(e) // stale, but kept up the LRU list by hits
	}
	if e := d.m[k]; e != nil {
		if !e.done {
			d.stats.Dropped++
			return nil, nil, drcInProgress
		}
		d.stats.Hits++
		d.lru.MoveToFront(e.elem)
		return nil, e.reply, drcHit
	}
	for len(d.m) >= orDefault(d.MaxEntries, DefaultDRCEntries) {
		if !d.evictOldest() {
			d.stats.Uncached++
			return nil, nil, drcFull
		}
	}
	e := &drcEntry{key: k}
	d.m[k] = e
	d.stats.Misses++
	return e, nil, drcNew
}

// finish stores the reply of a call begun with drcNew; a nil reply (none
// sent, or one not worth keeping) forgets the entry.
func (d *DRC) finish(e *drcEntry, reply []byte, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	maxBytes := orDefault(d.MaxBytes, DefaultDRCBytes)
	if reply == nil || len(reply) > orDefault(d.MaxReply, DefaultDRCMaxReply) || len(reply) > maxBytes {
		delete(d.m, e.key)
		d.stats.Uncached++
		return
	}
	for d.bytes+len(reply) > maxBytes && d.evictOldest() {
	}
	e.done, e.reply, e.at = true, reply, now
	e.elem = d.lru.PushFront(e)
	d.bytes += len(reply)
}

// evictOldest drops the least recently used completed entry. Calls in
// progress are not in the LRU list and are never evicted.
func (d *DRC) evictOldest() bool {
	el := d.lru.Back()
	if el == nil {
		return false
	}
	d.remove(el.Value.(*drcEntry))
	d.stats.Evictions++
	return true
}

func (d *DRC) remove(e *drcEntry) {
	d.lru.Remove(e.elem)
	delete(d.m, e.key)
	d.bytes -= len(e.reply)
}

// expire drops completed entries older than maxAge from the LRU tail.
// Hits move entries up, so an old entry may hide further up: begin checks
// the age of the entry it finds too.
func (d *DRC) expire(now time.Time, maxAge time.Duration) {
	if maxAge <= 0 {
		return
	}
	for el := d.lru.Back(); el != nil; el = d.lru.Back() {
		e := el.Value.(*drcEntry)
		if now.Sub(e.at) < maxAge {
			return
		}
		d.remove(e)
	}
}

// serveDRC serves call through the server's DRC. It returns false if the
// call is not cacheable (or the cache is full), for the caller to serve it
// normally.
func (c *Conn) serveDRC(call *Call) bool {
	d := c.srv.DRC
	if call.Cred.Flavor == rpc.RPCSecGSS {
		// A cached RPCSEC_GSS reply carries the verifier (and wrapping)
		// of the original seq_num, which the retransmission does not
		// have: a client retransmits with a new seq_num (RFC 2203
		// §5.3.3.1), so the cached reply would fail its checks.
		return false
	}
	if d.Cacheable != nil && !d.Cacheable(call) {
		return false
	}
	e, cached, st := d.begin(drcKeyOf(c, call), time.Now())
	switch st {
	case drcFull:
		return false
	case drcInProgress:
		return true
	case drcHit:
		m := outPool.Get().(*outMsg)
		m.enc.Reset()
		m.enc.Reserve(rpc.MarkLen)
		m.bufs = append(m.bufs[:0], m.enc.Buf, cached)
		c.writeRecord(m)
		return true
	}
	reply := c.callHandler(call)
	if reply.NoReply {
		d.finish(e, nil, time.Time{}) // nothing sent: let a retransmission run
	} else if n := bodyLen(reply.Body); n > orDefault(d.MaxReply, DefaultDRCMaxReply) {
		d.finish(e, nil, time.Time{}) // too large to keep: send it zero-copy
		c.writeReply(call.XID, &reply)
	} else {
		// Flatten header and body into one buffer: it is both the record
		// written now (mark in front) and, past the mark, the cached reply.
		enc := xdr.Encoder{Buf: make([]byte, 0, rpc.MarkLen+64+n)}
		enc.Reserve(rpc.MarkLen)
		h := replyHeader(call.XID, &reply)
		h.Encode(&enc)
		if !reply.Denied && reply.Accept == rpc.Success {
			for _, b := range reply.Body {
				enc.Buf = append(enc.Buf, b...)
			}
		}
		if !reply.Denied && reply.Accept == rpc.SystemErr {
			d.finish(e, nil, time.Time{}) // transient failure: let a retransmission run
		} else {
			d.finish(e, enc.Buf[rpc.MarkLen:], time.Now())
		}
		m := outPool.Get().(*outMsg)
		m.bufs = append(m.bufs[:0], enc.Buf)
		c.writeRecord(m)
	}
	if reply.Release != nil {
		reply.Release()
	}
	return true
}

func bodyLen(bufs net.Buffers) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
