package erofs

import "errors"

var errLZ4 = errors.New("malformed lz4 block")

// lz4Partial decodes an lz4 block (the lz4 block format: sequences of a
// token, literals, a 2-byte offset and a match) into dst and stops as soon as
// dst is full. Images without the lz4 0padding feature store the stream at
// the start of the pcluster followed by padding, so the decoder cannot rely
// on the input's end; it returns the bytes written.
func lz4Partial(src, dst []byte) (int, error) {
	var si, di int
	length := func(n int) (int, error) {
		if n != 15 {
			return n, nil
		}
		for {
			if si >= len(src) {
				return 0, errLZ4
			}
			b := src[si]
			si++
			n += int(b)
			if n > len(dst)+len(src)*255 { // bound before any overflow
				return 0, errLZ4
			}
			if b != 255 {
				return n, nil
			}
		}
	}
	for di < len(dst) {
		if si >= len(src) {
			return di, errLZ4
		}
		token := src[si]
		si++
		lit, err := length(int(token >> 4))
		if err != nil {
			return di, err
		}
		if lit > len(src)-si {
			return di, errLZ4
		}
		n := copy(dst[di:], src[si:si+lit])
		si += lit
		di += n
		if di == len(dst) {
			break
		}
		if si+2 > len(src) {
			return di, errLZ4
		}
		off := int(src[si]) | int(src[si+1])<<8
		si += 2
		if off == 0 || off > di {
			return di, errLZ4
		}
		ml, err := length(int(token & 15))
		if err != nil {
			return di, err
		}
		ml += 4
		for ; ml > 0 && di < len(dst); ml-- { // byte by byte: matches may overlap
			dst[di] = dst[di-off]
			di++
		}
	}
	return di, nil
}
