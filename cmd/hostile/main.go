// Command hostile attacks an fs_serv on a loopback address the way a
// broken or malicious client would, while a well-behaved client checks
// that the server still answers promptly and its memory stays bounded
// (issue 6). Scenarios, run concurrently for a bounded time and count:
//
//	bigmark   record marks claiming 2 GiB, then silence
//	hold      N connections that send 3 bytes and hold
//	random    random bytes, random records, CALL headers with noise
//	garbled   valid RPC headers with truncated or garbled COMPOUND bodies
//	opcount   COMPOUNDs claiming 10^9 operations
//	pipeline  10 000 tiny COMPOUNDs pipelined without reading replies
//
// Meanwhile the checker opens a fresh connection every 100 ms (from
// 127.0.0.2; the scenarios use other 127/8 source addresses so that
// per-address limits tell them apart) and times a NULL call and a
// PUTROOTFH+GETATTR, each of which must answer within 1 s; and fs_serv's
// VmRSS must stay under 256 MiB. It prints a summary per scenario, the
// checker's maximum latencies, the maximum RSS and PASS or FAIL, and exits
// non-zero on FAIL.
//
//	hostile [--short] --addr 127.0.0.1:PORT --pid PID
//	hostile [--short] --fs-serv PATH [-- FS_SERV_ARGS...]
//
// With --fs-serv it starts "PATH -p 0 --listen 127.0.0.1 --mem
// FS_SERV_ARGS..." itself and kills it at the end. Point it only at a
// scratch export: garbled calls are read-only by construction and run as
// uid 65534, but they are garbled.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
)

func main() {
	code, err := mainErr(os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func mainErr(args []string, out io.Writer) (int, error) {
	fl := flag.NewFlagSet("hostile", flag.ContinueOnError)
	addr := fl.String("addr", "", "fs_serv address `host:port` (loopback only)")
	pid := fl.Int("pid", 0, "fs_serv's process id, to sample its RSS")
	fsServ := fl.String("fs-serv", "", "start this fs_serv binary on a loopback port (instead of --addr/--pid)")
	short := fl.Bool("short", false, "~10 s with smaller counts (make test)")
	dur := fl.Duration("duration", 0, "how long the scenarios run (default 10s with --short, else 2m)")
	only := fl.String("scenarios", "", "comma-separated scenarios to run (default: all)")
	holds := fl.Int("holds", 0, "connections of the hold scenario (default 300 with --short, else 1000)")
	seed := fl.Uint64("seed", 1, "random seed")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 2, err
	}
	cfg := FullConfig()
	if *short {
		cfg = ShortConfig()
	}
	if *dur > 0 {
		cfg.Duration = *dur
	}
	if *holds > 0 {
		cfg.Holds = *holds
	}
	cfg.Seed = *seed
	if *only != "" {
		cfg.Scenarios = strings.Split(*only, ",")
	}
	cfg.Addr, cfg.PID = *addr, *pid

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *fsServ != "" {
		extra := fl.Args()
		if *short {
			// Timeouts short enough to fire within the run.
			extra = append([]string{"--record-timeout", "3s", "--write-timeout", "5s"}, extra...)
		}
		srv, err := startFsServ(*fsServ, extra)
		if err != nil {
			return 2, err
		}
		defer srv.kill()
		cfg.Addr, cfg.PID = srv.addr, srv.cmd.Process.Pid
	} else if cfg.Addr == "" {
		return 2, errors.New("give --addr (and --pid) or --fs-serv")
	}
	res, err := Run(ctx, cfg, out)
	if err != nil {
		return 2, err
	}
	if !res.Pass() {
		return 1, nil
	}
	return 0, nil
}

type fsServ struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

var addrRE = regexp.MustCompile(`addr=(\S+)`)

func startFsServ(path string, extra []string) (*fsServ, error) {
	args := append([]string{"-p", "0", "--listen", "127.0.0.1", "--mem"}, extra...)
	cmd := exec.Command(path, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &fsServ{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(s.done)
	}()
	select {
	case s.addr = <-found:
		return s, nil
	case <-s.done:
		return nil, errors.New("fs_serv exited before serving")
	case <-time.After(20 * time.Second):
		s.kill()
		return nil, errors.New("fs_serv did not report its address")
	}
}

func (s *fsServ) kill() {
	s.cmd.Process.Kill()
	<-s.done
}
