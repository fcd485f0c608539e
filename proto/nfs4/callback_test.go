package nfs4

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

var cbOps41 = []CBOp{CBOpGetattr, CBOpRecall, CBOpNotify, CBOpRecallAny, CBOpRecallSlot,
	CBOpSequence, CBOpNotifyLock, CBOpIllegal}

var fh41 = []byte{0xfb, 1, 2, 3, 4, 5, 6, 7, 8, 9}

func samplesCB() []sample41 {
	cbseq := &CBSequenceArgs{SessionID: sess41, SequenceID: 4, SlotID: 0, HighestSlotID: 0, CacheThis: false,
		ReferringCallLists: []ReferringCallList{
			{SessionID: sess41, Calls: []ReferringCall{{SequenceID: 10, SlotID: 1}, {SequenceID: 11, SlotID: 2}}},
			{SessionID: SessionID{1}},
		}}
	return []sample41{
		{"CB_GETATTR args", &CBGetattrArgs{FH: fh41, AttrRequest: Bitmap{1<<AttrChange | 1<<AttrSize}}},
		{"CB_GETATTR res", &CBGetattrRes{ObjAttributes: Fattr{Mask: Bitmap{1 << AttrSize}, Vals: []byte{0, 0, 0, 0, 0, 0, 1, 0}}}},
		{"CB_RECALL args", &CBRecallArgs{StateID: sid41, Truncate: true, FH: fh41}},
		{"CB_RECALL res", &CBRecallRes{}},
		{"CB_NOTIFY args", &CBNotifyArgs{StateID: sid41, FH: fh41, Changes: []Notify{
			{Mask: Bitmap{1 << 2}, Vals: []byte{0, 0, 0, 1, 'a', 0, 0, 0}}, {Mask: Bitmap{1 << 3}}}}},
		{"CB_NOTIFY res", &CBNotifyRes{}},
		{"CB_RECALL_ANY args", &CBRecallAnyArgs{ObjectsToKeep: 100, TypeMask: Bitmap{0x3}}},
		{"CB_RECALL_ANY res", &CBRecallAnyRes{}},
		{"CB_RECALL_SLOT args", &CBRecallSlotArgs{TargetHighestSlotID: 7}},
		{"CB_RECALL_SLOT res", &CBRecallSlotRes{}},
		{"CB_SEQUENCE args", cbseq},
		{"CB_SEQUENCE args no referring", &CBSequenceArgs{SessionID: sess41, SequenceID: 1, CacheThis: true}},
		{"CB_SEQUENCE res", &CBSequenceRes{SessionID: sess41, SequenceID: 4, SlotID: 0, HighestSlotID: 0, TargetHighestSlotID: 3}},
		{"CB_NOTIFY_LOCK args", &CBNotifyLockArgs{FH: fh41, LockOwner: LockOwner{ClientID: 99, Owner: []byte("lockowner")}}},
		{"CB_NOTIFY_LOCK res", &CBNotifyLockRes{}},
		{"CB_ILLEGAL args", &CBIllegalArgs{}},
		{"CB_ILLEGAL res", &CBIllegalRes{StatusRes{Status: ErrOpIllegal}}},
		{"CB_COMPOUND args", &CBCompoundArgs{Tag: []byte("cb"), MinorVersion: 1, CallbackIdent: 0, Ops: []CBArgOp{
			{Op: CBOpSequence, Args: cbseq},
			{Op: CBOpRecall, Args: &CBRecallArgs{StateID: sid41, FH: fh41}},
		}}},
		{"CB_COMPOUND args 4.0", &CBCompoundArgs{MinorVersion: 0, CallbackIdent: 17, Ops: []CBArgOp{
			{Op: CBOpGetattr, Args: &CBGetattrArgs{FH: fh41, AttrRequest: Bitmap{0x18}}},
		}}},
		{"CB_COMPOUND res", &CBCompoundRes{Status: ErrBadHandle, Tag: []byte("cb"), Results: []CBResOp{
			{Op: CBOpSequence, Res: &CBSequenceRes{SessionID: sess41, SequenceID: 4}},
			{Op: CBOpRecall, Res: &CBRecallRes{StatusRes{Status: ErrBadHandle}}},
		}}},
	}
}

func TestCallbackRoundTrip(t *testing.T) {
	s := samplesCB()
	// runSamples41's automatic error arm assumes a Res starts with its status
	// and nothing else; CB_COMPOUND4res is a struct, so run it separately.
	var ops []sample41
	for _, x := range s {
		if _, ok := x.v.(*CBCompoundRes); ok {
			roundTrip41(t, x)
			truncations41(t, x)
			continue
		}
		ops = append(ops, x)
	}
	runSamples41(t, ops)
}

func TestCallbackCoverage(t *testing.T) {
	have := map[reflect.Type]bool{}
	for _, s := range samplesCB() {
		have[reflect.TypeOf(s.v)] = true
	}
	for _, op := range cbOps41 {
		a, r := NewCBArgs(op), NewCBRes(op)
		if a == nil || r == nil {
			t.Errorf("%v: not registered", op)
			continue
		}
		if !have[reflect.TypeOf(a)] || !have[reflect.TypeOf(r)] {
			t.Errorf("%v: no sample of %T or %T", op, a, r)
		}
	}
	if NewCBArgs(CBOpLayoutRecall) != nil || NewCBRes(CBOp(2)) != nil {
		t.Error("unimplemented callback ops must return nil")
	}
	if NewArgs(Op(CBOpRecall)) == nil { // op 4 is CLOSE in the fore channel
		t.Log("fore-channel op 4 not registered yet")
	} else if _, ok := NewArgs(Op(CBOpRecall)).(*CBRecallArgs); ok {
		t.Error("callback op leaked into the fore-channel table")
	}
	if CBOpSequence.String() != "CB_SEQUENCE" || CBOp(99).String() != "CB_OP_99" {
		t.Errorf("CBOp.String: %q %q", CBOpSequence.String(), CBOp(99).String())
	}
}

// TestCBCompoundUnknownOp: an unknown op stops decoding with an
// *UnknownCBOpError and keeps the ops before it (RFC 8881 §20.13).
func TestCBCompoundUnknownOp(t *testing.T) {
	var e xdr.Encoder
	(&CBCompoundArgs{Tag: []byte("t"), MinorVersion: 1, Ops: []CBArgOp{
		{Op: CBOpRecallSlot, Args: &CBRecallSlotArgs{TargetHighestSlotID: 2}},
	}}).Encode(&e)
	b := e.Bytes()
	// Bump the count to 2 and append an op we do not implement.
	b[len(b)-12+3] = 2 // argarray count sits before op(4)+args(4)
	b = append(b, words41(uint32(CBOpLayoutRecall), 0, 0)...)
	var c CBCompoundArgs
	d := xdr.NewDecoder(b)
	c.Decode(d)
	var ue *UnknownCBOpError
	if !errors.As(d.Err(), &ue) || ue.Op != CBOpLayoutRecall || ue.Index != 1 {
		t.Fatalf("err = %v, want UnknownCBOpError{CB_LAYOUTRECALL, 1}", d.Err())
	}
	if len(c.Ops) != 1 || c.Ops[0].Args.(*CBRecallSlotArgs).TargetHighestSlotID != 2 {
		t.Fatalf("ops before the unknown one: %+v", c.Ops)
	}
	if !bytes.Equal(c.Tag, []byte("t")) || c.MinorVersion != 1 {
		t.Fatalf("header: %+v", c)
	}

	var r CBCompoundRes
	if err := decodeErr41(&r, words41(0, 0, 1, uint32(CBOpLayoutRecall), 0)); !errors.As(err, &ue) {
		t.Fatalf("res with unknown op: err = %v", err)
	}
}

func TestCBCompoundBounds(t *testing.T) {
	cases := map[string][]byte{
		"argarray above max":  words41(0, 1, 0, MaxOpsPerCompound+1),
		"argarray past input": words41(0, 1, 0, 3, uint32(CBOpRecallSlot), 1),
		"tag above max":       append(words41(MaxTagLen+1), make([]byte, MaxTagLen+4)...),
	}
	for name, in := range cases {
		if err := decodeErr41(&CBCompoundArgs{}, in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := decodeErr41(&CBSequenceArgs{}, append(append([]byte{}, sess41[:]...),
		words41(1, 0, 0, 0, MaxReferringCallLists+1)...)); err == nil {
		t.Error("referring call lists above max: no error")
	}
	tag, minor, ident, n, err := DecodeCBCompoundHeader(xdr.NewDecoder(words41(0, 1, 5, 2, 0, 0)))
	if err != nil || len(tag) != 0 || minor != 1 || ident != 5 || n != 2 {
		t.Fatalf("header = %q %d %d %d %v", tag, minor, ident, n, err)
	}
}
