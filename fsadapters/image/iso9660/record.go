package iso9660

import (
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf16"
)

// Directory record layout, ECMA-119 §9.1.
const (
	drMinLen    = 34 // 33 fixed bytes + at least one identifier byte
	flagHidden  = 0x01
	flagDir     = 0x02
	flagAssoc   = 0x04
	flagMultiEx = 0x80
)

// record is one parsed directory record. It holds copies, never slices of
// the sector buffer it came from (that buffer is reused for the next
// chunk).
type record struct {
	off      int64  // byte offset of the record in the image
	extent   uint32 // LBA of the extent (both-endian field, §7.3.3: we read the LE half)
	xar      uint32 // extended attribute record length in blocks
	size     uint32
	date     [7]byte
	flags    byte
	unitSize byte // interleaving (§9.1.7); non-zero is unsupported
	gap      byte
	ident    []byte // file identifier
	su       []byte // system use area (raw, before the SUSP skip)
}

// parseRecord parses the record b (exactly its LEN_DR bytes) found at off.
func parseRecord(b []byte, off int64) (record, error) {
	if len(b) < drMinLen {
		return record{}, corrupt(off, "directory record length", nil)
	}
	lenFI := int(b[32])
	if lenFI == 0 || 33+lenFI > len(b) {
		return record{}, corrupt(off, "directory record file identifier length", nil)
	}
	if !both733(b[2:], 2) {
		return record{}, corrupt(off, "directory record extent location or data length (byte orders disagree)", nil)
	}
	r := record{
		off:      off,
		xar:      uint32(b[1]),
		extent:   binary.LittleEndian.Uint32(b[2:]),
		size:     binary.LittleEndian.Uint32(b[10:]),
		flags:    b[25],
		unitSize: b[26],
		gap:      b[27],
		ident:    append([]byte(nil), b[33:33+lenFI]...),
	}
	copy(r.date[:], b[18:25])
	su := 33 + lenFI
	if lenFI%2 == 0 { // padding field, §9.1.12
		su++
	}
	if su < len(b) {
		r.su = append([]byte(nil), b[su:]...)
	}
	return r, nil
}

func (r *record) isDot() bool    { return len(r.ident) == 1 && r.ident[0] == 0 }
func (r *record) isDotDot() bool { return len(r.ident) == 1 && r.ident[0] == 1 }

// shortDate decodes the 7-byte recording date (§9.1.5), also used by RRIP
// TF in its short form: years since 1900, month, day, hour, minute,
// second, GMT offset in 15-minute units (-48..52). A zero month or day
// means "not specified" and gives the Unix epoch.
func shortDate(b []byte) time.Time {
	if len(b) < 7 || b[1] == 0 || b[2] == 0 {
		return time.Unix(0, 0).UTC()
	}
	t := time.Date(1900+int(b[0]), time.Month(b[1]), int(b[2]), int(b[3]), int(b[4]), int(b[5]), 0, time.UTC)
	return applyOffset(t, int8(b[6]))
}

// longDate decodes the 17-byte dec-digit form (§8.4.26.1), used by RRIP TF
// with LONG_FORM: "YYYYMMDDhhmmsscc" + GMT offset. Unspecified or
// malformed dates give the Unix epoch.
func longDate(b []byte) time.Time {
	if len(b) < 17 {
		return time.Unix(0, 0).UTC()
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	var v [7]int
	spans := [7][2]int{{0, 4}, {4, 6}, {6, 8}, {8, 10}, {10, 12}, {12, 14}, {14, 16}}
	for i, s := range spans {
		n, ok := num(b[s[0]:s[1]])
		if !ok {
			return time.Unix(0, 0).UTC()
		}
		v[i] = n
	}
	if v[1] == 0 || v[2] == 0 {
		return time.Unix(0, 0).UTC()
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], v[6]*10_000_000, time.UTC)
	return applyOffset(t, int8(b[16]))
}

// applyOffset turns a local time recorded with GMT offset off (15-minute
// units) into UTC. Offsets outside -52..52 are ignored, as Linux does.
func applyOffset(t time.Time, off int8) time.Time {
	if off >= -52 && off <= 52 {
		t = t.Add(-time.Duration(off) * 15 * time.Minute)
	}
	return t
}

// isoName maps an ISO 9660 identifier the way Linux does with map=normal:
// lowercase, drop a trailing ";1" (and ".;1"), turn other ';' into '.'.
func isoName(id []byte) string {
	var sb strings.Builder
	n := len(id)
	for i := 0; i < n; i++ {
		c := id[i]
		if c == 0 {
			break
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '.' && i == n-3 && id[i+1] == ';' && id[i+2] == '1' {
			break
		}
		if c == ';' && i == n-2 && id[i+1] == '1' {
			break
		}
		if c == ';' || c == '/' {
			c = '.'
		}
		sb.WriteByte(c)
	}
	return sanitize(sb.String())
}

// jolietName decodes a Joliet identifier: UCS-2 big-endian, which
// joliet-long writers (and Windows) fill with UTF-16, so surrogate pairs
// are decoded; a trailing ";1" and trailing dots are dropped like Linux.
func jolietName(id []byte) string {
	u := make([]uint16, 0, len(id)/2)
	for i := 0; i+1 < len(id); i += 2 {
		u = append(u, uint16(id[i])<<8|uint16(id[i+1]))
	}
	s := string(utf16.Decode(u))
	if strings.HasSuffix(s, ";1") {
		s = s[:len(s)-2]
	}
	for len(s) > 1 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return sanitize(s)
}

// sanitize makes a name usable as one path component: '/' and NUL cannot
// appear in a POSIX name, invalid UTF-8 is kept (NFS names are opaque).
func sanitize(s string) string {
	if strings.ContainsAny(s, "/\x00") {
		s = strings.Map(func(r rune) rune {
			if r == '/' || r == 0 {
				return '_'
			}
			return r
		}, s)
	}
	return s
}
