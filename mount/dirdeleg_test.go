package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/metrics"
)

// Under a directory delegation the listing answers which names exist past
// the entry timeout, and the kernel caches the answers: repeated stats of
// missing names cost no LOOKUP or READDIR at all, long after the timeouts.
// A name a local process on the server then creates recalls the delegation,
// and the mount sees the name at once (without the recall's invalidation
// the kernel would keep the negative entry for DelegTimeout).
func TestDirDelegLookups(t *testing.T) {
	d, md, fsys, cnt := dirDelegListed(t)
	missing := func(round int) {
		t.Helper()
		for i := range 20 {
			if _, err := os.Lstat(filepath.Join(md, fmt.Sprintf("m%02d", i))); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("round %d: m%02d: %v", round, i, err)
			}
		}
	}
	missing(0)
	dirFH := heldDirDeleg(t, fsys)
	time.Sleep(3 * ddTTL)
	os.Stat(md) // the kernel revalidates d itself in the root: one LOOKUP
	look0, rd0 := cnt.OpCount(nfs4.OpLookup), cnt.OpCount(nfs4.OpReadDir)
	for round := 1; round <= 3; round++ {
		missing(round)
	}
	if look, rd := cnt.OpCount(nfs4.OpLookup)-look0, cnt.OpCount(nfs4.OpReadDir)-rd0; look != 0 || rd != 0 {
		t.Errorf("60 stats of missing names past the timeouts cost %d LOOKUP and %d READDIR, want 0", look, rd)
	}

	// A local process (not this one: the in-process server ignores its
	// own pid's changes) creates m05: the delegation is recalled and the
	// kernel's negative entry dropped.
	if out, err := exec.Command("sh", "-c", "printf new > "+filepath.Join(d, "m05")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(md, "m05"))
		if err == nil && string(b) == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("delegation still held: %v", fsys.C.DirDelegation(dirFH) != nil)
			t.Fatalf("m05 created on the server is still %v through the mount 5s later", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("new name visible %v after its creation", time.Since(deadline.Add(-5*time.Second)))
}

// TestDirDelegNamesPastTTL: under a directory delegation, names the
// listing holds are answered past the timeouts with their object but with
// attributes valid for no time: unlinking costs no LOOKUP, and a stat still
// sees a size another process changed on the server (a change to the file,
// not to the directory, does not recall the directory delegation).
func TestDirDelegNamesPastTTL(t *testing.T) {
	d, md, fsys, cnt := dirDelegListed(t)
	dirFH := heldDirDeleg(t, fsys)
	// Another process grows f39 on the server (not this one: the
	// in-process server ignores its own pid's changes).
	if out, err := exec.Command("sh", "-c", "printf 12345 >> "+filepath.Join(d, "f39")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	time.Sleep(3 * ddTTL)
	os.Stat(md) // the kernel revalidates d itself in the root: one LOOKUP
	look0, rm0 := cnt.OpCount(nfs4.OpLookup), cnt.OpCount(nfs4.OpRemove)
	for i := range 39 {
		if err := os.Remove(filepath.Join(md, fmt.Sprintf("f%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if look, rm := cnt.OpCount(nfs4.OpLookup)-look0, cnt.OpCount(nfs4.OpRemove)-rm0; look != 0 || rm != 39 {
		t.Errorf("39 unlinks past the timeouts cost %d LOOKUP and %d REMOVE, want 0 and 39", look, rm)
	}
	if _, err := os.Lstat(filepath.Join(md, "f07")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("f07 after its unlink: %v", err)
	}
	if fsys.C.DirDelegation(dirFH) == nil {
		t.Error("our own unlinks ended the directory delegation")
	}
	st, err := os.Lstat(filepath.Join(md, "f39"))
	if err != nil || st.Size() != 6 {
		t.Fatalf("f39 grown on the server: size %v, %v; want 6", st.Size(), err)
	}
	ents, err := os.ReadDir(md)
	if err != nil || len(ents) != 1 || ents[0].Name() != "f39" {
		t.Fatalf("listing after the unlinks: %v %v", ents, err)
	}
}

// ddTTL is the attribute and entry timeout of dirDelegListed's mount.
const ddTTL = 300 * time.Millisecond

// dirDelegListed exports d with f00…f39 and mounts it with ddTTL timeouts;
// the stat of every name has had the mount list d (lookahead.go). It
// returns d on the server and through the mount.
func dirDelegListed(t *testing.T) (d, md string, fsys *FS, cnt *metrics.NFS) {
	t.Helper()
	addr, export, cnt := serveMetricsT(t)
	d = filepath.Join(export, "d")
	os.Mkdir(d, 0o755)
	for i := range 40 {
		os.WriteFile(filepath.Join(d, fmt.Sprintf("f%02d", i)), []byte("x"), 0o644)
	}
	mnt, fsys, _ := mountOptsT(t, addr, "dd", Options{AttrTimeout: ddTTL, EntryTimeout: ddTTL})
	md = filepath.Join(mnt, "d")
	for i := range 40 {
		if _, err := os.Lstat(filepath.Join(md, fmt.Sprintf("f%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	return d, md, fsys, cnt
}

// heldDirDeleg returns the handle of d, failing unless the mount holds a
// directory delegation on it.
func heldDirDeleg(t *testing.T, fsys *FS) []byte {
	t.Helper()
	dirFH, _, err := fsys.C.LookupAttrs(context.Background(), fsys.Root, "d")
	if err != nil {
		t.Fatal(err)
	}
	if fsys.C.DirDelegation(dirFH) == nil {
		t.Fatal("no directory delegation after the listing")
	}
	return dirFH
}
