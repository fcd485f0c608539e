package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ProcStats is what /proc tells about fs_serv, plus its goroutine count
// when a metrics endpoint was given (-1 otherwise).
type ProcStats struct {
	FDs, Threads int
	RSS          int64 // bytes
	Goroutines   int
}

func (p ProcStats) String() string {
	g := "n/a"
	if p.Goroutines >= 0 {
		g = strconv.Itoa(p.Goroutines)
	}
	return fmt.Sprintf("fds %d  threads %d  rss %.1f MiB  goroutines %s",
		p.FDs, p.Threads, float64(p.RSS)/(1<<20), g)
}

// procStats samples process pid: open descriptors (/proc/PID/fd), threads
// and VmRSS (/proc/PID/status), and go_goroutines from metricsURL if set.
func procStats(pid int, metricsURL string) (ProcStats, error) {
	p := ProcStats{Goroutines: -1}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return p, err
	}
	p.FDs = len(ents)
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "Threads":
			p.Threads = int(n)
		case "VmRSS":
			p.RSS = n << 10 // reported in kB
		}
	}
	if metricsURL != "" {
		g, err := scrapeGauge(metricsURL, "go_goroutines")
		if err != nil {
			return p, err
		}
		p.Goroutines = int(g)
	}
	return p, nil
}

// scrapeGauge fetches a Prometheus text exposition and returns the value of
// the unlabelled sample name.
func scrapeGauge(url, name string) (float64, error) {
	if !strings.Contains(url, "://") {
		url = "http://" + url + "/metrics"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == name {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s sample", url, name)
}

// server is an fs_serv process started by -serve.
type server struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

var addrRE = regexp.MustCompile(`addr=(\S+)`)

// startServer runs bin (fs_serv) on a loopback port exporting dir, with
// extra arguments before dir, and waits until it logs its address.
func startServer(bin, dir string, extra []string) (*server, error) {
	if bin == "" {
		bin = findFsServ()
	}
	args := append([]string{"-p", "0", "--listen", "127.0.0.1", "--state-dir", "none"}, extra...)
	args = append(args, dir)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
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
		return nil, fmt.Errorf("%s exited before serving", bin)
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s did not report its address", bin)
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop asks fs_serv to exit (SIGTERM), then kills it after 5 s.
func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// findFsServ looks for fs_serv next to this program, then in $PATH.
func findFsServ() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "fs_serv")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "fs_serv"
}

// checkLoopback refuses a non-loopback target: the load test may only
// run on this machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ips, err := net.DefaultResolver.LookupIPAddr(context.Background(), host)
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return fmt.Errorf("%s is not a loopback address: the load test runs on loopback only", addr)
		}
	}
	if len(ips) == 0 {
		return fmt.Errorf("%s: no address", addr)
	}
	return nil
}
