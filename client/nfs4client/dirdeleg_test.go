package nfs4client

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// dirHooks records the directory delegation hooks' calls.
type dirHooks struct {
	recalls chan []byte
	notes   chan []nfs4.NotifyValues
}

func newDirHooks(c *Client) *dirHooks {
	h := &dirHooks{recalls: make(chan []byte, 4), notes: make(chan []nfs4.NotifyValues, 4)}
	c.SetDirDelegHooks(DirDelegHooks{
		OnRecall: func(fh []byte) { h.recalls <- fh },
		OnNotify: func(fh []byte, ch []nfs4.NotifyValues) { h.notes <- ch },
	})
	return h
}

// dirDelegSetup dials two sessions a and b to a real fs_serv, installs
// recording hooks on a and has it take a delegation on the root with the
// notification types in notify.
func dirDelegSetup(t *testing.T, notify nfs4.Bitmap) (ctx context.Context, a, b *Client, h *dirHooks, root []byte, d *DirDeleg) {
	t.Helper()
	addr := realServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	a = dialSession(t, addr, nil)
	b = dialSession(t, addr, nil)
	h = newDirHooks(a)
	root, err := a.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, err = a.GetDirDelegation(ctx, root, notify); err != nil {
		t.Fatalf("GetDirDelegation: %v", err)
	}
	return ctx, a, b, h, root, d
}

// Against fs_serv: another client's create recalls the directory
// delegation; the hook runs, the delegation is returned by itself and the
// create, which waited for it, completes.
func TestDirDelegRecallRealServer(t *testing.T) {
	ctx, a, b, h, root, d := dirDelegSetup(t, nil)
	if a.DirDelegation(root) != d || !d.Valid() {
		t.Fatal("delegation not in the table")
	}
	if d2, err := a.GetDirDelegation(ctx, root, nil); err != nil || d2 != d {
		t.Fatalf("second GetDirDelegation: %v, %v", d2, err)
	}
	// Our own create does not recall it.
	if _, err := a.Create(ctx, root, "own", CreateHow{Mode: nfs4.Unchecked4}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.recalls:
		t.Fatal("own create recalled the delegation")
	case <-time.After(300 * time.Millisecond):
	}

	done := make(chan error, 1)
	go func() {
		_, err := b.Create(ctx, root, "theirs", CreateHow{Mode: nfs4.Unchecked4})
		done <- err
	}()
	select {
	case fh := <-h.recalls:
		if !bytes.Equal(fh, root) {
			t.Fatalf("OnRecall(%x), want the root %x", fh, root)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnRecall not called")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("other client's create: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("other client's create still waiting: delegation not returned")
	}
	if d.Valid() || a.DirDelegation(root) != nil {
		t.Fatal("recalled delegation still valid")
	}
	// Asking for a file's delegation: NOTDIR.
	f, err := a.Create(ctx, root, "plain", CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetDirDelegation(ctx, f.FH, nil); !errors.Is(err, nfs4.ErrNotDir) {
		t.Fatalf("GetDirDelegation(file): %v, want NOTDIR", err)
	}
}

// With NOTIFY4_ADD_ENTRY, another client's create arrives as OnNotify and
// the delegation stays; ReturnDirDelegation gives it back.
func TestDirDelegNotifyRealServer(t *testing.T) {
	ctx, a, b, h, root, d := dirDelegSetup(t, nfs4.Bitmap{1 << nfs4.NotifyAddEntry})
	if !d.Notify.Has(nfs4.NotifyAddEntry) {
		t.Fatalf("granted notifications %v", d.Notify)
	}
	if _, err := b.Create(ctx, root, "new", CreateHow{Mode: nfs4.Unchecked4}); err != nil {
		t.Fatal(err)
	}
	select {
	case ch := <-h.notes:
		if len(ch) != 1 || ch[0].Add == nil || string(ch[0].Add.NewEntry.Name) != "new" {
			t.Fatalf("OnNotify %+v", ch)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnNotify not called")
	}
	if !d.Valid() {
		t.Fatal("notified delegation no longer valid")
	}
	if err := a.ReturnDirDelegation(ctx, d); err != nil {
		t.Fatal(err)
	}
	if a.DirDelegation(root) != nil {
		t.Fatal("returned delegation still in the table")
	}
	select {
	case <-h.recalls:
		t.Fatal("OnRecall for a voluntary return")
	default:
	}
}

// Shutdown returns directory delegations too: another client's change
// then needs no recall (which would wait for a lease, the holder being
// gone).
func TestDirDelegReturnedAtShutdown(t *testing.T) {
	ctx, a, b, _, root, _ := dirDelegSetup(t, nil)
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	if _, err := b.Create(cctx, root, "after", CreateHow{Mode: nfs4.Unchecked4}); err != nil {
		t.Fatalf("create after the holder's shutdown: %v", err)
	}
}
