package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/internal/testbin"
)

// TestMetricsFlag runs fs_serv --metrics 127.0.0.1:0, finds both addresses
// in its log, makes an NFS client do a little, and scrapes the endpoint.
func TestMetricsFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs fs_serv")
	}
	cmd := exec.Command(testbin.Build(t, "cmd/fs_serv"), "--mem", "-p", "0", "--listen", "127.0.0.1",
		"--metrics", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	urlRE := regexp.MustCompile(`msg=metrics url=(\S+)`)
	addrRE := regexp.MustCompile(`msg=serving addr=(\S+)`)
	found := make(chan [2]string, 1)
	go func() {
		defer close(done)
		var url, addr string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				url = m[1]
			}
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				addr = m[1]
			}
			if url != "" && addr != "" {
				found <- [2]string{url, addr}
				url = ""
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
	}()
	var url, addr string
	select {
	case f := <-found:
		url, addr = f[0], f[1]
	case <-done:
		t.Fatal("fs_serv exited")
	case <-time.After(20 * time.Second):
		t.Fatal("fs_serv did not log its metrics and NFS addresses")
	}
	if !strings.HasSuffix(url, "/metrics") || strings.Contains(url, "addr=") {
		t.Fatalf("metrics url %q", url)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := nfs4client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetupSession(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupPath(ctx, "nothing-here"); err == nil {
		t.Fatal("lookup of a missing name succeeded")
	}

	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("scrape: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(body), "\n") {
		lines[l] = true
	}
	for _, w := range []string{
		"fsbridge_connections_open 1",
		"fsbridge_connections_accepted_total 1",
		`fsbridge_nfs_ops_total{op="EXCHANGE_ID"} 1`,
		`fsbridge_nfs_ops_total{op="CREATE_SESSION"} 1`,
		`fsbridge_nfs_op_errors_total{op="LOOKUP",status="NFS4ERR_NOENT"} 1`,
		`fsbridge_nfs_clients{state="active"} 1`,
		"fsbridge_nfs_sessions 1",
		"# TYPE fsbridge_nfs_op_duration_seconds histogram",
		"# TYPE process_resident_memory_bytes gauge",
		"# TYPE process_open_fds gauge",
		"# TYPE go_goroutines gauge",
	} {
		if !lines[w] {
			t.Errorf("scrape lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}

	// Only /metrics, only GET/HEAD.
	for _, p := range []string{"/", "/debug/pprof/"} {
		r, err := http.Get(strings.TrimSuffix(url, "/metrics") + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s", p, r.Status)
		}
	}
	r, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", r.Status)
	}
}

// TestMetricsFlagOff: without --metrics the server counts nothing.
func TestMetricsFlagOff(t *testing.T) {
	f := &metricsFlags{addr: new(string)}
	if f.nfs() != nil {
		t.Error("counters without --metrics")
	}
	if err := f.start(nil, nil, nil); err != nil {
		t.Error(err)
	}
	*f.addr = "127.0.0.1:0"
	if f.nfs() == nil || f.nfs() != f.nfs() {
		t.Error("--metrics: want one set of counters")
	}
}

// TestMetricsFlagTestbin: with --metrics, testbin.StartFsServ still finds
// the NFS address (the metrics line says url=, not addr=).
func TestMetricsFlagTestbin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs fs_serv")
	}
	s := testbin.StartFsServ(t, "--mem", "-p", "0", "--listen", "127.0.0.1", "--metrics", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := nfs4client.Dial(ctx, s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetupSession(ctx, 1); err != nil {
		t.Fatalf("NFS at %s: %v", s.Addr, err)
	}
}
