package xdr

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecoder (xdr_test.go) keeps its seeds under testdata/fuzz/ too;
// regenerate with `go test ./proto/xdr -run TestWriteFuzzCorpus -fuzzcorpus`.

var fuzzCorpus = flag.Bool("fuzzcorpus", false, "TestWriteFuzzCorpus: rewrite testdata/fuzz/*/seed-* from the seeds")

func TestWriteFuzzCorpus(t *testing.T) {
	if !*fuzzCorpus {
		t.Skip("-fuzzcorpus not given")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecoder")
	old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range samples {
		var e Encoder
		encodeSample(&e, &s)
		b := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", e.Bytes())
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
