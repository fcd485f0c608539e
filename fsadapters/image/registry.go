package image

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

var (
	regMu   sync.RWMutex
	formats = map[string]Format{}
)

// Register adds a format. Format packages call it from init; a second
// registration under the same name is a programming error and panics.
func Register(f Format) {
	if f.Name == "" || f.Probe == nil || f.Open == nil {
		panic("image: Register: format needs Name, Probe and Open")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := formats[f.Name]; dup {
		panic("image: Register: duplicate format " + f.Name)
	}
	formats[f.Name] = f
}

// Formats returns every registered format, sorted by name.
func Formats() []Format {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Format, 0, len(formats))
	for _, f := range formats {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the format registered under name (for --type).
func Lookup(name string) (Format, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := formats[name]
	return f, ok
}

// ErrUnknownFormat is wrapped by Detect's error when no format matches.
var ErrUnknownFormat = errors.New("no known image format")

// knownNames is "ext4, fat, …" for error messages.
func knownNames() string {
	fs := Formats()
	if len(fs) == 0 {
		return "none registered"
	}
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// weakMagic lists formats whose probes rest on weaker evidence (a boot
// sector signature plus plausible fields, a header checksum, a trailer):
// they are tried after the formats with a distinctive superblock magic, so
// that e.g. an ISO image whose first sector looks like a boot sector is
// still served as ISO 9660.
var weakMagic = map[string]bool{"fat": true, "zip": true, "tar": true}

// Detect returns the first format whose Probe matches: formats with a
// superblock magic first, then fat, tar and zip, each group in name order.
// A Probe that panics on odd input counts as no match.
func Detect(r io.ReaderAt, size int64) (Format, error) {
	fs := Formats()
	sort.SliceStable(fs, func(i, j int) bool { return !weakMagic[fs[i].Name] && weakMagic[fs[j].Name] })
	for _, f := range fs {
		if safeProbe(f, r, size) {
			return f, nil
		}
	}
	return Format{}, fmt.Errorf("%w (known: %s)", ErrUnknownFormat, knownNames())
}

func safeProbe(f Format, r io.ReaderAt, size int64) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return f.Probe(r, size)
}
