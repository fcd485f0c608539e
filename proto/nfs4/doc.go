// Package nfs4 holds the NFSv4 wire types — RFC 7530 (minor version 0),
// RFC 8881 (minor version 1), RFC 7862 (minor version 2) and RFC 8276
// (xattrs) — with hand-written XDR coders built on proto/xdr.
//
// # Conventions (every op type follows them)
//
//   - Operation X has XArgs (nfs_argop4 arm) and XRes (nfs_resop4 arm).
//     Ops whose args or results are void still get a type (an empty struct,
//     or a Res holding only Status) so the tables below stay uniform.
//   - Every type has Encode(*xdr.Encoder) and Decode(*xdr.Decoder). The
//     server decodes Args and encodes Res; the client does the reverse; the
//     round-trip tests do both.
//   - Decode never panics and never allocates more than the input can hold:
//     every length is bounded with a named limit (see limits below) through
//     xdr.Decoder.Length/Opaque/String. Errors are sticky in the Decoder.
//   - Opaque fields ([]byte) alias the decoder's input (zero copy). Callers
//     that keep them beyond the request copy them.
//   - A Res's Encode writes its Status and then the resok arm only when
//     Status is OK, except where the RFC defines a body for an error
//     (LOCK/LOCKT NFS4ERR_DENIED, SETCLIENTID NFS4ERR_CLID_INUSE, WRITE/
//     COMMIT none) — each such case is commented with its RFC section.
//   - Field names follow the RFC's XDR names in Go case (cinfo → CInfo,
//     stateid → StateID, seqid → SeqID).
//   - NewArgs(op)/NewRes(op) return a fresh value for any op we implement
//     (nil for unknown ops); that is how COMPOUND bodies are decoded
//     generically (tests, client) and how the server decodes one op at a
//     time.
package nfs4

import (
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Decoder limits (per field). A request exceeding one gets NFS4ERR_BADXDR
// or, for names, NFS4ERR_NAMETOOLONG from the server.
const (
	MaxNameLen      = 1024    // component4 / utf8str on the wire (maxname advertised is 255)
	MaxPathLen      = 4096    // linktext4, pathname components joined
	MaxTagLen       = 1024    // COMPOUND tag
	MaxBitmapWords  = 32      // bitmap4: attrs 0..1023 (pynfs GATT4 asks for attribute 1000 and expects OK)
	MaxAttrListLen  = 1 << 16 // attrlist4
	MaxOwnerLen     = 1024    // open_owner4 / lock_owner4 opaque (NFS4_OPAQUE_LIMIT)
	MaxDataLen      = 1 << 20 // READ/WRITE payload (maxread/maxwrite) + slack checked by caller
	MaxIOLen        = 1<<20 + 1<<12
	MaxSecFlavors   = 16
	MaxStateIDs     = 1024 // TEST_STATEID array
	MaxPathComps    = 256
	MaxServerScope  = 1024
	MaxImplIDs      = 1
	MaxSSVHashAlgs  = 8
	MaxCallbackSecs = 16
)

// Bitmap is bitmap4: attribute numbers as bits in 32-bit words.
type Bitmap []uint32

// Has reports whether bit n is set.
func (b Bitmap) Has(n int) bool {
	w := n / 32
	return w < len(b) && b[w]&(1<<(n%32)) != 0
}

// Set sets bit n, growing b as needed.
func (b *Bitmap) Set(n int) {
	w := n / 32
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (n % 32)
}

// And returns the intersection of a and c.
func (b Bitmap) And(c Bitmap) Bitmap {
	n := min(len(b), len(c))
	r := make(Bitmap, n)
	for i := range n {
		r[i] = b[i] & c[i]
	}
	return r.trim()
}

// SubsetOf reports whether every bit of b is set in c.
func (b Bitmap) SubsetOf(c Bitmap) bool {
	for i, w := range b {
		var cw uint32
		if i < len(c) {
			cw = c[i]
		}
		if w&^cw != 0 {
			return false
		}
	}
	return true
}

func (b Bitmap) trim() Bitmap {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func (b Bitmap) Encode(e *xdr.Encoder) { e.Uint32s(b) }
func (b *Bitmap) Decode(d *xdr.Decoder) {
	*b = d.Uint32s("bitmap4", MaxBitmapWords)
}

// StateID is stateid4.
type StateID struct {
	SeqID uint32
	Other [OtherSize]byte
}

func (s *StateID) Encode(e *xdr.Encoder) {
	e.Uint32(s.SeqID)
	e.FixedOpaque(s.Other[:])
}
func (s *StateID) Decode(d *xdr.Decoder) {
	s.SeqID = d.Uint32()
	d.FixedOpaqueInto(s.Other[:])
}

// Special stateids (RFC 8881 §8.2.3).
var (
	AnonStateID    = StateID{}                                                                                               // all zeros
	BypassStateID  = StateID{SeqID: 0xffffffff, Other: [12]byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}} // READ bypass
	CurrentStateID = StateID{SeqID: 1}                                                                                       // 4.1: the current stateid
	InvalidStateID = StateID{SeqID: 0xffffffff}                                                                              // 4.1
)

// Verifier is verifier4.
type Verifier [VerifierSize]byte

func (v *Verifier) Encode(e *xdr.Encoder) { e.FixedOpaque(v[:]) }
func (v *Verifier) Decode(d *xdr.Decoder) { d.FixedOpaqueInto(v[:]) }

// Time is nfstime4.
type Time struct {
	Seconds  int64
	NSeconds uint32
}

func (t *Time) Encode(e *xdr.Encoder) {
	e.Int64(t.Seconds)
	e.Uint32(t.NSeconds)
}
func (t *Time) Decode(d *xdr.Decoder) {
	t.Seconds = d.Int64()
	t.NSeconds = d.Uint32()
}

// ChangeInfo is change_info4.
type ChangeInfo struct {
	Atomic bool
	Before uint64
	After  uint64
}

func (c *ChangeInfo) Encode(e *xdr.Encoder) {
	e.Bool(c.Atomic)
	e.Uint64(c.Before)
	e.Uint64(c.After)
}
func (c *ChangeInfo) Decode(d *xdr.Decoder) {
	c.Atomic = d.Bool()
	c.Before = d.Uint64()
	c.After = d.Uint64()
}

// Fattr is fattr4 in its raw form: the bitmap and the packed values. The
// attribute codec (fattr.go) turns it into typed values and back.
type Fattr struct {
	Mask Bitmap
	Vals []byte // attrlist4, aliases the input on decode
}

func (f *Fattr) Encode(e *xdr.Encoder) {
	f.Mask.Encode(e)
	e.Opaque(f.Vals)
}
func (f *Fattr) Decode(d *xdr.Decoder) {
	f.Mask.Decode(d)
	f.Vals = d.Opaque("attrlist4", MaxAttrListLen)
}

// PutFHArgs is PUTFH4args (RFC 7530 §16.20).
type PutFHArgs struct {
	Object []byte // nfs_fh4
}

func (a *PutFHArgs) Encode(e *xdr.Encoder) { e.Opaque(a.Object) }
func (a *PutFHArgs) Decode(d *xdr.Decoder) { a.Object = d.Opaque("nfs_fh4", FHSize) }

// PutFHRes is PUTFH4res.
type PutFHRes struct{ Status Status }

func (r *PutFHRes) Encode(e *xdr.Encoder) { e.Uint32(uint32(r.Status)) }
func (r *PutFHRes) Decode(d *xdr.Decoder) { r.Status = Status(d.Uint32()) }

// GetFHArgs is void (RFC 7530 §16.8).
type GetFHArgs struct{}

func (*GetFHArgs) Encode(*xdr.Encoder) {}
func (*GetFHArgs) Decode(*xdr.Decoder) {}

// GetFHRes is GETFH4res.
type GetFHRes struct {
	Status Status
	Object []byte // resok4
}

func (r *GetFHRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Opaque(r.Object)
	}
}
func (r *GetFHRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.Object = d.Opaque("nfs_fh4", FHSize)
	}
}

// Args is implemented by every nfs_argop4 arm; Res by every nfs_resop4 arm.
type Args interface {
	Encode(*xdr.Encoder)
	Decode(*xdr.Decoder)
}

// Res is an op result; every Res starts with its nfsstat4.
type Res interface {
	Encode(*xdr.Encoder)
	Decode(*xdr.Decoder)
	GetStatus() Status
}

func (r *PutFHRes) GetStatus() Status { return r.Status }
func (r *GetFHRes) GetStatus() Status { return r.Status }
