package fat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/fsbridge/fsbridge/fsadapters/image"
)

// FAT entries are read through a cache of fatChunk-byte pieces of each FAT
// copy, bounded by maxFATCache bytes (evicting arbitrary chunks).
const (
	fatChunk    = 64 << 10
	maxFATCache = 64 << 20
)

type chunkKey struct {
	copy int
	idx  int64
}

type fatCache struct {
	mu     sync.Mutex
	chunks map[chunkKey][]byte
	bytes  int64
}

// fatBytes copies n (≤ 4) bytes at byte offset off of FAT copy k.
func (r *Reader) fatBytes(k int, off int64, dst []byte) error {
	if off/fatChunk == (off+int64(len(dst))-1)/fatChunk { // the usual case
		c, err := r.fatChunk(chunkKey{k, off / fatChunk})
		if err != nil {
			return err
		}
		if o := off % fatChunk; o+int64(len(dst)) <= int64(len(c)) {
			copy(dst, c[o:])
			return nil
		}
	}
	for i := range dst { // FAT12 entry straddling two chunks, or past the FAT
		o := off + int64(i)
		key := chunkKey{k, o / fatChunk}
		c, err := r.fatChunk(key)
		if err != nil {
			return err
		}
		if o%fatChunk >= int64(len(c)) {
			return image.Corrupt(formatName, r.v.fatOff+int64(k)*r.v.fatBytes+o, "FAT entry", io.ErrUnexpectedEOF)
		}
		dst[i] = c[o%fatChunk]
	}
	return nil
}

func (r *Reader) fatChunk(key chunkKey) ([]byte, error) {
	fc := &r.fat
	fc.mu.Lock()
	c, ok := fc.chunks[key]
	fc.mu.Unlock()
	if ok {
		return c, nil
	}
	start := key.idx * fatChunk
	n := min(int64(fatChunk), r.v.fatBytes-start)
	if n <= 0 {
		return nil, image.Corrupt(formatName, r.v.fatOff, "FAT entry", errors.New("offset past the FAT"))
	}
	off := r.v.fatOff + int64(key.copy)*r.v.fatBytes + start
	c = make([]byte, n)
	if err := r.readFull(c, off); err != nil {
		return nil, image.Corrupt(formatName, off, "FAT", err)
	}
	fc.mu.Lock()
	if fc.chunks == nil {
		fc.chunks = map[chunkKey][]byte{}
	}
	for k, old := range fc.chunks {
		if fc.bytes+n <= maxFATCache {
			break
		}
		fc.bytes -= int64(len(old))
		delete(fc.chunks, k)
	}
	if _, dup := fc.chunks[key]; !dup {
		fc.chunks[key] = c
		fc.bytes += n
	}
	fc.mu.Unlock()
	return c, nil
}

// Meaning of a FAT entry value (fatgen103 §4).
const (
	entNext = iota // 2..clusters+1: next cluster
	entEOC         // end of chain
	entBad         // free, reserved, bad cluster or out of range
)

// fatEntry returns entry c of FAT copy k and its class.
func (r *Reader) fatEntry(k int, c uint32) (uint32, int, error) {
	var b [4]byte
	var v, eoc uint32
	switch r.v.fatType {
	case FAT12:
		if err := r.fatBytes(k, int64(c)+int64(c/2), b[:2]); err != nil {
			return 0, entBad, err
		}
		v = uint32(binary.LittleEndian.Uint16(b[:]))
		if c&1 != 0 {
			v >>= 4
		} else {
			v &= 0xFFF
		}
		eoc = 0xFF8
	case FAT16:
		if err := r.fatBytes(k, int64(c)*2, b[:2]); err != nil {
			return 0, entBad, err
		}
		v = uint32(binary.LittleEndian.Uint16(b[:]))
		eoc = 0xFFF8
	default:
		if err := r.fatBytes(k, int64(c)*4, b[:4]); err != nil {
			return 0, entBad, err
		}
		v = binary.LittleEndian.Uint32(b[:]) & 0x0FFFFFFF // high 4 bits reserved
		eoc = 0x0FFFFFF8
	}
	switch {
	case v >= eoc:
		return v, entEOC, nil
	case r.v.validCluster(v):
		return v, entNext, nil
	}
	return v, entBad, nil
}

// next follows the chain from cluster c. It reads the active FAT (#1
// unless FAT32 mirroring is off) and consults another copy only when that
// entry is unusable (free, reserved, bad, out of range), or is an end of
// chain while the caller still needs clusters: the copies may legitimately
// differ, so a mismatch alone is never an error.
func (r *Reader) next(c uint32, wantMore bool) (uint32, bool, error) {
	v, cls, err := r.fatEntry(r.v.activeFAT, c)
	if err == nil && (cls == entNext || (cls == entEOC && !wantMore)) {
		return v, cls == entEOC, nil
	}
	for k := 0; k < r.v.nfats && k < 2; k++ {
		if k == r.v.activeFAT {
			continue
		}
		v2, cls2, err2 := r.fatEntry(k, c)
		if err2 == nil && (cls2 == entNext || (cls2 == entEOC && !wantMore)) {
			return v2, cls2 == entEOC, nil
		}
	}
	if err != nil {
		return 0, false, err
	}
	off := r.v.fatOff + int64(r.v.activeFAT)*r.v.fatBytes
	if cls == entEOC {
		return 0, false, image.Corrupt(formatName, off, "cluster chain", fmt.Errorf("chain ends at cluster %d before the file's size", c))
	}
	return 0, false, image.Corrupt(formatName, off, "FAT entry", fmt.Errorf("cluster %d: entry 0x%X is not a valid next cluster", c, v))
}

// run maps the file bytes [log, log+n) to image bytes [phys, phys+n).
type run struct{ log, phys, n int64 }

// fileRuns follows a chain of exactly need clusters from first and merges
// contiguous clusters into runs. A chain that leaves the data area, ends
// early or comes back on itself is a CorruptError.
func (r *Reader) fileRuns(first uint32, need int64, entOff int64) ([]run, error) {
	if need == 0 {
		return nil, nil
	}
	if need > int64(r.v.clusters) {
		return nil, image.Corrupt(formatName, entOff, "file size", errors.New("larger than the volume"))
	}
	if !r.v.validCluster(first) {
		return nil, image.Corrupt(formatName, entOff, "directory entry", fmt.Errorf("start cluster %d out of range", first))
	}
	var runs []run
	c := first
	for i := int64(0); ; i++ {
		phys := r.v.clusterOff(c)
		if l := len(runs) - 1; l >= 0 && runs[l].phys+runs[l].n == phys {
			runs[l].n += r.v.clusterBytes
		} else {
			runs = append(runs, run{log: i * r.v.clusterBytes, phys: phys, n: r.v.clusterBytes})
		}
		if i == need-1 {
			break
		}
		nc, _, err := r.next(c, true)
		if err != nil {
			return nil, err
		}
		c = nc
	}
	if err := checkOverlap(runs); err != nil {
		return nil, image.Corrupt(formatName, entOff, "cluster chain", err)
	}
	return runs, nil
}

// checkOverlap detects a chain that loops (or crosses itself): two runs
// sharing a cluster. O(k log k) in the number of runs, no bitmap.
func checkOverlap(runs []run) error {
	if len(runs) < 2 {
		return nil
	}
	s := make([]run, len(runs))
	copy(s, runs)
	sort.Slice(s, func(i, j int) bool { return s[i].phys < s[j].phys })
	for i := 1; i < len(s); i++ {
		if s[i-1].phys+s[i-1].n > s[i].phys {
			return errors.New("cluster chain loops")
		}
	}
	return nil
}

// fileReader is the io.ReaderAt of one regular file.
type fileReader struct {
	r    *Reader
	size int64
	runs []run
}

func (f *fileReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("fat: negative offset")
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), f.size-off)
	// The last run starting at or before off.
	i := sort.Search(len(f.runs), func(i int) bool { return f.runs[i].log > off }) - 1
	done := int64(0)
	for done < want {
		if i < 0 || i >= len(f.runs) {
			return int(done), image.Corrupt(formatName, -1, "file data", errors.New("offset not mapped"))
		}
		rn := f.runs[i]
		in := off + done - rn.log
		n := min(want-done, rn.n-in)
		if err := f.r.readFull(p[done:done+n], rn.phys+in); err != nil {
			return int(done), image.Corrupt(formatName, rn.phys+in, "file data", err)
		}
		done += n
		i++
	}
	if done < int64(len(p)) {
		return int(done), io.EOF
	}
	return int(done), nil
}

// readFull reads len(p) bytes at off of the image; io.EOF with a full
// buffer (allowed by io.ReaderAt) is success.
func (r *Reader) readFull(p []byte, off int64) error {
	n, err := r.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}
