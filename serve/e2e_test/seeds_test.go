package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// The seed objections (shared/seeds/002), each shown against the real server.

// (a) A file renamed into another directory while open — by a client
// RENAME and by a local mv on the server — keeps serving READs through the
// open stateid and filehandle: handles name objects, not paths.
func TestSeedRenameWhileOpen(t *testing.T) {
	for _, minor := range minors {
		t.Run(fmt.Sprintf("v4.%d", minor), func(t *testing.T) {
			addr, root := startDirServer(t)
			c := dial(t, addr, minor)
			ctx := ctxT(t)
			rootFH, err := c.RootFH(ctx)
			if err != nil {
				t.Fatal(err)
			}
			fooFH, err := c.Mkdir(ctx, rootFH, "foo")
			if err != nil {
				t.Fatal(err)
			}
			f, err := c.Create(ctx, rootFH, "bar", nfs4client.CreateHow{Mode: nfs4.Guarded4})
			if err != nil {
				t.Fatal(err)
			}
			data := randBytes(300000)
			if _, err := c.Write(ctx, f.FH, f.StateID, 0, data, nfs4.FileSync4); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				got, err := c.ReadAll(ctx, f.FH, f.StateID, 65536)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: READ through the open got %d bytes, err %v", when, len(got), err)
				}
			}
			check("before rename")
			// mv bar foo/bar, over NFS.
			if err := c.Rename(ctx, rootFH, "bar", fooFH, "bar"); err != nil {
				t.Fatal(err)
			}
			check("after RENAME bar → foo/bar")
			if _, err := c.LookupPath(ctx, "bar"); !isStatus(err, nfs4.ErrNoEnt) {
				t.Fatalf("old name still resolves: %v", err)
			}
			// mv foo/bar baz, locally on the server.
			if err := os.Rename(filepath.Join(root, "foo", "bar"), filepath.Join(root, "baz")); err != nil {
				t.Fatal(err)
			}
			check("after local mv foo/bar → baz")
			// Writes through the open land in the renamed file.
			if _, err := c.Write(ctx, f.FH, f.StateID, 0, []byte("new"), nfs4.FileSync4); err != nil {
				t.Fatal(err)
			}
			if disk, _ := os.ReadFile(filepath.Join(root, "baz")); !bytes.HasPrefix(disk, []byte("new")) {
				t.Fatal("WRITE after rename did not reach the renamed file")
			}
			if err := c.CloseFile(ctx, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// (b) A filehandle taken before fs_serv restarts still works afterwards
// (dir backend: handles are kernel handles plus a MAC keyed per export,
// both persistent). State does not survive: the old open stateid is stale.
func TestSeedHandleSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	p1 := startBinary(t, dir)
	c := dial(t, p1.Addr, 1)
	ctx := ctxT(t)
	rootFH, err := c.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	subFH, err := c.Mkdir(ctx, rootFH, "sub")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, subFH, "keep", nfs4client.CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(200000)
	if _, err := c.Write(ctx, f.FH, f.StateID, 0, data, nfs4.FileSync4); err != nil {
		t.Fatal(err)
	}
	before, err := c.GetAttr(ctx, f.FH, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	p1.Kill()

	p2 := startBinary(t, dir)
	c2 := dial(t, p2.Addr, 1)
	after, err := c2.GetAttr(ctx, f.FH, nil)
	if err != nil {
		t.Fatalf("GETATTR with a pre-restart handle: %v", err)
	}
	if after.FileID != before.FileID || after.Size != uint64(len(data)) {
		t.Fatalf("attributes after restart: fileid %d size %d, want %d %d", after.FileID, after.Size, before.FileID, len(data))
	}
	got, err := c2.ReadAll(ctx, f.FH, nfs4.AnonStateID, 65536)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("READ with a pre-restart handle: %d bytes, err %v", len(got), err)
	}
	// A directory handle from before the restart: LOOKUP beneath it.
	res, err := c2.Do(ctx, nfs4client.PutFH(subFH), nfs4client.Lookup("keep"), nfs4client.GetFH())
	if err != nil || !bytes.Equal(res.Results[2].Res.(*nfs4.GetFHRes).Object, f.FH) {
		t.Fatalf("LOOKUP under a pre-restart directory handle: %v", err)
	}
	// The open did not survive the restart (RFC 8881 §8.6.2).
	if _, _, err := c2.Read(ctx, f.FH, f.StateID, 0, 10); !isStatus(err, nfs4.ErrStaleStateID) && !isStatus(err, nfs4.ErrBadStateID) {
		t.Fatalf("READ with a pre-restart stateid: %v, want STALE_STATEID", err)
	}
}

// (c) FILE_SYNC data is in the file when the reply arrives: the server is
// killed with SIGKILL right after each reply and the export directory is
// read directly. This proves the write(2) completed before the reply (no
// data waits in fs_serv's memory). It cannot prove the data reached stable
// storage — that needs power loss, and the page cache survives a process
// kill; the sync half (pwritev2 RWF_DSYNC) is checked by the dir backend's
// own tests.
func TestSeedFileSyncBeforeReply(t *testing.T) {
	dir := t.TempDir()
	data := randBytes(1 << 20)
	for i, chunk := range []int{1 << 20, 4096} {
		p := startBinary(t, dir)
		c := dial(t, p.Addr, 1)
		ctx := ctxT(t)
		rootFH, err := c.RootFH(ctx)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("durable%d", i)
		f, err := c.Create(ctx, rootFH, name, nfs4client.CreateHow{Mode: nfs4.Guarded4})
		if err != nil {
			t.Fatal(err)
		}
		part := data[:chunk]
		w, err := c.Write(ctx, f.FH, f.StateID, 0, part, nfs4.FileSync4)
		p.Kill() // at once, before anything else can flush
		if err != nil || w.Count != uint32(chunk) || w.Committed != nfs4.FileSync4 {
			t.Fatalf("FILE_SYNC WRITE: %+v %v", w, err)
		}
		disk, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || sha256.Sum256(disk) != sha256.Sum256(part) {
			t.Fatalf("after kill -9, %s has %d bytes (err %v), want the %d written", name, len(disk), err, chunk)
		}
	}
}

// (d) An EXCLUSIVE create whose reply is lost and which is sent again
// succeeds exactly once: the retransmission on the same slot is answered
// from the session reply cache; a retry as a fresh request (new session,
// same verifier) finds the file with our verifier and succeeds too; a
// different verifier gets EXIST. One file, one fileid throughout.
func TestSeedExclusiveCreateRetransmit(t *testing.T) {
	t.Run("v4.1", func(t *testing.T) {
		addr, root := startDirServer(t)
		c := dial(t, addr, 1)
		ctx := ctxT(t)
		rootFH, err := c.RootFH(ctx)
		if err != nil {
			t.Fatal(err)
		}
		verf := nfs4.Verifier{1, 2, 3, 4, 5, 6, 7, 8}
		openOps := func(v nfs4.Verifier, owner string, clientID uint64) []nfs4.ArgOp {
			// WANT_NO_DELEG: these raw OPENs bypass the client's
			// delegation tracking, so nothing would return one.
			return []nfs4.ArgOp{nfs4client.PutFH(rootFH), {Op: nfs4.OpOpen, Args: &nfs4.OpenArgs{
				ShareAccess: nfs4.ShareAccessBoth | nfs4.ShareAccessWantNoDeleg, ShareDeny: nfs4.ShareDenyNone,
				Owner: nfs4.OpenOwner{ClientID: clientID, Owner: []byte(owner)},
				OpenHow: nfs4.OpenFlag{OpenType: nfs4.OpenCreate, CreateHow: nfs4.CreateHow{
					Mode: nfs4.Exclusive4_1, CreateVerf: v, CreateAttrs: nfs4.Fattr{Mask: nfs4.Bitmap{}}}},
				Claim: nfs4.OpenClaim{Claim: nfs4.ClaimNull, File: []byte("x")}}},
				nfs4client.GetAttrOp(nfs4.Bitmap{1 << nfs4.AttrFileID})}
		}
		fileID := func(res *nfs4.CompoundRes) uint64 {
			t.Helper()
			f := res.Results[len(res.Results)-1].Res.(*nfs4.GetattrRes).ObjAttributes
			a, err := nfs4.DecodeAttrs(&f)
			if err != nil {
				t.Fatal(err)
			}
			return a.FileID
		}

		// Send by hand on one slot, then send the identical bytes again.
		slot, seqid, err := c.Session.NextSlot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		args := &nfs4.CompoundArgs{MinorVersion: 1, Ops: append([]nfs4.ArgOp{{Op: nfs4.OpSequence,
			Args: &nfs4.SequenceArgs{SessionID: c.Session.ID, SequenceID: seqid, SlotID: slot, CacheThis: true}}},
			openOps(verf, "owner-a", c.ClientID)...)}
		first, err := c.Send(ctx, args)
		if err != nil || first.Status != nfs4.OK {
			t.Fatalf("EXCLUSIVE4_1 OPEN: %v %v", first, err)
		}
		again, err := c.Send(ctx, args) // the first reply was "lost"
		c.Session.ReleaseSlot(slot, true)
		if err != nil || again.Status != nfs4.OK {
			t.Fatalf("retransmitted OPEN: %v %v", again, err)
		}
		id := fileID(first)
		if fileID(again) != id || again.Results[2].Res.(*nfs4.OpenRes).StateID != first.Results[2].Res.(*nfs4.OpenRes).StateID {
			t.Fatal("retransmission was not answered with the original reply")
		}

		// Retry as a new request from a client that lost its session.
		c2 := dial(t, addr, 1)
		res, err := c2.Do(ctx, openOps(verf, "owner-b", c2.ClientID)...)
		if err != nil || fileID(res) != id {
			t.Fatalf("re-sent EXCLUSIVE4_1 with the same verifier: %v", err)
		}
		other := verf
		other[0] ^= 0xff
		if _, err := c2.Do(ctx, openOps(other, "owner-b", c2.ClientID)...); !isStatus(err, nfs4.ErrExist) {
			t.Fatalf("EXCLUSIVE4_1 with another verifier: %v, want EXIST", err)
		}
		countName(t, root, "x")
	})
	t.Run("v4.0", func(t *testing.T) {
		addr, root := startDirServer(t)
		ctx := ctxT(t)
		verf := nfs4.Verifier{8, 7, 6, 5, 4, 3, 2, 1}
		var ids []uint64
		for range 2 { // two clients: the second plays the retransmission
			c := dial(t, addr, 0)
			rootFH, _ := c.RootFH(ctx)
			f, err := c.Create(ctx, rootFH, "x", nfs4client.CreateHow{Mode: nfs4.Exclusive4, Verf: verf})
			if err != nil {
				t.Fatalf("EXCLUSIVE4 OPEN: %v", err)
			}
			a, err := c.GetAttr(ctx, f.FH, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.FileID)
		}
		if ids[0] != ids[1] {
			t.Fatalf("fileids %d and %d", ids[0], ids[1])
		}
		c := dial(t, addr, 0)
		rootFH, _ := c.RootFH(ctx)
		verf[0] ^= 0xff
		if _, err := c.Create(ctx, rootFH, "x", nfs4client.CreateHow{Mode: nfs4.Exclusive4, Verf: verf}); !isStatus(err, nfs4.ErrExist) {
			t.Fatalf("EXCLUSIVE4 with another verifier: %v, want EXIST", err)
		}
		countName(t, root, "x")
	})
}

// countName checks that dir holds exactly the one entry name.
func countName(t *testing.T, dir, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != name {
		t.Fatalf("directory holds %v, want just %q", ents, name)
	}
}
