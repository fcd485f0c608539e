package krb5

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeytabEntry is one key of a keytab.
type KeytabEntry struct {
	Components []string // principal name components, e.g. ["nfs", "localhost"]
	Realm      string
	NameType   uint32
	Timestamp  uint32
	KVNO       uint32
	Etype      int32
	Key        []byte
}

// Principal returns "a/b@REALM".
func (e *KeytabEntry) Principal() string {
	return strings.Join(e.Components, "/") + "@" + e.Realm
}

// Keytab is a parsed MIT keytab file.
type Keytab struct {
	Entries []KeytabEntry
}

// maxKeytabSize bounds LoadKeytab; real keytabs are a few KiB.
const maxKeytabSize = 16 << 20

// LoadKeytab reads and parses a keytab file.
func LoadKeytab(path string) (*Keytab, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxKeytabSize {
		return nil, fmt.Errorf("krb5: keytab %s too large (%d bytes)", path, fi.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kt, err := ParseKeytab(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kt, nil
}

// ktReader is a bounds-checked cursor over one keytab record.
type ktReader struct {
	b   []byte
	ord binary.ByteOrder
	err error
}

func (r *ktReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errors.New("krb5: keytab entry truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *ktReader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *ktReader) u16() uint16 {
	if v := r.take(2); v != nil {
		return r.ord.Uint16(v)
	}
	return 0
}

func (r *ktReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return r.ord.Uint32(v)
	}
	return 0
}

// counted reads a 16-bit length-prefixed octet string; the length is checked
// against the remaining record before anything is allocated.
func (r *ktReader) counted() []byte {
	return r.take(int(r.u16()))
}

// ParseKeytab parses the MIT keytab format (file format versions 0x0502,
// big-endian, and 0x0501, host byte order, taken as little-endian with the
// realm counted among the components). Deleted entries (negative record
// length) are skipped.
func ParseKeytab(b []byte) (*Keytab, error) {
	if len(b) < 2 || b[0] != 0x05 || (b[1] != 0x01 && b[1] != 0x02) {
		return nil, errors.New("krb5: not a keytab (bad version header)")
	}
	v1 := b[1] == 0x01
	var ord binary.ByteOrder = binary.BigEndian
	if v1 {
		ord = binary.LittleEndian
	}
	kt := &Keytab{}
	rest := b[2:]
	for len(rest) > 0 {
		if len(rest) < 4 {
			return nil, errors.New("krb5: keytab truncated in record length")
		}
		size := int32(ord.Uint32(rest))
		rest = rest[4:]
		if size == 0 {
			break // MIT treats a zero length as end of file
		}
		n := int64(size)
		if n < 0 {
			n = -n
		}
		if n > int64(len(rest)) {
			return nil, fmt.Errorf("krb5: keytab record of %d bytes exceeds remaining %d", n, len(rest))
		}
		rec := rest[:n]
		rest = rest[n:]
		if size < 0 {
			continue // hole left by a deleted entry
		}
		e, err := parseKeytabEntry(rec, ord, v1)
		if err != nil {
			return nil, err
		}
		kt.Entries = append(kt.Entries, e)
	}
	return kt, nil
}

func parseKeytabEntry(rec []byte, ord binary.ByteOrder, v1 bool) (KeytabEntry, error) {
	r := &ktReader{b: rec, ord: ord}
	var e KeytabEntry
	ncomp := int(r.u16())
	if v1 {
		ncomp-- // version 1 counts the realm as a component
	}
	// Each component needs at least its 2-byte length.
	if ncomp < 0 || ncomp*2 > len(r.b) {
		return e, fmt.Errorf("krb5: keytab entry has bad component count %d", ncomp)
	}
	e.Realm = string(r.counted())
	e.Components = make([]string, 0, ncomp)
	for i := 0; i < ncomp; i++ {
		e.Components = append(e.Components, string(r.counted()))
	}
	if !v1 {
		e.NameType = r.u32()
	}
	e.Timestamp = r.u32()
	e.KVNO = uint32(r.u8())
	e.Etype = int32(int16(r.u16()))
	e.Key = append([]byte(nil), r.counted()...)
	if r.err != nil {
		return e, r.err
	}
	// Optional trailing 32-bit kvno overrides the 8-bit one when non-zero.
	if len(r.b) >= 4 {
		if k := r.u32(); k != 0 {
			e.KVNO = k
		}
	}
	return e, nil
}

// String lists the entries, one per line (for diagnostics; no key material).
func (kt *Keytab) String() string {
	var sb strings.Builder
	for i := range kt.Entries {
		e := &kt.Entries[i]
		fmt.Fprintf(&sb, "%s kvno %d etype %d\n", e.Principal(), e.KVNO, e.Etype)
	}
	return sb.String()
}
