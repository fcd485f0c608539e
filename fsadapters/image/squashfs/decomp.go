package squashfs

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// Compression ids of the superblock (squashfs-tools squashfs_fs.h).
const (
	compGzip = 1
	compLzma = 2
	compLzo  = 3
	compXz   = 4
	compLz4  = 5
	compZstd = 6
)

var errTooBig = errors.New("decompressed data larger than its limit")

// decompressor inflates one block (metadata or data) into at most max
// bytes. Implementations are safe for concurrent use.
type decompressor interface {
	decompress(src []byte, max int) ([]byte, error)
}

func newDecompressor(id uint16, blockSize uint32) (decompressor, error) {
	switch id {
	case compGzip:
		return &zlibDec{}, nil
	case compXz:
		return &xzDec{dictCap: 1 << 16}, nil
	case compLz4:
		return lz4Dec{}, nil
	case compZstd:
		// Both limits bound what a forged frame header can make it allocate.
		d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(max(blockSize, metaSize))),
			zstd.WithDecoderMaxWindow(maxDict), zstd.WithDecoderConcurrency(0))
		if err != nil {
			return nil, err
		}
		return zstdDec{d}, nil
	case compLzma:
		return nil, errors.New("compression lzma (id 2) is not supported; rebuild the image with -comp xz, gzip, zstd or lz4")
	case compLzo:
		return nil, errors.New("compression lzo (id 3) is not supported; rebuild the image with -comp xz, gzip, zstd or lz4")
	}
	return nil, fmt.Errorf("unknown compression id %d", id)
}

// readLimited reads r to EOF into a buffer of at most max bytes; reading
// to EOF makes zlib and xz verify their trailing checksums.
func readLimited(r io.Reader, max int) ([]byte, error) {
	buf := make([]byte, max+1)
	n := 0
	for {
		m, err := r.Read(buf[n:])
		n += m
		if n > max {
			return nil, errTooBig
		}
		if err == io.EOF {
			return buf[:n:n], nil
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			// A reader making no progress would loop forever.
			if _, err := r.Read(buf[n:n]); err != nil && err != io.EOF {
				return nil, err
			}
		}
	}
}

// zlibDec handles id 1: squashfs "gzip" blocks are zlib streams (RFC 1950).
type zlibDec struct{ pool sync.Pool }

func (z *zlibDec) decompress(src []byte, max int) ([]byte, error) {
	br := bytes.NewReader(src)
	var zr io.ReadCloser
	if v := z.pool.Get(); v != nil {
		zr = v.(io.ReadCloser)
		if err := zr.(zlib.Resetter).Reset(br, nil); err != nil {
			return nil, err
		}
	} else {
		var err error
		if zr, err = zlib.NewReader(br); err != nil {
			return nil, err
		}
	}
	out, err := readLimited(zr, max)
	if err == nil {
		z.pool.Put(zr)
	}
	return out, err
}

// xzDec handles id 4: each block is a complete xz stream.
type xzDec struct{ dictCap int }

func (x *xzDec) decompress(src []byte, max int) ([]byte, error) {
	if err := xzCheckDict(src); err != nil {
		return nil, err
	}
	r, err := xz.ReaderConfig{DictCap: x.dictCap, SingleStream: true}.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	return readLimited(r, max)
}

// lz4Dec handles id 5: raw LZ4 blocks (no frame).
type lz4Dec struct{}

func (lz4Dec) decompress(src []byte, max int) ([]byte, error) {
	dst := make([]byte, max)
	n, err := lz4.UncompressBlock(src, dst)
	if err != nil {
		return nil, err
	}
	return dst[:n:n], nil
}

// zstdDec handles id 6: one zstd frame per block; DecodeAll on a shared
// decoder is safe for concurrent use.
type zstdDec struct{ d *zstd.Decoder }

func (z zstdDec) decompress(src []byte, max int) ([]byte, error) {
	out, err := z.d.DecodeAll(src, make([]byte, 0, max))
	if err != nil {
		return nil, err
	}
	if len(out) > max {
		return nil, errTooBig
	}
	return out, nil
}

// maxDict bounds the LZMA2 dictionary and zstd window a block may declare:
// squashfs-tools never uses more than the block size (at most 1 MiB).
const maxDict = 2 << 20

// xzCheckDict reads the first block header of an xz stream (xz file format
// 1.0.4 §3.1) and refuses a filter chain other than a single LZMA2 filter
// or a dictionary over maxDict: the xz package allocates the declared
// dictionary before decoding, so a forged header could ask for 4 GiB.
func xzCheckDict(src []byte) error {
	const streamHeader = 12
	if len(src) < streamHeader+2 {
		return errors.New("xz: stream too short")
	}
	h := src[streamHeader:]
	size := (int(h[0]) + 1) * 4
	if h[0] == 0 || size > len(h) {
		return errors.New("xz: bad block header size")
	}
	h = h[:size]
	flags := h[1]
	if flags&3 != 0 {
		return fmt.Errorf("xz: %d filters (BCJ filters are not supported)", flags&3+1)
	}
	i := 2
	varint := func() (uint64, bool) {
		var v uint64
		for k := 0; k < 9 && i < len(h); k++ {
			b := h[i]
			i++
			v |= uint64(b&0x7f) << (7 * k)
			if b&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} { // compressed, uncompressed size
		if present {
			if _, ok := varint(); !ok {
				return errors.New("xz: bad block header")
			}
		}
	}
	id, ok1 := varint()
	n, ok2 := varint()
	if !ok1 || !ok2 || id != 0x21 || n != 1 || i >= len(h) {
		return errors.New("xz: filter is not LZMA2")
	}
	d := int(h[i])
	if d > 40 || (2|d&1)<<(d/2+11) > maxDict {
		return fmt.Errorf("xz: dictionary size code %d over %d bytes", d, maxDict)
	}
	return nil
}

// closeDecompressor releases a decompressor's resources (zstd's decoders).
func closeDecompressor(d decompressor) {
	if z, ok := d.(zstdDec); ok {
		z.d.Close()
	}
}
