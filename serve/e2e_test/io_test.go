package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

var minors = []uint32{0, 1, 2}

// READ/WRITE/COMMIT with the anonymous stateid on a file made on disk:
// the data path without OPEN.
func TestAnonymousIO(t *testing.T) {
	for _, minor := range minors {
		t.Run(fmt.Sprintf("v4.%d", minor), func(t *testing.T) {
			addr, root := startDirServer(t)
			want := randBytes(100000)
			if err := os.WriteFile(filepath.Join(root, "pre"), want, 0o644); err != nil {
				t.Fatal(err)
			}
			c := dial(t, addr, minor)
			ctx := ctxT(t)
			fh, err := c.LookupPath(ctx, "pre")
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.ReadAll(ctx, fh, nfs4.AnonStateID, 32768)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read: %d bytes, err %v", len(got), err)
			}
			w, err := c.Write(ctx, fh, nfs4.AnonStateID, 10, []byte("HELLO"), nfs4.FileSync4)
			if err != nil || w.Count != 5 || w.Committed != nfs4.FileSync4 {
				t.Fatalf("FILE_SYNC write: %+v %v", w, err)
			}
			if disk, _ := os.ReadFile(filepath.Join(root, "pre")); string(disk[10:15]) != "HELLO" {
				t.Fatalf("disk has %q", disk[10:15])
			}
			w, err = c.Write(ctx, fh, nfs4.AnonStateID, 200000, []byte("tail"), nfs4.Unstable4)
			if err != nil || w.Committed != nfs4.Unstable4 {
				t.Fatalf("UNSTABLE write: %+v %v", w, err)
			}
			verf, err := c.Commit(ctx, fh, 0, 0)
			if err != nil || verf != w.WriteVerf {
				t.Fatalf("COMMIT: verf %x want %x, err %v", verf, w.WriteVerf, err)
			}
			a, err := c.GetAttr(ctx, fh, nil)
			if err != nil || a.Size != 200004 {
				t.Fatalf("size after writes: %+v %v", a, err)
			}
			// READ of a directory.
			rootFH, _ := c.RootFH(ctx)
			if _, _, err := c.Read(ctx, rootFH, nfs4.AnonStateID, 0, 10); !isStatus(err, nfs4.ErrIsDir) {
				t.Fatalf("READ of a directory: %v", err)
			}
		})
	}
}

func isStatus(err error, st nfs4.Status) bool {
	se, ok := err.(*nfs4client.StatusError)
	return ok && se.Status == st
}

// One 1 MiB WRITE and one 1 MiB READ through an open stateid, compared by
// SHA-256 with what was sent and with the file on disk.
func TestMiBRoundTrip(t *testing.T) {
	for _, minor := range minors {
		t.Run(fmt.Sprintf("v4.%d", minor), func(t *testing.T) {
			addr, root := startDirServer(t)
			c := dial(t, addr, minor)
			ctx := ctxT(t)
			rootFH, err := c.RootFH(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f, err := c.Create(ctx, rootFH, "big", nfs4client.CreateHow{Mode: nfs4.Unchecked4})
			if err != nil {
				t.Fatal(err)
			}
			data := randBytes(1 << 20)
			w, err := c.Write(ctx, f.FH, f.StateID, 0, data, nfs4.FileSync4)
			if err != nil || w.Count != 1<<20 {
				t.Fatalf("WRITE 1 MiB: %+v %v", w, err)
			}
			got, eof, err := c.Read(ctx, f.FH, f.StateID, 0, 1<<20)
			if err != nil || len(got) != 1<<20 || !eof {
				t.Fatalf("READ 1 MiB: %d bytes eof %v err %v", len(got), eof, err)
			}
			if sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatal("READ returned different data")
			}
			disk, _ := os.ReadFile(filepath.Join(root, "big"))
			if sha256.Sum256(disk) != sha256.Sum256(data) {
				t.Fatal("file on disk differs")
			}
			if err := c.CloseFile(ctx, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Eight writers on one session (one connection) write their own files
// concurrently in 64 KiB UNSTABLE chunks and COMMIT.
func TestConcurrentWriters(t *testing.T) {
	addr, root := startDirServer(t)
	c := dial(t, addr, 1)
	ctx := ctxT(t)
	rootFH, err := c.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const writers, size, chunk = 8, 512 << 10, 64 << 10
	datas := make([][]byte, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		datas[i] = randBytes(size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				f, err := c.Create(ctx, rootFH, fmt.Sprintf("w%d", i), nfs4client.CreateHow{Mode: nfs4.Guarded4})
				if err != nil {
					return err
				}
				for off := 0; off < size; off += chunk {
					if _, err := c.Write(ctx, f.FH, f.StateID, uint64(off), datas[i][off:off+chunk], nfs4.Unstable4); err != nil {
						return err
					}
				}
				if _, err := c.Commit(ctx, f.FH, 0, 0); err != nil {
					return err
				}
				return c.CloseFile(ctx, f)
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range writers {
		disk, err := os.ReadFile(filepath.Join(root, fmt.Sprintf("w%d", i)))
		if err != nil || !bytes.Equal(disk, datas[i]) {
			t.Fatalf("file w%d: %d bytes, err %v", i, len(disk), err)
		}
	}
}

// slowFS holds READs of one file until released.
type slowFS struct {
	fsadapters.FS
	slow    fsadapters.FileHandle
	started chan struct{}
	gate    chan struct{}
}

func (s *slowFS) Open(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, fl fsadapters.OpenFlags) (fsadapters.File, error) {
	f, err := s.FS.Open(ctx, cred, fh, fl)
	if err == nil && bytes.Equal(fh, s.slow) {
		f = &slowFile{File: f, fs: s}
	}
	return f, err
}

type slowFile struct {
	fsadapters.File
	fs *slowFS
}

func (f *slowFile) ReadAt(p []byte, off int64) (int, bool, error) {
	f.fs.started <- struct{}{}
	<-f.fs.gate
	return f.File.ReadAt(p, off)
}

// A READ stuck in the backend must not hold up other connections, nor
// other calls on its own connection.
func TestSlowRequestDoesNotBlock(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "slow"), []byte("slow data"), 0o644)
	os.WriteFile(filepath.Join(root, "fast"), []byte("fast data"), 0o644)
	d, err := dir.New(root, dir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	slowH, _, err := d.Lookup(context.Background(), &fsadapters.Root, d.Root(), "slow")
	if err != nil {
		t.Fatal(err)
	}
	sfs := &slowFS{FS: d, slow: slowH, started: make(chan struct{}, 1), gate: make(chan struct{})}
	addr := startServer(t, sfs)
	c1, c2 := dial(t, addr, 1), dial(t, addr, 1)
	ctx := ctxT(t)
	slowFH, err := c1.LookupPath(ctx, "slow")
	if err != nil {
		t.Fatal(err)
	}
	fastFH, err := c2.LookupPath(ctx, "fast")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		data []byte
		err  error
	}
	slowDone := make(chan result, 1)
	go func() {
		d, _, err := c1.Read(ctx, slowFH, nfs4.AnonStateID, 0, 100)
		slowDone <- result{d, err}
	}()
	<-sfs.started
	for name, c := range map[string]*nfs4client.Client{"other connection": c2, "same connection": c1} {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d, _, err := c.Read(qctx, fastFH, nfs4.AnonStateID, 0, 100)
		cancel()
		if err != nil || string(d) != "fast data" {
			t.Fatalf("READ on %s while another READ is stuck: %q %v", name, d, err)
		}
	}
	select {
	case <-slowDone:
		t.Fatal("slow READ finished before it was released")
	default:
	}
	close(sfs.gate)
	if r := <-slowDone; r.err != nil || string(r.data) != "slow data" {
		t.Fatalf("slow READ: %q %v", r.data, r.err)
	}
}

// benchFile starts a server exporting one file f with content data and
// returns a client connected to it and f's handle.
func benchFile(b *testing.B, data []byte) (*nfs4client.Client, []byte) {
	addr, root := startDirServer(b)
	if err := os.WriteFile(filepath.Join(root, "f"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	c := dial(b, addr, 1)
	fh, err := c.LookupPath(context.Background(), "f")
	if err != nil {
		b.Fatal(err)
	}
	return c, fh
}

// BenchmarkRead1MiB reads 1 MiB per READ (anonymous stateid, file in the
// page cache) through the in-process server over loopback TCP.
func BenchmarkRead1MiB(b *testing.B) {
	c, fh := benchFile(b, randBytes(1<<20))
	ctx := context.Background()
	b.SetBytes(1 << 20)
	for b.Loop() {
		d, _, err := c.Read(ctx, fh, nfs4.AnonStateID, 0, 1<<20)
		if err != nil || len(d) != 1<<20 {
			b.Fatalf("READ: %d bytes, %v", len(d), err)
		}
	}
}

// BenchmarkRead4KiB is one small READ per round trip: the per-call cost of
// client, loopback TCP and server together (its ns/op is the latency).
func BenchmarkRead4KiB(b *testing.B) {
	c, fh := benchFile(b, randBytes(1<<20))
	ctx := context.Background()
	b.SetBytes(4096)
	var off uint64
	for b.Loop() {
		if d, _, err := c.Read(ctx, fh, nfs4.AnonStateID, off, 4096); err != nil || len(d) != 4096 {
			b.Fatalf("READ: %d bytes, %v", len(d), err)
		}
		off = (off + 4096) % (1 << 20)
	}
}

// BenchmarkGetattr is the smallest useful round trip (SEQUENCE, PUTFH,
// GETATTR): the fixed cost of one call through client and server.
func BenchmarkGetattr(b *testing.B) {
	c, fh := benchFile(b, nil)
	ctx := context.Background()
	ctx = context.WithoutCancel(ctx) // as mount's calls: no cancellation
	for b.Loop() {
		if _, err := c.GetAttr(ctx, fh, nfs4client.BasicAttrs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrite1MiB writes 1 MiB UNSTABLE per WRITE.
func BenchmarkWrite1MiB(b *testing.B) {
	c, fh := benchFile(b, nil)
	ctx := context.Background()
	data := randBytes(1 << 20)
	b.SetBytes(1 << 20)
	for b.Loop() {
		if _, err := c.Write(ctx, fh, nfs4.AnonStateID, 0, data, nfs4.Unstable4); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead1MiBParallel keeps several 1 MiB READs in flight on one
// session (one connection).
func BenchmarkRead1MiBParallel(b *testing.B) {
	c, fh := benchFile(b, randBytes(1<<20))
	ctx := context.Background()
	b.SetBytes(1 << 20)
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d, _, err := c.Read(ctx, fh, nfs4.AnonStateID, 0, 1<<20); err != nil || len(d) != 1<<20 {
				b.Errorf("READ: %d bytes, %v", len(d), err)
				return
			}
		}
	})
}

// Another user presenting someone's open stateid still needs permission
// (pynfs RD12/WRT19); the file's owner keeps access after a chmod.
func TestStolenStateid(t *testing.T) {
	for _, minor := range []uint32{0, 1} {
		t.Run(fmt.Sprintf("v4.%d", minor), func(t *testing.T) {
			addr, root := startDirServer(t)
			c := dial(t, addr, minor)
			ctx := ctxT(t)
			rootFH, _ := c.RootFH(ctx)
			var mode nfs4.Bitmap
			mode.Set(nfs4.AttrMode)
			f, err := c.Create(ctx, rootFH, "private", nfs4client.CreateHow{Mode: nfs4.Guarded4,
				Attrs: &nfs4.Attrs{Present: mode, Mode: 0o600}})
			if err != nil {
				t.Fatal(err)
			}
			rootCred := c.Cred
			c.Cred = rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "thief", UID: 3912, GID: 2422})
			if _, err := c.Write(ctx, f.FH, f.StateID, 0, []byte("x"), nfs4.Unstable4); !isStatus(err, nfs4.ErrAccess) {
				t.Fatalf("WRITE with a stolen stateid: %v, want ACCESS", err)
			}
			if _, _, err := c.Read(ctx, f.FH, f.StateID, 0, 1); !isStatus(err, nfs4.ErrAccess) {
				t.Fatalf("READ with a stolen stateid: %v, want ACCESS", err)
			}
			// The owner may use the open even with no permission bits.
			p := filepath.Join(root, "private")
			if err := os.Chown(p, 3912, 2422); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, 0)
			if _, err := c.Write(ctx, f.FH, f.StateID, 0, []byte("x"), nfs4.Unstable4); err != nil {
				t.Fatalf("WRITE by the owner of a mode-0 file: %v", err)
			}
			c.Cred = rootCred
		})
	}
}
