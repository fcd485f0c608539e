package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/fsbridge/fsbridge/fsadapters/image"
	"golang.org/x/sys/unix"
)

// Bounds on what one file's block map may cost to build: a damaged tree
// must fail, not read the whole image or exhaust memory.
const (
	maxMapNodes   = 1 << 16 // extent index/leaf blocks or indirect blocks read
	maxMapExtents = 1 << 20 // runs kept in memory
	maxExtDepth   = 5       // the kernel's limit is 5 levels
	extentMagic   = 0xF30A
	uninitLen     = 32768 // ee_len above this marks an uninitialised extent
)

// run maps n logical blocks from lblk to physical blocks from pblk.
// Holes and uninitialised extents have no run: they read as zeros.
type run struct {
	lblk, pblk, n uint64
}

// blockMap is a file's logical → physical mapping, sorted by lblk, with
// physically contiguous neighbours merged.
type blockMap struct {
	runs []run
}

type mapBuilder struct {
	fs    *Reader
	in    *inode
	runs  []run
	nodes int
	nblk  uint64 // logical blocks covered by i_size
	buf   []byte
}

func (b *mapBuilder) add(lblk, pblk, n uint64, what string) error {
	if _, err := b.fs.blockOff(pblk, n, what); err != nil {
		return corrupt(b.in.off, what, fmt.Errorf("inode %d: %w", b.in.ino, err))
	}
	if k := len(b.runs); k > 0 {
		last := &b.runs[k-1]
		if lblk < last.lblk+last.n {
			return corrupt(b.in.off, what, fmt.Errorf("inode %d: overlapping or unsorted extents at block %d", b.in.ino, lblk))
		}
		if last.lblk+last.n == lblk && last.pblk+last.n == pblk {
			last.n += n
			return nil
		}
	}
	if len(b.runs) >= maxMapExtents {
		return corrupt(b.in.off, what, fmt.Errorf("inode %d: more than %d extents", b.in.ino, maxMapExtents))
	}
	b.runs = append(b.runs, run{lblk, pblk, n})
	return nil
}

func (b *mapBuilder) readNode(blk uint64, what string) ([]byte, int64, error) {
	b.nodes++
	if b.nodes > maxMapNodes {
		return nil, 0, corrupt(b.in.off, what, fmt.Errorf("inode %d: block map larger than %d blocks", b.in.ino, maxMapNodes))
	}
	off, err := b.fs.blockOff(blk, 1, what)
	if err != nil {
		return nil, 0, corrupt(b.in.off, what, fmt.Errorf("inode %d: %w", b.in.ino, err))
	}
	if b.buf == nil {
		b.buf = make([]byte, b.fs.bs)
	}
	return b.buf, off, b.fs.readAt(b.buf, off, what)
}

// extents walks an extent tree node (ext4 docs: "Extent Tree"). node is
// i_block for the root, otherwise a whole block whose tail carries a crc32c
// with metadata_csum. depth is the depth the parent expects (-1 at the root).
func (b *mapBuilder) extents(node []byte, off int64, depth int, lo, hi uint64) error {
	le := binary.LittleEndian
	root := depth < 0
	bad := func(why string, args ...any) error {
		return corrupt(off, "extent tree", fmt.Errorf("inode %d: "+why, append([]any{b.in.ino}, args...)...))
	}
	if le.Uint16(node[0:]) != extentMagic {
		return bad("bad extent header magic %#x", le.Uint16(node[0:]))
	}
	entries := int(le.Uint16(node[2:]))
	maxE := int(le.Uint16(node[4:]))
	d := int(le.Uint16(node[6:]))
	if maxE > (len(node)-12)/12 || entries > maxE {
		return bad("%d entries, max %d, in a %d-byte node", entries, maxE, len(node))
	}
	if d > maxExtDepth || (!root && d != depth) {
		return bad("depth %d (expected %d)", d, depth)
	}
	if !root && b.fs.csum {
		t := 12 + 12*maxE
		if t+4 > len(node) {
			return bad("no room for the checksum tail")
		}
		if c := crc32c(b.in.csumSeed, node[:t]); c != le.Uint32(node[t:]) {
			return bad("checksum mismatch")
		}
	}
	if d == 0 {
		for i := 0; i < entries; i++ {
			e := node[12+12*i:]
			lblk := uint64(le.Uint32(e[0:]))
			n := uint64(le.Uint16(e[4:]))
			pblk := uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))
			uninit := n > uninitLen
			if uninit {
				n -= uninitLen
			}
			if n == 0 || lblk < lo || lblk+n > hi {
				return bad("extent %d+%d outside its node's range %d..%d", lblk, n, lo, hi)
			}
			if uninit || lblk >= b.nblk {
				continue // reads as zeros / past EOF
			}
			if err := b.add(lblk, pblk, n, "extent"); err != nil {
				return err
			}
		}
		return nil
	}
	// Index node: children cover [ei_block, next ei_block).
	type child struct{ lblk, blk uint64 }
	kids := make([]child, entries)
	for i := range kids {
		e := node[12+12*i:]
		kids[i] = child{uint64(le.Uint32(e[0:])), uint64(le.Uint16(e[8:]))<<32 | uint64(le.Uint32(e[4:]))}
		if kids[i].lblk < lo || kids[i].lblk >= hi || (i > 0 && kids[i].lblk <= kids[i-1].lblk) {
			return bad("index entry %d (block %d) out of order", i, kids[i].lblk)
		}
	}
	for i, k := range kids {
		if k.lblk >= b.nblk {
			break
		}
		end := hi
		if i+1 < len(kids) {
			end = kids[i+1].lblk
		}
		buf, boff, err := b.readNode(k.blk, "extent block")
		if err != nil {
			return err
		}
		// buf is reused by deeper levels, so copy this level's node.
		nb := append([]byte(nil), buf...)
		if err := b.extents(nb, boff, d-1, k.lblk, end); err != nil {
			return err
		}
	}
	return nil
}

// indirect walks one level of the ext2/3 block map: level 0 is a data
// block, 1 a single-indirect block, and so on. Zero pointers are holes.
func (b *mapBuilder) indirect(ptr uint64, level int, lblk uint64) error {
	if ptr == 0 || lblk >= b.nblk {
		return nil
	}
	if level == 0 {
		return b.add(lblk, ptr, 1, "block map")
	}
	buf, _, err := b.readNode(ptr, "indirect block")
	if err != nil {
		return err
	}
	ptrs := make([]uint32, len(buf)/4)
	for i := range ptrs {
		ptrs[i] = binary.LittleEndian.Uint32(buf[4*i:])
	}
	span := uint64(1)
	for i := 1; i < level; i++ {
		span *= uint64(len(ptrs))
	}
	for i, p := range ptrs {
		if err := b.indirect(uint64(p), level-1, lblk+uint64(i)*span); err != nil {
			return err
		}
	}
	return nil
}

// blockMap returns the (cached) block map of a file or directory inode.
func (fs *Reader) blockMap(in *inode) (*blockMap, error) {
	if m, ok := fs.maps.Get(in.ino); ok {
		return m, nil
	}
	b := &mapBuilder{fs: fs, in: in, nblk: (in.size + uint64(fs.bs) - 1) / uint64(fs.bs)}
	if in.flags&flagExtents != 0 {
		if err := b.extents(in.block[:], in.off+0x28, -1, 0, 1<<32); err != nil {
			return nil, err
		}
	} else {
		le := binary.LittleEndian
		ptrs := uint64(fs.bs / 4)
		for i := 0; i < 12; i++ {
			if err := b.indirect(uint64(le.Uint32(in.block[4*i:])), 0, uint64(i)); err != nil {
				return nil, err
			}
		}
		start := uint64(12)
		for lvl := 1; lvl <= 3; lvl++ {
			if err := b.indirect(uint64(le.Uint32(in.block[4*(11+lvl):])), lvl, start); err != nil {
				return nil, err
			}
			span := uint64(1)
			for i := 0; i < lvl; i++ {
				span *= ptrs
			}
			start += span
		}
	}
	m := &blockMap{runs: b.runs}
	fs.maps.Put(in.ino, m, int64(len(m.runs))*24+64)
	return m, nil
}

// fileData reads an inode's content: inline data, or through its block map.
type fileData struct {
	fs *Reader
	in *inode
	m  *blockMap // nil for inline data
}

func (fs *Reader) data(in *inode) (*fileData, error) {
	if in.flags&flagInline != 0 {
		if fs.sb.featureIncompat&incompatInlineData == 0 {
			return nil, corrupt(in.off, "inode", fmt.Errorf("inode %d: inline data flag without the feature", in.ino))
		}
		if in.size > uint64(60+len(in.inlineXattr)) {
			return nil, corrupt(in.off, "inode", fmt.Errorf("inode %d: size %d exceeds its inline data", in.ino, in.size))
		}
		return &fileData{fs: fs, in: in}, nil
	}
	m, err := fs.blockMap(in)
	if err != nil {
		return nil, err
	}
	return &fileData{fs: fs, in: in, m: m}, nil
}

// ReadAt implements io.ReaderAt: one image read per contiguous run, zeros
// for holes and uninitialised extents.
func (f *fileData) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	size := f.in.size
	if uint64(off) >= size {
		return 0, io.EOF
	}
	want := len(p)
	if uint64(want) > size-uint64(off) {
		want = int(size - uint64(off))
	}
	if f.m == nil {
		n := 0
		if off < 60 {
			n = copy(p[:want], f.in.block[off:])
		}
		if n < want {
			n += copy(p[n:want], f.in.inlineXattr[int(off)+n-60:])
		}
		if want < len(p) {
			return want, io.EOF
		}
		return want, nil
	}
	bs := uint64(f.fs.bs)
	runs := f.m.runs
	done := 0
	for done < want {
		pos := uint64(off) + uint64(done)
		lb := pos / bs
		i := sort.Search(len(runs), func(i int) bool { return runs[i].lblk+runs[i].n > lb })
		if i < len(runs) && runs[i].lblk <= lb {
			r := runs[i]
			in := pos - r.lblk*bs
			chunk := min(r.n*bs-in, uint64(want-done))
			ioff := int64(r.pblk*bs + in)
			if err := f.fs.readAt(p[done:done+int(chunk)], ioff, "file data"); err != nil {
				return done, err
			}
			done += int(chunk)
			continue
		}
		chunk := uint64(want - done)
		if i < len(runs) {
			chunk = min(chunk, runs[i].lblk*bs-pos)
		}
		clear(p[done : done+int(chunk)])
		done += int(chunk)
	}
	if want < len(p) {
		return want, io.EOF
	}
	return want, nil
}

// readFull reads the whole (small) content of in into buf.
func (fs *Reader) readFull(in *inode, buf []byte) error {
	d, err := fs.data(in)
	if err != nil {
		return err
	}
	n, err := d.ReadAt(buf, 0)
	if n == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Open implements image.Reader.
func (fs *Reader) Open(ino image.Ino) (io.ReaderAt, error) {
	n, err := toIno(ino)
	if err != nil {
		return nil, err
	}
	in, err := fs.inode(n)
	if err != nil {
		return nil, err
	}
	switch in.mode & sIFMT {
	case sIFREG:
	case sIFDIR:
		return nil, unix.EISDIR
	default:
		return nil, unix.EINVAL
	}
	return fs.data(in)
}
