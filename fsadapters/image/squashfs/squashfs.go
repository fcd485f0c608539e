// Package squashfs reads squashfs 4.0 images (the format of the Linux
// kernel's fs/squashfs and squashfs-tools' mksquashfs): gzip, xz, lz4 and
// zstd compression, every inode type, fragments, sparse files and hard
// links. lzma and lzo images are refused at Open with a clear error.
//
// An object's Ino is its inode reference (the inode table block start <<
// 16 | offset in the decompressed block) plus one, so it is stable across
// restarts and shared by hard links (mksquashfs stores one inode for them).
package squashfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/internal/lru"
)

const (
	formatName = "squashfs"
	magic      = 0x73717368 // "hsqs" little-endian
	sbSize     = 96
	metaSize   = 8192 // largest decompressed metadata block
	noTable    = ^uint64(0)
	noFrag     = ^uint32(0)

	flagCompressorOptions = 0x0400
)

// superblock is the 96-byte header at offset 0 (all little-endian).
type superblock struct {
	inodeCount  uint32
	mtime       uint32
	blockSize   uint32
	fragCount   uint32
	comp        uint16
	blockLog    uint16
	flags       uint16
	idCount     uint16
	major       uint16
	minor       uint16
	rootRef     uint64
	bytesUsed   uint64
	idTable     uint64
	xattrTable  uint64
	inodeTable  uint64
	dirTable    uint64
	fragTable   uint64
	exportTable uint64
}

func parseSuperblock(b []byte) superblock {
	le := binary.LittleEndian
	return superblock{
		inodeCount: le.Uint32(b[4:]), mtime: le.Uint32(b[8:]), blockSize: le.Uint32(b[12:]),
		fragCount: le.Uint32(b[16:]), comp: le.Uint16(b[20:]), blockLog: le.Uint16(b[22:]),
		flags: le.Uint16(b[24:]), idCount: le.Uint16(b[26:]), major: le.Uint16(b[28:]), minor: le.Uint16(b[30:]),
		rootRef: le.Uint64(b[32:]), bytesUsed: le.Uint64(b[40:]), idTable: le.Uint64(b[48:]),
		xattrTable: le.Uint64(b[56:]), inodeTable: le.Uint64(b[64:]), dirTable: le.Uint64(b[72:]),
		fragTable: le.Uint64(b[80:]), exportTable: le.Uint64(b[88:]),
	}
}

// Probe reports whether the image starts with a squashfs 4.x superblock.
func Probe(r io.ReaderAt, size int64) bool {
	var b [32]byte
	if size < sbSize {
		return false
	}
	if readFull(r, b[:], 0) != nil {
		return false
	}
	return binary.LittleEndian.Uint32(b[0:]) == magic && binary.LittleEndian.Uint16(b[28:]) == 4
}

// Reader is an open squashfs image. It implements image.Reader and is safe
// for concurrent use.
type Reader struct {
	r        io.ReaderAt
	size     int64
	sb       superblock
	bs       int64 // block size
	dec      decompressor
	ids      []uint32
	root     Ino
	rootNum  uint32
	inodeEnd int64 // end of the inode table region (the directory table start)
	dirEnd   int64 // end of the directory table region

	meta  *lru.Cache[int64, *metaBlock] // decompressed metadata blocks by image offset
	data  *lru.Cache[int64, []byte]     // decompressed data and fragment blocks by image offset
	dirs  *lru.Cache[Ino, *dir]         // parsed directories
	files *lru.Cache[Ino, *file]        // block offsets of opened files

	pmu     sync.Mutex
	parents map[uint32]uint64 // inode number → inode reference, learnt from directories
}

// Ino is image.Ino; squashfs derives it from the inode reference.
type Ino = image.Ino

func corrupt(off int64, what string, err error) error {
	return image.Corrupt(formatName, off, what, err)
}

// Open parses the superblock and the id table of a squashfs image of size
// bytes. opt.CacheBytes bounds the decompressed block cache (32 MiB if 0).
func Open(r io.ReaderAt, size int64, opt image.Options) (*Reader, error) {
	if size < sbSize {
		return nil, corrupt(0, "superblock", errors.New("image smaller than a superblock"))
	}
	var b [sbSize]byte
	if err := readFull(r, b[:], 0); err != nil {
		return nil, fmt.Errorf("squashfs: reading the superblock: %w", err)
	}
	if binary.LittleEndian.Uint32(b[0:]) != magic {
		return nil, corrupt(0, "superblock", errors.New("no squashfs magic"))
	}
	sb := parseSuperblock(b[:])
	if sb.major != 4 || sb.minor != 0 {
		return nil, fmt.Errorf("squashfs: version %d.%d not supported (only 4.0)", sb.major, sb.minor)
	}
	if err := sb.check(size); err != nil {
		return nil, err
	}
	dec, err := newDecompressor(sb.comp, sb.blockSize)
	if err != nil {
		return nil, fmt.Errorf("squashfs: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			closeDecompressor(dec)
		}
	}()
	cache := opt.CacheBytes
	if cache <= 0 {
		cache = 32 << 20
	}
	fr := &Reader{
		r: r, size: size, sb: sb, bs: int64(sb.blockSize), dec: dec,
		inodeEnd: int64(sb.dirTable),
		meta:     lru.New[int64, *metaBlock](max(cache/8, 1<<20), 0),
		data:     lru.New[int64, []byte](max(cache, 2*int64(sb.blockSize)), 0),
		dirs:     lru.New[Ino, *dir](max(cache/4, 1<<20), 0),
		files:    lru.New[Ino, *file](max(cache/8, 8<<20), 0),
		parents:  map[uint32]uint64{},
	}
	// The directory table ends where the next table's index starts.
	fr.dirEnd = int64(sb.bytesUsed)
	for _, t := range []uint64{sb.fragTable, sb.exportTable, sb.idTable, sb.xattrTable} {
		if t != noTable && int64(t) > int64(sb.dirTable) && int64(t) < fr.dirEnd {
			fr.dirEnd = int64(t)
		}
	}
	if sb.comp == compXz && sb.flags&flagCompressorOptions != 0 {
		// xz options are {u32 dictionary size, u32 filter flags}; a filter
		// (-Xbcj x86, arm, …) is a BCJ pre-filter the xz package lacks.
		b, err := fr.cursorAt(sbSize, 0, int64(sb.bytesUsed)).read(8)
		if err != nil {
			return nil, err
		}
		if f := binary.LittleEndian.Uint32(b[4:]); f != 0 {
			return nil, fmt.Errorf("squashfs: xz with BCJ filters (mksquashfs -Xbcj, flags %#x) is not supported; rebuild the image without -Xbcj", f)
		}
	}
	if err := fr.loadIDs(); err != nil {
		return nil, err
	}
	rootRef := sb.rootRef
	if !fr.validRef(rootRef) {
		return nil, corrupt(32, "root inode reference", fmt.Errorf("%#x outside the inode table", rootRef))
	}
	in, err := fr.inode(rootRef, false)
	if err != nil {
		return nil, err
	}
	if in.typ != typeDir && in.typ != typeLDir {
		return nil, corrupt(32, "root inode", fmt.Errorf("type %d is not a directory", in.typ))
	}
	fr.root = Ino(rootRef + 1)
	fr.rootNum = in.number
	ok = true
	return fr, nil
}

func (sb *superblock) check(size int64) error {
	bad := func(off int64, what string, f string, a ...any) error {
		return corrupt(off, "superblock "+what, fmt.Errorf(f, a...))
	}
	if sb.blockSize < 4096 || sb.blockSize > 1<<20 || sb.blockSize&(sb.blockSize-1) != 0 {
		return bad(12, "block_size", "%d is not a power of two in 4 KiB..1 MiB", sb.blockSize)
	}
	if sb.blockLog > 20 || uint32(1)<<sb.blockLog != sb.blockSize {
		return bad(22, "block_log", "%d does not match block size %d", sb.blockLog, sb.blockSize)
	}
	if sb.bytesUsed < sbSize || sb.bytesUsed > uint64(size) {
		return bad(40, "bytes_used", "%d outside %d..%d (image size)", sb.bytesUsed, sbSize, size)
	}
	if sb.inodeCount == 0 {
		return bad(4, "inode_count", "no inodes")
	}
	if sb.idCount == 0 {
		return bad(26, "id_count", "no ids")
	}
	in := func(off int64, what string, v uint64, optional bool) error {
		if optional && v == noTable {
			return nil
		}
		if v < sbSize || v >= sb.bytesUsed {
			return bad(off, what, "%#x outside the image (bytes_used %d)", v, sb.bytesUsed)
		}
		return nil
	}
	for _, e := range []error{
		in(48, "id_table_start", sb.idTable, false),
		in(56, "xattr_id_table_start", sb.xattrTable, true),
		in(64, "inode_table_start", sb.inodeTable, false),
		in(72, "directory_table_start", sb.dirTable, false),
		in(80, "fragment_table_start", sb.fragTable, true),
		in(88, "export_table_start", sb.exportTable, true),
	} {
		if e != nil {
			return e
		}
	}
	if sb.inodeTable >= sb.dirTable {
		return bad(64, "inode_table_start", "%#x not before the directory table %#x", sb.inodeTable, sb.dirTable)
	}
	if sb.fragCount > 0 && sb.fragTable == noTable {
		return bad(80, "fragment_table_start", "%d fragments but no table", sb.fragCount)
	}
	return nil
}

// metaBlock is one decompressed metadata block and where the next begins.
type metaBlock struct {
	data []byte
	next int64
}

// metaBlockAt reads the metadata block at image offset pos, which must end
// at or before end: a 2-byte header (bit 15: stored uncompressed, low 15
// bits: size on disk), then the data, at most 8 KiB once decompressed.
func (fr *Reader) metaBlockAt(pos, end int64) (*metaBlock, error) {
	if mb, ok := fr.meta.Get(pos); ok {
		if mb.next > end {
			return nil, corrupt(pos, "metadata block", errors.New("crosses the end of its table"))
		}
		return mb, nil
	}
	if pos < sbSize || pos+2 > end {
		return nil, corrupt(pos, "metadata block", fmt.Errorf("offset outside its table (end %d)", end))
	}
	var h [2]byte
	if err := readFull(fr.r, h[:], pos); err != nil {
		return nil, corrupt(pos, "metadata block header", err)
	}
	hdr := binary.LittleEndian.Uint16(h[:])
	n := int64(hdr & 0x7fff)
	if n == 0 || n > metaSize || pos+2+n > end {
		return nil, corrupt(pos, "metadata block header", fmt.Errorf("size %d does not fit", n))
	}
	raw := make([]byte, n)
	if err := readFull(fr.r, raw, pos+2); err != nil {
		return nil, corrupt(pos, "metadata block", err)
	}
	data := raw
	if hdr&0x8000 == 0 {
		var err error
		if data, err = fr.dec.decompress(raw, metaSize); err != nil {
			return nil, corrupt(pos, "metadata block", err)
		}
	}
	mb := &metaBlock{data: data, next: pos + 2 + n}
	fr.meta.Put(pos, mb, int64(len(data))+64)
	return mb, nil
}

// cursor reads a byte stream that runs through consecutive metadata blocks.
type cursor struct {
	fr  *Reader
	pos int64 // image offset of the current block
	end int64 // end of the table region
	off int   // offset in the current block's data
	mb  *metaBlock
}

func (fr *Reader) cursorAt(pos int64, off int, end int64) *cursor {
	return &cursor{fr: fr, pos: pos, end: end, off: off}
}

// read returns the next n bytes; the slice may alias the cache and must
// not be modified or kept.
func (c *cursor) read(n int) ([]byte, error) {
	if c.mb == nil {
		mb, err := c.fr.metaBlockAt(c.pos, c.end)
		if err != nil {
			return nil, err
		}
		c.mb = mb
		if c.off > len(mb.data) {
			return nil, corrupt(c.pos, "metadata reference", fmt.Errorf("offset %d past the block's %d bytes", c.off, len(mb.data)))
		}
	}
	if c.off+n <= len(c.mb.data) {
		b := c.mb.data[c.off : c.off+n]
		c.off += n
		return b, nil
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		if c.off == len(c.mb.data) {
			mb, err := c.fr.metaBlockAt(c.mb.next, c.end)
			if err != nil {
				return nil, err
			}
			c.pos, c.mb, c.off = c.mb.next, mb, 0
		}
		k := min(n-len(out), len(c.mb.data)-c.off)
		out = append(out, c.mb.data[c.off:c.off+k]...)
		c.off += k
	}
	return out, nil
}

// lookup reads entry i (of size es, a divisor of 8 KiB) of a table stored
// as metadata blocks indexed by an array of u64 block offsets at start.
func (fr *Reader) lookup(start uint64, i uint64, es int, what string) ([]byte, error) {
	per := uint64(metaSize / es)
	idx := int64(start) + int64(i/per)*8
	if idx+8 > int64(fr.sb.bytesUsed) {
		return nil, corrupt(idx, what+" index", errors.New("outside the image"))
	}
	var b [8]byte
	if err := readFull(fr.r, b[:], idx); err != nil {
		return nil, corrupt(idx, what+" index", err)
	}
	blk := binary.LittleEndian.Uint64(b[:])
	// The blocks are written before their index (the kernel checks the same).
	if blk >= start {
		return nil, corrupt(idx, what+" index", fmt.Errorf("block %#x not before the index %#x", blk, start))
	}
	return fr.cursorAt(int64(blk), int(i%per)*es, int64(start)).read(es)
}

func (fr *Reader) loadIDs() error {
	n := int(fr.sb.idCount)
	fr.ids = make([]uint32, n)
	for i := 0; i < n; i++ {
		b, err := fr.lookup(fr.sb.idTable, uint64(i), 4, "id table")
		if err != nil {
			return err
		}
		fr.ids[i] = binary.LittleEndian.Uint32(b)
	}
	return nil
}

// Root implements image.Reader.
func (fr *Reader) Root() Ino { return fr.root }

// Info implements image.Reader.
func (fr *Reader) Info() image.Info {
	return image.Info{
		Format: formatName, TotalBytes: uint64(fr.size), UsedBytes: fr.sb.bytesUsed,
		Files: uint64(fr.sb.inodeCount), MaxName: 256, TimeDelta: time.Second,
		SourceDescription: fmt.Sprintf("squashfs 4.0, %s, %d KiB blocks", compName(fr.sb.comp), fr.bs>>10),
	}
}

func compName(id uint16) string {
	switch id {
	case compGzip:
		return "gzip"
	case compXz:
		return "xz"
	case compLz4:
		return "lz4"
	case compZstd:
		return "zstd"
	}
	return fmt.Sprint("compression ", id)
}

// Close implements image.Reader.
func (fr *Reader) Close() error {
	closeDecompressor(fr.dec)
	return nil
}

// readFull is ReadAt that accepts io.EOF with a complete read, as
// io.ReaderAt allows at the end of the input.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
