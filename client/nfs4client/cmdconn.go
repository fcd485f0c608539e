package nfs4client

import (
	"context"
	"errors"
	"github.com/fsbridge/fsbridge/client/rpcclient"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"
)

// CmdConn is a net.Conn over a child process's stdin/stdout: the tunnel
// behind `-c 'ssh host fs_serv --stdio /data'`. The child's stderr is
// passed through to ours so ssh prompts and server errors stay visible.
type CmdConn struct {
	cmd  *exec.Cmd
	w    *os.File // child's stdin
	r    *os.File // child's stdout
	desc string

	closeOnce sync.Once
	closeErr  error
	exited    chan struct{}
	waitErr   error
}

// CloseGrace is how long Close waits for the child to exit after its
// stdin is closed before killing it.
var CloseGrace = 3 * time.Second

// StartCommand runs command with /bin/sh -c and returns a connection over
// its stdin/stdout. ctx only bounds the start, not the connection.
func StartCommand(ctx context.Context, command string) (*CmdConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// os.Pipe (not Cmd.StdinPipe) so our ends are pollable *os.File with
	// deadline support, and so Wait does not close them under a reader.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	if err := cmd.Start(); err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	// The child holds its own copies; ours would keep EOF from arriving.
	inR.Close()
	outW.Close()
	c := &CmdConn{cmd: cmd, w: inW, r: outR, desc: command, exited: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

func (c *CmdConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *CmdConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// Close closes the child's stdin (a well-behaved server exits on EOF),
// waits up to CloseGrace for it to exit, kills it otherwise, and then
// closes its stdout (which unblocks a pending Read). It returns the
// child's exit error only if it had to be killed.
func (c *CmdConn) Close() error {
	c.closeOnce.Do(func() {
		c.w.Close()
		t := time.NewTimer(CloseGrace)
		defer t.Stop()
		select {
		case <-c.exited:
		case <-t.C:
			c.cmd.Process.Kill()
			<-c.exited
			c.closeErr = errors.New("tunnel command did not exit after its input closed; killed")
		}
		c.r.Close()
	})
	return c.closeErr
}

// Exited is closed once the child process has exited; ExitErr then
// reports how.
func (c *CmdConn) Exited() <-chan struct{} { return c.exited }

// ExitErr is the child's exit status (nil for success) once Exited is
// closed.
func (c *CmdConn) ExitErr() error {
	select {
	case <-c.exited:
		return c.waitErr
	default:
		return nil
	}
}

// CmdAddr is the address a CmdConn reports: the command line.
type CmdAddr string

func (a CmdAddr) Network() string { return "cmd" }
func (a CmdAddr) String() string  { return string(a) }

func (c *CmdConn) LocalAddr() net.Addr  { return CmdAddr("stdio") }
func (c *CmdConn) RemoteAddr() net.Addr { return CmdAddr(c.desc) }

func (c *CmdConn) SetDeadline(t time.Time) error {
	return errors.Join(c.r.SetReadDeadline(t), c.w.SetWriteDeadline(t))
}
func (c *CmdConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *CmdConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

// DialCommand starts command (see StartCommand) and returns a Client
// over it; like Dial, the caller then sets up a session.
func DialCommand(ctx context.Context, command string) (*Client, error) {
	cc, err := StartCommand(ctx, command)
	if err != nil {
		return nil, err
	}
	c := New(cc)
	// A tunnel that died (ssh dropped) is started again on the next call.
	c.redial = func(ctx context.Context) (*rpcclient.Client, error) {
		cc, err := StartCommand(ctx, command)
		if err != nil {
			return nil, err
		}
		return rpcclient.NewClient(cc), nil
	}
	return c, nil
}
