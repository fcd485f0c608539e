package nfs4client

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/internal/testcert"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// A connection lost under DialTLS is re-dialled with the TLS upgrade
// again: the server requires TLS, so a plain redial would be refused.
func TestDialTLSRedial(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	var tlsCalls atomic.Int64
	var mu sync.Mutex
	var conns []*rpcsrv.Conn
	srv := &rpcsrv.Server{
		Logf:       func(string, ...any) {},
		TLS:        rpcsrv.NewTLSConfig(ca.Server(t, "127.0.0.1").TLS, nil),
		RequireTLS: true,
		OnConnect: func(c *rpcsrv.Conn) {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		},
		Handler: rpcsrv.HandlerFunc(func(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
			if c.Proc == nfs4.ProcNull {
				return rpcsrv.Success()
			}
			if c.Conn.TLS() != nil {
				tlsCalls.Add(1)
			}
			var e xdr.Encoder
			(&nfs4.CompoundRes{}).Encode(&e)
			return rpcsrv.Success(e.Buf)
		}),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialTLS(ctx, l.Addr().String(), &tls.Config{RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(ctx, &nfs4.CompoundArgs{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, sc := range conns {
		sc.Close() // the server drops the connection
	}
	mu.Unlock()
	if _, err := c.Send(ctx, &nfs4.CompoundArgs{}); err != nil {
		t.Fatalf("after the connection was lost: %v", err)
	}
	mu.Lock()
	n := len(conns)
	mu.Unlock()
	if n != 2 || tlsCalls.Load() != 2 {
		t.Fatalf("%d connections, %d COMPOUNDs over TLS; want 2 and 2", n, tlsCalls.Load())
	}
}
