package mount

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// A long sequential write is committed in the background as it goes
// (commitAhead): COMMITs reach the server before the file is closed, the
// copies kept for a resend never exceed maxPending, and the data is right.
func TestCommitAhead(t *testing.T) {
	addr, export, cnt := serveMetricsT(t)
	mnt, _, _ := mountOptsT(t, addr, "commit", Options{NoDeleg: true})
	f, err := os.Create(filepath.Join(mnt, "seq"))
	if err != nil {
		t.Fatal(err)
	}
	data := randData(40 << 20)
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := f.Write(data[off : off+1<<20]); err != nil {
			t.Fatal(err)
		}
	}
	commits := cnt.OpCount(nfs4.OpCommit)
	if commits < 2 {
		t.Errorf("%d COMMITs while writing 40 MiB: the copies kept were not committed ahead", commits)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(export, "seq"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("server's copy: %d bytes, %v, equal %v", len(got), err, bytes.Equal(got, data))
	}
	t.Logf("%d COMMITs during the write", commits)
}
