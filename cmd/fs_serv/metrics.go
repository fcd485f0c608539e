package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/fsbridge/fsbridge/serve/metrics"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// metricsFlags is --metrics: a Prometheus text-format endpoint (issue 6,
// observability) with per-op counts, errors and latencies, connections,
// client state and process figures. It has no authentication: bind it to
// loopback or a management network.
type metricsFlags struct {
	addr *string
	nfsm *metrics.NFS
}

func addMetricsFlags(fl *flag.FlagSet) *metricsFlags {
	return &metricsFlags{addr: fl.String("metrics", "",
		"serve Prometheus metrics at http://`ADDR`/metrics, e.g. 127.0.0.1:9675 (unauthenticated: keep it off public networks)")}
}

// nfs returns the counters for nfs4srv.Config.Metrics, nil without
// --metrics (the server then counts nothing).
func (f *metricsFlags) nfs() *metrics.NFS {
	if *f.addr == "" {
		return nil
	}
	if f.nfsm == nil {
		f.nfsm = metrics.NewNFS()
	}
	return f.nfsm
}

// start listens on --metrics and serves the endpoint. Call it before srv
// serves (it hooks srv's connection callbacks to count connections).
// The address is logged as url=…, not addr=…, which names the NFS port.
func (f *metricsFlags) start(nfs *nfs4srv.Server, srv *rpcsrv.Server, log *slog.Logger) error {
	if *f.addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", *f.addr)
	if err != nil {
		return fmt.Errorf("--metrics: %w", err)
	}
	reg := metrics.NewRegistry()
	reg.Register(nfs) // Config.Metrics (f.nfs) and the state figures
	reg.Register(metrics.NewTransport(srv))
	reg.Register(metrics.Process())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg)
	// Bounded like the NFS port: a stalled or hostile scraper holds a
	// goroutine for seconds, not forever.
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	log.Info("metrics", "url", "http://"+l.Addr().String()+"/metrics")
	return nil
}
