package nfs4srv

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/metrics"
	"github.com/fsbridge/fsbridge/serve/state"
)

// slowOp is the duration beyond which an operation is logged: a backend
// that stalls, or lock contention, is then visible without metrics.
const slowOp = time.Second

// Log lines about single operations are rate limited (at most one per
// second of each kind), so a client that provokes faults cannot flood the
// log; each line says how many were held back before it.
var faultLog, slowLog metrics.LogLimiter

// observe runs after each op's result is encoded: it counts the op in
// Config.Metrics (time since the previous op ended, so one clock read per
// op) and logs server faults and slow ops. It allocates nothing on the
// common path.
func (c *compound) observe(op nfs4.Op, res nfs4.Res, st nfs4.Status) {
	now := time.Now()
	d := now.Sub(c.mark)
	c.mark = now
	if m := c.s.cfg.Metrics; m != nil {
		m.Op(op, st, d)
		if st == nfs4.OK {
			switch r := res.(type) {
			case *nfs4.ReadRes:
				m.BytesRead(len(r.Data))
			case *nfs4.WriteRes:
				m.BytesWritten(int(r.Count))
			}
		}
	}
	if d >= slowOp || serverFault(st) {
		c.logOp(op, st, d, now)
	}
}

// serverFault tells the statuses that mean the server, not the client's
// request, failed (RFC 7530 §13.1.3, §13.1.4).
func serverFault(st nfs4.Status) bool {
	return st == nfs4.ErrServerFault || st == nfs4.ErrIO
}

// finish counts the whole COMPOUND.
func (c *compound) finish() {
	if m := c.s.cfg.Metrics; m != nil {
		m.Compound(time.Since(c.start))
	}
}

func (c *compound) logOp(op nfs4.Op, st nfs4.Status, d time.Duration, now time.Time) {
	lim, level, msg := &slowLog, slog.LevelWarn, "slow operation"
	if serverFault(st) {
		lim, level, msg = &faultLog, slog.LevelError, "operation failed on the server"
	}
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if !c.s.log.Enabled(ctx, level) {
		return
	}
	ok, quiet := lim.Allow(now)
	if !ok {
		return
	}
	c.s.log.LogAttrs(ctx, level, msg,
		slog.String("client", c.clientAddr()), slog.String("principal", c.princ),
		slog.String("op", op.String()), slog.String("status", metrics.StatusName(st)),
		slog.Int("minor", int(c.minor)), slog.Int("index", c.opIndex), slog.Duration("duration", d),
		slog.Uint64("suppressed", quiet))
}

// clientAddr is the peer address of the connection the COMPOUND came on.
func (c *compound) clientAddr() string {
	if a, ok := c.conn.(interface{ RemoteAddr() net.Addr }); ok {
		if ra := a.RemoteAddr(); ra != nil {
			return ra.String()
		}
	}
	return ""
}

// StateStats counts the NFSv4 state the server holds.
func (s *Server) StateStats() state.Stats { return s.state.Stats() }

// Collect writes Config.Metrics (if set) and the state figures: the
// Server is a metrics.Collector.
func (s *Server) Collect(w *metrics.Writer) {
	s.cfg.Metrics.Collect(w)
	st := s.StateStats()
	w.Family("fsbridge_nfs_clients", metrics.TypeGauge, "NFSv4 client records, by state (courtesy: lease lapsed, state kept).")
	w.Int("fsbridge_nfs_clients", int64(st.Clients-st.Courtesy), "state", "active")
	w.Int("fsbridge_nfs_clients", int64(st.Courtesy), "state", "courtesy")
	w.Int("fsbridge_nfs_clients", int64(st.Unconfirmed), "state", "unconfirmed")
	w.Family("fsbridge_nfs_sessions", metrics.TypeGauge, "NFSv4.1 sessions.")
	w.Int("fsbridge_nfs_sessions", int64(st.Sessions))
	w.Family("fsbridge_nfs_opens", metrics.TypeGauge, "Open stateids.")
	w.Int("fsbridge_nfs_opens", int64(st.Opens))
	w.Family("fsbridge_nfs_lock_stateids", metrics.TypeGauge, "Lock stateids (one per lock owner and file).")
	w.Int("fsbridge_nfs_lock_stateids", int64(st.LockStates))
	w.Family("fsbridge_nfs_locks", metrics.TypeGauge, "Byte-range locks held.")
	w.Int("fsbridge_nfs_locks", int64(st.LockRanges))
	w.Family("fsbridge_nfs_delegations", metrics.TypeGauge, "Delegations (of files and directories), by state.")
	w.Int("fsbridge_nfs_delegations", int64(st.Delegations-st.Recalling), "state", "held")
	w.Int("fsbridge_nfs_delegations", int64(st.Recalling), "state", "recalling")
	w.Family("fsbridge_nfs_revoked_stateids", metrics.TypeGauge, "Stateids revoked and not yet freed by their client.")
	w.Int("fsbridge_nfs_revoked_stateids", int64(st.Revoked))
	grace := int64(0)
	if st.Grace {
		grace = 1
	}
	w.Family("fsbridge_nfs_grace", metrics.TypeGauge, "1 during the grace period after a restart (RFC 8881 §8.4.2).")
	w.Int("fsbridge_nfs_grace", grace)
}
