package squashfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"golang.org/x/sys/unix"
)

// Inode types: basic 1..7, extended 8..14 (same order).
const (
	typeDir = 1 + iota
	typeReg
	typeSymlink
	typeBlk
	typeChr
	typeFifo
	typeSock
	typeLDir
	typeLReg
	typeLSymlink
	typeLBlk
	typeLChr
	typeLFifo
	typeLSock
)

// inode is one decoded inode (the fields its type has).
type inode struct {
	ref    uint64
	typ    uint16
	mode   uint16
	uid    uint32
	gid    uint32
	mtime  uint32
	number uint32
	nlink  uint32
	size   uint64
	// directories
	dirBlock  uint32
	dirOffset uint16
	parent    uint32
	// regular files
	blocksStart uint64
	frag        uint32
	fragOff     uint32
	sparse      uint64
	blocks      []uint32 // only when asked for
	// symlinks and devices
	target string
	rdev   uint32
}

func (in *inode) fileType() fsadapters.FileType {
	return typeOf(in.typ)
}

func typeOf(t uint16) fsadapters.FileType {
	if t > 7 {
		t -= 7
	}
	return [...]fsadapters.FileType{0, fsadapters.TypeDir, fsadapters.TypeRegular, fsadapters.TypeSymlink,
		fsadapters.TypeBlock, fsadapters.TypeChar, fsadapters.TypeFIFO, fsadapters.TypeSocket}[t]
}

// validRef reports whether ref can name an inode: offset inside an 8 KiB
// block whose start lies inside the inode table.
func (fr *Reader) validRef(ref uint64) bool {
	blk, off := ref>>16, ref&0xffff
	return off < metaSize && blk < uint64(fr.inodeEnd)-fr.sb.inodeTable
}

// refOf validates an Ino handed in by a caller (perhaps a forged handle).
func (fr *Reader) refOf(ino Ino) (uint64, error) {
	if ino == 0 || !fr.validRef(uint64(ino)-1) {
		return 0, fsadapters.ErrStale
	}
	return uint64(ino) - 1, nil
}

// inodeOf decodes the inode an Ino names; a decode that does not give a
// sane inode (bad type, inode number out of range, or one the export table
// maps elsewhere) means the Ino was never ours: ErrStale.
func (fr *Reader) inodeOf(ino Ino, blocks bool) (*inode, error) {
	ref, err := fr.refOf(ino)
	if err != nil {
		return nil, err
	}
	in, err := fr.inode(ref, blocks)
	if errors.Is(err, errBadInode) {
		return nil, fsadapters.ErrStale
	}
	if err != nil {
		return nil, err
	}
	if fr.sb.exportTable != noTable {
		if r, err := fr.exportRef(in.number); err != nil {
			return nil, err
		} else if r != ref {
			return nil, fsadapters.ErrStale
		}
	}
	return in, nil
}

var errBadInode = errors.New("not an inode")

// inode decodes the inode at reference ref (already checked by validRef).
// Fields that cannot be right (type, inode number, id index, sizes) fail
// with an error wrapping errBadInode.
func (fr *Reader) inode(ref uint64, blocks bool) (*inode, error) {
	pos := int64(fr.sb.inodeTable + ref>>16)
	c := fr.cursorAt(pos, int(ref&0xffff), fr.inodeEnd)
	le := binary.LittleEndian
	bad := func(f string, a ...any) error {
		return corrupt(pos, fmt.Sprintf("inode %#x", ref), fmt.Errorf("%w: %s", errBadInode, fmt.Sprintf(f, a...)))
	}
	b, err := c.read(16)
	if err != nil {
		return nil, err
	}
	in := &inode{ref: ref, typ: le.Uint16(b), mode: le.Uint16(b[2:]), mtime: le.Uint32(b[8:]), number: le.Uint32(b[12:]), nlink: 1}
	uidx, gidx := le.Uint16(b[4:]), le.Uint16(b[6:])
	if in.typ < typeDir || in.typ > typeLSock {
		return nil, bad("type %d", in.typ)
	}
	if in.number == 0 || in.number > fr.sb.inodeCount {
		return nil, bad("inode number %d outside 1..%d", in.number, fr.sb.inodeCount)
	}
	if int(uidx) >= len(fr.ids) || int(gidx) >= len(fr.ids) {
		return nil, bad("id index %d/%d outside the id table (%d)", uidx, gidx, len(fr.ids))
	}
	in.uid, in.gid = fr.ids[uidx], fr.ids[gidx]
	fields := func(n int) ([]byte, error) { return c.read(n) }
	switch in.typ {
	case typeDir:
		if b, err = fields(16); err != nil {
			return nil, err
		}
		in.dirBlock, in.nlink, in.size = le.Uint32(b), le.Uint32(b[4:]), uint64(le.Uint16(b[8:]))
		in.dirOffset, in.parent = le.Uint16(b[10:]), le.Uint32(b[12:])
	case typeLDir:
		// The directory index that follows is not needed: lookups use a
		// cached parse of the whole directory.
		if b, err = fields(24); err != nil {
			return nil, err
		}
		in.nlink, in.size, in.dirBlock, in.parent = le.Uint32(b), uint64(le.Uint32(b[4:])), le.Uint32(b[8:]), le.Uint32(b[12:])
		in.dirOffset = le.Uint16(b[18:])
	case typeReg:
		if b, err = fields(16); err != nil {
			return nil, err
		}
		in.blocksStart, in.frag, in.fragOff, in.size = uint64(le.Uint32(b)), le.Uint32(b[4:]), le.Uint32(b[8:]), uint64(le.Uint32(b[12:]))
	case typeLReg:
		if b, err = fields(40); err != nil {
			return nil, err
		}
		in.blocksStart, in.size, in.sparse = le.Uint64(b), le.Uint64(b[8:]), le.Uint64(b[16:])
		in.nlink, in.frag, in.fragOff = le.Uint32(b[24:]), le.Uint32(b[28:]), le.Uint32(b[32:])
	case typeSymlink, typeLSymlink:
		if b, err = fields(8); err != nil {
			return nil, err
		}
		in.nlink = le.Uint32(b)
		n := le.Uint32(b[4:])
		if n == 0 || n > 4096 { // the kernel refuses targets longer than a page
			return nil, bad("symlink target size %d", n)
		}
		if b, err = fields(int(n)); err != nil {
			return nil, err
		}
		in.target, in.size = string(b), uint64(n)
	case typeBlk, typeChr, typeLBlk, typeLChr:
		if b, err = fields(8); err != nil {
			return nil, err
		}
		in.nlink, in.rdev = le.Uint32(b), le.Uint32(b[4:])
	case typeFifo, typeSock, typeLFifo, typeLSock:
		if b, err = fields(4); err != nil {
			return nil, err
		}
		in.nlink = le.Uint32(b)
	}
	if in.typ == typeReg || in.typ == typeLReg {
		if err := fr.checkFile(in, bad); err != nil {
			return nil, err
		}
		if blocks {
			if in.blocks, err = fr.readBlockList(c, in); err != nil {
				return nil, err
			}
		}
	}
	if in.typ == typeDir || in.typ == typeLDir {
		if in.size < 3 || in.dirOffset >= metaSize || int64(in.dirBlock) >= fr.dirEnd-int64(fr.sb.dirTable) {
			return nil, bad("directory listing at %d/%d, size %d", in.dirBlock, in.dirOffset, in.size)
		}
	}
	return in, nil
}

// nblocks is the number of full data blocks of a file: the tail lives in a
// fragment when the inode names one.
func (fr *Reader) nblocks(in *inode) uint64 {
	if in.frag != noFrag {
		return in.size / uint64(fr.bs)
	}
	return (in.size + uint64(fr.bs) - 1) / uint64(fr.bs)
}

func (fr *Reader) checkFile(in *inode, bad func(string, ...any) error) error {
	if in.size > 1<<52 || fr.nblocks(in) > 1<<32 {
		return bad("file size %d", in.size)
	}
	if in.blocksStart > fr.sb.bytesUsed {
		return bad("data start %#x outside the image", in.blocksStart)
	}
	if in.frag != noFrag {
		if in.frag >= fr.sb.fragCount {
			return bad("fragment %d of %d", in.frag, fr.sb.fragCount)
		}
		if tail := in.size % uint64(fr.bs); tail == 0 || uint64(in.fragOff)+tail > uint64(fr.bs) {
			return bad("fragment offset %d for a %d-byte tail", in.fragOff, tail)
		}
	}
	return nil
}

// readBlockList reads the u32 on-disk size of every full block; it grows
// as the data really is in the inode table, so a forged count cannot make
// it allocate beyond what the table holds.
func (fr *Reader) readBlockList(c *cursor, in *inode) ([]uint32, error) {
	n := fr.nblocks(in)
	out := make([]uint32, 0, min(n, 1<<14))
	for uint64(len(out)) < n {
		k := min(n-uint64(len(out)), 1024)
		b, err := c.read(int(k) * 4)
		if err != nil {
			return nil, err
		}
		for i := uint64(0); i < k; i++ {
			out = append(out, binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return out, nil
}

// exportRef maps an inode number to its reference through the export
// table (an array of u64 references indexed by inode number − 1).
func (fr *Reader) exportRef(number uint32) (uint64, error) {
	if number == 0 || number > fr.sb.inodeCount {
		return 0, fsadapters.ErrStale
	}
	b, err := fr.lookup(fr.sb.exportTable, uint64(number-1), 8, "export table")
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// Stat implements image.Reader.
func (fr *Reader) Stat(ino Ino) (fsadapters.Attr, error) {
	in, err := fr.inodeOf(ino, false)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	t := time.Unix(int64(in.mtime), 0)
	a := fsadapters.Attr{
		Type: in.fileType(), Mode: uint32(in.mode) & 0o7777, Nlink: in.nlink, UID: in.uid, GID: in.gid,
		Size: in.size, FileID: uint64(ino), Atime: t, Mtime: t, Ctime: t,
		// Only the mtime (whole seconds) is stored; the image never changes.
		Change: uint64(in.mtime) * 1e9,
	}
	switch a.Type {
	case fsadapters.TypeRegular:
		a.SpaceUsed = in.size - min(in.sparse, in.size)
	case fsadapters.TypeBlock, fsadapters.TypeChar:
		// Linux new_encode_dev: minor low 8 bits, major 12 bits, minor high 12 bits.
		a.RdevMajor = (in.rdev >> 8) & 0xfff
		a.RdevMinor = in.rdev&0xff | (in.rdev>>12)&0xfff00
	}
	return a, nil
}

// Readlink implements image.Reader.
func (fr *Reader) Readlink(ino Ino) (string, error) {
	in, err := fr.inodeOf(ino, false)
	if err != nil {
		return "", err
	}
	if in.fileType() != fsadapters.TypeSymlink {
		return "", unix.EINVAL
	}
	return in.target, nil
}
