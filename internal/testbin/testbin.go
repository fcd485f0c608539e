// Package testbin builds the project's binaries for tests that need a real
// process (to kill it with SIGKILL, restart it, or run it as a user would)
// and runs fs_serv on a loopback port.
package testbin

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	mu    sync.Mutex
	built = map[string]string{} // package → binary path
	dir   string
)

// Build builds the command package pkg (e.g. "cmd/fs_serv") once per test
// binary and returns the path of the executable.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "fsbridge-bin-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	b, err := exec.Command(goTool, "build", "-o", out, "github.com/fsbridge/fsbridge/"+pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// Server is a running fs_serv process.
type Server struct {
	Addr string // host:port it listens on
	cmd  *exec.Cmd
	done chan struct{}
}

var addrRE = regexp.MustCompile(`addr=(\S+)`)

// StartFsServ runs fs_serv with args (e.g. "-p", "0", "--listen",
// "127.0.0.1", "--lease", "5s", DIR) and waits until it reports the address
// it serves. The process is killed when the test ends.
//
// Unless args name a --state-dir, the client records go to a directory of
// the test's own, derived from the export (the last argument), so a restart
// within one test finds them (and reclaims work) and nothing is left in
// fs_serv's default /var/lib/fsbridge.
func StartFsServ(t testing.TB, args ...string) *Server {
	t.Helper()
	if !slices.Contains(args, "--state-dir") && len(args) > 0 {
		bin := Build(t, "cmd/fs_serv")
		sum := sha256.Sum256([]byte(args[len(args)-1]))
		sd := filepath.Join(filepath.Dir(bin), "state-"+hex.EncodeToString(sum[:8]))
		t.Cleanup(func() { os.RemoveAll(sd) })
		args = append([]string{"--state-dir", sd}, args...)
	}
	cmd := exec.Command(Build(t, "cmd/fs_serv"), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(s.Kill)
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
	case s.Addr = <-found:
	case <-s.done:
		t.Fatal("fs_serv exited before serving")
	case <-time.After(20 * time.Second):
		t.Fatal("fs_serv did not report its address")
	}
	return s
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// PID returns the process id (to sample its memory, for example).
func (s *Server) PID() int { return s.cmd.Process.Pid }
