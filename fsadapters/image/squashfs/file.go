package squashfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fsbridge/fsbridge/fsadapters"
	"golang.org/x/sys/unix"
)

const (
	blockUncompressed = 1 << 24 // size word bit: stored as is
	blockSizeMask     = blockUncompressed - 1
)

// file is an opened regular file: the image offset of every full block
// (precomputed once, so ReadAt finds a block in O(1)) and its tail.
type file struct {
	fr      *Reader
	ino     Ino
	size    int64
	words   []uint32 // on-disk size words (0: a hole of block size zeros)
	offs    []int64  // image offset of each block
	frag    uint32
	fragOff uint32
}

// Open implements image.Reader.
func (fr *Reader) Open(ino Ino) (io.ReaderAt, error) {
	if f, ok := fr.files.Get(ino); ok {
		return f, nil
	}
	in, err := fr.inodeOf(ino, true)
	if err != nil {
		return nil, err
	}
	switch in.fileType() {
	case fsadapters.TypeRegular:
	case fsadapters.TypeDir:
		return nil, unix.EISDIR
	default:
		return nil, unix.EINVAL
	}
	f := &file{fr: fr, ino: ino, size: int64(in.size), words: in.blocks, offs: make([]int64, len(in.blocks)),
		frag: in.frag, fragOff: in.fragOff}
	pos := int64(in.blocksStart)
	for i, w := range in.blocks {
		n := int64(w & blockSizeMask)
		if w&^(blockUncompressed|blockSizeMask) != 0 || n > fr.bs || pos+n > int64(fr.sb.bytesUsed) {
			return nil, corrupt(int64(fr.sb.inodeTable+in.ref>>16), fmt.Sprintf("block list of inode %d", in.number),
				fmt.Errorf("block %d: size word %#x at %d", i, w, pos))
		}
		f.offs[i] = pos
		pos += n
	}
	fr.files.Put(ino, f, int64(len(f.words))*12+128)
	return f, nil
}

// ReadAt implements io.ReaderAt; it decompresses only the blocks the range
// touches (through the image's shared block cache).
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("squashfs: negative offset")
	}
	n := 0
	bs := f.fr.bs
	for n < len(p) && off < f.size {
		i, within := off/bs, off%bs
		want := min(int64(len(p)-n), f.size-off, bs-within)
		dst := p[n : n+int(want)]
		if i < int64(len(f.words)) {
			if err := f.readBlock(i, within, dst); err != nil {
				return n, err
			}
		} else {
			data, err := f.fr.fragment(f.frag)
			if err != nil {
				return n, err
			}
			lo := int64(f.fragOff) + within
			if lo+want > int64(len(data)) {
				return n, corrupt(-1, fmt.Sprintf("fragment %d", f.frag),
					fmt.Errorf("tail %d+%d past its %d bytes", lo, want, len(data)))
			}
			copy(dst, data[lo:lo+want])
		}
		n += int(want)
		off += want
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readBlock fills dst from block i at offset within.
func (f *file) readBlock(i, within int64, dst []byte) error {
	fr := f.fr
	w := f.words[i]
	pos := f.offs[i]
	blockLen := min(fr.bs, f.size-i*fr.bs)
	switch {
	case w == 0: // sparse hole
		clear(dst)
		return nil
	case w&blockUncompressed != 0:
		if int64(w&blockSizeMask) != blockLen {
			return corrupt(pos, "data block", fmt.Errorf("stored block of %d bytes, want %d", w&blockSizeMask, blockLen))
		}
		if err := readFull(fr.r, dst, pos+within); err != nil {
			return corrupt(pos, "data block", err)
		}
		return nil
	}
	data, err := fr.block(pos, int64(w&blockSizeMask), "data block")
	if err != nil {
		return err
	}
	if int64(len(data)) != blockLen {
		return corrupt(pos, "data block", fmt.Errorf("decompressed to %d bytes, want %d", len(data), blockLen))
	}
	copy(dst, data[within:])
	return nil
}

// block returns the decompressed block of n bytes at pos, cached.
func (fr *Reader) block(pos, n int64, what string) ([]byte, error) {
	if data, ok := fr.data.Get(pos); ok {
		return data, nil
	}
	raw := make([]byte, n)
	if err := readFull(fr.r, raw, pos); err != nil {
		return nil, corrupt(pos, what, err)
	}
	data, err := fr.dec.decompress(raw, int(fr.bs))
	if err != nil {
		return nil, corrupt(pos, what, err)
	}
	fr.data.Put(pos, data, int64(cap(data))+64)
	return data, nil
}

// fragment returns the decompressed fragment block idx; its entry in the
// fragment table is {u64 start, u32 size word, u32 unused}.
func (fr *Reader) fragment(idx uint32) ([]byte, error) {
	if idx >= fr.sb.fragCount {
		return nil, corrupt(-1, "fragment index", fmt.Errorf("%d of %d", idx, fr.sb.fragCount))
	}
	e, err := fr.lookup(fr.sb.fragTable, uint64(idx), 16, "fragment table")
	if err != nil {
		return nil, err
	}
	start, w := int64(binary.LittleEndian.Uint64(e)), binary.LittleEndian.Uint32(e[8:])
	n := int64(w & blockSizeMask)
	if w&^(blockUncompressed|blockSizeMask) != 0 || n == 0 || n > fr.bs || start < sbSize || start+n > int64(fr.sb.bytesUsed) {
		return nil, corrupt(int64(fr.sb.fragTable), "fragment table", fmt.Errorf("entry %d: %d bytes at %d", idx, n, start))
	}
	if w&blockUncompressed != 0 {
		if data, ok := fr.data.Get(start); ok {
			return data, nil
		}
		data := make([]byte, n)
		if err := readFull(fr.r, data, start); err != nil {
			return nil, corrupt(start, "fragment block", err)
		}
		fr.data.Put(start, data, n+64)
		return data, nil
	}
	return fr.block(start, n, "fragment block")
}
