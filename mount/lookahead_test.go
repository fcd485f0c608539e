package mount

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// A run of lookups in one directory is answered from one listing: stat of
// 300 files a fresh mount has not seen costs a few READDIRs, not 300
// LOOKUPs, and every answer is right, including "no such file".
func TestLookaheadStatRun(t *testing.T) {
	addr, export, cnt := serveMetricsT(t)
	d := filepath.Join(export, "d")
	os.Mkdir(d, 0o755)
	const n = 300
	for i := range n {
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%03d", i)), make([]byte, i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mnt, _, _ := mountOptsT(t, addr, "look", Options{NoDeleg: true, AttrTimeout: 5 * time.Second, EntryTimeout: 5 * time.Second})
	lookups0 := int(cnt.OpCount(nfs4.OpLookup))
	for i := range n {
		st, err := os.Lstat(filepath.Join(mnt, "d", fmt.Sprintf("f%03d", i)))
		if err != nil || st.Size() != int64(i) {
			t.Fatalf("f%03d: %v, size %v", i, err, st)
		}
	}
	for i := range 20 {
		if _, err := os.Lstat(filepath.Join(mnt, "d", fmt.Sprintf("missing%d", i))); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("missing%d: %v", i, err)
		}
	}
	lookups := int(cnt.OpCount(nfs4.OpLookup)) - lookups0
	if lookups > 2*lookaheadMisses+2 {
		t.Errorf("%d LOOKUPs for %d stats, want a listing to answer most", lookups, n+20)
	}
	if int(cnt.OpCount(nfs4.OpReadDir)) == 0 {
		t.Error("no READDIR: the directory was not listed")
	}
	t.Logf("%d stats: %d LOOKUP, %d READDIR", n+20, lookups, int(cnt.OpCount(nfs4.OpReadDir)))
}

// Changes made through the mount keep the listing exact; a name another
// client (here: a local process on the export) adds shows up once the
// listing is older than the entry timeout.
func TestLookaheadCoherence(t *testing.T) {
	addr, export, _ := serveMetricsT(t)
	d := filepath.Join(export, "d")
	os.Mkdir(d, 0o755)
	for i := range 50 {
		os.WriteFile(filepath.Join(d, fmt.Sprintf("f%02d", i)), []byte("x"), 0o644)
	}
	const ttl = 500 * time.Millisecond
	mnt, _, _ := mountOptsT(t, addr, "look", Options{NoDeleg: true, AttrTimeout: ttl, EntryTimeout: ttl})
	md := filepath.Join(mnt, "d")
	statAll := func() {
		for i := range 50 {
			os.Lstat(filepath.Join(md, fmt.Sprintf("f%02d", i)))
		}
	}
	statAll() // the listing is fetched

	// Through the mount: create, write, remove, rename.
	if err := os.WriteFile(filepath.Join(md, "new"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(filepath.Join(md, "new")); err != nil || st.Size() != 5 {
		t.Fatalf("created here: %v %v", st, err)
	}
	if err := os.Remove(filepath.Join(md, "f00")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(md, "f00")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("removed here, still there: %v", err)
	}
	if err := os.Rename(filepath.Join(md, "f01"), filepath.Join(md, "g01")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(md, "f01")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("renamed away, still there: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(md, "g01")); err != nil {
		t.Fatalf("renamed here, not there: %v", err)
	}
	// A write through the mount, then the file's dentry is forgotten by
	// the kernel: the next lookup must not answer the listing's old size.
	f, err := os.OpenFile(filepath.Join(md, "f02"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("more"))
	f.Close()
	time.Sleep(ttl + 50*time.Millisecond) // the kernel's dentry expires
	statAll()                             // a new listing, fetched after the write
	if st, err := os.Lstat(filepath.Join(md, "f02")); err != nil || st.Size() != 5 {
		t.Fatalf("after our write: %v %v, want size 5", st, err)
	}

	// Another writer: a name added on the server is seen within about
	// one entry timeout (listing age plus the kernel's remaining time).
	statAll()
	if err := os.WriteFile(filepath.Join(d, "remote"), []byte("r"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(ttl + 300*time.Millisecond)
	for {
		_, err := os.Lstat(filepath.Join(md, "remote"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a file added by another writer still missing after %v: %v", ttl+300*time.Millisecond, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A listing answers only callers with the credential it was fetched for:
// LOOKUP checks search permission on the directory.
func TestLookaheadPermission(t *testing.T) {
	addr, export, _ := serveMetricsT(t)
	d := filepath.Join(export, "private")
	os.Mkdir(d, 0o700)
	for i := range 30 {
		os.WriteFile(filepath.Join(d, fmt.Sprintf("f%02d", i)), []byte("x"), 0o644)
	}
	os.Chmod(export, 0o755)
	mnt, _, _ := mountOptsT(t, addr, "look", Options{NoDeleg: true, AllowOther: true, AttrTimeout: 5 * time.Second, EntryTimeout: 5 * time.Second})
	os.Chmod(filepath.Dir(mnt), 0o755) // t.TempDir's parent is 0700
	// uid 1000 can reach the mount, and a name outside private.
	os.WriteFile(filepath.Join(export, "public"), []byte("x"), 0o644)
	asUser := func(path string) ([]byte, error) {
		cmd := exec.Command("stat", "-c", "%s", path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
		return cmd.CombinedOutput()
	}
	if out, err := asUser(filepath.Join(mnt, "public")); err != nil {
		t.Fatalf("uid 1000 cannot stat a public file: %v %s", err, out)
	}
	for i := range 20 {
		if _, err := os.Lstat(filepath.Join(mnt, "private", fmt.Sprintf("f%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Root's lookups fetched the listing; f25 is in it but not in the
	// kernel's dcache, so uid 1000's stat reaches Lookup.
	target := filepath.Join(mnt, "private", "f25")
	if out, err := asUser(target); err == nil {
		t.Fatalf("uid 1000 could stat %s in a 0700 directory of root: %s", target, out)
	}
}
