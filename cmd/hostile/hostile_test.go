package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/internal/testbin"
)

// TestHostileShort runs the short hostile-client scenario set against a
// real fs_serv process: the checker's NULL and GETATTR must answer within
// 1 s throughout and fs_serv's RSS stay under 256 MiB (issue 6). Limits are
// set low enough that each of them is hit within the 10 s run.
func TestHostileShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	srv := testbin.StartFsServ(t, "-p", "0", "--listen", "127.0.0.1", "--mem",
		"--record-timeout", "2s", "--write-timeout", "4s", "--max-conns-per-addr", "100")
	cfg := ShortConfig()
	cfg.Addr, cfg.PID = srv.Addr, srv.PID()
	cfg.Duration = 8 * time.Second
	var out bytes.Buffer
	res, err := Run(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass() {
		t.Fatalf("FAIL: %s", strings.Join(res.Failures, "; "))
	}
	get := func(scenario, key string) int {
		for _, st := range res.Scenarios {
			if st.Name == scenario {
				return st.Get(key)
			}
		}
		t.Fatalf("no scenario %s", scenario)
		return 0
	}
	// The bounds were exercised, not just survived.
	if n := get("bigmark", "closed"); n == 0 {
		t.Error("bigmark: no connection was closed")
	}
	if get("hold", "refused") == 0 || get("hold", "timed-out") == 0 {
		t.Error("hold: want both refusals (per-address limit) and partial-record timeouts")
	}
	if n := get("opcount", "refused-ok"); n == 0 {
		t.Error("opcount: no COMPOUND answered")
	}
	if get("garbled", "nfs-error") == 0 || get("garbled", "rpc-error") == 0 {
		t.Error("garbled: want both NFS and RPC errors")
	}
	if n := get("pipeline", "closed-by-server"); n == 0 {
		t.Error("pipeline: the non-reading connections were not closed (write timeout)")
	}
	if res.Checks < 20 || res.MaxRSS == 0 {
		t.Errorf("checker rounds %d, max RSS %d: not measured", res.Checks, res.MaxRSS)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, a := range []string{"192.0.2.1:2049", "8.8.8.8:2049", "[2001:db8::1]:2049"} {
		if _, err := Run(context.Background(), Config{Addr: a}, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v", a, err)
		}
	}
	if _, err := checkLoopback("127.0.0.1:1"); err != nil {
		t.Error(err)
	}
}

// TestCheckerDetectsStall makes sure the checker can fail: against a
// listener that accepts but never answers, every round misses its bound.
func TestCheckerDetectsStall(t *testing.T) {
	l := listenSilent(t)
	cfg := Config{Addr: l, Duration: 300 * time.Millisecond, Scenarios: []string{"none"},
		MaxLatency: 100 * time.Millisecond, Interval: 100 * time.Millisecond}
	var out bytes.Buffer
	res, err := Run(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pass() || !strings.Contains(out.String(), "FAIL") {
		t.Fatalf("silent server passed:\n%s", out.String())
	}
}

// listenSilent returns the address of a listener whose connections are
// accepted and never answered.
func listenSilent(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String()
}
