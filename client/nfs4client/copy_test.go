package nfs4client

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

func dial42(t *testing.T, addr string, minor uint32) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetupSession(ctx, minor); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	})
	return c
}

// Against fs_serv: COPY and CLONE between two opens, ALLOCATE and
// DEALLOCATE, with the server's answers checked by reading back.
func TestCopyAllocateRealServer(t *testing.T) {
	addr := realServer(t)
	c := dial42(t, addr, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	root, err := c.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src, err := c.Create(ctx, root, "src", CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := c.Create(ctx, root, "dst", CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("copy me "), 40000)
	if _, _, err := c.WriteAll(ctx, src.FH, src.SID(), 0, data, nfs4.FileSync4); err != nil {
		t.Fatal(err)
	}
	r := &CopyRange{Src: src.FH, SrcSID: src.SID(), Dst: dst.FH, DstSID: dst.SID(), DstOff: 10}
	w, err := c.Copy(ctx, r)
	if err != nil || w.Count != uint64(len(data)) {
		t.Fatalf("Copy: %+v, %v", w, err)
	}
	if w.Committed == nfs4.Unstable4 {
		if v, err := c.Commit(ctx, dst.FH, 0, 0); err != nil || v != w.WriteVerf {
			t.Fatalf("Commit: %v, %v (copy verifier %v)", v, err, w.WriteVerf)
		}
	}
	got, err := c.ReadAll(ctx, dst.FH, dst.SID(), 1<<16)
	if err != nil || !bytes.Equal(got[:10], make([]byte, 10)) || !bytes.Equal(got[10:], data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}

	// Source range past its end: NFS4ERR_INVAL (RFC 7862 §15.2.3).
	bad := *r
	bad.SrcOff, bad.Count = uint64(len(data)), 1
	if _, err := c.Copy(ctx, &bad); !errors.Is(err, nfs4.ErrInval) {
		t.Fatalf("Copy past EOF: %v", err)
	}
	// A read-only open cannot be the destination.
	ro, err := c.Open(ctx, root, "src", nfs4.ShareAccessRead)
	if err != nil {
		t.Fatal(err)
	}
	bad = *r
	bad.Src, bad.SrcSID, bad.Dst, bad.DstSID = dst.FH, dst.SID(), ro.FH, ro.SID()
	if _, err := c.Copy(ctx, &bad); !errors.Is(err, nfs4.ErrOpenMode) {
		t.Fatalf("Copy into a read-only open: %v", err)
	}

	// CLONE (the memory backend clones by copying).
	cl := &CopyRange{Src: src.FH, SrcSID: src.SID(), Dst: dst.FH, DstSID: dst.SID(), SrcOff: 0, DstOff: 0, Count: 10}
	if err := c.Clone(ctx, cl); err != nil {
		t.Fatalf("Clone: %v", err)
	}
	if got, _, err := c.Read(ctx, dst.FH, dst.SID(), 0, 12); err != nil || string(got) != "copy me co"+"co" {
		t.Fatalf("after Clone: %q, %v", got, err)
	}

	// ALLOCATE extends; DEALLOCATE zeros and keeps the size.
	size := uint64(len(data)) + 10
	if err := c.Allocate(ctx, dst.FH, dst.SID(), size, 1000); err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if err := c.Deallocate(ctx, dst.FH, dst.SID(), 0, 100); err != nil {
		t.Fatalf("Deallocate: %v", err)
	}
	a, err := c.GetAttr(ctx, dst.FH, bitmap(nfs4.AttrSize))
	if err != nil || a.Size != size+1000 {
		t.Fatalf("size after Allocate/Deallocate: %d, %v", a.Size, err)
	}
	if got, _, err := c.Read(ctx, dst.FH, dst.SID(), 0, 101); err != nil || !bytes.Equal(got[:100], make([]byte, 100)) || got[100] == 0 {
		t.Fatalf("after Deallocate: %q, %v", got, err)
	}
	if err := c.Allocate(ctx, dst.FH, dst.SID(), 0, 0); !errors.Is(err, nfs4.ErrInval) {
		t.Fatalf("Allocate length 0: %v", err)
	}
}

// On 4.1 the calls fail locally with ErrNeed42, which is NOTSUPP.
func TestCopyNeeds42(t *testing.T) {
	c := dial42(t, realServer(t), 1)
	ctx := context.Background()
	for _, err := range []error{
		c.Allocate(ctx, nil, nfs4.StateID{}, 0, 1),
		c.Deallocate(ctx, nil, nfs4.StateID{}, 0, 1),
		c.Clone(ctx, &CopyRange{}),
		func() error { _, err := c.Copy(ctx, &CopyRange{}); return err }(),
	} {
		if err != ErrNeed42 || !errors.Is(err, nfs4.ErrNotSupp) {
			t.Errorf("got %v, want ErrNeed42", err)
		}
	}
}
