package metrics

import (
	"sync/atomic"

	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// Transport collects the connection figures of an rpcsrv.Server.
type Transport struct {
	srv      *rpcsrv.Server
	accepted atomic.Uint64
	closed   atomic.Uint64
}

// NewTransport hooks srv's OnConnect and OnClose (keeping any hooks
// already set) to count connections; call it before srv serves.
func NewTransport(srv *rpcsrv.Server) *Transport {
	t := &Transport{srv: srv}
	onConnect, onClose := srv.OnConnect, srv.OnClose
	srv.OnConnect = func(c *rpcsrv.Conn) {
		t.accepted.Add(1)
		if onConnect != nil {
			onConnect(c)
		}
	}
	srv.OnClose = func(c *rpcsrv.Conn) {
		t.closed.Add(1)
		if onClose != nil {
			onClose(c)
		}
	}
	return t
}

// Collect writes the connection families.
func (t *Transport) Collect(w *Writer) {
	st := t.srv.Stats()
	w.Family("fsbridge_connections_open", TypeGauge, "RPC connections being served.")
	w.Int("fsbridge_connections_open", int64(st.Conns))
	w.Family("fsbridge_connections_accepted_total", TypeCounter, "RPC connections accepted and served.")
	w.Uint("fsbridge_connections_accepted_total", t.accepted.Load())
	w.Family("fsbridge_connections_closed_total", TypeCounter, "RPC connections that have ended.")
	w.Uint("fsbridge_connections_closed_total", t.closed.Load())
	w.Family("fsbridge_connections_refused_total", TypeCounter, "Connections refused by the connection limits (total, per address).")
	w.Uint("fsbridge_connections_refused_total", st.Refused)
	w.Family("fsbridge_rpc_running", TypeGauge, "RPC handlers running.")
	w.Int("fsbridge_rpc_running", int64(st.Running))
	w.Family("fsbridge_rpc_delayed_total", TypeCounter, "Calls answered NFS4ERR_DELAY unrun after waiting the queue timeout for a handler slot.")
	w.Uint("fsbridge_rpc_delayed_total", st.Delayed)
	w.Family("fsbridge_rpc_reply_queue_bytes", TypeGauge, "Reply bytes waiting to be written, all connections.")
	w.Int("fsbridge_rpc_reply_queue_bytes", st.QueuedTx)
	if d := t.srv.DRC; d != nil {
		ds := d.Stats()
		w.Family("fsbridge_drc_requests_total", TypeCounter, "Calls seen by the duplicate request cache, by outcome.")
		w.Uint("fsbridge_drc_requests_total", ds.Misses, "result", "miss")
		w.Uint("fsbridge_drc_requests_total", ds.Hits, "result", "hit")
		w.Uint("fsbridge_drc_requests_total", ds.Dropped, "result", "dropped")
		w.Uint("fsbridge_drc_requests_total", ds.Uncached, "result", "uncached")
		w.Family("fsbridge_drc_entries", TypeGauge, "Entries in the duplicate request cache.")
		w.Int("fsbridge_drc_entries", int64(ds.Entries))
		w.Family("fsbridge_drc_bytes", TypeGauge, "Reply bytes held by the duplicate request cache.")
		w.Int("fsbridge_drc_bytes", int64(ds.Bytes))
	}
}
