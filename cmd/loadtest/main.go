// Command loadtest is issue 6's load test: many concurrent NFSv4 clients
// (client/nfs4client, one connection and session each, each in its own
// directory) run a random mix of create / write (UNSTABLE+COMMIT or
// FILE_SYNC) / read-back / stat / rename / partial overwrite / readdir /
// remove against fs_serv for a fixed time. Every client checks its own
// files (sha256 of the contents, size, fileid, change attribute, directory
// listings); fs_serv's open fds, threads and RSS (and goroutines, given a
// metrics endpoint) are sampled before and after. It prints count, errors
// and p50/p99/max latency per operation, and exits 1 on any error,
// mismatch or leak.
//
//	loadtest -addr 127.0.0.1:2049 -pid $(pidof fs_serv)
//	loadtest -serve /tmp/export -duration 10m     # starts fs_serv itself
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	os.Exit(mainRun())
}

func mainRun() int {
	cfg := DefaultConfig()
	fl := flag.NewFlagSet("loadtest", flag.ExitOnError)
	fl.StringVar(&cfg.Addr, "addr", "", "fs_serv address host:port (loopback only)")
	fl.IntVar(&cfg.PID, "pid", 0, "fs_serv process id, to compare its fds/threads/RSS before and after (with -addr)")
	serve := fl.String("serve", "", "start fs_serv on a loopback port exporting `DIR` (instead of -addr)")
	fsServ := fl.String("fs-serv", "", "fs_serv binary for -serve (default: next to loadtest, else $PATH)")
	serveArgs := fl.String("serve-args", "", "extra fs_serv flags for -serve, space-separated")
	fl.StringVar(&cfg.Metrics, "metrics", "", "fs_serv metrics `ADDR` or URL, to compare go_goroutines before and after")
	fl.IntVar(&cfg.Clients, "clients", cfg.Clients, "concurrent clients")
	fl.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the clients run")
	fl.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed (client i uses seed, i)")
	minor := fl.Uint("minor", uint(cfg.Minor), "NFSv4 minor version (0, 1 or 2)")
	fl.IntVar(&cfg.MaxFiles, "files", cfg.MaxFiles, "files each client keeps at once")
	fl.IntVar(&cfg.MaxSize, "max-size", cfg.MaxSize, "most files are up to this many bytes")
	fl.IntVar(&cfg.LargeSize, "large-size", cfg.LargeSize, "a few files are up to this many bytes")
	fl.Float64Var(&cfg.LargeProb, "large-prob", cfg.LargeProb, "fraction of files drawn up to -large-size")
	fl.DurationVar(&cfg.Settle, "settle", cfg.Settle, "wait up to this long after the run for fs_serv's fds to return")
	fl.IntVar(&cfg.FDSlack, "fd-slack", cfg.FDSlack, "fds fs_serv may hold after the run beyond those before")
	fl.DurationVar(&cfg.Progress, "progress", 0, "print a progress line this often (0: never)")
	fl.Parse(os.Args[1:])
	cfg.Minor = uint32(*minor)

	if *serve != "" {
		if cfg.Addr != "" {
			fmt.Fprintln(os.Stderr, "loadtest: -addr and -serve exclude each other")
			return 2
		}
		srv, err := startServer(*fsServ, *serve, strings.Fields(*serveArgs))
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			return 2
		}
		defer srv.stop()
		cfg.Addr, cfg.PID = srv.addr, srv.pid()
	}
	if cfg.Addr == "" {
		fmt.Fprintln(os.Stderr, "loadtest: need -addr or -serve")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		return 2
	}
	if !res.Pass() {
		return 1
	}
	return 0
}
