// Package ext4 reads ext2, ext3 and ext4 filesystem images, read-only,
// following the on-disk format described in the Linux kernel's
// Documentation/filesystems/ext4/ (superblock, group descriptors, inode
// table, extent trees, legacy block maps, directories, inline data).
//
// An Ino is the ext4 inode number, so file handles survive restarts and hard
// links share one Ino. The journal is not replayed (see Open). With the
// metadata_csum feature every superblock, group descriptor, inode, inode
// bitmap, extent block and directory block read is verified (crc32c) and a
// mismatch is a *image.CorruptError naming the byte offset.
package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"sort"
	"strings"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/internal/lru"
)

const format = "ext4"

// Superblock field offsets and values (ext4 docs: "Super Block").
const (
	sbOffset = 1024
	sbSize   = 1024
	sbMagic  = 0xEF53

	rootIno = 2
)

// Feature flags (ext4 docs: "Super Block", s_feature_*).
const (
	incompatCompression = 0x1
	incompatFiletype    = 0x2
	incompatRecover     = 0x4
	incompatJournalDev  = 0x8
	incompatMetaBG      = 0x10
	incompatExtents     = 0x40
	incompat64bit       = 0x80
	incompatMMP         = 0x100
	incompatFlexBG      = 0x200
	incompatEAInode     = 0x400
	incompatDirData     = 0x1000
	incompatCsumSeed    = 0x2000
	incompatLargeDir    = 0x4000
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000

	roCompatSparseSuper  = 0x1
	roCompatHugeFile     = 0x8
	roCompatGdtCsum      = 0x10
	roCompatDirNlink     = 0x20
	roCompatBigalloc     = 0x200
	roCompatMetadataCsum = 0x400
)

// supportedIncompat is every INCOMPAT feature this reader handles. MMP only
// guards concurrent writers; EA_INODE only concerns large xattr values;
// LARGEDIR only lifts size limits a linear directory scan does not have;
// CASEFOLD directories store names as written (Lookup stays exact).
const supportedIncompat = incompatFiletype | incompatRecover | incompatMetaBG | incompatExtents |
	incompat64bit | incompatMMP | incompatFlexBG | incompatEAInode | incompatCsumSeed |
	incompatLargeDir | incompatInlineData | incompatCasefold

var incompatNames = []struct {
	bit  uint32
	name string
}{
	{incompatCompression, "compression"}, {incompatJournalDev, "journal_dev"},
	{incompatDirData, "dirdata"}, {incompatEncrypt, "encrypt"},
}

// Group descriptor flags.
const (
	bgInodeUninit = 0x1
)

type groupDesc struct {
	inodeBitmap   uint64
	inodeTable    uint64
	flags         uint16
	itableUnused  uint32
	inodeBmapCsum uint32
}

type superblock struct {
	inodesCount     uint32
	blocksCount     uint64
	freeBlocks      uint64
	freeInodes      uint32
	firstDataBlock  uint32
	logBlockSize    uint32
	logClusterSize  uint32
	blocksPerGroup  uint32
	inodesPerGroup  uint32
	revLevel        uint32
	firstIno        uint32
	inodeSize       uint32
	featureCompat   uint32
	featureIncompat uint32
	featureRoCompat uint32
	uuid            [16]byte
	volumeName      string
	descSize        uint32
	firstMetaBG     uint32
	minExtraIsize   uint16
	checksumSeed    uint32
}

// Reader is an open ext2/3/4 image. It implements image.Reader.
type Reader struct {
	r    io.ReaderAt
	size int64
	opt  image.Options
	sb   superblock

	bs         int64  // block size in bytes
	groups     uint32 // number of block groups
	gd         []groupDesc
	csum       bool   // metadata_csum
	seed       uint32 // crc32c seed for metadata checksums
	hasExtra   bool   // inodes larger than 128 bytes may carry *_extra fields
	clusterLen int64  // bytes per allocation cluster (bigalloc), == bs otherwise

	inodes  *lru.Cache[uint32, *inode]
	maps    *lru.Cache[uint32, *blockMap]
	dirs    *lru.Cache[uint32, *dirInfo]
	bitmaps *lru.Cache[uint32, []byte]
}

var _ image.Reader = (*Reader)(nil)

func init() {
	image.Register(image.Format{
		Name:  format,
		Probe: Probe,
		Open: func(r io.ReaderAt, size int64, opt image.Options) (image.Reader, error) {
			return Open(r, size, opt)
		},
	})
}

// Probe reports whether r holds an ext2/3/4 superblock: the magic 0xEF53 at
// 1024+56 and a block size of 1 KiB to 64 KiB.
func Probe(r io.ReaderAt, size int64) bool {
	if size < sbOffset+sbSize {
		return false
	}
	var b [4]byte
	if _, err := r.ReadAt(b[:2], sbOffset+0x38); err != nil {
		return false
	}
	if binary.LittleEndian.Uint16(b[:2]) != sbMagic {
		return false
	}
	if _, err := r.ReadAt(b[:], sbOffset+0x18); err != nil {
		return false
	}
	return binary.LittleEndian.Uint32(b[:]) <= 6
}

func corrupt(off int64, what string, err error) error {
	return image.Corrupt(format, off, what, err)
}

// readAt reads exactly len(p) bytes at off, reporting short reads as
// corruption (the image ends before a structure it claims).
func (fs *Reader) readAt(p []byte, off int64, what string) error {
	if off < 0 || off > fs.size || int64(len(p)) > fs.size-off {
		return corrupt(off, what, errors.New("beyond the end of the image"))
	}
	n, err := fs.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return corrupt(off, what, err)
}

// blockOff returns the byte offset of block b after checking that n blocks
// from b lie inside the filesystem.
func (fs *Reader) blockOff(b uint64, n uint64, what string) (int64, error) {
	if b >= fs.sb.blocksCount || n > fs.sb.blocksCount-b || (b == 0 && n > 0) {
		return 0, corrupt(-1, what, fmt.Errorf("block %d+%d outside the filesystem (%d blocks)", b, n, fs.sb.blocksCount))
	}
	return int64(b) * fs.bs, nil
}

// Open reads the superblock and group descriptors of an ext2/3/4 image.
func Open(r io.ReaderAt, size int64, opt image.Options) (*Reader, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	fs := &Reader{r: r, size: size, opt: opt}
	raw := make([]byte, sbSize)
	if err := fs.readAt(raw, sbOffset, "superblock"); err != nil {
		return nil, err
	}
	if err := fs.parseSuper(raw); err != nil {
		return nil, err
	}
	if err := fs.loadGroups(); err != nil {
		return nil, err
	}
	if fs.sb.featureIncompat&incompatRecover != 0 {
		opt.Log.Warn("ext4: the journal needs recovery; it is not replayed, recent changes may be missing", "image", opt.Name)
	}
	inodeBytes := max(opt.CacheBytes/8, 1<<20)
	fs.inodes = lru.New[uint32, *inode](inodeBytes, 0)
	fs.maps = lru.New[uint32, *blockMap](max(opt.CacheBytes/4, 4<<20), 0)
	fs.dirs = lru.New[uint32, *dirInfo](max(opt.CacheBytes/2, 32<<20), 0)
	fs.bitmaps = lru.New[uint32, []byte](max(opt.CacheBytes/16, 1<<20), 0)
	// The root must be a readable directory, or nothing else will be.
	ri, err := fs.inode(rootIno)
	if err != nil {
		return nil, err
	}
	if ri.mode&sIFMT != sIFDIR {
		return nil, corrupt(fs.inodeOffset(rootIno), "root inode", errors.New("not a directory"))
	}
	return fs, nil
}

func (fs *Reader) parseSuper(b []byte) error {
	le := binary.LittleEndian
	if le.Uint16(b[0x38:]) != sbMagic {
		return corrupt(sbOffset+0x38, "superblock", errors.New("bad magic (not an ext2/3/4 image)"))
	}
	s := &fs.sb
	s.inodesCount = le.Uint32(b[0x0:])
	s.blocksCount = uint64(le.Uint32(b[0x4:]))
	s.freeBlocks = uint64(le.Uint32(b[0xC:]))
	s.freeInodes = le.Uint32(b[0x10:])
	s.firstDataBlock = le.Uint32(b[0x14:])
	s.logBlockSize = le.Uint32(b[0x18:])
	s.logClusterSize = le.Uint32(b[0x1C:])
	s.blocksPerGroup = le.Uint32(b[0x20:])
	clustersPerGroup := le.Uint32(b[0x24:])
	s.inodesPerGroup = le.Uint32(b[0x28:])
	s.revLevel = le.Uint32(b[0x4C:])
	s.firstIno = 11
	s.inodeSize = 128
	if s.revLevel >= 1 {
		s.firstIno = le.Uint32(b[0x54:])
		s.inodeSize = uint32(le.Uint16(b[0x58:]))
		s.featureCompat = le.Uint32(b[0x5C:])
		s.featureIncompat = le.Uint32(b[0x60:])
		s.featureRoCompat = le.Uint32(b[0x64:])
	}
	copy(s.uuid[:], b[0x68:0x78])
	s.volumeName = strings.TrimRight(string(b[0x78:0x88]), "\x00")
	s.descSize = 32
	if s.featureIncompat&incompat64bit != 0 {
		s.descSize = uint32(le.Uint16(b[0xFE:]))
		s.blocksCount |= uint64(le.Uint32(b[0x150:])) << 32
		s.freeBlocks |= uint64(le.Uint32(b[0x158:])) << 32
	}
	s.firstMetaBG = le.Uint32(b[0x104:])
	s.minExtraIsize = le.Uint16(b[0x15C:])
	s.checksumSeed = le.Uint32(b[0x270:])

	bad := func(off int, why string, args ...any) error {
		return corrupt(sbOffset+int64(off), "superblock", fmt.Errorf(why, args...))
	}
	if unk := s.featureIncompat &^ supportedIncompat; unk != 0 {
		var names []string
		for _, f := range incompatNames {
			if unk&f.bit != 0 {
				names = append(names, f.name)
				unk &^= f.bit
			}
		}
		if unk != 0 {
			names = append(names, fmt.Sprintf("0x%x", unk))
		}
		return fmt.Errorf("ext4: unsupported incompatible features: %s", strings.Join(names, ", "))
	}
	fs.csum = s.featureRoCompat&roCompatMetadataCsum != 0
	if fs.csum {
		if b[0x175] != 1 {
			return bad(0x175, "unknown checksum type %d", b[0x175])
		}
		want := le.Uint32(b[0x3FC:])
		if got := crc32c(^uint32(0), b[:0x3FC]); got != want {
			return bad(0x3FC, "checksum mismatch (stored %#x, computed %#x)", want, got)
		}
		if s.featureIncompat&incompatCsumSeed != 0 {
			fs.seed = s.checksumSeed
		} else {
			fs.seed = crc32c(^uint32(0), s.uuid[:])
		}
	}
	if s.logBlockSize > 6 {
		return bad(0x18, "block size 2^(10+%d) out of range 1 KiB..64 KiB", s.logBlockSize)
	}
	fs.bs = 1024 << s.logBlockSize
	fs.clusterLen = fs.bs
	if s.featureRoCompat&roCompatBigalloc != 0 {
		if s.logClusterSize < s.logBlockSize || s.logClusterSize > 6+16 {
			return bad(0x1C, "cluster size out of range")
		}
		fs.clusterLen = 1024 << s.logClusterSize
	}
	if s.inodeSize < 128 || s.inodeSize > uint32(fs.bs) || bits.OnesCount32(s.inodeSize) != 1 {
		return bad(0x58, "inode size %d", s.inodeSize)
	}
	fs.hasExtra = s.inodeSize > 128
	maxPerGroup := uint32(8 * fs.bs)
	perGroupOK := s.blocksPerGroup != 0 && s.blocksPerGroup <= maxPerGroup
	if fs.clusterLen != fs.bs {
		perGroupOK = s.blocksPerGroup != 0 && clustersPerGroup != 0 && clustersPerGroup <= maxPerGroup
	}
	if !perGroupOK {
		return bad(0x20, "blocks per group %d", s.blocksPerGroup)
	}
	if s.inodesPerGroup == 0 || s.inodesPerGroup > maxPerGroup {
		return bad(0x28, "inodes per group %d", s.inodesPerGroup)
	}
	if (fs.bs == 1024) != (s.firstDataBlock == 1) && !(fs.clusterLen != fs.bs && s.firstDataBlock == 0) {
		return bad(0x14, "first data block %d with %d-byte blocks", s.firstDataBlock, fs.bs)
	}
	if s.blocksCount <= uint64(s.firstDataBlock) {
		return bad(0x4, "blocks count %d", s.blocksCount)
	}
	if s.blocksCount > uint64(fs.size/fs.bs) {
		return corrupt(sbOffset+4, "superblock", fmt.Errorf("image truncated: the filesystem has %d bytes, the image %d",
			s.blocksCount*uint64(fs.bs), fs.size))
	}
	groups := (s.blocksCount - uint64(s.firstDataBlock) + uint64(s.blocksPerGroup) - 1) / uint64(s.blocksPerGroup)
	if groups == 0 || groups > 1<<32-1 || uint64(s.inodesCount) != groups*uint64(s.inodesPerGroup) {
		return bad(0x0, "inodes count %d != %d groups × %d", s.inodesCount, groups, s.inodesPerGroup)
	}
	fs.groups = uint32(groups)
	if s.firstIno < 3 || s.firstIno > s.inodesCount {
		return bad(0x54, "first inode %d", s.firstIno)
	}
	if s.featureIncompat&incompat64bit != 0 {
		if s.descSize < 64 || s.descSize > 1024 || bits.OnesCount32(s.descSize) != 1 {
			return bad(0xFE, "group descriptor size %d", s.descSize)
		}
	}
	return nil
}

// hasSuper reports whether group g holds a superblock backup (and so, in
// the classic layout, a group descriptor table copy): always without
// sparse_super, otherwise groups 0, 1 and powers of 3, 5 and 7.
func (fs *Reader) hasSuper(g uint64) bool {
	if fs.sb.featureRoCompat&roCompatSparseSuper == 0 || g <= 1 {
		return true
	}
	for _, p := range []uint64{3, 5, 7} {
		n := p
		for n < g {
			n *= p
		}
		if n == g {
			return true
		}
	}
	return false
}

// loadGroups reads and checks every group descriptor. Without meta_bg they
// follow the superblock's block; with meta_bg, descriptor block m (from
// s_first_meta_bg on) sits in the first group of meta group m.
func (fs *Reader) loadGroups() error {
	ds := int64(fs.sb.descSize)
	perBlock := uint64(fs.bs / ds)
	nblocks := (uint64(fs.groups) + perBlock - 1) / perBlock
	fs.gd = make([]groupDesc, fs.groups)
	blk := make([]byte, fs.bs)
	le := binary.LittleEndian
	metaBG := fs.sb.featureIncompat&incompatMetaBG != 0
	for m := uint64(0); m < nblocks; m++ {
		// The table follows the superblock's block (block 1 with 1 KiB
		// blocks, else 0; first_data_block is 0 under bigalloc).
		b := uint64(sbOffset/fs.bs) + 1 + m
		if metaBG && m >= uint64(fs.sb.firstMetaBG) {
			g := m * perBlock
			b = uint64(fs.sb.firstDataBlock) + g*uint64(fs.sb.blocksPerGroup)
			if fs.hasSuper(g) {
				b++
			}
			if g == 0 && fs.bs == 1024 && fs.sb.firstDataBlock == 0 {
				b++ // 1 KiB blocks with bigalloc: block 0 is the boot block
			}
		}
		off, err := fs.blockOff(b, 1, "group descriptor block")
		if err != nil {
			return err
		}
		if err := fs.readAt(blk, off, "group descriptors"); err != nil {
			return err
		}
		for i := uint64(0); i < perBlock && m*perBlock+i < uint64(fs.groups); i++ {
			g := uint32(m*perBlock + i)
			d := blk[int64(i)*ds : int64(i+1)*ds]
			doff := off + int64(i)*ds
			if fs.csum {
				var gb [4]byte
				le.PutUint32(gb[:], g)
				c := crc32c(fs.seed, gb[:])
				c = crc32c(c, d[:0x1E])
				c = crc32c(c, []byte{0, 0})
				c = crc32c(c, d[0x20:])
				if uint16(c) != le.Uint16(d[0x1E:]) {
					return corrupt(doff, "group descriptor", fmt.Errorf("group %d: checksum mismatch", g))
				}
			} else if fs.sb.featureRoCompat&roCompatGdtCsum != 0 {
				var gb [4]byte
				le.PutUint32(gb[:], g)
				c := crc16(0xFFFF, fs.sb.uuid[:])
				c = crc16(c, gb[:])
				c = crc16(c, d[:0x1E])
				c = crc16(c, d[0x20:])
				if c != le.Uint16(d[0x1E:]) {
					return corrupt(doff, "group descriptor", fmt.Errorf("group %d: crc16 mismatch", g))
				}
			}
			gd := groupDesc{
				inodeBitmap:   uint64(le.Uint32(d[0x4:])),
				inodeTable:    uint64(le.Uint32(d[0x8:])),
				flags:         le.Uint16(d[0x12:]),
				itableUnused:  uint32(le.Uint16(d[0x1C:])),
				inodeBmapCsum: uint32(le.Uint16(d[0x1A:])),
			}
			if ds >= 64 {
				gd.inodeBitmap |= uint64(le.Uint32(d[0x24:])) << 32
				gd.inodeTable |= uint64(le.Uint32(d[0x28:])) << 32
				gd.itableUnused |= uint32(le.Uint16(d[0x32:])) << 16
				gd.inodeBmapCsum |= uint32(le.Uint16(d[0x3A:])) << 16
			}
			itBlocks := (uint64(fs.sb.inodesPerGroup)*uint64(fs.sb.inodeSize) + uint64(fs.bs) - 1) / uint64(fs.bs)
			if _, err := fs.blockOff(gd.inodeTable, itBlocks, "inode table"); err != nil {
				return corrupt(doff, "group descriptor", fmt.Errorf("group %d: inode table at block %d: %w", g, gd.inodeTable, err))
			}
			if _, err := fs.blockOff(gd.inodeBitmap, 1, "inode bitmap"); err != nil {
				return corrupt(doff, "group descriptor", fmt.Errorf("group %d: inode bitmap at block %d: %w", g, gd.inodeBitmap, err))
			}
			fs.gd[g] = gd
		}
	}
	return nil
}

// Root implements image.Reader.
func (fs *Reader) Root() image.Ino { return rootIno }

// Close implements image.Reader.
func (fs *Reader) Close() error { return nil }

// Info implements image.Reader.
func (fs *Reader) Info() image.Info {
	s := &fs.sb
	total := s.blocksCount * uint64(fs.bs)
	free := s.freeBlocks * uint64(fs.bs) // counted in blocks, even with bigalloc
	used := total
	if free <= total {
		used = total - free
	}
	files := uint64(0)
	if s.freeInodes <= s.inodesCount {
		files = uint64(s.inodesCount - s.freeInodes)
	}
	delta := time.Second
	if fs.hasExtra {
		delta = time.Nanosecond
	}
	var feats []string
	if s.featureIncompat&incompatExtents != 0 {
		feats = append(feats, "extents")
	}
	if fs.csum {
		feats = append(feats, "metadata_csum")
	}
	if s.featureIncompat&incompatInlineData != 0 {
		feats = append(feats, "inline_data")
	}
	sort.Strings(feats)
	return image.Info{
		Format:            format,
		Label:             s.volumeName,
		TotalBytes:        total,
		UsedBytes:         used,
		Files:             files,
		MaxName:           255,
		TimeDelta:         delta,
		HasMetaChecksums:  fs.csum,
		SourceDescription: fmt.Sprintf("ext2/3/4, %d-byte blocks, %d groups [%s]", fs.bs, fs.groups, strings.Join(feats, " ")),
	}
}
