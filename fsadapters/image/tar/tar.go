// Package tar serves tar archives (ustar, GNU, PAX; plain or compressed
// with gzip, bzip2, xz or zstd) as an image.Reader.
//
// Open reads every header once (archive/tar does the header parsing, over
// an io.SectionReader so file data is seeked over, not read) and builds an
// index: path → entry with the byte offset of its data. Reads are then
// ReadAt calls at known offsets — true random access, including into GNU
// sparse files, whose maps are kept in the index (holes read as zeros).
//
// Compressed archives have no random access, so Open decompresses them once
// into an unlinked temporary file in Options.TempDir and indexes that.
//
// Ino is the header block number + 1 of the entry's first header block
// (the extended header, if any), so it is stable for a given image. Hard
// links share their target's Ino. Directories that are implied by member
// paths but have no entry of their own get mode 0755, owner 0:0, the newest
// mtime found in the archive (a stable stand-in for "when the archive was
// made") and an Ino hashed from their path with the top bit set, which no
// header offset can reach.
//
// Damage: a header that does not parse is logged as a CorruptError with its
// offset and skipped; indexing resumes at the next block that holds a valid
// header checksum, so one bad header (or a zeroed block in the middle,
// which archive/tar would take for the end) does not hide the rest. A
// truncated archive serves what it has; reads beyond the end of the image
// return a CorruptError.
package tar

import (
	"archive/tar"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/pathtree"
)

const (
	formatName = "tar"
	blockSize  = 512
	// maxSparseMap bounds a PAX 1.0 sparse map (decimal text) we parse.
	maxSparseMap = 64 << 20
	// maxSparseFrags bounds the fragments of one sparse file.
	maxSparseFrags = 1 << 22
	// typeGNUDumpDir is GNU tar's incremental directory listing.
	typeGNUDumpDir = 'D'
)

// dataRef locates the content of one entry.
type dataRef struct {
	off    int64  // byte offset of the data in the (decompressed) archive
	phys   int64  // bytes stored in the archive
	sparse []frag // nil unless a GNU sparse file
}

// frag is one data fragment of a sparse file: logical [off, off+n) is
// stored at physical data offset phys (relative to dataRef.off).
type frag struct{ off, n, phys int64 }

// Reader is an open tar archive. It is safe for concurrent use.
type Reader struct {
	*pathtree.Tree[dataRef]
	src  io.ReaderAt // the archive, or its decompressed temp file
	size int64       // size of src
	tmp  *os.File    // decompressed copy, nil for plain tar
	info image.Info
}

var _ image.Reader = (*Reader)(nil)

type compression int

const (
	compNone compression = iota
	compGzip
	compBzip2
	compXz
	compZstd
)

func (c compression) String() string {
	return [...]string{"none", "gzip", "bzip2", "xz", "zstd"}[c]
}

// sniff identifies a compressed stream by its magic number.
func sniff(b []byte) compression {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return compGzip
	case len(b) >= 6 && bytes.Equal(b[:6], []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return compXz
	case len(b) >= 4 && bytes.Equal(b[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return compZstd
	case len(b) >= 10 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h' && b[3] >= '1' && b[3] <= '9' &&
		bytes.Equal(b[4:10], []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}):
		return compBzip2
	}
	return compNone
}

// decoder returns a decompressing reader and a function releasing it.
func decoder(c compression, r io.Reader) (io.Reader, func(), error) {
	switch c {
	case compGzip:
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() { z.Close() }, nil
	case compBzip2:
		return bzip2.NewReader(r), func() {}, nil
	case compXz:
		z, err := xz.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() {}, nil
	case compZstd:
		// One goroutine, bounded window: a hostile frame header cannot make
		// the decoder allocate gigabytes.
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	}
	return r, func() {}, nil
}

// validHeader reports whether b (one 512-byte block) is a tar header: not
// all zeros and a correct checksum (POSIX ustar §, or v7 which has the same
// checksum without the magic). Old tars summed signed bytes; accept both.
func validHeader(b []byte) bool {
	if len(b) < blockSize {
		return false
	}
	field := bytes.Trim(b[148:156], " \x00")
	if len(field) == 0 {
		return false
	}
	want, err := strconv.ParseUint(string(field), 8, 32)
	if err != nil {
		return false
	}
	var u uint64
	var s int64
	for i := 0; i < blockSize; i++ {
		c := b[i]
		if i >= 148 && i < 156 {
			c = ' '
		}
		u += uint64(c)
		s += int64(int8(c))
	}
	return u == want || s == int64(want)
}

// Probe reports whether r holds a tar archive, possibly compressed: a valid
// header checksum in the first block (ustar, GNU or v7), after inflating
// the first 512 bytes for gzip, bzip2, xz and zstd.
func Probe(r io.ReaderAt, size int64) bool {
	var b [blockSize]byte
	n, _ := r.ReadAt(b[:], 0)
	if n == blockSize && validHeader(b[:]) {
		return true
	}
	c := sniff(b[:n])
	if c == compNone {
		return false
	}
	// The first header sits within the first few KiB of compressed input.
	dec, release, err := decoder(c, io.NewSectionReader(r, 0, min(size, 1<<20)))
	if err != nil {
		return false
	}
	defer release()
	var h [blockSize]byte
	if _, err := io.ReadFull(dec, h[:]); err != nil {
		return false
	}
	return validHeader(h[:])
}

// Open indexes the archive in r (size bytes).
func Open(r io.ReaderAt, size int64, opt image.Options) (*Reader, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rd := &Reader{src: r, size: size, Tree: pathtree.New[dataRef](formatName)}
	var head [10]byte
	n, _ := r.ReadAt(head[:], 0)
	comp := sniff(head[:n])
	desc := "tar archive"
	if comp != compNone {
		if err := rd.decompress(comp, r, size, opt, log); err != nil {
			return nil, err
		}
		desc = fmt.Sprintf("%s-compressed tar archive, decompressed once at open into an unlinked temporary file in %s (%d bytes) for random access",
			comp, tempDir(opt), rd.size)
	}
	ix := indexer{r: rd, log: log, name: opt.Name}
	ix.run()
	rd.Tree.Finish()
	rd.info = image.Info{
		Format:            formatName,
		Label:             ix.label,
		TotalBytes:        uint64(max(size, 0)),
		UsedBytes:         uint64(max(size, 0)),
		Files:             rd.Tree.CountFiles(),
		MaxName:           255,
		TimeDelta:         time.Second,
		SourceDescription: desc,
	}
	if ix.pax {
		rd.info.TimeDelta = time.Nanosecond // PAX mtime records carry ns
	}
	return rd, nil
}

func tempDir(opt image.Options) string {
	if opt.TempDir != "" {
		return opt.TempDir
	}
	return os.TempDir()
}

// decompress inflates the whole archive into an unlinked temporary file.
// A damaged or truncated stream keeps what was inflated (logged as
// corrupt); running out of space in TempDir is an error.
func (rd *Reader) decompress(c compression, r io.ReaderAt, size int64, opt image.Options, log *slog.Logger) error {
	f, err := os.CreateTemp(tempDir(opt), "fsbridge-tar-*")
	if err != nil {
		return fmt.Errorf("tar: temporary file for decompression: %w", err)
	}
	os.Remove(f.Name()) // unlinked: the space is freed when f is closed
	cr := &countReader{r: io.NewSectionReader(r, 0, size)}
	dec, release, err := decoder(c, cr)
	var rerr error
	var written int64
	if err != nil {
		rerr = err
	} else {
		defer release()
		buf := make([]byte, 256<<10)
		for {
			n, err := dec.Read(buf)
			if n > 0 {
				if _, werr := f.Write(buf[:n]); werr != nil {
					f.Close()
					return fmt.Errorf("tar: decompressing %s archive into %s: %w", c, tempDir(opt), werr)
				}
				written += int64(n)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				rerr = err
				break
			}
		}
	}
	if rerr != nil {
		log.Warn("serving the part of the archive before the damage",
			"err", image.Corrupt(formatName, cr.n, c.String()+" stream", rerr))
	}
	rd.src, rd.size, rd.tmp = f, written, f
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// indexer walks the headers once.
type indexer struct {
	r     *Reader
	log   *slog.Logger
	name  string
	label string
	pax   bool
}

func (ix *indexer) corrupt(off int64, what string, err error) {
	ix.log.Warn("tar: damaged archive", "image", ix.name, "err", image.Corrupt(formatName, off, what, err))
}

func (ix *indexer) run() {
	src, size := ix.r.src, ix.r.size
	off := int64(0)
	for off+blockSize <= size {
		// A fresh archive/tar reader per entry: we control the offset of
		// every header, and can resume after damage.
		sr := io.NewSectionReader(src, off, size-off)
		hdr, err := tar.NewReader(sr).Next()
		if err == tar.ErrInsecurePath {
			err = nil // we normalise names ourselves (cleanPath)
		}
		if err != nil {
			resume := ix.resync(off + blockSize)
			if err == io.EOF {
				// Two zero blocks end the archive. Valid headers after
				// them mean a header was zeroed, not the end.
				if resume < 0 {
					return
				}
				ix.corrupt(off, "zero block inside the archive (valid headers follow)", nil)
			} else {
				ix.corrupt(off, "tar header", err)
			}
			if resume < 0 {
				return
			}
			off = resume
			continue
		}
		pos, _ := sr.Seek(0, io.SeekCurrent)
		dataOff := off + pos
		next, ok := ix.add(off, dataOff, hdr)
		if !ok {
			// The entry's extension headers are inconsistent with what
			// archive/tar consumed; resume at the next valid header.
			if next = ix.resync(dataOff); next < 0 {
				return
			}
		}
		if next <= off {
			next = off + blockSize // cannot happen; keeps the loop finite
		}
		off = next
	}
}

// resync returns the offset of the first block at or after off that holds
// a valid header, or -1.
func (ix *indexer) resync(off int64) int64 {
	src, size := ix.r.src, ix.r.size
	buf := make([]byte, 64<<10)
	for off+blockSize <= size {
		n, _ := src.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		n -= n % blockSize
		if n == 0 {
			return -1
		}
		for i := 0; i < n; i += blockSize {
			if validHeader(buf[i : i+blockSize]) {
				return off + int64(i)
			}
		}
		off += int64(n)
	}
	return -1
}

func roundUp(n int64) int64 { return (n + blockSize - 1) &^ (blockSize - 1) }

func clampU32(v int64) uint32 {
	if v < 0 || v > math.MaxUint32 {
		return 0
	}
	return uint32(v)
}

// add indexes one entry whose first header block is at hdrOff and whose
// data starts at dataOff; it returns the offset of the next header.
func (ix *indexer) add(hdrOff, dataOff int64, hdr *tar.Header) (next int64, ok bool) {
	if hdr.Format&tar.FormatPAX != 0 {
		ix.pax = true
	}
	size := ix.r.size
	t := ix.r.Tree
	ino := image.Ino(hdrOff/blockSize + 1)
	n := &pathtree.Node[dataRef]{Ino: ino}
	a := &n.Attr
	a.Mode = uint32(hdr.Mode) & 0o7777
	a.UID, a.GID = clampU32(int64(hdr.Uid)), clampU32(int64(hdr.Gid))
	a.Mtime, a.Atime, a.Ctime = hdr.ModTime, hdr.AccessTime, hdr.ChangeTime
	phys := int64(0)
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		a.Type = fsadapters.TypeRegular
	case tar.TypeLink:
		a.Type = fsadapters.TypeRegular // resolved below
	case tar.TypeSymlink:
		a.Type = fsadapters.TypeSymlink
		n.Link = hdr.Linkname
		a.Size = uint64(len(n.Link))
	case tar.TypeChar, tar.TypeBlock:
		a.Type = fsadapters.TypeChar
		if hdr.Typeflag == tar.TypeBlock {
			a.Type = fsadapters.TypeBlock
		}
		a.RdevMajor, a.RdevMinor = clampU32(hdr.Devmajor), clampU32(hdr.Devminor)
	case tar.TypeFifo:
		a.Type = fsadapters.TypeFIFO
	case tar.TypeDir, typeGNUDumpDir:
		a.Type = fsadapters.TypeDir
		if hdr.Typeflag == typeGNUDumpDir {
			phys = max(hdr.Size, 0) // a listing of names, not content
		}
	case tar.TypeXGlobalHeader: // consumed by archive/tar; no entry
		return roundUp(dataOff), true
	case 'V': // GNU volume label
		ix.label = hdr.Name
		return roundUp(dataOff + max(hdr.Size, 0)), true
	default:
		// POSIX: an unknown type is read as a regular file; this also
		// covers GNU multi-volume continuations ('M').
		a.Type = fsadapters.TypeRegular
	}
	if a.Type == fsadapters.TypeRegular && hdr.Typeflag != tar.TypeLink {
		if hdr.Size < 0 {
			ix.corrupt(hdrOff, "negative size", nil)
			return dataOff, false
		}
		a.Size = uint64(hdr.Size)
		phys = hdr.Size
		sp, isSparse, err := ix.sparseMap(hdrOff, dataOff, hdr)
		if err != nil {
			ix.corrupt(hdrOff, "GNU sparse map", err)
			return dataOff, false
		}
		if isSparse {
			n.Data.sparse = sp
			phys = 0
			if len(sp) > 0 {
				phys = sp[len(sp)-1].phys + sp[len(sp)-1].n
			}
		}
		n.Data.off, n.Data.phys = dataOff, phys
		a.SpaceUsed = uint64(roundUp(phys))
	}
	next = roundUp(dataOff + phys)
	if dataOff+phys > size {
		ix.corrupt(hdrOff, fmt.Sprintf("data of %q runs past the end of the archive", hdr.Name), io.ErrUnexpectedEOF)
	}

	parts, okName := pathtree.CleanPath(hdr.Name)
	if !okName {
		ix.corrupt(hdrOff, fmt.Sprintf("member name %q escapes the archive root; entry skipped", hdr.Name), nil)
		return next, true
	}
	if hdr.Typeflag == tar.TypeLink {
		tparts, okT := pathtree.CleanPath(hdr.Linkname)
		target := t.Find(tparts)
		if !okT || len(tparts) == 0 || target == nil || target.Attr.Type == fsadapters.TypeDir {
			ix.corrupt(hdrOff, fmt.Sprintf("hard link %q to missing or invalid target %q; entry skipped", hdr.Name, hdr.Linkname), nil)
			return next, true
		}
		if len(parts) > 0 && t.Find(parts) != target {
			t.Put(parts, target)
		}
		return next, true
	}
	if t.Put(parts, n) == nil {
		ix.corrupt(hdrOff, fmt.Sprintf("entry %q would replace a non-empty directory; skipped", hdr.Name), nil)
	}
	return next, true
}

// sparseMap returns the fragment map of a GNU sparse entry (old GNU 'S',
// PAX 0.0/0.1 records, PAX 1.0 map in the data area), validated against
// the logical size and the image.
func (ix *indexer) sparseMap(hdrOff, dataOff int64, hdr *tar.Header) ([]frag, bool, error) {
	var pairs []int64
	rec := hdr.PAXRecords
	major, minor := rec["GNU.sparse.major"], rec["GNU.sparse.minor"]
	switch {
	case hdr.Typeflag == tar.TypeGNUSparse:
		p, err := ix.oldGNUMap(hdrOff, dataOff)
		if err != nil {
			return nil, true, err
		}
		pairs = p
	case major == "1" && minor == "0":
		p, err := ix.pax1Map(hdrOff, dataOff)
		if err != nil {
			return nil, true, err
		}
		pairs = p
	case (major == "0" && (minor == "0" || minor == "1")) || (major == "" && minor == "" && rec["GNU.sparse.map"] != ""):
		m := rec["GNU.sparse.map"]
		if m != "" {
			f := strings.Split(m, ",")
			if len(f)%2 != 0 || len(f) > 2*maxSparseFrags {
				return nil, true, errors.New("odd or oversized GNU.sparse.map")
			}
			for _, s := range f {
				v, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return nil, true, err
				}
				pairs = append(pairs, v)
			}
		}
	default:
		return nil, false, nil
	}
	sp := make([]frag, 0, len(pairs)/2)
	var phys, end int64
	for i := 0; i+1 < len(pairs); i += 2 {
		o, l := pairs[i], pairs[i+1]
		if o < end || l < 0 || o > hdr.Size || l > hdr.Size-o {
			return nil, true, fmt.Errorf("fragment %d (%d+%d) out of order or beyond size %d", i/2, o, l, hdr.Size)
		}
		if l > 0 {
			sp = append(sp, frag{off: o, n: l, phys: phys})
		}
		phys += l
		end = o + l
	}
	if phys > ix.r.size-dataOff {
		return nil, true, fmt.Errorf("sparse data (%d bytes) runs past the end of the archive", phys)
	}
	return sp, true, nil
}

// parseNum decodes a numeric header field: octal text, or GNU base-256
// (high bit of the first byte set).
func parseNum(b []byte) (int64, error) {
	if len(b) > 0 && b[0]&0x80 != 0 {
		if b[0]&0x40 != 0 {
			return 0, errors.New("negative base-256 number")
		}
		var v int64
		for i, c := range b {
			if i == 0 {
				c &= 0x7f
			}
			if v > math.MaxInt64>>8 {
				return 0, errors.New("base-256 number overflows")
			}
			v = v<<8 | int64(c)
		}
		return v, nil
	}
	s := strings.Trim(string(b), " \x00")
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 8, 64)
}

// mainHeader walks the extension headers ('x', 'L', 'K') starting at
// hdrOff and returns the offset of the entry's own header block.
func (ix *indexer) mainHeader(hdrOff, dataOff int64) (int64, []byte, error) {
	blk := make([]byte, blockSize)
	for off := hdrOff; off < dataOff; {
		if _, err := ix.r.src.ReadAt(blk, off); err != nil {
			return 0, nil, err
		}
		switch blk[156] {
		case 'x', 'L', 'K':
			sz, err := parseNum(blk[124:136])
			if err != nil || sz < 0 || sz > dataOff-off {
				return 0, nil, fmt.Errorf("extension header size at %d", off)
			}
			off += blockSize + roundUp(sz)
		default:
			return off, blk, nil
		}
	}
	return 0, nil, errors.New("no main header before the data")
}

// oldGNUMap reads the old GNU sparse map: 4 entries in the header at 386,
// then 21-entry extension blocks while the "isextended" byte is set.
func (ix *indexer) oldGNUMap(hdrOff, dataOff int64) ([]int64, error) {
	off, blk, err := ix.mainHeader(hdrOff, dataOff)
	if err != nil {
		return nil, err
	}
	var pairs []int64
	take := func(b []byte, count int) error {
		for i := 0; i < count; i++ {
			e := b[i*24 : i*24+24]
			if e[0] == 0 {
				break
			}
			o, err1 := parseNum(e[:12])
			l, err2 := parseNum(e[12:])
			if err1 != nil || err2 != nil {
				return errors.New("bad sparse entry")
			}
			pairs = append(pairs, o, l)
		}
		return nil
	}
	if err := take(blk[386:482], 4); err != nil {
		return nil, err
	}
	ext := blk[482] != 0
	for off += blockSize; ext; off += blockSize {
		if off+blockSize > dataOff || len(pairs) > 2*maxSparseFrags {
			return nil, errors.New("sparse extension blocks run into the data")
		}
		if _, err := ix.r.src.ReadAt(blk, off); err != nil {
			return nil, err
		}
		if err := take(blk[:504], 21); err != nil {
			return nil, err
		}
		ext = blk[504] != 0
	}
	return pairs, nil
}

// pax1Map reads the PAX 1.0 sparse map: decimal numbers, one per line (the
// count, then offset/size pairs), in the blocks between the main header and
// the data.
func (ix *indexer) pax1Map(hdrOff, dataOff int64) ([]int64, error) {
	off, _, err := ix.mainHeader(hdrOff, dataOff)
	if err != nil {
		return nil, err
	}
	start := off + blockSize
	if dataOff-start <= 0 || dataOff-start > maxSparseMap {
		return nil, errors.New("sparse map area out of range")
	}
	buf := make([]byte, dataOff-start)
	if _, err := ix.r.src.ReadAt(buf, start); err != nil {
		return nil, err
	}
	lines := strings.Split(string(buf), "\n")
	cnt, err := strconv.ParseInt(lines[0], 10, 64)
	if err != nil || cnt < 0 || cnt > maxSparseFrags || int64(len(lines)) < 1+2*cnt {
		return nil, errors.New("bad sparse map count")
	}
	pairs := make([]int64, 2*cnt)
	for i := range pairs {
		if pairs[i], err = strconv.ParseInt(lines[1+i], 10, 64); err != nil {
			return nil, err
		}
	}
	return pairs, nil
}

// Readlink implements image.Reader.
func (rd *Reader) Readlink(ino image.Ino) (string, error) {
	n, err := rd.Node(ino)
	if err != nil {
		return "", err
	}
	if n.Attr.Type != fsadapters.TypeSymlink {
		return "", unix.EINVAL
	}
	return n.Link, nil
}

// Open implements image.Reader.
func (rd *Reader) Open(ino image.Ino) (io.ReaderAt, error) {
	n, err := rd.Node(ino)
	if err != nil {
		return nil, err
	}
	switch n.Attr.Type {
	case fsadapters.TypeRegular:
	case fsadapters.TypeDir:
		return nil, unix.EISDIR
	default:
		return nil, unix.EINVAL
	}
	return &fileReader{rd: rd, d: n.Data, size: int64(n.Attr.Size), ino: n.Ino}, nil
}

// Info implements image.Reader.
func (rd *Reader) Info() image.Info { return rd.info }

// Close implements image.Reader; it frees the decompressed copy.
func (rd *Reader) Close() error {
	if rd.tmp != nil {
		return rd.tmp.Close()
	}
	return nil
}

// fileReader reads one member: plain data is one extent at d.off; sparse
// data is looked up in the fragment map and holes read as zeros.
type fileReader struct {
	rd   *Reader
	d    dataRef
	size int64
	ino  image.Ino
}

// readPhys reads stored data at physical offset off (relative to the
// member's data), refusing to read beyond what the archive holds.
func (f *fileReader) readPhys(p []byte, off int64) error {
	if off+int64(len(p)) > f.d.phys || f.d.off+off+int64(len(p)) > f.rd.size {
		return image.Corrupt(formatName, f.d.off+off, "member data (archive truncated)", io.ErrUnexpectedEOF)
	}
	n, err := f.rd.src.ReadAt(p, f.d.off+off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("tar: reading member data at %d: %w", f.d.off+off, err)
}

func (f *fileReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := p
	var eof error
	if rem := f.size - off; int64(len(want)) >= rem {
		want, eof = want[:rem], io.EOF
	}
	if f.d.sparse == nil {
		if err := f.readPhys(want, off); err != nil {
			return 0, err
		}
		return len(want), eof
	}
	sp := f.d.sparse
	i := sort.Search(len(sp), func(i int) bool { return sp[i].off+sp[i].n > off })
	pos, end := off, off+int64(len(want))
	for pos < end {
		out := want[pos-off:]
		if i < len(sp) && sp[i].off <= pos {
			fr := sp[i]
			k := min(end, fr.off+fr.n) - pos
			if err := f.readPhys(out[:k], fr.phys+pos-fr.off); err != nil {
				return int(pos - off), err
			}
			pos += k
			i++
			continue
		}
		holeEnd := end
		if i < len(sp) {
			holeEnd = min(end, sp[i].off)
		}
		clear(out[:holeEnd-pos])
		pos = holeEnd
	}
	return len(want), eof
}
