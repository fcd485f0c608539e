package xdr

import (
	"bytes"
	"errors"
	"math"
	"testing"

	goxdr "github.com/rasky/go-xdr/xdr2"
)

// sample exercises every primitive; its go-xdr twin is below.
type sample struct {
	U32   uint32
	I32   int32
	U64   uint64
	I64   int64
	B     bool
	Fixed [5]byte
	Op    []byte
	S     string
	Arr   []uint32
}

func encodeSample(e *Encoder, s *sample) {
	e.Uint32(s.U32)
	e.Int32(s.I32)
	e.Uint64(s.U64)
	e.Int64(s.I64)
	e.Bool(s.B)
	e.FixedOpaque(s.Fixed[:])
	e.Opaque(s.Op)
	e.String(s.S)
	e.Uint32s(s.Arr)
}

func decodeSample(d *Decoder) sample {
	var s sample
	s.U32 = d.Uint32()
	s.I32 = d.Int32()
	s.U64 = d.Uint64()
	s.I64 = d.Int64()
	s.B = d.Bool()
	d.FixedOpaqueInto(s.Fixed[:])
	s.Op = d.Opaque("op", 100)
	s.S = d.String("s", 100)
	s.Arr = d.Uint32s("arr", 100)
	return s
}

var samples = []sample{
	{},
	{U32: 1, I32: -1, U64: math.MaxUint64, I64: math.MinInt64, B: true, Fixed: [5]byte{1, 2, 3, 4, 5},
		Op: []byte{9}, S: "héllo", Arr: []uint32{1, 2, 3}},
	{Op: []byte("abcd"), S: "abc", Arr: []uint32{}},
	{Op: []byte("abcdefg"), S: "", Arr: []uint32{math.MaxUint32}},
}

func TestRoundTripAndDifferential(t *testing.T) {
	for i, s := range samples {
		var e Encoder
		encodeSample(&e, &s)
		// go-xdr encodes the same struct by reflection; the bytes must match.
		var want bytes.Buffer
		if _, err := goxdr.Marshal(&want, &s); err != nil {
			t.Fatalf("sample %d: go-xdr: %v", i, err)
		}
		if !bytes.Equal(e.Bytes(), want.Bytes()) {
			t.Fatalf("sample %d: bytes differ from go-xdr\n ours %x\n them %x", i, e.Bytes(), want.Bytes())
		}
		d := NewDecoder(e.Bytes())
		got := decodeSample(d)
		if d.Err() != nil || d.Remaining() != 0 {
			t.Fatalf("sample %d: decode err=%v remaining=%d", i, d.Err(), d.Remaining())
		}
		if got.U32 != s.U32 || got.I32 != s.I32 || got.U64 != s.U64 || got.I64 != s.I64 || got.B != s.B ||
			got.Fixed != s.Fixed || !bytes.Equal(got.Op, s.Op) || got.S != s.S || len(got.Arr) != len(s.Arr) {
			t.Fatalf("sample %d: got %+v want %+v", i, got, s)
		}
		// Every truncation is an error, never a panic.
		for n := 0; n < len(e.Bytes()); n++ {
			d := NewDecoder(e.Bytes()[:n])
			decodeSample(d)
			if d.Err() == nil {
				t.Fatalf("sample %d truncated to %d bytes decoded without error", i, n)
			}
		}
	}
}

func TestOpaqueIsZeroCopy(t *testing.T) {
	var e Encoder
	e.Opaque([]byte("payload"))
	buf := e.Bytes()
	got := NewDecoder(buf).Opaque("p", 10)
	buf[4] = 'P'
	if string(got) != "Payload" {
		t.Fatalf("Opaque copied its data: %q", got)
	}
	if cap(got) != len(got) {
		t.Fatalf("Opaque result has spare capacity %d: appends would overwrite the input", cap(got)-len(got))
	}
}

func TestLengthBounds(t *testing.T) {
	// A claimed length above the field maximum: LengthError, nothing sliced.
	var e Encoder
	e.Uint32(1 << 31)
	d := NewDecoder(e.Bytes())
	if b := d.Opaque("name", 255); b != nil {
		t.Fatal("got data for an over-long opaque")
	}
	var le *LengthError
	if !errors.As(d.Err(), &le) || le.What != "name" || le.Max != 255 {
		t.Fatalf("err = %v, want LengthError for name", d.Err())
	}
	// Within the maximum but longer than the input: ErrShort, no allocation.
	e.Reset()
	e.Uint32(50)
	e.Uint32(0)
	d = NewDecoder(e.Bytes())
	allocs := testing.AllocsPerRun(10, func() {
		d.Reset(e.Bytes())
		d.Uint32s("arr", 1000)
	})
	if !errors.Is(d.Err(), ErrShort) {
		t.Fatalf("err = %v, want ErrShort", d.Err())
	}
	if allocs != 0 {
		t.Fatalf("rejected array allocated %v times", allocs)
	}
	// Errors are sticky.
	d = NewDecoder([]byte{0, 0})
	d.Uint32()
	if d.Uint64() != 0 || d.Err() != ErrShort {
		t.Fatal("error not sticky")
	}
	// Bool accepts only 0 and 1.
	d = NewDecoder([]byte{0, 0, 0, 2})
	d.Bool()
	if d.Err() == nil {
		t.Fatal("bool 2 accepted")
	}
}

func TestBeginEndOpaque(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 5} {
		var e Encoder
		m := e.BeginOpaque()
		e.Buf = append(e.Buf, bytes.Repeat([]byte{7}, n)...)
		e.EndOpaque(m)
		var want Encoder
		want.Opaque(bytes.Repeat([]byte{7}, n))
		if !bytes.Equal(e.Bytes(), want.Bytes()) {
			t.Fatalf("n=%d: %x, want %x", n, e.Bytes(), want.Bytes())
		}
	}
}

func TestEncodeDoesNotAllocate(t *testing.T) {
	e := NewEncoder(make([]byte, 0, 4096))
	s := samples[1]
	allocs := testing.AllocsPerRun(100, func() {
		e.Reset()
		encodeSample(e, &s)
	})
	if allocs != 0 {
		t.Fatalf("encode allocated %v times", allocs)
	}
}

func FuzzDecoder(f *testing.F) {
	for _, s := range samples {
		var e Encoder
		encodeSample(&e, &s)
		f.Add(e.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(b)
		s := decodeSample(d)
		if d.Err() != nil {
			return
		}
		// What decoded must re-encode to the consumed bytes, apart from
		// padding and bool normalisation the decoder tolerates.
		var e Encoder
		encodeSample(&e, &s)
		if len(e.Bytes()) != d.Offset() {
			t.Fatalf("re-encoded %d bytes, consumed %d", len(e.Bytes()), d.Offset())
		}
	})
}

func BenchmarkEncodeSample(b *testing.B) {
	e := NewEncoder(make([]byte, 0, 4096))
	s := samples[1]
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		encodeSample(e, &s)
	}
}
