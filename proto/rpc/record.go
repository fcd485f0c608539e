package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
)

// Record marking (RFC 5531 §11): on a byte stream each record is sent as
// one or more fragments, each preceded by a 4-byte big-endian word whose
// top bit marks the last fragment and whose low 31 bits give its length.

const (
	lastFragment   = 1 << 31
	MaxFragmentLen = 1<<31 - 1
	// MarkLen is the size of the record mark WriteRecord expects to be
	// reserved at the start of the first buffer.
	MarkLen = 4
)

// ErrRecordTooLarge is returned when fragment headers claim more than the
// reader's maximum record size. The stream cannot be resynchronised; the
// connection must be dropped.
var ErrRecordTooLarge = errors.New("rpc: record exceeds maximum size")

// growChunk bounds how much buffer a fragment header alone can make us
// allocate ahead of the data actually arriving.
const growChunk = 64 << 10

// RecordReader reads records from a stream.
type RecordReader struct {
	r   io.Reader
	max int
	hdr [4]byte
}

// NewRecordReader returns a reader of records of at most max bytes.
func NewRecordReader(r io.Reader, max int) *RecordReader {
	return &RecordReader{r: r, max: max}
}

// ReadRecord reads the next record, appending its fragments to buf[:0] and
// returning the result (buf is reused when large enough). It returns io.EOF
// at a clean end of stream, io.ErrUnexpectedEOF if the stream ends inside a
// record and ErrRecordTooLarge if the fragments add up to more than the
// maximum; the buffer grows with the data received, not with what a
// fragment header claims.
func (rr *RecordReader) ReadRecord(buf []byte) ([]byte, error) {
	return rr.read(buf, nil)
}

// PickFunc chooses the buffer a record is read into (ReadRecordPick): xid
// is the first 4 bytes of the record (an RPC message's XID), n the length
// of its first fragment, which is the whole record when last is set.
type PickFunc func(xid uint32, n int, last bool) []byte

// ReadRecordPick is ReadRecord with the buffer chosen per record, once its
// XID is known: a client reads a reply straight into the buffer its caller
// provided. A returned buffer that is too small grows as in ReadRecord.
func (rr *RecordReader) ReadRecordPick(pick PickFunc) ([]byte, error) {
	return rr.read(nil, pick)
}

func (rr *RecordReader) read(buf []byte, pick PickFunc) ([]byte, error) {
	buf = buf[:0]
	first := true
	for {
		if _, err := io.ReadFull(rr.r, rr.hdr[:]); err != nil {
			if err == io.EOF && !first {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
		h := binary.BigEndian.Uint32(rr.hdr[:])
		n := int(h &^ lastFragment)
		if n > rr.max-len(buf) {
			return buf, ErrRecordTooLarge
		}
		if first && pick != nil && n >= 4 {
			var x [4]byte
			if _, err := io.ReadFull(rr.r, x[:]); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return buf, err
			}
			buf = append(pick(binary.BigEndian.Uint32(x[:]), n, h&lastFragment != 0)[:0], x[:]...)
			n -= 4
		}
		first = false
		for n > 0 {
			if cap(buf) == len(buf) {
				buf = slices.Grow(buf, min(max(len(buf), growChunk), n))
			}
			chunk := min(n, cap(buf)-len(buf))
			start := len(buf)
			buf = buf[:start+chunk]
			if _, err := io.ReadFull(rr.r, buf[start:]); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return buf[:start], err
			}
			n -= chunk
		}
		if h&lastFragment != 0 {
			return buf, nil
		}
	}
}

// WriteRecord writes bufs as one record of a single fragment with one
// writev where w supports it (net.Buffers.WriteTo). bufs[0] must start with
// MarkLen bytes reserved for the record mark, which WriteRecord fills in;
// the payload is never copied. Like net.Buffers.WriteTo it consumes the
// elements of bufs (they may be set to nil), so callers that recycle the
// buffers must keep their own references.
func WriteRecord(w io.Writer, bufs net.Buffers) (int64, error) {
	if err := PutRecordMark(bufs); err != nil {
		return 0, err
	}
	return bufs.WriteTo(w)
}

// PutRecordMark writes the last-fragment record mark for the total length
// of bufs minus the mark itself into bufs[0][:MarkLen].
func PutRecordMark(bufs net.Buffers) error {
	if len(bufs) == 0 || len(bufs[0]) < MarkLen {
		return errors.New("rpc: WriteRecord: first buffer has no room for the record mark")
	}
	total := -MarkLen
	for _, b := range bufs {
		total += len(b)
	}
	if total > MaxFragmentLen {
		return fmt.Errorf("rpc: record of %d bytes too large for one fragment", total)
	}
	binary.BigEndian.PutUint32(bufs[0], lastFragment|uint32(total))
	return nil
}

// WriteGathered writes bufs to w in chunks of cap(buf) bytes, using buf as
// the staging area: over TLS each Write is a TLS record (and a system
// call), so a record's many small pieces (mark, headers, payload) are
// packed into full chunks instead.
func WriteGathered(w io.Writer, bufs net.Buffers, buf []byte) (int64, error) {
	buf = buf[:0]
	var n int64
	flush := func() error {
		m, err := w.Write(buf)
		n += int64(m)
		buf = buf[:0]
		return err
	}
	for _, b := range bufs {
		for len(b) > 0 {
			k := copy(buf[len(buf):cap(buf)], b)
			buf, b = buf[:len(buf)+k], b[k:]
			if len(buf) == cap(buf) {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
	}
	if len(buf) > 0 {
		if err := flush(); err != nil {
			return n, err
		}
	}
	return n, nil
}
