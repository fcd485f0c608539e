package e2e

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// tmpRoot holds the fs_serv binary built by TestMain.
var tmpRoot string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "fsbridge-e2e-")
	if err != nil {
		panic(err)
	}
	tmpRoot = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// fsServBinary builds cmd/fs_serv once per test run (only tests that need
// to kill or restart the server use it).
func fsServBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			goTool = "go"
		}
		binPath = filepath.Join(tmpRoot, "fs_serv")
		out, err := exec.Command(goTool, "build", "-o", binPath, "github.com/fsbridge/fsbridge/cmd/fs_serv").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build fs_serv: " + e.err.Error() + "\n" + e.out }

// startServer runs the NFSv4 server in process over fs on a loopback port
// and returns its address.
func startServer(t testing.TB, fs fsadapters.FS) string {
	t.Helper()
	return startServerConfig(t, nfs4srv.Config{FS: fs})
}

// startServerConfig is startServer with a whole Config (lease time, …).
func startServerConfig(t testing.TB, cfg nfs4srv.Config) string {
	t.Helper()
	cfg.Log = slog.New(slog.DiscardHandler)
	nfs := nfs4srv.New(cfg)
	srv := &rpcsrv.Server{Handler: nfs, Logf: func(string, ...any) {}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		nfs.Close()
	})
	return l.Addr().String()
}

// startDirServer exports a new temporary directory in process; it returns
// the address and the directory.
func startDirServer(t testing.TB) (addr, root string) {
	t.Helper()
	root = t.TempDir()
	fs, err := dir.New(root, dir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, fs), root
}

// dial connects a client and sets up minor version minor (0: SETCLIENTID,
// else a session).
func dial(t testing.TB, addr string, minor uint32) *nfs4client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nfs4client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if minor == 0 {
		err = c.SetupClientID(ctx)
	} else {
		err = c.SetupSession(ctx, minor)
	}
	if err != nil {
		t.Fatalf("client setup (minor %d): %v", minor, err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serverProc is a running fs_serv process.
type serverProc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

var addrRE = regexp.MustCompile(`addr=(\S+)`)

// startBinary runs fs_serv exporting dir on a free loopback port.
func startBinary(t *testing.T, dir string) *serverProc {
	t.Helper()
	cmd := exec.Command(fsServBinary(t), "-p", "0", "--listen", "127.0.0.1", "--lease", "5s", dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() { p.kill() })
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
		close(p.done)
	}()
	select {
	case p.addr = <-found:
	case <-p.done:
		t.Fatal("fs_serv exited before serving")
	case <-time.After(20 * time.Second):
		t.Fatal("fs_serv did not report its address")
	}
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *serverProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}
