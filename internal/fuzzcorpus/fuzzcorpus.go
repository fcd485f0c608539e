// Package fuzzcorpus writes a fuzz target's seed inputs into the package's
// testdata/fuzz/<Target>/ in go test's corpus file format, so the seeds are
// checked in and plain `go test` runs them. Each package's
// TestWriteFuzzCorpus calls Write; it runs only with -fuzzcorpus:
//
//	go test ./proto/nfs4 -run TestWriteFuzzCorpus -fuzzcorpus
package fuzzcorpus

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var rewrite = flag.Bool("fuzzcorpus", false, "TestWriteFuzzCorpus: rewrite testdata/fuzz/*/seed-* from the seeds")

// SkipUnlessAsked skips t unless -fuzzcorpus was given.
func SkipUnlessAsked(t testing.TB) {
	t.Helper()
	if !*rewrite {
		t.Skip("-fuzzcorpus not given")
	}
}

// Seed is one input: the fuzz function's arguments in order ([]byte or
// uint32), and an optional name for the file.
type Seed struct {
	Name string
	Args []any
}

// Bytes makes one single-argument Seed per input.
func Bytes(inputs ...[]byte) []Seed {
	s := make([]Seed, len(inputs))
	for i, b := range inputs {
		s[i] = Seed{Args: []any{b}}
	}
	return s
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Write replaces the seed-* files of testdata/fuzz/<target>/ with seeds
// ("go test fuzz v1", then one Go literal per argument). Files the fuzzer
// saved (findings) are kept.
func Write(t testing.TB, target string, seeds []Seed) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		b := []byte("go test fuzz v1\n")
		for _, a := range s.Args {
			switch v := a.(type) {
			case []byte:
				b = fmt.Appendf(b, "[]byte(%q)\n", v)
			case uint32:
				b = fmt.Appendf(b, "uint32(%d)\n", v)
			default:
				t.Fatalf("%s seed %d: argument of type %T", target, i, a)
			}
		}
		name := fmt.Sprintf("seed-%03d", i)
		if s.Name != "" {
			name += "-" + unsafeName.ReplaceAllString(s.Name, "_")
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
