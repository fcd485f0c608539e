package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// Partition is one partition of an MBR or GPT disk image.
type Partition struct {
	Index int    // 1-based, as Linux numbers it (sda1…; MBR logical partitions from 5)
	Start int64  // byte offset in the image
	Size  int64  // bytes (clamped to the image end)
	Type  string // "0x83 Linux", "Linux filesystem", or the type GUID
	Name  string // GPT partition name ("" for MBR)
}

// Limits on on-disk tables: a crafted image must not make us loop or
// allocate without bound.
const (
	sectorSize     = 512
	maxLogical     = 128     // EBR chain length
	maxGPTEntries  = 1024    // the spec minimum is 128; tools write 128
	maxGPTArray    = 1 << 20 // bytes of partition entries
	gptEntryMinLen = 128
)

// ErrNoPartitionTable is returned by ReadPartitions for an image with
// neither an MBR nor a GPT.
var ErrNoPartitionTable = errors.New("no partition table")

// ReadPartitions parses the partition table of a disk image: a GPT (when
// the MBR is protective, type 0xEE) or an MBR with its extended/logical
// partitions. Empty slots and extended-partition containers are not
// listed. Every offset is checked against size; partitions starting past
// the end are dropped, those running past it are clamped. A damaged chain
// of logical partitions returns the partitions found so far together with
// the error.
func ReadPartitions(r io.ReaderAt, size int64) ([]Partition, error) {
	mbr := make([]byte, sectorSize)
	if size < sectorSize {
		return nil, ErrNoPartitionTable
	}
	if _, err := r.ReadAt(mbr, 0); err != nil && err != io.EOF {
		return nil, err
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		// No MBR signature: a GPT disk whose MBR was wiped still has
		// its header at LBA 1.
		if ps, err := readGPT(r, size); err == nil {
			return ps, nil
		}
		return nil, ErrNoPartitionTable
	}
	ents := mbrEntries(mbr)
	if ents == nil {
		return nil, ErrNoPartitionTable
	}
	for _, e := range ents {
		if e.typ == 0xEE { // protective (or hybrid) MBR: the GPT is authoritative
			return readGPT(r, size)
		}
	}
	return readMBR(r, size, ents)
}

type mbrEntry struct {
	slot         int
	status, typ  byte
	start, count uint32 // in sectors
}

// mbrEntries decodes the four primary slots; nil if they do not look like
// a partition table (bad boot flag), e.g. a FAT boot sector without one.
func mbrEntries(sec []byte) []mbrEntry {
	var out []mbrEntry
	for i := 0; i < 4; i++ {
		b := sec[446+16*i : 446+16*(i+1)]
		e := mbrEntry{slot: i + 1, status: b[0], typ: b[4],
			start: binary.LittleEndian.Uint32(b[8:]), count: binary.LittleEndian.Uint32(b[12:])}
		if e.status != 0 && e.status != 0x80 {
			return nil
		}
		if e.typ == 0 || e.count == 0 {
			continue
		}
		out = append(out, e)
	}
	return out
}

func isExtended(t byte) bool { return t == 0x05 || t == 0x0F || t == 0x85 }

func readMBR(r io.ReaderAt, size int64, ents []mbrEntry) ([]Partition, error) {
	var out []Partition
	add := func(idx int, typ byte, startSec, countSec int64) {
		p, ok := clampPart(idx, startSec*sectorSize, countSec*sectorSize, size)
		if ok {
			p.Type = mbrTypeName(typ)
			out = append(out, p)
		}
	}
	sawExtended := false
	var chainErr error
	for _, e := range ents {
		if isExtended(e.typ) {
			if sawExtended { // at most one extended partition is meaningful
				continue
			}
			sawExtended = true
			chainErr = readEBRChain(r, size, int64(e.start), int64(e.count), add)
			continue
		}
		add(e.slot, e.typ, int64(e.start), int64(e.count))
	}
	return out, chainErr
}

// readEBRChain follows the extended boot records: each one's first entry
// is a logical partition (relative to that EBR), its second the next EBR
// (relative to the extended partition's start). Bounded by maxLogical and
// cycle detection.
func readEBRChain(r io.ReaderAt, size int64, extStart, extCount int64, add func(int, byte, int64, int64)) error {
	sec := make([]byte, sectorSize)
	seen := map[int64]bool{}
	ebr := extStart
	for n := 0; n < maxLogical; n++ {
		if seen[ebr] {
			return fmt.Errorf("partition table: extended boot record chain loops at sector %d", ebr)
		}
		if ebr < extStart || ebr >= extStart+extCount || (ebr+1)*sectorSize > size {
			return fmt.Errorf("partition table: extended boot record at sector %d is outside the extended partition or the image", ebr)
		}
		seen[ebr] = true
		if _, err := r.ReadAt(sec, ebr*sectorSize); err != nil && err != io.EOF {
			return err
		}
		if sec[510] != 0x55 || sec[511] != 0xAA {
			return fmt.Errorf("partition table: no signature in the extended boot record at sector %d", ebr)
		}
		e1 := sec[446:462]
		e2 := sec[462:478]
		if t, c := e1[4], binary.LittleEndian.Uint32(e1[12:]); t != 0 && c != 0 {
			add(5+n, t, ebr+int64(binary.LittleEndian.Uint32(e1[8:])), int64(c))
		}
		if e2[4] == 0 || binary.LittleEndian.Uint32(e2[12:]) == 0 {
			return nil
		}
		ebr = extStart + int64(binary.LittleEndian.Uint32(e2[8:]))
	}
	return fmt.Errorf("partition table: more than %d logical partitions", maxLogical)
}

// clampPart checks a partition against the image: dropped when it starts
// at or past the end, clamped when it runs past it.
func clampPart(idx int, start, length, size int64) (Partition, bool) {
	if start < 0 || length <= 0 || start >= size {
		return Partition{}, false
	}
	if length > size-start {
		length = size - start
	}
	return Partition{Index: idx, Start: start, Size: length}, true
}

// readGPT reads the primary GPT header (LBA 1) and, if it or its entry
// array fails its CRC32, the backup at the last LBA (UEFI 2.10 §5.3.2).
// Sector sizes 512 and 4096 are tried.
func readGPT(r io.ReaderAt, size int64) ([]Partition, error) {
	var firstErr error
	for _, ss := range []int64{512, 4096} {
		if size < 3*ss {
			continue
		}
		for _, lba := range []int64{1, size/ss - 1} {
			ps, err := readGPTAt(r, size, ss, lba)
			if err == nil {
				return ps, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr == nil {
		firstErr = errors.New("image too small")
	}
	return nil, fmt.Errorf("partition table: no valid GPT: %w", firstErr)
}

func readGPTAt(r io.ReaderAt, size, ss, lba int64) ([]Partition, error) {
	hdr := make([]byte, ss)
	if _, err := r.ReadAt(hdr, lba*ss); err != nil && err != io.EOF {
		return nil, err
	}
	if string(hdr[:8]) != "EFI PART" {
		return nil, fmt.Errorf("no GPT signature at LBA %d", lba)
	}
	hsize := int64(binary.LittleEndian.Uint32(hdr[12:]))
	if hsize < 92 || hsize > ss {
		return nil, fmt.Errorf("GPT header at LBA %d: bad header size %d", lba, hsize)
	}
	want := binary.LittleEndian.Uint32(hdr[16:])
	h := append([]byte(nil), hdr[:hsize]...)
	clear(h[16:20])
	if got := crc32.ChecksumIEEE(h); got != want {
		return nil, fmt.Errorf("GPT header at LBA %d: CRC32 %08x, header says %08x", lba, got, want)
	}
	if my := binary.LittleEndian.Uint64(hdr[24:]); my != uint64(lba) {
		return nil, fmt.Errorf("GPT header at LBA %d says it is at LBA %d", lba, my)
	}
	entLBA := binary.LittleEndian.Uint64(hdr[72:])
	num := binary.LittleEndian.Uint32(hdr[80:])
	esz := binary.LittleEndian.Uint32(hdr[84:])
	if esz < gptEntryMinLen || esz%gptEntryMinLen != 0 || num > maxGPTEntries || uint64(num)*uint64(esz) > maxGPTArray {
		return nil, fmt.Errorf("GPT header at LBA %d: %d entries of %d bytes", lba, num, esz)
	}
	arrLen := int64(num) * int64(esz)
	if entLBA > uint64(size/ss) || int64(entLBA)*ss+arrLen > size {
		return nil, fmt.Errorf("GPT header at LBA %d: entry array at LBA %d is outside the image", lba, entLBA)
	}
	arr := make([]byte, arrLen)
	if _, err := r.ReadAt(arr, int64(entLBA)*ss); err != nil && err != io.EOF {
		return nil, err
	}
	if got, want := crc32.ChecksumIEEE(arr), binary.LittleEndian.Uint32(hdr[88:]); got != want {
		return nil, fmt.Errorf("GPT entry array at LBA %d: CRC32 %08x, header says %08x", entLBA, got, want)
	}
	var out []Partition
	for i := 0; i < int(num); i++ {
		e := arr[i*int(esz) : (i+1)*int(esz)]
		var zero [16]byte
		if [16]byte(e[:16]) == zero {
			continue // unused entry
		}
		first := binary.LittleEndian.Uint64(e[32:])
		last := binary.LittleEndian.Uint64(e[40:])
		if last < first || first > uint64(size/ss) {
			continue
		}
		cnt := last - first + 1
		if cnt > uint64(size/ss) {
			cnt = uint64(size / ss)
		}
		p, ok := clampPart(i+1, int64(first)*ss, int64(cnt)*ss, size)
		if !ok {
			continue
		}
		p.Type = gptTypeName(e[:16])
		p.Name = utf16Name(e[56:128])
		out = append(out, p)
	}
	return out, nil
}

func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// guidString formats a GUID in its mixed-endian text form.
func guidString(g []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(g[0:]),
		binary.LittleEndian.Uint16(g[4:]), binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16])
}

var gptTypes = map[string]string{
	"C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
	"E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
	"A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
	"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
	"933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux home",
	"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
	"E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
}

func gptTypeName(g []byte) string {
	s := guidString(g)
	if n, ok := gptTypes[s]; ok {
		return n
	}
	return s
}

var mbrTypes = map[byte]string{
	0x01: "FAT12", 0x04: "FAT16 <32M", 0x06: "FAT16", 0x07: "HPFS/NTFS/exFAT",
	0x0B: "W95 FAT32", 0x0C: "W95 FAT32 (LBA)", 0x0E: "W95 FAT16 (LBA)",
	0x17: "Hidden HPFS/NTFS", 0x82: "Linux swap", 0x83: "Linux", 0x8E: "Linux LVM",
	0xCD: "ISO hybrid", 0xEF: "EFI (FAT)", 0xFD: "Linux raid autodetect",
}

func mbrTypeName(t byte) string {
	s := fmt.Sprintf("0x%02x", t)
	if n, ok := mbrTypes[t]; ok {
		s += " " + n
	}
	return s
}

// FormatPartitions renders a partition table for humans (--list-partitions
// and the "choose one" error). formatOf names the format found in each
// partition ("" if none).
func FormatPartitions(ps []Partition, formatOf func(Partition) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %-3s %14s %14s  %-24s %-10s %s\n", "#", "start", "size", "type", "format", "name")
	for _, p := range ps {
		f := ""
		if formatOf != nil {
			f = formatOf(p)
		}
		if f == "" {
			f = "-"
		}
		fmt.Fprintf(&b, "  %-3d %14d %14d  %-24s %-10s %s\n", p.Index, p.Start, p.Size, p.Type, f, p.Name)
	}
	return b.String()
}
