package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"golang.org/x/sys/unix"
)

// i_mode type bits.
const (
	sIFMT   = 0xF000
	sIFSOCK = 0xC000
	sIFLNK  = 0xA000
	sIFREG  = 0x8000
	sIFBLK  = 0x6000
	sIFDIR  = 0x4000
	sIFCHR  = 0x2000
	sIFIFO  = 0x1000
)

// i_flags bits.
const (
	flagIndex    = 0x1000
	flagHugeFile = 0x40000
	flagExtents  = 0x80000
	flagInline   = 0x10000000
)

// inode is the decoded part of an on-disk inode (ext4 docs: "Index Nodes").
type inode struct {
	ino         uint32
	off         int64 // byte offset of the inode in the image
	mode        uint16
	uid, gid    uint32
	size        uint64
	links       uint16
	blocks      uint64 // bytes allocated
	flags       uint32
	block       [60]byte // i_block: extent root, block map, fast symlink or inline data
	generation  uint32
	fileACL     uint64
	atime       time.Time
	mtime       time.Time
	ctime       time.Time
	crtime      time.Time
	csumSeed    uint32 // per-inode crc32c seed (metadata_csum)
	inlineXattr []byte // value of system.data (inline data past i_block)
}

func (fs *Reader) inodeOffset(ino uint32) int64 {
	if ino == 0 || ino > fs.sb.inodesCount {
		return -1
	}
	g := (ino - 1) / fs.sb.inodesPerGroup
	i := (ino - 1) % fs.sb.inodesPerGroup
	return int64(fs.gd[g].inodeTable)*fs.bs + int64(i)*int64(fs.sb.inodeSize)
}

// inodeInUse checks the inode bitmap of ino's group (verifying its checksum
// with metadata_csum).
func (fs *Reader) inodeInUse(ino uint32) (bool, error) {
	g := (ino - 1) / fs.sb.inodesPerGroup
	i := (ino - 1) % fs.sb.inodesPerGroup
	gd := &fs.gd[g]
	groupCsum := fs.csum || fs.sb.featureRoCompat&roCompatGdtCsum != 0
	if groupCsum && gd.flags&bgInodeUninit != 0 {
		return false, nil
	}
	if groupCsum && i >= fs.sb.inodesPerGroup-min(gd.itableUnused, fs.sb.inodesPerGroup) {
		return false, nil // past the last initialised inode of the group
	}
	bm, ok := fs.bitmaps.Get(g)
	if !ok {
		bm = make([]byte, fs.bs)
		off := int64(gd.inodeBitmap) * fs.bs
		if err := fs.readAt(bm, off, "inode bitmap"); err != nil {
			return false, err
		}
		if fs.csum {
			c := crc32c(fs.seed, bm[:fs.sb.inodesPerGroup/8])
			if fs.sb.descSize < 64 {
				c &= 0xFFFF
			}
			if c != gd.inodeBmapCsum {
				return false, corrupt(off, "inode bitmap", fmt.Errorf("group %d: checksum mismatch", g))
			}
		}
		fs.bitmaps.Put(g, bm, fs.bs)
	}
	return bm[i/8]&(1<<(i%8)) != 0, nil
}

// inode returns inode ino, or ErrStale when ino is out of range, reserved
// or not in use.
func (fs *Reader) inode(ino uint32) (*inode, error) {
	if ino == 0 || ino > fs.sb.inodesCount || (ino < fs.sb.firstIno && ino != rootIno) {
		return nil, fsadapters.ErrStale
	}
	if in, ok := fs.inodes.Get(ino); ok {
		return in, nil
	}
	used, err := fs.inodeInUse(ino)
	if err != nil {
		return nil, err
	}
	if !used {
		return nil, fsadapters.ErrStale
	}
	off := fs.inodeOffset(ino)
	raw := make([]byte, fs.sb.inodeSize)
	if err := fs.readAt(raw, off, "inode"); err != nil {
		return nil, err
	}
	in, err := fs.parseInode(ino, off, raw)
	if err != nil {
		return nil, err
	}
	if in.links == 0 || in.mode == 0 {
		return nil, fsadapters.ErrStale // deleted, or orphaned and not reachable
	}
	fs.inodes.Put(ino, in, int64(fs.sb.inodeSize)+200)
	return in, nil
}

func (fs *Reader) parseInode(ino uint32, off int64, raw []byte) (*inode, error) {
	le := binary.LittleEndian
	bad := func(rel int, why string, args ...any) error {
		return corrupt(off+int64(rel), "inode", fmt.Errorf("inode %d: "+why, append([]any{ino}, args...)...))
	}
	extra := 0
	if len(raw) > 128 {
		extra = int(le.Uint16(raw[0x80:]))
		if extra > len(raw)-128 || extra%4 != 0 {
			return nil, bad(0x80, "extra size %d", extra)
		}
	}
	in := &inode{ino: ino, off: off}
	in.generation = le.Uint32(raw[0x64:])
	if fs.csum {
		var b [4]byte
		le.PutUint32(b[:], ino)
		c := crc32c(fs.seed, b[:])
		le.PutUint32(b[:], in.generation)
		in.csumSeed = crc32c(c, b[:])
		zero := []byte{0, 0}
		c = crc32c(in.csumSeed, raw[:0x7C])
		c = crc32c(c, zero)
		c = crc32c(c, raw[0x7E:128])
		want := uint32(le.Uint16(raw[0x7C:]))
		hi := len(raw) > 128 && extra >= 4
		if len(raw) > 128 {
			c = crc32c(c, raw[0x80:0x82])
			if hi {
				c = crc32c(c, zero)
				c = crc32c(c, raw[0x84:])
				want |= uint32(le.Uint16(raw[0x82:])) << 16
			} else {
				c = crc32c(c, raw[0x82:])
			}
		}
		if !hi {
			c &= 0xFFFF
		}
		if c != want {
			return nil, bad(0x7C, "checksum mismatch (stored %#x, computed %#x)", want, c)
		}
	}
	in.mode = le.Uint16(raw[0x0:])
	in.uid = uint32(le.Uint16(raw[0x2:])) | uint32(le.Uint16(raw[0x78:]))<<16
	in.gid = uint32(le.Uint16(raw[0x18:])) | uint32(le.Uint16(raw[0x7A:]))<<16
	in.size = uint64(le.Uint32(raw[0x4:])) | uint64(le.Uint32(raw[0x6C:]))<<32
	in.links = le.Uint16(raw[0x1A:])
	in.flags = le.Uint32(raw[0x20:])
	blocks := uint64(le.Uint32(raw[0x1C:]))
	if fs.sb.featureRoCompat&roCompatHugeFile != 0 {
		blocks |= uint64(le.Uint16(raw[0x74:])) << 32
	}
	if fs.sb.featureRoCompat&roCompatHugeFile != 0 && in.flags&flagHugeFile != 0 {
		in.blocks = blocks * uint64(fs.bs)
	} else {
		in.blocks = blocks * 512
	}
	copy(in.block[:], raw[0x28:0x64])
	in.fileACL = uint64(le.Uint32(raw[0x68:])) | uint64(le.Uint16(raw[0x76:]))<<32
	// Timestamps: 32-bit seconds, extended by the *_extra fields (2 epoch
	// bits, 30 nanosecond bits) when the inode is big enough to hold them.
	ts := func(secOff, extraOff int) time.Time {
		sec := int64(int32(le.Uint32(raw[secOff:])))
		if extraOff > 0 && extra >= extraOff-0x80+4 {
			x := le.Uint32(raw[extraOff:])
			sec += int64(x&3) << 32
			ns := int64(x >> 2)
			if ns > 999999999 {
				ns = 0
			}
			return time.Unix(sec, ns)
		}
		return time.Unix(sec, 0)
	}
	in.ctime = ts(0xC, 0x84)
	in.mtime = ts(0x10, 0x88)
	in.atime = ts(0x8, 0x8C)
	if extra >= 0x94-0x80 {
		in.crtime = ts(0x90, 0x94)
	}
	if in.flags&flagInline != 0 && len(raw) > 128 {
		v, err := inlineXattr(raw, 128+extra)
		if err != nil {
			return nil, bad(128+extra, "inline data xattr: %v", err)
		}
		in.inlineXattr = v
	}
	return in, nil
}

// inlineXattr finds the value of system.data in the in-inode extended
// attribute area starting at start (ext4 docs: "Extended Attributes").
func inlineXattr(raw []byte, start int) ([]byte, error) {
	le := binary.LittleEndian
	if start+4 > len(raw) || le.Uint32(raw[start:]) != 0xEA020000 {
		return nil, nil
	}
	base := start + 4
	for p := base; p+4 <= len(raw) && le.Uint32(raw[p:]) != 0; {
		if p+16 > len(raw) {
			return nil, errors.New("entry past the inode")
		}
		nameLen := int(raw[p])
		index := raw[p+1]
		voff := int(le.Uint16(raw[p+2:]))
		inum := le.Uint32(raw[p+4:])
		vsize := int(le.Uint32(raw[p+8:]))
		if p+16+nameLen > len(raw) {
			return nil, errors.New("name past the inode")
		}
		name := string(raw[p+16 : p+16+nameLen])
		if index == 7 && name == "data" {
			if inum != 0 || vsize < 0 || base+voff > len(raw) || vsize > len(raw)-(base+voff) {
				return nil, fmt.Errorf("value %d+%d outside the inode", voff, vsize)
			}
			return raw[base+voff : base+voff+vsize], nil
		}
		p += (16 + nameLen + 3) &^ 3
	}
	return nil, nil
}

func fileType(mode uint16) fsadapters.FileType {
	switch mode & sIFMT {
	case sIFREG:
		return fsadapters.TypeRegular
	case sIFDIR:
		return fsadapters.TypeDir
	case sIFLNK:
		return fsadapters.TypeSymlink
	case sIFCHR:
		return fsadapters.TypeChar
	case sIFBLK:
		return fsadapters.TypeBlock
	case sIFIFO:
		return fsadapters.TypeFIFO
	case sIFSOCK:
		return fsadapters.TypeSocket
	}
	return 0
}

func toIno(ino image.Ino) (uint32, error) {
	if ino == 0 || ino > 1<<32-1 {
		return 0, fsadapters.ErrStale
	}
	return uint32(ino), nil
}

// Stat implements image.Reader.
func (fs *Reader) Stat(ino image.Ino) (fsadapters.Attr, error) {
	n, err := toIno(ino)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	in, err := fs.inode(n)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	t := fileType(in.mode)
	if t == 0 {
		return fsadapters.Attr{}, corrupt(in.off, "inode", fmt.Errorf("inode %d: unknown file type %#o", n, in.mode&sIFMT))
	}
	a := fsadapters.Attr{
		Type:      t,
		Mode:      uint32(in.mode) & 0o7777,
		Nlink:     uint32(in.links),
		UID:       in.uid,
		GID:       in.gid,
		Size:      in.size,
		SpaceUsed: in.blocks,
		FileID:    uint64(n),
		Atime:     in.atime,
		Mtime:     in.mtime,
		Ctime:     in.ctime,
		Btime:     in.crtime,
		Change:    uint64(in.ctime.UnixNano()),
	}
	switch t {
	case fsadapters.TypeChar, fsadapters.TypeBlock:
		a.Size = 0
		a.RdevMajor, a.RdevMinor = devNumbers(in.block[:])
	case fsadapters.TypeFIFO, fsadapters.TypeSocket:
		a.Size = 0
	}
	if in.ctime.UnixNano() <= 0 {
		a.Change = uint64(in.mtime.UnixNano())
	}
	return a, nil
}

// devNumbers decodes a device number from i_block: the old 8:8 encoding in
// i_block[0], or the new one in i_block[1] when i_block[0] is zero.
func devNumbers(b []byte) (major, minor uint32) {
	le := binary.LittleEndian
	if old := le.Uint32(b[0:]); old != 0 {
		return (old >> 8) & 0xFF, old & 0xFF
	}
	n := le.Uint32(b[4:])
	return (n & 0xFFF00) >> 8, (n & 0xFF) | ((n >> 12) & 0xFFF00)
}

// Readlink implements image.Reader.
func (fs *Reader) Readlink(ino image.Ino) (string, error) {
	n, err := toIno(ino)
	if err != nil {
		return "", err
	}
	in, err := fs.inode(n)
	if err != nil {
		return "", err
	}
	if in.mode&sIFMT != sIFLNK {
		return "", unix.EINVAL
	}
	if in.size == 0 || in.size >= uint64(max(fs.bs, 4096)) {
		return "", corrupt(in.off, "symlink inode", fmt.Errorf("inode %d: target length %d", n, in.size))
	}
	if in.flags&flagInline == 0 && in.flags&flagExtents == 0 && in.size < 60 && fs.fastSymlink(in) {
		return string(in.block[:in.size]), nil
	}
	buf := make([]byte, in.size)
	if err := fs.readFull(in, buf); err != nil {
		return "", err
	}
	return string(buf), nil
}

// fastSymlink reports whether a short symlink keeps its target in i_block:
// it has no data blocks (an xattr block may be counted in i_blocks).
func (fs *Reader) fastSymlink(in *inode) bool {
	b := in.blocks
	if in.fileACL != 0 {
		b -= min(b, uint64(fs.bs))
	}
	return b == 0
}
