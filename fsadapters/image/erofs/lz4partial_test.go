package erofs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pierrec/lz4/v4"
)

func TestLZ4Partial(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var text bytes.Buffer
	for i := 0; text.Len() < 100000; i++ {
		fmt.Fprintf(&text, "line %d %d\n", i, rng.IntN(50))
	}
	in := text.Bytes()
	comp := make([]byte, lz4.CompressBlockBound(len(in)))
	n, err := lz4.CompressBlock(in, comp, nil)
	if err != nil || n == 0 {
		t.Fatal(n, err)
	}
	// Followed by padding, as in images without 0padding.
	src := append(comp[:n:n], make([]byte, 4096)...)
	out := make([]byte, len(in))
	if got, err := lz4Partial(src, out); err != nil || got != len(in) || !bytes.Equal(out, in) {
		t.Fatalf("full decode: %d, %v", got, err)
	}
	// A prefix of the output (partial decoding).
	part := make([]byte, 12345)
	if got, err := lz4Partial(src, part); err != nil || got != len(part) || !bytes.Equal(part, in[:len(part)]) {
		t.Fatalf("partial decode: %d, %v", got, err)
	}
	// Damaged streams: errors, never panics.
	for i := 0; i < 2000; i++ {
		bad := bytes.Clone(src[:n])
		for k := 0; k < 1+rng.IntN(4); k++ {
			bad[rng.IntN(len(bad))] = byte(rng.Uint32())
		}
		lz4Partial(bad[:rng.IntN(len(bad)+1)], out)
	}
	if _, err := lz4Partial([]byte{0x00, 0x00, 0x00}, make([]byte, 8)); err == nil {
		t.Error("offset 0 accepted")
	}
}
