package iso9660

import (
	"encoding/binary"
	"strings"
	"time"
)

// Limits on System Use data per directory record (SUSP 1.12 §5.1 CE):
// continuation areas are followed at most maxCEHops times and at most
// maxSUBytes are read in all, so a CE loop or a huge CE length cannot hang
// or exhaust memory.
const (
	maxCEHops  = 32
	maxCELen   = 64 << 10
	maxSUBytes = 256 << 10
	maxNameLen = 4096 // longer NM names are treated as damage
	maxLinkLen = 65536
)

// TF flag bits, RRIP 1.12 §4.1.6.
const (
	tfCreation = 1 << iota
	tfModify
	tfAccess
	tfAttributes
	tfBackup
	tfExpiration
	tfEffective
	tfLongForm
)

// rrInfo is what the System Use entries of one directory record say.
type rrInfo struct {
	sp     bool // SUSP "SP" (only valid in the root's "." record)
	spSkip int

	rrip bool // ER names RRIP, or RRIP 1.09 "RR" entry seen
	// PX, RRIP §4.1.1: 36 bytes (1.10) or 44 bytes with the file serial (1.12).
	pxLen                   int
	mode, nlink, uid, gid   uint32
	serial                  uint32
	pn                      bool
	devHi, devLo            uint32
	hasNM, nmDone           bool
	name                    []byte
	hasSL, slDone, slCont   bool
	link                    []string
	hasTF                   bool
	tfLong                  bool
	btime, mtime, atime, ct time.Time
	hasB, hasM, hasA, hasC  bool
	re, cl                  bool
	clLoc                   uint32
	zf                      bool
}

type ceRef struct{ loc, off, length uint32 }

// parseSU reads the System Use entries of one record, starting with su
// (the record's own area, already past the SUSP skip) and following CE
// continuation areas (SUSP §5.1), bounded and cycle-safe.
func (rd *Reader) parseSU(su []byte, off int64, in *rrInfo) error {
	total := len(su)
	for hop := 0; ; hop++ {
		ce, err := parseArea(su, off, in)
		if err != nil {
			return err
		}
		if ce == nil {
			return nil
		}
		if hop >= maxCEHops {
			return corrupt(off, "SUSP continuation chain too long", nil)
		}
		if ce.length == 0 {
			return nil
		}
		start := int64(ce.loc)*rd.bs + int64(ce.off)
		if ce.length > maxCELen || total+int(ce.length) > maxSUBytes || start+int64(ce.length) > rd.size {
			return corrupt(off, "SUSP continuation area out of bounds", nil)
		}
		total += int(ce.length)
		su = make([]byte, ce.length)
		if err := rd.readFull(su, start, "SUSP continuation area"); err != nil {
			return err
		}
		off = start
	}
}

// parseArea parses one System Use area or continuation area. It returns the
// last CE entry seen, to be followed after this area (SUSP §5.1).
func parseArea(b []byte, base int64, in *rrInfo) (*ceRef, error) {
	var ce *ceRef
	for p := 0; len(b)-p >= 4; {
		if b[p] == 0 && b[p+1] == 0 {
			break // zero padding
		}
		l := int(b[p+2])
		if l < 4 || p+l > len(b) {
			return nil, corrupt(base+int64(p), "SUSP entry length", nil)
		}
		d := b[p+4 : p+l]
		at := base + int64(p)
		short := func(min int) bool { return len(d) < min }
		switch string(b[p : p+2]) {
		case "CE": // SUSP §5.1
			if short(24) || !both733(d, 3) {
				return nil, corrupt(at, "SUSP CE entry", nil)
			}
			ce = &ceRef{loc: le32(d[0:]), off: le32(d[8:]), length: le32(d[16:])}
		case "ST": // SUSP §5.4: end of this area
			return ce, nil
		case "SP": // SUSP §5.3
			if len(d) >= 3 && d[0] == 0xBE && d[1] == 0xEF {
				in.sp = true
				in.spSkip = int(d[2])
			}
		case "ER": // SUSP §5.5
			if short(4) || 4+int(d[0]) > len(d) {
				return nil, corrupt(at, "SUSP ER entry", nil)
			}
			switch string(d[4 : 4+int(d[0])]) {
			case "RRIP_1991A", "IEEE_P1282", "IEEE_1282":
				in.rrip = true
			}
		case "RR": // RRIP 1.09 presence flags
			in.rrip = true
		case "PX": // RRIP §4.1.1
			if short(32) || !both733(d, min(len(d)/8, 5)) {
				return nil, corrupt(at, "RRIP PX entry", nil)
			}
			in.pxLen = l
			in.mode, in.nlink = le32(d[0:]), le32(d[8:])
			in.uid, in.gid = le32(d[16:]), le32(d[24:])
			if len(d) >= 40 {
				in.serial = le32(d[32:])
			}
		case "PN": // RRIP §4.1.2
			if short(16) || !both733(d, 2) {
				return nil, corrupt(at, "RRIP PN entry", nil)
			}
			in.pn = true
			in.devHi, in.devLo = le32(d[0:]), le32(d[8:])
		case "SL": // RRIP §4.1.3
			if short(1) {
				return nil, corrupt(at, "RRIP SL entry", nil)
			}
			if err := in.addSL(d, at); err != nil {
				return nil, err
			}
		case "NM": // RRIP §4.1.4
			if short(1) {
				return nil, corrupt(at, "RRIP NM entry", nil)
			}
			if in.nmDone {
				break // a name without CONTINUE ended it (as Linux)
			}
			in.hasNM = true
			flags := d[0]
			switch {
			case flags&0x02 != 0:
				in.name = append(in.name, '.')
			case flags&0x04 != 0:
				in.name = append(in.name, ".."...)
			case flags&0x20 != 0: // HOST: no portable meaning
			default:
				in.name = append(in.name, d[1:]...)
			}
			if len(in.name) > maxNameLen {
				return nil, corrupt(at, "RRIP NM name too long", nil)
			}
			if flags&0x01 == 0 {
				in.nmDone = true
			}
		case "TF": // RRIP §4.1.6
			if short(1) {
				return nil, corrupt(at, "RRIP TF entry", nil)
			}
			if err := in.addTF(d, at); err != nil {
				return nil, err
			}
		case "RE": // RRIP §4.1.5.3: relocated directory, hidden here
			in.re = true
		case "CL": // RRIP §4.1.5.1: this entry is the relocated directory
			if short(8) || !both733(d, 1) {
				return nil, corrupt(at, "RRIP CL entry", nil)
			}
			in.cl, in.clLoc = true, le32(d[0:])
		case "ZF": // zisofs compression: not supported, content served raw
			in.zf = true
		}
		p += l
	}
	return ce, nil
}

// addSL appends the component records of one SL entry (RRIP §4.1.3.1).
// A component with CONTINUE continues in the next component record, which
// may be in the next SL entry (SL flag CONTINUE).
func (in *rrInfo) addSL(d []byte, at int64) error {
	if in.slDone {
		return nil
	}
	in.hasSL = true
	flags := d[0]
	c := d[1:]
	for len(c) > 0 {
		if len(c) < 2 || 2+int(c[1]) > len(c) {
			return corrupt(at, "RRIP SL component record", nil)
		}
		cf, text := c[0], string(c[2:2+int(c[1])])
		c = c[2+int(c[1]):]
		switch {
		case cf&0x02 != 0:
			text = "."
		case cf&0x04 != 0:
			text = ".."
		case cf&0x08 != 0, cf&0x10 != 0: // ROOT, VOLROOT: an empty first component gives "/"
			text = ""
		case cf&0x20 != 0: // HOST
			text = ""
		}
		if in.slCont && len(in.link) > 0 {
			in.link[len(in.link)-1] += text
		} else {
			in.link = append(in.link, text)
		}
		in.slCont = cf&0x01 != 0
		if len(in.link) > maxLinkLen/2 || len(text) > maxLinkLen {
			return corrupt(at, "RRIP SL target too long", nil)
		}
	}
	if flags&0x01 == 0 {
		in.slDone = true
	}
	return nil
}

// target assembles the symlink target from its components.
func (in *rrInfo) target() string {
	s := strings.Join(in.link, "/")
	if s == "" && len(in.link) > 0 {
		return "/"
	}
	if len(s) > maxLinkLen {
		s = s[:maxLinkLen]
	}
	return s
}

// addTF decodes one TF entry: the timestamps present follow in flag-bit
// order, each 7 bytes or (LONG_FORM) 17 bytes.
func (in *rrInfo) addTF(d []byte, at int64) error {
	flags := d[0]
	sz := 7
	if flags&tfLongForm != 0 {
		sz = 17
		in.tfLong = true
	}
	in.hasTF = true
	p := 1
	for bit := 0; bit < 7; bit++ {
		if flags&(1<<bit) == 0 {
			continue
		}
		if p+sz > len(d) {
			return corrupt(at, "RRIP TF entry", nil)
		}
		var t time.Time
		if sz == 7 {
			t = shortDate(d[p : p+7])
		} else {
			t = longDate(d[p : p+17])
		}
		p += sz
		switch 1 << bit {
		case tfCreation:
			in.btime, in.hasB = t, true
		case tfModify:
			in.mtime, in.hasM = t, true
		case tfAccess:
			in.atime, in.hasA = t, true
		case tfAttributes:
			in.ct, in.hasC = t, true
		}
	}
	return nil
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// both733 reports whether the n both-byte-order 32-bit fields (ECMA-119
// §7.3.3) at the start of d agree. ISO 9660 has no checksums; the two
// copies are the only redundancy, and a mismatch is damage. (Linux reads
// only the little-endian half; every current writer fills both.)
func both733(d []byte, n int) bool {
	for i := 0; i < n; i++ {
		if 8*i+8 > len(d) || binary.LittleEndian.Uint32(d[8*i:]) != binary.BigEndian.Uint32(d[8*i+4:]) {
			return false
		}
	}
	return true
}
