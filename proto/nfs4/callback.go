package nfs4

// The callback (back-channel) program: CB_COMPOUND framing and its ops
// (RFC 8881 §20, RFC 7530 §16.2.3 for the 4.0 callbacks). CB_NULL
// (procedure CBProcNull) has void arguments and results, so it has no type
// here: the RPC layer sends and answers it with empty bodies.
//
// The callback ops follow the same conventions as the fore-channel ops
// (doc.go) and have their own table: NewCBArgs/NewCBRes.

import (
	"strconv"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Callback decoder limits.
const (
	MaxNotifyEntries      = 1024 // CB_NOTIFY cna_changes<>
	MaxReferringCallLists = 64   // CB_SEQUENCE csa_referring_call_lists<>
	MaxReferringCalls     = 1024 // referring_call_list4.rcl_referring_calls<>
)

var (
	cbArgsTable = map[CBOp]func() Args{}
	cbResTable  = map[CBOp]func() Res{}
)

func registerCB(op CBOp, newArgs func() Args, newRes func() Res) {
	if _, dup := cbArgsTable[op]; dup {
		panic("nfs4: callback op registered twice: " + op.String())
	}
	cbArgsTable[op] = newArgs
	cbResTable[op] = newRes
}

// NewCBArgs returns a fresh Args for callback op, or nil if we do not know it.
func NewCBArgs(op CBOp) Args {
	if f := cbArgsTable[op]; f != nil {
		return f()
	}
	return nil
}

// NewCBRes returns a fresh Res for callback op, or nil if we do not know it.
func NewCBRes(op CBOp) Res {
	if f := cbResTable[op]; f != nil {
		return f()
	}
	return nil
}

var cbOpNames = map[CBOp]string{
	CBOpGetattr: "CB_GETATTR", CBOpRecall: "CB_RECALL", CBOpLayoutRecall: "CB_LAYOUTRECALL",
	CBOpNotify: "CB_NOTIFY", CBOpPushDeleg: "CB_PUSH_DELEG", CBOpRecallAny: "CB_RECALL_ANY",
	CBOpRecallableObjAvail: "CB_RECALLABLE_OBJ_AVAIL", CBOpRecallSlot: "CB_RECALL_SLOT",
	CBOpSequence: "CB_SEQUENCE", CBOpWantsCancelled: "CB_WANTS_CANCELLED",
	CBOpNotifyLock: "CB_NOTIFY_LOCK", CBOpNotifyDeviceID: "CB_NOTIFY_DEVICEID",
	CBOpOffload: "CB_OFFLOAD", CBOpIllegal: "CB_ILLEGAL",
}

func (o CBOp) String() string {
	if s, ok := cbOpNames[o]; ok {
		return s
	}
	return "CB_OP_" + strconv.FormatUint(uint64(o), 10)
}

// ---------------------------------------------------------------- CB_COMPOUND (§20.2 framing)

// UnknownCBOpError is the decode error for a callback op number we do not
// implement. The receiver answers the ops before it, then a CB_ILLEGAL
// result with NFS4ERR_OP_ILLEGAL (RFC 8881 §20.13; RFC 7530 §16.2.3).
type UnknownCBOpError struct {
	Op    CBOp
	Index int // position in argarray/resarray
}

func (e *UnknownCBOpError) Error() string {
	return "nfs4: unknown callback operation " + strconv.FormatUint(uint64(e.Op), 10) + " at index " + strconv.Itoa(e.Index)
}

// DecodeCBCompoundHeader reads tag, minorversion, callback_ident and the
// argarray count (bounded by MaxOpsPerCompound and by the bytes left), for
// a receiver that decodes and runs one op at a time. The tag aliases the
// input.
func DecodeCBCompoundHeader(d *xdr.Decoder) (tag []byte, minor, ident uint32, nops int, err error) {
	tag = d.Opaque("CB_COMPOUND tag", MaxTagLen)
	minor = d.Uint32()
	ident = d.Uint32()
	nops = d.Length("argarray", MaxOpsPerCompound, 4)
	return tag, minor, ident, nops, d.Err()
}

// CBArgOp is one nfs_cb_argop4.
type CBArgOp struct {
	Op   CBOp
	Args Args
}

// CBCompoundArgs is CB_COMPOUND4args.
type CBCompoundArgs struct {
	Tag           []byte // utf8str_cs
	MinorVersion  uint32
	CallbackIdent uint32 // 4.0: the SETCLIENTID callback_ident; 4.1: ignored
	Ops           []CBArgOp
}

// Encode writes the whole message.
func (c *CBCompoundArgs) Encode(e *xdr.Encoder) {
	e.Opaque(c.Tag)
	e.Uint32(c.MinorVersion)
	e.Uint32(c.CallbackIdent)
	e.Uint32(uint32(len(c.Ops)))
	for _, op := range c.Ops {
		e.Uint32(uint32(op.Op))
		op.Args.Encode(e)
	}
}

// Decode reads the whole message. An unknown op number stops decoding with
// an *UnknownCBOpError in d; Ops then holds the ops before it.
func (c *CBCompoundArgs) Decode(d *xdr.Decoder) {
	var n int
	c.Tag, c.MinorVersion, c.CallbackIdent, n, _ = DecodeCBCompoundHeader(d)
	c.Ops = nil
	for i := 0; i < n && d.Err() == nil; i++ {
		op := CBOp(d.Uint32())
		if d.Err() != nil {
			return
		}
		a := NewCBArgs(op)
		if a == nil {
			d.SetErr(&UnknownCBOpError{Op: op, Index: i})
			return
		}
		a.Decode(d)
		c.Ops = append(c.Ops, CBArgOp{Op: op, Args: a})
	}
}

// CBResOp is one nfs_cb_resop4.
type CBResOp struct {
	Op  CBOp
	Res Res
}

// CBCompoundRes is CB_COMPOUND4res. Status is the status of the last op
// evaluated; the results stop at the first failed op (RFC 8881 §20.2.3).
type CBCompoundRes struct {
	Status  Status
	Tag     []byte
	Results []CBResOp
}

func (c *CBCompoundRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(c.Status))
	e.Opaque(c.Tag)
	e.Uint32(uint32(len(c.Results)))
	for _, r := range c.Results {
		e.Uint32(uint32(r.Op))
		r.Res.Encode(e)
	}
}

// Decode reads a whole reply; an unknown op number is an *UnknownCBOpError.
func (c *CBCompoundRes) Decode(d *xdr.Decoder) {
	c.Status = Status(d.Uint32())
	c.Tag = d.Opaque("tag", MaxTagLen)
	n := d.Length("resarray", MaxOpsPerCompound, 8) // op + status
	c.Results = nil
	for i := 0; i < n && d.Err() == nil; i++ {
		op := CBOp(d.Uint32())
		if d.Err() != nil {
			return
		}
		r := NewCBRes(op)
		if r == nil {
			d.SetErr(&UnknownCBOpError{Op: op, Index: i})
			return
		}
		r.Decode(d)
		c.Results = append(c.Results, CBResOp{Op: op, Res: r})
	}
}

// ---------------------------------------------------------------- CB_GETATTR (§20.1)

// CBGetattrArgs is CB_GETATTR4args.
type CBGetattrArgs struct {
	FH          []byte
	AttrRequest Bitmap
}

func (a *CBGetattrArgs) Encode(e *xdr.Encoder) {
	e.Opaque(a.FH)
	a.AttrRequest.Encode(e)
}
func (a *CBGetattrArgs) Decode(d *xdr.Decoder) {
	a.FH = d.Opaque("nfs_fh4", FHSize)
	a.AttrRequest.Decode(d)
}

// CBGetattrRes is CB_GETATTR4res.
type CBGetattrRes struct {
	Status        Status
	ObjAttributes Fattr
}

func (r *CBGetattrRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.ObjAttributes.Encode(e)
	}
}
func (r *CBGetattrRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.ObjAttributes.Decode(d)
	}
}
func (r *CBGetattrRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- CB_RECALL (§20.2)

// CBRecallArgs is CB_RECALL4args.
type CBRecallArgs struct {
	StateID  StateID
	Truncate bool
	FH       []byte
}

func (a *CBRecallArgs) Encode(e *xdr.Encoder) {
	a.StateID.Encode(e)
	e.Bool(a.Truncate)
	e.Opaque(a.FH)
}
func (a *CBRecallArgs) Decode(d *xdr.Decoder) {
	a.StateID.Decode(d)
	a.Truncate = d.Bool()
	a.FH = d.Opaque("nfs_fh4", FHSize)
}

// CBRecallRes is CB_RECALL4res.
type CBRecallRes struct{ StatusRes }

// ---------------------------------------------------------------- CB_NOTIFY (§20.4)

// Notify is notify4: the change types in Mask and their XDR-encoded
// notify_* values, kept raw.
type Notify struct {
	Mask Bitmap
	Vals []byte // notifylist4
}

func (n *Notify) Encode(e *xdr.Encoder) {
	n.Mask.Encode(e)
	e.Opaque(n.Vals)
}
func (n *Notify) Decode(d *xdr.Decoder) {
	n.Mask.Decode(d)
	n.Vals = d.Opaque("notifylist4", MaxAttrListLen)
}

// CBNotifyArgs is CB_NOTIFY4args.
type CBNotifyArgs struct {
	StateID StateID
	FH      []byte
	Changes []Notify
}

func (a *CBNotifyArgs) Encode(e *xdr.Encoder) {
	a.StateID.Encode(e)
	e.Opaque(a.FH)
	xdrPutList(e, a.Changes)
}
func (a *CBNotifyArgs) Decode(d *xdr.Decoder) {
	a.StateID.Decode(d)
	a.FH = d.Opaque("nfs_fh4", FHSize)
	a.Changes = xdrList[Notify](d, "cna_changes", MaxNotifyEntries, 8)
}

// CBNotifyRes is CB_NOTIFY4res.
type CBNotifyRes struct{ StatusRes }

// ---------------------------------------------------------------- CB_RECALL_ANY (§20.6)

// CBRecallAnyArgs is CB_RECALL_ANY4args; TypeMask holds RCA4_TYPE_MASK_* bits.
type CBRecallAnyArgs struct {
	ObjectsToKeep uint32
	TypeMask      Bitmap
}

func (a *CBRecallAnyArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.ObjectsToKeep)
	a.TypeMask.Encode(e)
}
func (a *CBRecallAnyArgs) Decode(d *xdr.Decoder) {
	a.ObjectsToKeep = d.Uint32()
	a.TypeMask.Decode(d)
}

// CBRecallAnyRes is CB_RECALL_ANY4res.
type CBRecallAnyRes struct{ StatusRes }

// ---------------------------------------------------------------- CB_RECALL_SLOT (§20.8)

// CBRecallSlotArgs is CB_RECALL_SLOT4args.
type CBRecallSlotArgs struct{ TargetHighestSlotID uint32 }

func (a *CBRecallSlotArgs) Encode(e *xdr.Encoder) { e.Uint32(a.TargetHighestSlotID) }
func (a *CBRecallSlotArgs) Decode(d *xdr.Decoder) { a.TargetHighestSlotID = d.Uint32() }

// CBRecallSlotRes is CB_RECALL_SLOT4res.
type CBRecallSlotRes struct{ StatusRes }

// ---------------------------------------------------------------- CB_SEQUENCE (§20.9)

// ReferringCall is referring_call4.
type ReferringCall struct {
	SequenceID uint32
	SlotID     uint32
}

func (r *ReferringCall) Encode(e *xdr.Encoder) {
	e.Uint32(r.SequenceID)
	e.Uint32(r.SlotID)
}
func (r *ReferringCall) Decode(d *xdr.Decoder) {
	r.SequenceID = d.Uint32()
	r.SlotID = d.Uint32()
}

// ReferringCallList is referring_call_list4.
type ReferringCallList struct {
	SessionID SessionID
	Calls     []ReferringCall
}

func (r *ReferringCallList) Encode(e *xdr.Encoder) {
	r.SessionID.Encode(e)
	xdrPutList(e, r.Calls)
}
func (r *ReferringCallList) Decode(d *xdr.Decoder) {
	r.SessionID.Decode(d)
	r.Calls = xdrList[ReferringCall](d, "rcl_referring_calls", MaxReferringCalls, 8)
}

// CBSequenceArgs is CB_SEQUENCE4args.
type CBSequenceArgs struct {
	SessionID          SessionID
	SequenceID         uint32
	SlotID             uint32
	HighestSlotID      uint32
	CacheThis          bool
	ReferringCallLists []ReferringCallList
}

func (a *CBSequenceArgs) Encode(e *xdr.Encoder) {
	a.SessionID.Encode(e)
	e.Uint32(a.SequenceID)
	e.Uint32(a.SlotID)
	e.Uint32(a.HighestSlotID)
	e.Bool(a.CacheThis)
	xdrPutList(e, a.ReferringCallLists)
}
func (a *CBSequenceArgs) Decode(d *xdr.Decoder) {
	a.SessionID.Decode(d)
	a.SequenceID = d.Uint32()
	a.SlotID = d.Uint32()
	a.HighestSlotID = d.Uint32()
	a.CacheThis = d.Bool()
	a.ReferringCallLists = xdrList[ReferringCallList](d, "csa_referring_call_lists", MaxReferringCallLists, SessionIDSize+4)
}

// CBSequenceRes is CB_SEQUENCE4res.
type CBSequenceRes struct {
	Status              Status
	SessionID           SessionID
	SequenceID          uint32
	SlotID              uint32
	HighestSlotID       uint32
	TargetHighestSlotID uint32
}

func (r *CBSequenceRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status != OK {
		return
	}
	r.SessionID.Encode(e)
	e.Uint32(r.SequenceID)
	e.Uint32(r.SlotID)
	e.Uint32(r.HighestSlotID)
	e.Uint32(r.TargetHighestSlotID)
}
func (r *CBSequenceRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status != OK {
		return
	}
	r.SessionID.Decode(d)
	r.SequenceID = d.Uint32()
	r.SlotID = d.Uint32()
	r.HighestSlotID = d.Uint32()
	r.TargetHighestSlotID = d.Uint32()
}
func (r *CBSequenceRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- CB_NOTIFY_LOCK (§20.11)

// CBNotifyLockArgs is CB_NOTIFY_LOCK4args.
type CBNotifyLockArgs struct {
	FH        []byte
	LockOwner LockOwner
}

func (a *CBNotifyLockArgs) Encode(e *xdr.Encoder) {
	e.Opaque(a.FH)
	a.LockOwner.Encode(e)
}
func (a *CBNotifyLockArgs) Decode(d *xdr.Decoder) {
	a.FH = d.Opaque("nfs_fh4", FHSize)
	a.LockOwner.Decode(d)
}

// CBNotifyLockRes is CB_NOTIFY_LOCK4res.
type CBNotifyLockRes struct{ StatusRes }

// ---------------------------------------------------------------- CB_ILLEGAL (§20.13)

// CBIllegalArgs is void: CB_ILLEGAL is the op number a reply uses for an
// unknown callback op.
type CBIllegalArgs struct{ VoidArgs }

// CBIllegalRes is CB_ILLEGAL4res (status NFS4ERR_OP_ILLEGAL).
type CBIllegalRes struct{ StatusRes }

func init() {
	registerCB(CBOpGetattr, func() Args { return new(CBGetattrArgs) }, func() Res { return new(CBGetattrRes) })
	registerCB(CBOpRecall, func() Args { return new(CBRecallArgs) }, func() Res { return new(CBRecallRes) })
	registerCB(CBOpNotify, func() Args { return new(CBNotifyArgs) }, func() Res { return new(CBNotifyRes) })
	registerCB(CBOpRecallAny, func() Args { return new(CBRecallAnyArgs) }, func() Res { return new(CBRecallAnyRes) })
	registerCB(CBOpRecallSlot, func() Args { return new(CBRecallSlotArgs) }, func() Res { return new(CBRecallSlotRes) })
	registerCB(CBOpSequence, func() Args { return new(CBSequenceArgs) }, func() Res { return new(CBSequenceRes) })
	registerCB(CBOpNotifyLock, func() Args { return new(CBNotifyLockArgs) }, func() Res { return new(CBNotifyLockRes) })
	registerCB(CBOpIllegal, func() Args { return new(CBIllegalArgs) }, func() Res { return new(CBIllegalRes) })
}
