// Package xdr is the project's External Data Representation codec (RFC 4506).
//
// It is deliberately not reflection based (see shared/notes/libraries.md:
// reflection XDR is 10–1000× slower and allocates whatever a peer claims).
//
//   - Encoder appends to a caller-owned []byte. Nothing allocates once the
//     buffer has grown to its working size. Variable-length nested items
//     (fattr4's attrlist4, for example) are written with BeginOpaque/EndOpaque,
//     which back-patch the length word instead of staging a copy.
//   - Decoder is a cursor over a []byte with a sticky error. Opaque data and
//     strings come back as sub-slices of the input (zero copy); every length
//     word is checked against the bytes remaining and against a caller-given
//     maximum before anything is allocated or sliced.
//
// After the first error every Decoder method returns zero values, so decoding
// code can read a whole structure and check Err() once at the end.
package xdr

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort is returned when the input ends inside an item.
var ErrShort = errors.New("xdr: input truncated")

// LengthError reports a length word above the field's maximum.
type LengthError struct {
	What string // field being decoded
	Len  uint64
	Max  uint64
}

func (e *LengthError) Error() string {
	return fmt.Sprintf("xdr: %s length %d exceeds maximum %d", e.What, e.Len, e.Max)
}

// pad returns the number of zero bytes that follow n bytes of opaque data.
func pad(n int) int { return (4 - n&3) & 3 }

// Padded returns n rounded up to a multiple of four.
func Padded(n int) int { return n + pad(n) }

// ---------------------------------------------------------------- Encoder

// Encoder appends XDR items to Buf. The zero value is ready to use; set Buf
// to a reused slice (with len 0) to avoid allocation.
type Encoder struct {
	Buf []byte
}

// NewEncoder returns an Encoder that appends to buf[:0].
func NewEncoder(buf []byte) *Encoder { return &Encoder{Buf: buf[:0]} }

// Bytes returns the encoded bytes.
func (e *Encoder) Bytes() []byte { return e.Buf }

// Len returns the number of bytes encoded so far.
func (e *Encoder) Len() int { return len(e.Buf) }

// Reset discards the encoded bytes, keeping the buffer.
func (e *Encoder) Reset() { e.Buf = e.Buf[:0] }

// Uint32 appends an unsigned int.
func (e *Encoder) Uint32(v uint32) { e.Buf = binary.BigEndian.AppendUint32(e.Buf, v) }

// Int32 appends an int.
func (e *Encoder) Int32(v int32) { e.Uint32(uint32(v)) }

// Uint64 appends an unsigned hyper.
func (e *Encoder) Uint64(v uint64) { e.Buf = binary.BigEndian.AppendUint64(e.Buf, v) }

// Int64 appends a hyper.
func (e *Encoder) Int64(v int64) { e.Uint64(uint64(v)) }

// Bool appends a bool (0 or 1).
func (e *Encoder) Bool(v bool) {
	if v {
		e.Uint32(1)
	} else {
		e.Uint32(0)
	}
}

// FixedOpaque appends fixed-length opaque data (no length word) and padding.
func (e *Encoder) FixedOpaque(b []byte) {
	e.Buf = append(e.Buf, b...)
	e.Buf = append(e.Buf, zeros[:pad(len(b))]...)
}

// Opaque appends variable-length opaque data: length, bytes, padding.
func (e *Encoder) Opaque(b []byte) {
	e.Uint32(uint32(len(b)))
	e.FixedOpaque(b)
}

// String appends a string (same wire form as Opaque).
func (e *Encoder) String(s string) {
	e.Uint32(uint32(len(s)))
	e.Buf = append(e.Buf, s...)
	e.Buf = append(e.Buf, zeros[:pad(len(s))]...)
}

// Uint32s appends a counted array of unsigned ints (bitmap4 and friends).
func (e *Encoder) Uint32s(v []uint32) {
	e.Uint32(uint32(len(v)))
	for _, x := range v {
		e.Uint32(x)
	}
}

// BeginOpaque starts a variable-length opaque whose contents the caller
// encodes next; it returns a mark for EndOpaque.
func (e *Encoder) BeginOpaque() int {
	e.Buf = append(e.Buf, 0, 0, 0, 0)
	return len(e.Buf)
}

// EndOpaque back-patches the length of the opaque begun at mark and pads it.
func (e *Encoder) EndOpaque(mark int) {
	n := len(e.Buf) - mark
	binary.BigEndian.PutUint32(e.Buf[mark-4:], uint32(n))
	e.Buf = append(e.Buf, zeros[:pad(n)]...)
}

// Reserve appends n zero bytes and returns their offset, for fields (such as
// a count or a status) that are only known after later items are encoded.
func (e *Encoder) Reserve(n int) int {
	off := len(e.Buf)
	e.Buf = append(e.Buf, zeros[:n]...)
	return off
}

// PutUint32At overwrites the unsigned int at byte offset off.
func (e *Encoder) PutUint32At(off int, v uint32) { binary.BigEndian.PutUint32(e.Buf[off:], v) }

// Truncate cuts the encoding back to n bytes (used to drop a partially
// encoded item that did not fit a size limit).
func (e *Encoder) Truncate(n int) { e.Buf = e.Buf[:n] }

var zeros [8]byte

// ---------------------------------------------------------------- Decoder

// Decoder reads XDR items from a byte slice. Errors are sticky.
type Decoder struct {
	buf []byte
	off int
	err error
}

// NewDecoder returns a Decoder reading b.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Reset points d at b and clears any error.
func (d *Decoder) Reset(b []byte) { *d = Decoder{buf: b} }

// Err returns the first error met, or nil.
func (d *Decoder) Err() error { return d.err }

// SetErr records err as the decoder's error unless one is already set.
func (d *Decoder) SetErr(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Remaining returns the number of bytes not yet consumed.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Offset returns the number of bytes consumed.
func (d *Decoder) Offset() int { return d.off }

// Rest returns the unconsumed bytes (without consuming them).
func (d *Decoder) Rest() []byte { return d.buf[d.off:] }

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.off {
		d.err = ErrShort
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// Uint32 reads an unsigned int.
func (d *Decoder) Uint32() uint32 {
	b := d.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Int32 reads an int.
func (d *Decoder) Int32() int32 { return int32(d.Uint32()) }

// Uint64 reads an unsigned hyper.
func (d *Decoder) Uint64() uint64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Int64 reads a hyper.
func (d *Decoder) Int64() int64 { return int64(d.Uint64()) }

// Bool reads a bool; values other than 0 and 1 are an error (RFC 4506 §4.4).
func (d *Decoder) Bool() bool {
	v := d.Uint32()
	if v > 1 {
		d.SetErr(fmt.Errorf("xdr: bool value %d", v))
		return false
	}
	return v == 1
}

// FixedOpaque reads n bytes of fixed-length opaque data and their padding,
// returning a sub-slice of the input.
func (d *Decoder) FixedOpaque(n int) []byte {
	b := d.take(n)
	d.take(pad(n))
	if d.err != nil {
		return nil
	}
	return b
}

// FixedOpaqueInto reads len(dst) bytes of fixed-length opaque into dst.
func (d *Decoder) FixedOpaqueInto(dst []byte) {
	copy(dst, d.FixedOpaque(len(dst)))
}

// Length reads a length word and checks it against max and against the
// bytes remaining, each element taking at least minElem bytes.
func (d *Decoder) Length(what string, max uint32, minElem int) int {
	n := d.Uint32()
	if d.err != nil {
		return 0
	}
	if n > max {
		d.err = &LengthError{What: what, Len: uint64(n), Max: uint64(max)}
		return 0
	}
	if minElem > 0 && uint64(n)*uint64(minElem) > uint64(d.Remaining()) {
		d.err = ErrShort
		return 0
	}
	return int(n)
}

// Opaque reads variable-length opaque data of at most max bytes. The result
// aliases the input.
func (d *Decoder) Opaque(what string, max uint32) []byte {
	n := d.Length(what, max, 1)
	if d.err != nil {
		return nil
	}
	return d.FixedOpaque(n)
}

// String reads a string of at most max bytes. It copies (Go strings are
// immutable); use Opaque for zero-copy access.
func (d *Decoder) String(what string, max uint32) string {
	return string(d.Opaque(what, max))
}

// Uint32s reads a counted array of at most max unsigned ints.
func (d *Decoder) Uint32s(what string, max uint32) []uint32 {
	n := d.Length(what, max, 4)
	if d.err != nil {
		return nil
	}
	v := make([]uint32, n)
	for i := range v {
		v[i] = d.Uint32()
	}
	return v
}

// Skip consumes n bytes.
func (d *Decoder) Skip(n int) { d.take(n) }
