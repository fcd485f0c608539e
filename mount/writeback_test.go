package mount

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// With -o writeback, small writes are merged by the kernel into few WRITEs,
// and close-to-open holds: what one mount wrote is what another reads right
// after the close, and what the server has.
func TestWritebackCloseToOpen(t *testing.T) {
	addr, export, cnt := serveMetricsT(t)
	a, _, _ := mountOptsT(t, addr, "wb-a", Options{Writeback: true})
	b, _, _ := mountOptsT(t, addr, "wb-b", Options{})
	want := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16*4) // 256 KiB in 1 KiB writes
	f, err := os.Create(filepath.Join(a, "f"))
	if err != nil {
		t.Fatal(err)
	}
	w0 := cnt.OpCount(nfs4.OpWrite)
	for off := 0; off < len(want); off += 1024 {
		if _, err := f.Write(want[off : off+1024]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if writes := cnt.OpCount(nfs4.OpWrite) - w0; writes == 0 || writes > 8 {
		t.Errorf("%d WRITEs for 256 writes of 1 KiB, want them merged into a few", writes)
	}
	for _, p := range []string{filepath.Join(b, "f"), filepath.Join(export, "f")} {
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s after the close: %d bytes, %v", p, len(got), err)
		}
	}
}
