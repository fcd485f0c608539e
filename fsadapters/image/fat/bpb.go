// Package fat reads FAT12, FAT16 and FAT32 volumes (with VFAT long names)
// for the image adapter. It follows the Microsoft FAT specification
// (fatgen103, "Microsoft Extensible Firmware Initiative FAT32 File System
// Specification" 1.03) and shows names the way Linux vfat does.
//
// FAT stores no owners, permissions, hard links, symlinks or devices: the
// reader synthesizes mode 0755 for directories, 0644 for files (0444 with
// the READ_ONLY attribute) and uid/gid 0. Timestamps are local time on disk
// with no zone; they are read as UTC.
//
// Ino of an entry is the byte offset of its 8.3 directory entry in the
// image (stable across restarts, unique); the root directory, which has no
// entry, is RootIno. Open walks the whole directory tree once (bounded) and
// keeps an index, so every Ino can be validated and Parent is a lookup.
package fat

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
)

const formatName = "fat"

// FAT types, chosen by the count of clusters (fatgen103 §3.5), never by the
// BS_FilSysType string.
const (
	FAT12 = 12
	FAT16 = 16
	FAT32 = 32
)

// volume is the geometry derived from a validated BPB (fatgen103 §3.1–3.5).
type volume struct {
	fatType      int
	bps          int64 // bytes per sector
	clusterBytes int64
	nfats        int
	fatOff       int64  // byte offset of FAT #1
	fatBytes     int64  // size of one FAT copy in bytes (BPB_FATSz * bps)
	rootOff      int64  // FAT12/16: fixed root directory region
	rootBytes    int64  //
	rootCluster  uint32 // FAT32: first cluster of the root directory
	dataOff      int64  // byte offset of cluster 2
	clusters     uint32 // count of data clusters; valid numbers are 2..clusters+1
	totalBytes   int64
	activeFAT    int    // FAT32 BPB_ExtFlags with mirroring off; else 0
	label        string // BS_VolLab
}

// parseBPB validates the boot sector (at least 512 bytes) against an image
// of size bytes.
func parseBPB(b []byte, size int64) (*volume, error) {
	if len(b) < 512 {
		return nil, errors.New("boot sector too short")
	}
	// BS_jmpBoot: EB xx (90) or E9 xx xx (fatgen103 §3.1).
	if b[0] != 0xEB && b[0] != 0xE9 {
		return nil, errors.New("no x86 jump instruction at the start of the boot sector")
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, errors.New("no 0x55AA boot signature")
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(b[o:])) }
	v := &volume{}
	v.bps = le16(11)
	switch v.bps {
	case 512, 1024, 2048, 4096:
	default:
		return nil, errors.New("bytes per sector not 512, 1024, 2048 or 4096")
	}
	spc := int64(b[13])
	if spc == 0 || spc&(spc-1) != 0 {
		return nil, errors.New("sectors per cluster not a power of two")
	}
	v.clusterBytes = spc * v.bps
	rsvd := le16(14)
	if rsvd < 1 {
		return nil, errors.New("no reserved sectors")
	}
	v.nfats = int(b[16])
	if v.nfats < 1 || v.nfats > 16 {
		return nil, errors.New("number of FATs out of range")
	}
	rootEnt := le16(17)
	// BPB_Media: F0 or F8..FF (Linux checks it too).
	if m := b[21]; m != 0xF0 && m < 0xF8 {
		return nil, errors.New("bad media descriptor")
	}
	totSec := le16(19)
	if totSec == 0 {
		totSec = le32(32)
	}
	fatSz := le16(22)
	if fatSz == 0 {
		fatSz = le32(36)
	}
	if totSec == 0 || fatSz == 0 {
		return nil, errors.New("zero total sectors or FAT size")
	}
	rootSecs := (rootEnt*32 + v.bps - 1) / v.bps
	meta := rsvd + int64(v.nfats)*fatSz + rootSecs
	if meta >= totSec {
		return nil, errors.New("metadata regions larger than the volume")
	}
	count := (totSec - meta) / spc
	switch {
	case count < 1:
		return nil, errors.New("no data clusters")
	case count < 4085:
		v.fatType = FAT12
	case count < 65525:
		v.fatType = FAT16
	case count <= 0x0FFFFFF5:
		v.fatType = FAT32
	default:
		return nil, errors.New("too many clusters for FAT32")
	}
	v.clusters = uint32(count)
	v.totalBytes = totSec * v.bps
	if v.totalBytes > size {
		return nil, errors.New("volume extends past the end of the image")
	}
	v.fatOff = rsvd * v.bps
	v.fatBytes = fatSz * v.bps
	var need int64 // bytes of FAT for entries 0..clusters+1
	n := int64(v.clusters) + 2
	switch v.fatType {
	case FAT12:
		need = (n*3 + 1) / 2
	case FAT16:
		need = n * 2
	default:
		need = n * 4
	}
	if need > v.fatBytes {
		return nil, errors.New("FAT too small for the count of clusters")
	}
	v.rootOff = v.fatOff + int64(v.nfats)*v.fatBytes
	v.rootBytes = rootEnt * 32
	v.dataOff = (rsvd + int64(v.nfats)*fatSz + rootSecs) * v.bps
	labelOff := 43
	sigOff := 38
	if v.fatType == FAT32 {
		if rootEnt != 0 {
			return nil, errors.New("FAT32 volume with a fixed root directory")
		}
		v.rootBytes = 0
		v.rootCluster = uint32(le32(44))
		if v.rootCluster < 2 || v.rootCluster > v.clusters+1 {
			return nil, errors.New("root cluster out of range")
		}
		if ext := le16(40); ext&0x80 != 0 && int(ext&0x0F) < v.nfats {
			v.activeFAT = int(ext & 0x0F) // mirroring disabled: only this FAT is live
		}
		labelOff, sigOff = 71, 66
	} else if rootEnt == 0 {
		return nil, errors.New("FAT12/16 volume without root directory entries")
	}
	if b[sigOff] == 0x29 {
		v.label = strings.TrimRight(oemString(b[labelOff:labelOff+11]), " ")
		if v.label == "NO NAME" {
			v.label = ""
		}
	}
	return v, nil
}

// Probe reports whether the image starts with a FAT boot sector: jump
// instruction, 0x55AA signature and a BPB that passes validation.
func Probe(r io.ReaderAt, size int64) bool {
	if size < 512 {
		return false
	}
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil {
		return false
	}
	_, err := parseBPB(b, size)
	return err == nil
}

// clusterOff is the byte offset of cluster c (2 ≤ c ≤ clusters+1).
func (v *volume) clusterOff(c uint32) int64 {
	return v.dataOff + int64(c-2)*v.clusterBytes
}

func (v *volume) validCluster(c uint32) bool { return c >= 2 && c <= v.clusters+1 }
