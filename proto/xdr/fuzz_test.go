package xdr

import (
	"testing"

	"github.com/fsbridge/fsbridge/internal/fuzzcorpus"
)

// FuzzDecoder (xdr_test.go) keeps its seeds under testdata/fuzz/ too;
// regenerate with `go test ./proto/xdr -run TestWriteFuzzCorpus -fuzzcorpus`.

func TestWriteFuzzCorpus(t *testing.T) {
	fuzzcorpus.SkipUnlessAsked(t)
	var seeds [][]byte
	for _, s := range samples {
		var e Encoder
		encodeSample(&e, &s)
		seeds = append(seeds, e.Bytes())
	}
	fuzzcorpus.Write(t, "FuzzDecoder", fuzzcorpus.Bytes(seeds...))
}
