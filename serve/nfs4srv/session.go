package nfs4srv

import (
	"net"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
	"github.com/fsbridge/fsbridge/serve/state"
)

// seqContext is the slot a SEQUENCE op claimed for this compound
// (RFC 8881 §2.10.6.1); the reply is stored there when the compound ends.
type seqContext struct {
	slot      *state.Slot
	sessionID state.SessionID
	clientID  uint64
	// maxCached is the largest reply kept in the slot. Replies up to it are
	// cached whatever sa_cachethis said, so a retransmitted non-idempotent
	// compound gets its original reply (exactly-once, RFC 8881 §2.10.6.1.3)
	// instead of NFS4ERR_RETRY_UNCACHED_REP.
	maxCached int

	// Negotiated fore-channel limits and sa_cachethis, for sizeCheck.
	maxResp, maxRespCached int
	cacheThis              bool
}

// sizeCheck says whether a reply of n bytes exceeds the session's
// ca_maxresponsesize (NFS4ERR_REP_TOO_BIG) or, when the client asked for
// it to be cached, ca_maxresponsesize_cached (NFS4ERR_REP_TOO_BIG_TO_CACHE)
// (RFC 8881 §18.36.3, §18.46.3).
func (q *seqContext) sizeCheck(n int) nfs4.Status {
	switch {
	case q.maxResp > 0 && n > q.maxResp:
		return nfs4.ErrRepTooBig
	case q.cacheThis && q.maxRespCached > 0 && n > q.maxRespCached:
		// A client that negotiated 0 (Linux does) yet sets sa_cachethis
		// gets best-effort caching (store) rather than errors.
		return nfs4.ErrRepTooBigToCache
	}
	return nfs4.OK
}

// store saves the finished reply in the slot's reply cache and releases the
// slot for the next request.
func (q *seqContext) store(reply net.Buffers) {
	n := 0
	for _, s := range reply {
		n += len(s)
	}
	var b []byte
	if n <= q.maxCached {
		b = make([]byte, 0, n)
		for _, s := range reply {
			b = append(b, s...)
		}
	}
	q.slot.StoreReply(b)
}

// connMark is the rpcsrv.Conn value that says the close hook is installed.
type connMark struct{}

// watchConn makes sure state hears when the compound's connection closes,
// so session bindings to it are dropped (RFC 8881 §2.10.3.1).
func (c *compound) watchConn() {
	rc, ok := c.conn.(*rpcsrv.Conn)
	if !ok || rc == nil || rc.Value() != nil {
		return
	}
	rc.SetValue(connMark{})
	m := c.s.state
	rc.OnClose(func() { m.ConnClosed(rc) })
}
