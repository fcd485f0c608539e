package fat

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// cp437 maps OEM bytes 0x80..0xFF of short names to Unicode (Linux vfat's
// default codepage=437).
const cp437str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0"

var cp437 = []rune(cp437str)

func oemString(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(cp437[c-0x80])
		}
	}
	return sb.String()
}

// NT lowercase flags in DIR_NTRes (byte 12), as Windows NT and Linux use
// them for names that fit 8.3 in one case.
const (
	ntLowerBase = 0x08
	ntLowerExt  = 0x10
)

// shortName renders DIR_Name (11 bytes) as "BASE.EXT", lowercasing base
// and extension per the NT flags when lower is set. Lowercasing maps within
// the code page, like Linux's nls_tolower on codepage 437.
func shortName(e []byte, lower bool) string {
	var n [11]byte
	copy(n[:], e[:11])
	if n[0] == 0x05 { // KANJI lead byte 0xE5 stored as 0x05 (fatgen103 §6.1)
		n[0] = 0xE5
	}
	part := func(b []byte, lc bool) string {
		s := oemString(bytes.TrimRight(b, " "))
		if !lower || !lc {
			return s
		}
		return strings.Map(func(r rune) rune {
			if l := unicode.ToLower(r); l != r && (l < 0x80 || strings.ContainsRune(cp437str, l)) {
				return l
			}
			return r
		}, s)
	}
	s := part(n[:8], e[12]&ntLowerBase != 0)
	if ext := part(n[8:11], e[12]&ntLowerExt != 0); ext != "" {
		s += "." + ext
	}
	return s
}

// lfnChecksum is the checksum of DIR_Name that every long-name entry of the
// set carries (fatgen103 §7).
func lfnChecksum(name []byte) byte {
	var sum byte
	for _, c := range name[:11] {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	return sum
}

// lfnUnits are the byte offsets of the 13 UCS-2 units in a long-name entry.
var lfnUnits = [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}

// lfnState collects a long-name set while a directory is scanned. Entries
// come last-first: the one with 0x40 in its ordinal holds the name's end.
type lfnState struct {
	units []uint16
	want  int // ordinal expected next; 0 = no set in progress
	sum   byte
}

func (s *lfnState) reset() { s.want = 0 }

// add takes one long-name entry (Linux fat_parse_long: a set out of order
// is dropped, and a new 0x40 entry restarts).
func (s *lfnState) add(e []byte) {
	ord := int(e[0])
	if ord&0x40 != 0 {
		n := ord & 0x3F
		if n < 1 || n > 20 { // 20 × 13 ≥ 255 units
			s.reset()
			return
		}
		s.units = s.units[:0]
		for range n * 13 {
			s.units = append(s.units, 0xFFFF)
		}
		s.want = n
		s.sum = e[13]
	} else if s.want == 0 || ord != s.want || e[13] != s.sum {
		s.reset()
		return
	}
	base := (s.want - 1) * 13
	for i, o := range lfnUnits {
		s.units[base+i] = uint16(e[o]) | uint16(e[o+1])<<8
	}
	s.want--
	if s.want == 0 {
		s.want = -1 // complete: the 8.3 entry must follow
	}
}

// take returns the long name for the 8.3 entry e, or "" if there is no
// complete set or its checksum does not match (an orphaned set).
func (s *lfnState) take(e []byte) string {
	defer s.reset()
	if s.want != -1 || s.sum != lfnChecksum(e) {
		return ""
	}
	u := s.units
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
	}
	// Surrogate pairs combine; unpaired ones become U+FFFD.
	return string(utf16.Decode(u))
}

// validName rejects names no POSIX client can use.
func validName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00") && utf8.ValidString(n)
}

// foldKey maps s to a key equal for names that match under Unicode simple
// case folding (each rune becomes the smallest rune of its fold orbit).
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var sb strings.Builder
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		sb.WriteRune(m)
	}
	return sb.String()
}
