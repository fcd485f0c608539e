package main

import (
	"flag"
	"log/slog"
	"syscall"
	"time"

	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// limitFlags are the transport's resource bounds (issue 6): what one client,
// however broken or hostile, can hold of the server.
type limitFlags struct {
	maxRecord, maxInFlight, maxInFlightTotal *int
	maxConns, maxConnsPerAddr, maxReplyQueue *int
	idle, record, write, queue               *time.Duration
}

func addLimitFlags(fl *flag.FlagSet) *limitFlags {
	return &limitFlags{
		maxRecord:        fl.Int("max-record", rpcsrv.DefaultMaxRecord, "largest RPC record accepted, `bytes` (a larger one drops the connection)"),
		maxInFlight:      fl.Int("max-inflight", rpcsrv.DefaultMaxInFlight, "concurrent calls per connection; beyond it the connection is not read"),
		maxInFlightTotal: fl.Int("max-inflight-total", rpcsrv.DefaultMaxInFlightTotal, "calls executing at once over all connections"),
		maxConns:         fl.Int("max-conns", rpcsrv.DefaultMaxConns, "connections in total (more are refused; -1: no limit)"),
		maxConnsPerAddr:  fl.Int("max-conns-per-addr", rpcsrv.DefaultMaxConnsPerAddr, "connections per client IP address (more are refused; -1: no limit)"),
		maxReplyQueue:    fl.Int("max-reply-queue", rpcsrv.DefaultMaxReplyQueue, "unsent reply `bytes` per connection before its requests stop being read"),
		idle:             fl.Duration("idle-timeout", 5*time.Minute, "close a connection with nothing outstanding that is silent this long (at least 2 leases; 0: never)"),
		record:           fl.Duration("record-timeout", rpcsrv.DefaultRecordTimeout, "close a connection that takes longer than this to send one request"),
		write:            fl.Duration("write-timeout", rpcsrv.DefaultWriteTimeout, "close a connection that does not take a reply for this long"),
		queue:            fl.Duration("queue-timeout", rpcsrv.DefaultQueueTimeout, "answer NFS4ERR_DELAY to a 4.1+ request that waited this long for a busy server (0: wait)"),
	}
}

// apply sets the bounds on srv. The idle timeout is raised to two lease
// periods: a client holding state renews at least once per lease (RFC 7530
// §9.5, RFC 8881 §8.3), so a connection quiet for two is not in use. With
// --stdio there is one client whose stream is the process's life: no idle
// timeout.
func (l *limitFlags) apply(srv *rpcsrv.Server, lease time.Duration, stdio bool, log *slog.Logger) {
	srv.MaxRecord = *l.maxRecord
	srv.MaxInFlight = *l.maxInFlight
	srv.MaxInFlightTotal = *l.maxInFlightTotal
	srv.MaxConns = *l.maxConns
	srv.MaxConnsPerAddr = *l.maxConnsPerAddr
	srv.MaxReplyQueue = *l.maxReplyQueue
	idle := *l.idle
	if idle > 0 && idle < 2*lease {
		log.Warn("--idle-timeout raised to two lease periods", "idle-timeout", 2*lease)
		idle = 2 * lease
	}
	srv.IdleTimeout = idle
	srv.RecordTimeout = orDisabled(*l.record)
	srv.WriteTimeout = orDisabled(*l.write)
	srv.QueueTimeout = orDisabled(*l.queue)
	if stdio {
		srv.IdleTimeout = 0
		return
	}

	// Go raises the soft RLIMIT_NOFILE to the hard limit at start (since
	// Go 1.19); say so if that still cannot hold --max-conns.
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		if n := srv.MaxConns; n < 0 || rl.Cur < uint64(n)+64 {
			log.Warn("open file limit below --max-conns: raise the hard RLIMIT_NOFILE", "nofile", rl.Cur, "max-conns", n)
		}
	}
}

// orDisabled maps an explicit 0 ("none") to rpcsrv's "disabled" (negative).
func orDisabled(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
