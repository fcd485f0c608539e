// Package testbin builds the project's binaries for tests that need a real
// process (to kill it with SIGKILL, restart it, or run it as a user would)
// and runs fs_serv on a loopback port.
package testbin

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	Addr     string // host:port it listens on
	cmd      *exec.Cmd
	done     chan struct{}
	stateDir string
	killOnce sync.Once
}

// stateDirs in use by running servers: a second server on the same export
// (at the same time) gets a directory of its own, a restarted one the
// first server's (so its clients can reclaim).
var (
	stateMu   sync.Mutex
	stateUsed = map[string]bool{}
)

func takeStateDir(export string) string {
	stateMu.Lock()
	defer stateMu.Unlock()
	sum := sha256.Sum256([]byte(export))
	for i := 0; ; i++ {
		d := filepath.Join(os.TempDir(), fmt.Sprintf("fsbridge-test-state-%s-%d", hex.EncodeToString(sum[:8]), i))
		if !stateUsed[d] {
			stateUsed[d] = true
			return d
		}
	}
}

var addrRE = regexp.MustCompile(`addr=(\S+)`)

// StartFsServ runs fs_serv with args (e.g. "-p", "0", "--listen",
// "127.0.0.1", "--lease", "5s", DIR) and waits until it reports the address
// it serves. The process is killed when the test ends.
func StartFsServ(t testing.TB, args ...string) *Server {
	t.Helper()
	return StartServer(t, Build(t, "cmd/fs_serv"), args...)
}

// StartServer is StartFsServ with an fs_serv binary the caller built.
//
// Unless args name a --state-dir, the client records go to a directory of
// the test's own, derived from the export (the last argument), so a restart
// within one test finds them (and reclaims work) and nothing is left in
// fs_serv's default /var/lib/fsbridge. The server's log is shown when the
// test fails.
func StartServer(t testing.TB, bin string, args ...string) *Server {
	t.Helper()
	var stateDir string
	if !slices.Contains(args, "--state-dir") && len(args) > 0 {
		stateDir = takeStateDir(args[len(args)-1])
		t.Cleanup(func() { os.RemoveAll(stateDir) })
		args = append([]string{"--state-dir", stateDir}, args...)
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{}), stateDir: stateDir}
	var logMu sync.Mutex
	var logBuf []byte // the log's last maxLog bytes
	const maxLog = 64 << 10
	t.Cleanup(func() {
		s.Kill()
		logMu.Lock()
		defer logMu.Unlock()
		if t.Failed() && len(logBuf) > 0 {
			t.Logf("fs_serv log (%s):\n%s", s.Addr, logBuf)
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			logMu.Lock()
			logBuf = append(logBuf, sc.Text()...)
			logBuf = append(logBuf, '\n')
			if len(logBuf) > maxLog {
				logBuf = logBuf[len(logBuf)-maxLog:]
			}
			logMu.Unlock()
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
		t.Fatalf("fs_serv exited before serving:\n%s", logBuf)
	case <-time.After(20 * time.Second):
		t.Fatal("fs_serv did not report its address")
	}
	return s
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.done
	s.killOnce.Do(func() {
		if s.stateDir != "" {
			stateMu.Lock()
			delete(stateUsed, s.stateDir)
			stateMu.Unlock()
		}
	})
}

// PID returns the process id (to sample its memory, for example).
func (s *Server) PID() int { return s.cmd.Process.Pid }
