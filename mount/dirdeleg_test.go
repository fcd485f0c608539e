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
)

// Under a directory delegation the listing answers which names exist past
// the entry timeout, and the kernel caches the answers: repeated stats of
// missing names cost no LOOKUP or READDIR at all, long after the timeouts.
// A name a local process on the server then creates recalls the delegation,
// and the mount sees the name at once (without the recall's invalidation
// the kernel would keep the negative entry for DelegTimeout).
func TestDirDelegLookups(t *testing.T) {
	addr, export, cnt := serveMetricsT(t)
	d := filepath.Join(export, "d")
	os.Mkdir(d, 0o755)
	for i := range 40 {
		os.WriteFile(filepath.Join(d, fmt.Sprintf("f%02d", i)), []byte("x"), 0o644)
	}
	const ttl = 300 * time.Millisecond
	mnt, fsys, _ := mountOptsT(t, addr, "dd", Options{AttrTimeout: ttl, EntryTimeout: ttl})
	md := filepath.Join(mnt, "d")
	missing := func(round int) {
		t.Helper()
		for i := range 20 {
			if _, err := os.Lstat(filepath.Join(md, fmt.Sprintf("m%02d", i))); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("round %d: m%02d: %v", round, i, err)
			}
		}
	}
	for i := range 40 {
		if _, err := os.Lstat(filepath.Join(md, fmt.Sprintf("f%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	missing(0)
	dirFH, _, err := fsys.C.LookupAttrs(context.Background(), fsys.Root, "d")
	if err != nil {
		t.Fatal(err)
	}
	if fsys.C.DirDelegation(dirFH) == nil {
		t.Fatal("no directory delegation after the listing")
	}
	time.Sleep(3 * ttl)
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
