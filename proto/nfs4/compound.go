package nfs4

import (
	"fmt"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// COMPOUND (RFC 7530 §15.2, §16.2 of RFC 8881):
//
//	struct COMPOUND4args { utf8str_cs tag; uint32_t minorversion; nfs_argop4 argarray<>; };
//	struct COMPOUND4res  { nfsstat4 status; utf8str_cs tag; nfs_resop4 resarray<>; };
//
// Two forms are provided. CompoundArgs/CompoundRes code a whole message
// (client, tests). The server decodes incrementally: DecodeCompoundHeader,
// then for each op d.Uint32() for the op number and NewArgs(op).Decode(d),
// so it can stop at the first failing op; it encodes the reply with
// EncodeCompoundResHeader and patches status and count at the end.

// UnknownOpError is the decode error for an op number we do not implement.
// The server answers it with an OP_ILLEGAL result and NFS4ERR_OP_ILLEGAL
// (RFC 7530 §15.2) after the results of the ops before it.
type UnknownOpError struct {
	Op    Op
	Index int // position in argarray/resarray
}

func (e *UnknownOpError) Error() string {
	return fmt.Sprintf("nfs4: unknown operation %d at index %d", uint32(e.Op), e.Index)
}

// DecodeCompoundHeader reads tag, minorversion and the argarray count
// (bounded by MaxOpsPerCompound and by the bytes left, 4 per op). The tag
// aliases the input. On a count above the bound the error is an
// *xdr.LengthError and tag and minor are still valid, so the server can
// reply NFS4ERR_RESOURCE (4.0) / NFS4ERR_TOO_MANY_OPS (4.1) with the tag.
func DecodeCompoundHeader(d *xdr.Decoder) (tag []byte, minor uint32, nops int, err error) {
	tag = d.Opaque("COMPOUND tag", MaxTagLen)
	minor = d.Uint32()
	nops = d.Length("argarray", MaxOpsPerCompound, 4)
	return tag, minor, nops, d.Err()
}

// ArgOp is one nfs_argop4.
type ArgOp struct {
	Op   Op
	Args Args
}

// CompoundArgs is COMPOUND4args.
type CompoundArgs struct {
	Tag          []byte
	MinorVersion uint32
	Ops          []ArgOp
}

func (c *CompoundArgs) Encode(e *xdr.Encoder) {
	e.Opaque(c.Tag)
	e.Uint32(c.MinorVersion)
	e.Uint32(uint32(len(c.Ops)))
	for _, op := range c.Ops {
		e.Uint32(uint32(op.Op))
		op.Args.Encode(e)
	}
}

// Decode reads the whole message. An unknown op number stops decoding with
// an *UnknownOpError in d; Ops then holds the ops before it.
func (c *CompoundArgs) Decode(d *xdr.Decoder) {
	var n int
	c.Tag, c.MinorVersion, n, _ = DecodeCompoundHeader(d)
	c.Ops = make([]ArgOp, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		op := Op(d.Uint32())
		if d.Err() != nil {
			return
		}
		a := NewArgs(op)
		if a == nil {
			d.SetErr(&UnknownOpError{Op: op, Index: i})
			return
		}
		a.Decode(d)
		c.Ops = append(c.Ops, ArgOp{Op: op, Args: a})
	}
}

// ResOp is one nfs_resop4.
type ResOp struct {
	Op  Op
	Res Res
}

// CompoundRes is COMPOUND4res. Status is the status of the last result
// (RFC 7530 §15.2); Encode writes it as given.
type CompoundRes struct {
	Status  Status
	Tag     []byte
	Results []ResOp
}

func (c *CompoundRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(c.Status))
	e.Opaque(c.Tag)
	e.Uint32(uint32(len(c.Results)))
	for _, r := range c.Results {
		e.Uint32(uint32(r.Op))
		r.Res.Encode(e)
	}
}

// Decode reads a whole reply; an unknown op number is an *UnknownOpError.
func (c *CompoundRes) Decode(d *xdr.Decoder) {
	c.Status = Status(d.Uint32())
	c.Tag = d.Opaque("COMPOUND tag", MaxTagLen)
	n := d.Length("resarray", MaxOpsPerCompound, 8) // op + status
	c.Results = make([]ResOp, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		op := Op(d.Uint32())
		if d.Err() != nil {
			return
		}
		r := NewRes(op)
		if r == nil {
			d.SetErr(&UnknownOpError{Op: op, Index: i})
			return
		}
		r.Decode(d)
		c.Results = append(c.Results, ResOp{Op: op, Res: r})
	}
}

// ResHeader marks the patchable words of a reply begun with
// EncodeCompoundResHeader.
type ResHeader struct {
	statusOff int
	countOff  int
}

// EncodeCompoundResHeader writes a COMPOUND4res header with placeholder
// status and resarray count. The server then appends each result as
// e.Uint32(uint32(op)) followed by the Res encoding, and calls Finish.
func EncodeCompoundResHeader(e *xdr.Encoder, tag []byte) ResHeader {
	h := ResHeader{statusOff: e.Reserve(4)}
	e.Opaque(tag)
	h.countOff = e.Reserve(4)
	return h
}

// Finish patches in the compound status (that of the last op executed)
// and the number of results written.
func (h ResHeader) Finish(e *xdr.Encoder, status Status, nres int) {
	e.PutUint32At(h.statusOff, uint32(status))
	e.PutUint32At(h.countOff, uint32(nres))
}
