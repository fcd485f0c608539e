package nfs4client

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// realServer starts an in-process fs_serv (memory backend) and returns
// its address.
func realServer(t *testing.T) string {
	t.Helper()
	nfs := nfs4srv.New(nfs4srv.Config{FS: mem.New(), Log: slog.New(slog.DiscardHandler)})
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

func dialSession(t *testing.T, addr string, h DelegHandler) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if h != nil {
		c.EnableDelegations(h)
	}
	if err := c.SetupSession(ctx, 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	})
	return c
}

// Against fs_serv: a read open brings a read delegation; another
// client's write open makes the server recall it over the back channel,
// the holder's handler runs, DELEGRETURN lets the writer in. Then the
// same after the holder's connection was cut and re-dialled: the new
// connection is bound to the back channel (BIND_CONN_TO_SESSION), so the
// recall still arrives at once instead of the server waiting a lease.
func TestDelegRecallRealServer(t *testing.T) {
	addr := realServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := &recordingHandler{}
	b := dialSession(t, addr, h)
	a := dialSession(t, addr, nil)
	if !b.DelegationsEnabled() {
		t.Fatal("no back channel granted")
	}
	root, err := a.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Create(ctx, root, "f", CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	a.CloseFile(ctx, f)

	for round, cut := range []bool{false, true} {
		of, err := b.OpenFH(ctx, f.FH, nfs4.ShareAccessRead)
		if err != nil {
			t.Fatal(err)
		}
		if of.Res.Delegation.DelegationType != nfs4.DelegateRead || b.Delegation(f.FH) == nil {
			t.Fatalf("round %d: no read delegation: %+v", round, of.Res.Delegation)
		}
		if err := b.CloseFile(ctx, of); err != nil {
			t.Fatal(err)
		}
		if cut {
			b.conn().Close()
			// The next call re-dials and re-binds.
			if _, err := b.GetAttr(ctx, f.FH, nil); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		w, err := a.OpenFH(ctx, f.FH, nfs4.ShareAccessWrite)
		if err != nil {
			t.Fatalf("round %d: writer's open: %v", round, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("round %d: the writer waited %v: the recall did not reach the holder", round, d)
		}
		a.CloseFile(ctx, w)
		if b.Delegation(f.FH) != nil {
			t.Fatalf("round %d: B still holds the delegation", round)
		}
		h.mu.Lock()
		n := len(h.recalled)
		h.mu.Unlock()
		if n != round+1 {
			t.Fatalf("round %d: handler saw %d recalls", round, n)
		}
	}
}

// A local open under a delegation reads with the delegation stateid and
// becomes a server open (CLAIM_DELEG_CUR_FH) that outlives the return.
func TestDelegLocalOpenConvert(t *testing.T) {
	addr := realServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := dialSession(t, addr, &recordingHandler{})
	root, _ := b.RootFH(ctx)
	f, err := b.Create(ctx, root, "g", CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(ctx, f.FH, f.SID(), 0, []byte("hello"), nfs4.FileSync4); err != nil {
		t.Fatal(err)
	}
	b.CloseFile(ctx, f)
	b.ReturnAllDelegations(ctx) // a write delegation from the create, maybe
	of, err := b.OpenFH(ctx, f.FH, nfs4.ShareAccessRead)
	if err != nil {
		t.Fatal(err)
	}
	d := b.Delegation(f.FH)
	if d == nil {
		t.Fatal("no delegation")
	}
	b.CloseFile(ctx, of)
	lf := b.OpenLocal(d, nfs4.ShareAccessRead, nil)
	if data, _, err := b.Read(ctx, lf.FH, lf.SID(), 0, 100); err != nil || string(data) != "hello" {
		t.Fatalf("read under the delegation: %q %v", data, err)
	}
	if err := b.ConvertLocal(ctx, lf, d); err != nil || lf.Local() {
		t.Fatalf("convert: %v (local %v)", err, lf.Local())
	}
	if err := b.ReturnDelegation(ctx, d); err != nil {
		t.Fatal(err)
	}
	if data, _, err := b.Read(ctx, lf.FH, lf.SID(), 0, 100); err != nil || string(data) != "hello" {
		t.Fatalf("read after the return: %q %v", data, err)
	}
	if err := b.CloseFile(ctx, lf); err != nil {
		t.Fatal(err)
	}
}
