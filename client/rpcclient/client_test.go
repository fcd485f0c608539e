package rpcclient_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

const toyProg = 0x20000042

// toy: proc 0 NULL, 1 echo (reports the AUTH_SYS uid first), 2 blocks
// until ctx ends or the test releases it, 3 calls the client back, 4 is
// refused with AUTH_TOOWEAK.
type toy struct{ release chan struct{} }

func (t *toy) ServeRPC(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
	if c.Prog != toyProg {
		return rpcsrv.Accepted(rpc.ProgUnavail)
	}
	switch c.Proc {
	case 0:
		return rpcsrv.Success()
	case 1:
		uid := []byte{0, 0, 0, 0}
		if c.Cred.Flavor == rpc.AuthSys {
			uid = []byte{byte(c.Cred.Sys.UID >> 24), byte(c.Cred.Sys.UID >> 16), byte(c.Cred.Sys.UID >> 8), byte(c.Cred.Sys.UID)}
		}
		return rpcsrv.Success(uid, bytes.Clone(c.Args))
	case 2:
		select {
		case <-t.release:
		case <-ctx.Done():
		}
		return rpcsrv.Success()
	case 3:
		b, err := c.Conn.Call(ctx, 0x40000000, 1, 1, rpc.Auth{}, net.Buffers{c.Args})
		var ae *rpc.AcceptedError
		if errors.As(err, &ae) {
			return rpcsrv.Accepted(ae.Stat) // pass the callback status on
		}
		if err != nil {
			return rpcsrv.Accepted(rpc.SystemErr)
		}
		return rpcsrv.Success(bytes.Clone(b))
	case 4:
		return rpcsrv.AuthError(rpc.AuthTooWeak)
	}
	return rpcsrv.Accepted(rpc.ProcUnavail)
}

func setup(t *testing.T) (*rpcclient.Client, *toy, *rpcsrv.Server) {
	t.Helper()
	ty := &toy{release: make(chan struct{})}
	s := &rpcsrv.Server{Handler: ty, Logf: t.Logf}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	c, err := rpcclient.Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return c, ty, s
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConcurrentCalls(t *testing.T) {
	c, _, _ := setup(t)
	cred := rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "c", UID: 0x01020304, GID: 5})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arg := []byte{byte(i), byte(i >> 8), 9, 9}
			b, err := c.Call(ctx5(t), toyProg, 1, 1, cred, net.Buffers{arg[:2], arg[2:]})
			if err != nil || !bytes.Equal(b, append([]byte{1, 2, 3, 4}, arg...)) {
				t.Errorf("call %d: %x %v", i, b, err)
			}
		}()
	}
	wg.Wait()
}

func TestTypedErrors(t *testing.T) {
	c, _, _ := setup(t)
	var ae *rpc.AcceptedError
	if _, err := c.Call(ctx5(t), 7, 1, 0, rpc.Auth{}, nil); !errors.As(err, &ae) || ae.Stat != rpc.ProgUnavail {
		t.Fatalf("prog unavail: %v", err)
	}
	if _, err := c.Call(ctx5(t), toyProg, 1, 99, rpc.Auth{}, nil); !errors.As(err, &ae) || ae.Stat != rpc.ProcUnavail {
		t.Fatalf("proc unavail: %v", err)
	}
	var de *rpc.DeniedError
	if _, err := c.Call(ctx5(t), toyProg, 1, 4, rpc.Auth{}, nil); !errors.As(err, &de) ||
		de.Stat != rpc.AuthError || de.AuthStat != rpc.AuthTooWeak {
		t.Fatalf("denied: %v", err)
	}
}

func TestContextTimeout(t *testing.T) {
	c, ty, _ := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, toyProg, 1, 2, rpc.Auth{}, nil); err != context.DeadlineExceeded {
		t.Fatalf("timeout: %v", err)
	}
	close(ty.release) // the late reply is discarded
	if _, err := c.Call(ctx5(t), toyProg, 1, 0, rpc.Auth{}, nil); err != nil {
		t.Fatalf("client unusable after a timed-out call: %v", err)
	}
}

func TestConnectionLossFailsWaiters(t *testing.T) {
	c, _, s := setup(t)
	errs := make(chan error, 10)
	for range 10 {
		go func() { _, err := c.Call(ctx5(t), toyProg, 1, 2, rpc.Auth{}, nil); errs <- err }()
	}
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s.Shutdown(ctx) // in-flight calls never finish: connections are forced closed
	for range 10 {
		if err := <-errs; !errors.Is(err, rpcclient.ErrClosed) {
			t.Fatalf("waiter: %v", err)
		}
	}
	if _, err := c.Call(ctx5(t), toyProg, 1, 0, rpc.Auth{}, nil); !errors.Is(err, rpcclient.ErrClosed) {
		t.Fatalf("call after loss: %v", err)
	}
	if c.Err() == nil {
		t.Fatal("Err nil after loss")
	}
}

func TestCallbacks(t *testing.T) {
	c, _, _ := setup(t)
	var ae *rpc.AcceptedError
	if _, err := c.Call(ctx5(t), toyProg, 1, 3, rpc.Auth{}, net.Buffers{[]byte("abcd")}); !errors.As(err, &ae) || ae.Stat != rpc.ProgUnavail {
		t.Fatalf("callback without handler: %v", err)
	}
	c.HandleCallbacks(func(ctx context.Context, h *rpc.CallHeader, args []byte) (rpc.AcceptStat, []byte) {
		if h.Prog != 0x40000000 {
			return rpc.ProgUnavail, nil
		}
		return rpc.Success, bytes.ToUpper(args)
	})
	b, err := c.Call(ctx5(t), toyProg, 1, 3, rpc.Auth{}, net.Buffers{[]byte("abcd")})
	if err != nil || string(b) != "ABCD" {
		t.Fatalf("callback: %q %v", b, err)
	}
}
