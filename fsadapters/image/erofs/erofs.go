// Package erofs reads EROFS images (the Linux "Enhanced Read-Only File
// System") for fsadapters/image, written from the on-disk format described
// in the kernel's Documentation/filesystems/erofs.rst and fs/erofs/erofs_fs.h.
//
// Supported: 512 B–64 KiB blocks, compact (32 B) and extended (64 B) inodes,
// the FLAT_PLAIN, FLAT_INLINE (tail packing) and CHUNK_BASED data layouts,
// the lz4-compressed layouts (COMPRESSED_FULL, COMPRESSED_COMPACT, with
// 0padding and big pclusters) and the superblock crc32c.
//
// Ino mapping: Ino = nid + 1. A nid is the inode's offset from the start of
// the metadata area in 32-byte slots; nid 0 is legal when meta_blkaddr is 0
// (mkfs.erofs puts the metadata area at block 0), so the +1 keeps Ino non-zero.
// The mapping depends only on the image bytes, so handles survive restarts.
package erofs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"golang.org/x/sys/unix"
)

const (
	formatName = "erofs"
	sbOffset   = 1024
	sbSize     = 128
	magic      = 0xE0F5E1E2

	compatSBChecksum = 0x1

	// feature_incompat bits (erofs_fs.h).
	incompatZeroPadding   = 0x01 // lz4 0padding (only matters for compressed data)
	incompatComprCfgs     = 0x02 // also BIG_PCLUSTER
	incompatChunkedFile   = 0x04
	incompatDeviceTable   = 0x08 // also COMPR_HEAD2
	incompatZTailPacking  = 0x10
	incompatFragments     = 0x20 // also DEDUPE
	incompatXattrPrefixes = 0x40
	incompat48Bit         = 0x80
	incompatMetabox       = 0x100

	// Data layouts (i_format bits 1..3).
	layoutFlatPlain               = 0
	layoutCompressedFull          = 1
	layoutFlatInline              = 2
	layoutCompressedCompact       = 3
	layoutChunkBased              = 4
	chunkFormatBlkbitsMask        = 0x1f
	chunkFormatIndexes            = 0x20
	nullAddr                      = 0xFFFFFFFF
	maxSymlink                    = 4096 // PATH_MAX
	maxNameLen                    = 255
	defaultDirCacheEntries        = 1 << 16
	defaultCacheBytes             = 32 << 20
	maxDirBytes             int64 = 1 << 30 // sanity limit on one directory's size
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Reader is an open EROFS image. It is safe for concurrent use.
type Reader struct {
	r         io.ReaderAt
	size      int64
	blkBits   uint
	blkSize   int64
	metaBase  int64 // byte offset of the metadata area (nid 0)
	rootNid   uint64
	inos      uint64
	blocks    uint64
	buildTime int64
	buildNsec uint32
	compat    uint32
	incompat  uint32
	label     string
	name      string

	mu       sync.Mutex
	dirs     map[uint64]*dirInfo // parsed directories by nid, bounded
	dirCount int                 // entries held in dirs
	dirLimit int

	zcache *zcache // decompressed extents
}

// Probe reports whether the image has the EROFS magic at offset 1024.
func Probe(r io.ReaderAt, size int64) bool {
	if size < sbOffset+sbSize {
		return false
	}
	var b [4]byte
	if _, err := r.ReadAt(b[:], sbOffset); err != nil {
		return false
	}
	return binary.LittleEndian.Uint32(b[:]) == magic
}

func corrupt(off int64, what string, err error) error {
	return image.Corrupt(formatName, off, what, err)
}

// incompatNames names feature_incompat bits for error messages.
func incompatNames(v uint32) string {
	names := map[uint32]string{
		incompatZeroPadding: "lz4_0padding", incompatComprCfgs: "compr_cfgs/big_pcluster",
		incompatChunkedFile: "chunked_file", incompatDeviceTable: "device_table/compr_head2",
		incompatZTailPacking: "ztailpacking", incompatFragments: "fragments/dedupe",
		incompatXattrPrefixes: "xattr_prefixes", incompat48Bit: "48bit", incompatMetabox: "metabox",
	}
	var out []string
	for b := uint32(1); b != 0; b <<= 1 {
		if v&b == 0 {
			continue
		}
		if n, ok := names[b]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("unknown(%#x)", b))
		}
	}
	return strings.Join(out, ", ")
}

// Open parses the superblock of an EROFS image and checks that the root
// directory is readable.
func Open(r io.ReaderAt, size int64, opt image.Options) (*Reader, error) {
	if size < sbOffset+sbSize {
		return nil, corrupt(sbOffset, "superblock", io.ErrUnexpectedEOF)
	}
	sb := make([]byte, sbSize)
	if _, err := r.ReadAt(sb, sbOffset); err != nil {
		return nil, corrupt(sbOffset, "superblock", err)
	}
	le := binary.LittleEndian
	if le.Uint32(sb[0:]) != magic {
		return nil, fmt.Errorf("erofs: bad magic %#x at offset %d", le.Uint32(sb[0:]), sbOffset)
	}
	cache := opt.CacheBytes
	if cache <= 0 {
		cache = defaultCacheBytes
	}
	rd := &Reader{r: r, size: size, name: opt.Name, dirs: map[uint64]*dirInfo{}, dirLimit: defaultDirCacheEntries,
		zcache: newZcache(cache)}
	rd.compat = le.Uint32(sb[8:])
	bb := uint(sb[12])
	if bb < 9 || bb > 16 {
		return nil, corrupt(sbOffset+12, "superblock blkszbits", fmt.Errorf("%d not in 9..16", bb))
	}
	rd.blkBits, rd.blkSize = bb, int64(1)<<bb
	if rd.compat&compatSBChecksum != 0 {
		if err := rd.verifySB(le.Uint32(sb[4:])); err != nil {
			return nil, err
		}
	}
	// sb[13] (sb_extslots) extends the superblock with fields only the
	// features refused below need; the checksum above covers them.
	rd.rootNid = uint64(le.Uint16(sb[14:]))
	rd.inos = le.Uint64(sb[16:])
	rd.buildTime = int64(le.Uint64(sb[24:]))
	rd.buildNsec = le.Uint32(sb[32:])
	if rd.buildNsec >= 1e9 {
		rd.buildNsec = 0
	}
	rd.blocks = uint64(le.Uint32(sb[36:]))
	rd.metaBase = int64(le.Uint32(sb[40:])) << bb
	rd.label = string(bytes.TrimRight(sb[64:80], "\x00"))
	rd.incompat = le.Uint32(sb[80:])
	extraDevices := le.Uint16(sb[86:])

	// Features we can serve: chunked files; a device table only when it
	// names no extra device; xattr prefixes (xattrs are not exported); lz4
	// 0padding and big pclusters (compression configs are not needed to
	// decode lz4). Everything else is refused by name.
	known := uint32(incompatChunkedFile | incompatDeviceTable | incompatXattrPrefixes |
		incompatZeroPadding | incompatComprCfgs)
	if unk := rd.incompat &^ known; unk != 0 {
		return nil, fmt.Errorf("erofs: unsupported incompatible features %#x (%s)", unk, incompatNames(unk))
	}
	if extraDevices != 0 {
		return nil, fmt.Errorf("erofs: images with %d extra devices (blob devices) not supported", extraDevices)
	}
	if rd.metaBase >= size {
		return nil, corrupt(sbOffset+40, "superblock meta_blkaddr", fmt.Errorf("metadata at %d beyond image size %d", rd.metaBase, size))
	}
	root, err := rd.inode(rd.rootNid)
	if err != nil {
		return nil, fmt.Errorf("erofs: root inode: %w", err)
	}
	if root.typ != fsadapters.TypeDir {
		return nil, corrupt(root.off, "root inode", errors.New("not a directory"))
	}
	return rd, nil
}

// verifySB checks the superblock crc32c: it covers the superblock block from
// offset 1024 to the block's end, with the checksum field taken as zero. The
// stored value is the raw crc32c register (seed ~0, no final inversion).
func (rd *Reader) verifySB(want uint32) error {
	n := rd.blkSize - sbOffset
	if rd.blkSize <= sbOffset {
		n = rd.blkSize
	}
	if sbOffset+n > rd.size {
		return corrupt(sbOffset, "superblock block", io.ErrUnexpectedEOF)
	}
	buf := make([]byte, n)
	if _, err := rd.r.ReadAt(buf, sbOffset); err != nil {
		return corrupt(sbOffset, "superblock block", err)
	}
	clear(buf[4:8])
	if got := ^crc32.Checksum(buf, castagnoli); got != want {
		return corrupt(sbOffset+4, "superblock checksum", fmt.Errorf("crc32c %#08x, stored %#08x", got, want))
	}
	return nil
}

// inode is a decoded on-disk inode.
type inode struct {
	nid       uint64
	off       int64 // image offset of the inode
	isize     int64 // 32 or 64
	xattrSize int64
	layout    int
	typ       fsadapters.FileType
	mode      uint32
	nlink     uint32
	size      int64
	iu        uint32
	uid, gid  uint32
	mtime     int64
	mtimeNsec uint32

	// Derived for data mapping.
	tailOff    int64  // FLAT_INLINE: image offset of the inline tail
	chunkBits  uint   // CHUNK_BASED
	chunkUnit  int64  // 4 (block map) or 8 (chunk indexes)
	chunkTable int64  // image offset of the chunk table
	z          *zinfo // compressed layouts, set by prepare
}

func (rd *Reader) readFull(p []byte, off int64, what string) error {
	if off < 0 || off > rd.size || int64(len(p)) > rd.size-off {
		return corrupt(off, what, io.ErrUnexpectedEOF)
	}
	n, err := rd.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return corrupt(off, what, err)
}

// nidFromIno maps an Ino back to a nid and rejects Inos that cannot name an
// inode slot inside the image.
func (rd *Reader) nidFromIno(ino image.Ino) (uint64, error) {
	if ino == 0 {
		return 0, fsadapters.ErrStale
	}
	nid := uint64(ino) - 1
	if nid > uint64(rd.size-rd.metaBase)/32 {
		return 0, fsadapters.ErrStale
	}
	return nid, nil
}

// inode reads and validates the inode at nid. Errors for a slot that does not
// hold a sane inode are ErrStale when it came from an Ino (the caller
// decides); here they are CorruptErrors.
func (rd *Reader) inode(nid uint64) (*inode, error) {
	if nid > uint64(rd.size-rd.metaBase)/32 {
		return nil, corrupt(-1, "inode number", fmt.Errorf("nid %d beyond the image", nid))
	}
	off := rd.metaBase + int64(nid)*32
	var b [64]byte
	if err := rd.readFull(b[:32], off, "inode"); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	ino := &inode{nid: nid, off: off}
	format := le.Uint16(b[0:])
	if format>>4 != 0 {
		return nil, corrupt(off, "inode format", fmt.Errorf("unknown i_format bits %#x", format))
	}
	ino.layout = int(format>>1) & 7
	icount := int64(le.Uint16(b[2:]))
	mode := uint32(le.Uint16(b[4:]))
	if format&1 == 0 {
		ino.isize = 32
		ino.nlink = uint32(le.Uint16(b[6:]))
		ino.size = int64(le.Uint32(b[8:]))
		// Compact inodes carry no timestamp of their own; the kernel uses
		// the superblock build time plus the (newer) 32-bit i_mtime delta
		// kept where older formats had i_reserved (zero there).
		ino.mtime = rd.buildTime + int64(le.Uint32(b[12:]))
		ino.mtimeNsec = rd.buildNsec
		ino.iu = le.Uint32(b[16:])
		ino.uid = uint32(le.Uint16(b[24:]))
		ino.gid = uint32(le.Uint16(b[26:]))
	} else {
		ino.isize = 64
		if err := rd.readFull(b[32:64], off+32, "extended inode"); err != nil {
			return nil, err
		}
		sz := le.Uint64(b[8:])
		if sz > 1<<62 {
			return nil, corrupt(off+8, "inode size", fmt.Errorf("%d", sz))
		}
		ino.size = int64(sz)
		ino.iu = le.Uint32(b[16:])
		ino.uid = le.Uint32(b[24:])
		ino.gid = le.Uint32(b[28:])
		ino.mtime = int64(le.Uint64(b[32:]))
		ino.mtimeNsec = le.Uint32(b[40:])
		if ino.mtimeNsec >= 1e9 {
			return nil, corrupt(off+40, "inode mtime nsec", fmt.Errorf("%d", ino.mtimeNsec))
		}
		ino.nlink = le.Uint32(b[44:])
	}
	if icount > 0 {
		ino.xattrSize = 12 + 4*(icount-1)
	}
	ino.mode = mode & 0o7777
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		ino.typ = fsadapters.TypeRegular
	case unix.S_IFDIR:
		ino.typ = fsadapters.TypeDir
	case unix.S_IFLNK:
		ino.typ = fsadapters.TypeSymlink
	case unix.S_IFCHR:
		ino.typ = fsadapters.TypeChar
	case unix.S_IFBLK:
		ino.typ = fsadapters.TypeBlock
	case unix.S_IFIFO:
		ino.typ = fsadapters.TypeFIFO
	case unix.S_IFSOCK:
		ino.typ = fsadapters.TypeSocket
	default:
		return nil, corrupt(off+4, "inode mode", fmt.Errorf("unknown file type %#o", mode))
	}
	if ino.nlink == 0 {
		return nil, corrupt(off+6, "inode nlink", errors.New("zero links"))
	}
	end := off + ino.isize + ino.xattrSize // first byte after inode + inline xattrs
	if end > rd.size {
		return nil, corrupt(off, "inode xattrs", io.ErrUnexpectedEOF)
	}
	switch ino.typ {
	case fsadapters.TypeChar, fsadapters.TypeBlock, fsadapters.TypeFIFO, fsadapters.TypeSocket:
		return ino, nil // no data; i_u is rdev for devices
	}
	if err := rd.checkLayout(ino, end); err != nil {
		return nil, err
	}
	return ino, nil
}

// checkLayout validates the data mapping of ino so that later reads only
// need per-chunk checks. end is the offset just past the inode's xattrs.
func (rd *Reader) checkLayout(ino *inode, end int64) error {
	bs := rd.blkSize
	blkaddr := int64(ino.iu)
	switch ino.layout {
	case layoutFlatPlain:
		if ino.size > 0 && (ino.size > rd.size || blkaddr*bs > rd.size-ino.size) {
			return corrupt(ino.off+16, "inode data extent", fmt.Errorf("block %d + %d bytes beyond the image", blkaddr, ino.size))
		}
	case layoutFlatInline:
		if ino.size > rd.size {
			return corrupt(ino.off+8, "inode size", fmt.Errorf("%d beyond the image", ino.size))
		}
		nblocks := (ino.size + bs - 1) >> rd.blkBits
		full := int64(0)
		if nblocks > 0 {
			full = (nblocks - 1) << rd.blkBits
		}
		tail := ino.size - full
		if full > 0 && blkaddr*bs > rd.size-full {
			return corrupt(ino.off+16, "inode data extent", fmt.Errorf("block %d + %d bytes beyond the image", blkaddr, full))
		}
		// The inline tail must sit in the same metadata block as its end
		// (the kernel refuses inline data crossing a block boundary).
		if tail > 0 && ((end&(bs-1))+tail > bs || end+tail > rd.size) {
			return corrupt(end, "inline tail data", fmt.Errorf("%d bytes cross a block boundary", tail))
		}
		ino.tailOff = end
	case layoutChunkBased:
		f := ino.iu & 0xffff
		if f&^uint32(chunkFormatBlkbitsMask|chunkFormatIndexes) != 0 {
			return corrupt(ino.off+16, "chunk format", fmt.Errorf("%#x", f))
		}
		ino.chunkBits = rd.blkBits + uint(f&chunkFormatBlkbitsMask)
		if ino.chunkBits > 47 {
			return corrupt(ino.off+16, "chunk format", fmt.Errorf("chunk size 2^%d", ino.chunkBits))
		}
		ino.chunkUnit = 4
		if f&chunkFormatIndexes != 0 {
			ino.chunkUnit = 8
		}
		ino.chunkTable = (end + ino.chunkUnit - 1) &^ (ino.chunkUnit - 1)
		nchunks := (ino.size + (int64(1) << ino.chunkBits) - 1) >> ino.chunkBits
		if nchunks > (rd.size-ino.chunkTable)/ino.chunkUnit {
			return corrupt(ino.chunkTable, "chunk table", fmt.Errorf("%d chunks beyond the image", nchunks))
		}
	case layoutCompressedFull, layoutCompressedCompact:
		// i_u counts compressed blocks; the index is checked by prepare
		// when the data is first read.
		if int64(ino.iu) > rd.size>>rd.blkBits {
			return corrupt(ino.off+16, "compressed block count", fmt.Errorf("%d", ino.iu))
		}
	default:
		return corrupt(ino.off, "inode data layout", fmt.Errorf("unknown layout %d", ino.layout))
	}
	if ino.typ == fsadapters.TypeDir && ino.size > maxDirBytes {
		return corrupt(ino.off+8, "directory size", fmt.Errorf("%d", ino.size))
	}
	if ino.typ == fsadapters.TypeSymlink && ino.size > maxSymlink {
		return corrupt(ino.off+8, "symlink size", fmt.Errorf("%d", ino.size))
	}
	return nil
}

// inodeOf resolves an Ino from a caller: anything that does not decode as a
// sane inode is ErrStale (a forged or outdated handle), not image damage.
func (rd *Reader) inodeOf(ino image.Ino) (*inode, error) {
	nid, err := rd.nidFromIno(ino)
	if err != nil {
		return nil, err
	}
	in, err := rd.inode(nid)
	if err != nil {
		// Both: a forged handle is stale, but if the Ino came from a
		// directory entry the image is damaged; callers may test either.
		return nil, fmt.Errorf("%w: %w", fsadapters.ErrStale, err)
	}
	return in, nil
}

// prepare readies ino's data mapping (the compression header).
func (rd *Reader) prepare(ino *inode) error {
	if (ino.layout == layoutCompressedFull || ino.layout == layoutCompressedCompact) && ino.z == nil {
		return rd.checkCompressed(ino, ino.off+ino.isize+ino.xattrSize)
	}
	return nil
}

// mapExtent maps logical offset off (< size) of ino to a contiguous run:
// its image offset and length, or hole=true for a run of zeros.
func (rd *Reader) mapExtent(ino *inode, off int64) (phys, n int64, hole bool, err error) {
	bs := rd.blkSize
	switch ino.layout {
	case layoutFlatPlain:
		return int64(ino.iu)*bs + off, ino.size - off, false, nil
	case layoutFlatInline:
		nblocks := (ino.size + bs - 1) >> rd.blkBits
		full := (nblocks - 1) << rd.blkBits
		if off < full {
			return int64(ino.iu)*bs + off, full - off, false, nil
		}
		return ino.tailOff + off - full, ino.size - off, false, nil
	case layoutChunkBased:
		csize := int64(1) << ino.chunkBits
		nr := off >> ino.chunkBits
		within := off & (csize - 1)
		n = min(csize-within, ino.size-off)
		pos := ino.chunkTable + nr*ino.chunkUnit
		var e [8]byte
		if err := rd.readFull(e[:ino.chunkUnit], pos, "chunk index"); err != nil {
			return 0, 0, false, err
		}
		var blk uint32
		if ino.chunkUnit == 4 {
			blk = binary.LittleEndian.Uint32(e[0:])
		} else {
			// {advise/startblk_hi u16, device_id u16, blkaddr u32}; with no
			// extra devices the kernel masks device_id to 0.
			if hi := binary.LittleEndian.Uint16(e[0:]); hi != 0 && binary.LittleEndian.Uint32(e[4:]) != nullAddr {
				return 0, 0, false, corrupt(pos, "chunk index", fmt.Errorf("startblk_hi %d", hi))
			}
			blk = binary.LittleEndian.Uint32(e[4:])
		}
		if blk == nullAddr {
			return 0, n, true, nil
		}
		phys = int64(blk)*bs + within
		if phys > rd.size-n {
			return 0, 0, false, corrupt(pos, "chunk index", fmt.Errorf("block %d beyond the image", blk))
		}
		return phys, n, false, nil
	}
	return 0, 0, false, corrupt(ino.off, "data layout", fmt.Errorf("layout %d", ino.layout))
}

// readData reads ino's data at off into p like io.ReaderAt.
func (rd *Reader) readData(ino *inode, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("erofs: negative offset")
	}
	if off >= ino.size {
		return 0, io.EOF
	}
	want := p
	if int64(len(p)) > ino.size-off {
		want = p[:ino.size-off]
	}
	if err := rd.prepare(ino); err != nil {
		return 0, err
	}
	if ino.z != nil {
		if err := rd.readCompressed(ino, want, off); err != nil {
			return 0, err
		}
		if len(want) < len(p) {
			return len(want), io.EOF
		}
		return len(want), nil
	}
	done := 0
	for done < len(want) {
		phys, n, hole, err := rd.mapExtent(ino, off+int64(done))
		if err != nil {
			return done, err
		}
		if n <= 0 {
			return done, corrupt(ino.off, "data mapping", errors.New("empty extent"))
		}
		n = min(n, int64(len(want)-done))
		seg := want[done : done+int(n)]
		if hole {
			clear(seg)
		} else if err := rd.readFull(seg, phys, "file data"); err != nil {
			return done, err
		}
		done += int(n)
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// Root returns the Ino of the root directory.
func (rd *Reader) Root() image.Ino { return image.Ino(rd.rootNid + 1) }

// Stat returns the attributes of ino.
func (rd *Reader) Stat(ino image.Ino) (fsadapters.Attr, error) {
	in, err := rd.inodeOf(ino)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	t := time.Unix(in.mtime, int64(in.mtimeNsec))
	a := fsadapters.Attr{
		Type: in.typ, Mode: in.mode, Nlink: in.nlink, UID: in.uid, GID: in.gid,
		FileID: uint64(ino), Atime: t, Mtime: t, Ctime: t,
		Change: uint64(t.UnixNano()),
	}
	switch in.typ {
	case fsadapters.TypeRegular, fsadapters.TypeDir, fsadapters.TypeSymlink:
		a.Size = uint64(in.size)
		a.SpaceUsed = uint64((in.size + rd.blkSize - 1) &^ (rd.blkSize - 1))
		if in.layout == layoutCompressedFull || in.layout == layoutCompressedCompact {
			a.SpaceUsed = uint64(in.iu) << rd.blkBits
		}
	case fsadapters.TypeChar, fsadapters.TypeBlock:
		// new_encode_dev: minor low 8 bits, major 12 bits, minor high 12 bits.
		d := in.iu
		a.RdevMajor = (d & 0xfff00) >> 8
		a.RdevMinor = (d & 0xff) | ((d >> 12) & 0xfff00)
	}
	return a, nil
}

// Readlink returns the target of symlink ino.
func (rd *Reader) Readlink(ino image.Ino) (string, error) {
	in, err := rd.inodeOf(ino)
	if err != nil {
		return "", err
	}
	if in.typ != fsadapters.TypeSymlink {
		return "", unix.EINVAL
	}
	buf := make([]byte, in.size)
	if n, err := rd.readData(in, buf, 0); n != len(buf) {
		return "", err
	}
	return string(buf), nil
}

// fileReader is the io.ReaderAt Open returns; it holds the decoded inode.
type fileReader struct {
	rd *Reader
	in *inode
}

func (f *fileReader) ReadAt(p []byte, off int64) (int, error) { return f.rd.readData(f.in, p, off) }

// Open returns random access to the content of regular file ino.
func (rd *Reader) Open(ino image.Ino) (io.ReaderAt, error) {
	in, err := rd.inodeOf(ino)
	if err != nil {
		return nil, err
	}
	switch in.typ {
	case fsadapters.TypeRegular:
	case fsadapters.TypeDir:
		return nil, unix.EISDIR
	default:
		return nil, unix.EINVAL
	}
	if err := rd.prepare(in); err != nil {
		return nil, err
	}
	return &fileReader{rd: rd, in: in}, nil
}

// Info describes the image.
func (rd *Reader) Info() image.Info {
	used := uint64(rd.size)
	if b := rd.blocks << rd.blkBits; b > 0 && b <= used {
		used = b
	}
	return image.Info{
		Format: formatName, Label: rd.label, TotalBytes: uint64(rd.size), UsedBytes: used,
		Files: rd.inos, MaxName: maxNameLen, TimeDelta: time.Nanosecond,
		// The superblock crc32c is checked at Open, but inodes, directories
		// and data carry no checksum.
		HasMetaChecksums: false,
		SourceDescription: fmt.Sprintf("EROFS, %d-byte blocks, features compat %#x incompat %#x",
			rd.blkSize, rd.compat, rd.incompat),
	}
}

// Close releases the caches.
func (rd *Reader) Close() error {
	rd.mu.Lock()
	rd.dirs = map[uint64]*dirInfo{}
	rd.dirCount = 0
	rd.mu.Unlock()
	rd.zcache.reset()
	return nil
}
