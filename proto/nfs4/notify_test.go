package nfs4

import (
	"reflect"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

func TestNotifyValuesRoundTrip(t *testing.T) {
	cookie := uint64(77)
	ent := func(name string) NotifyEntry {
		return NotifyEntry{Name: []byte(name), Attrs: Fattr{Mask: Bitmap{1 << AttrType}, Vals: []byte{0, 0, 0, 1}}}
	}
	for _, v := range []NotifyValues{
		{Add: &NotifyAdd{NewEntry: ent("new")}},
		{Add: &NotifyAdd{OldEntry: &NotifyRemove{Entry: ent("old"), Cookie: 5}, NewEntry: ent("new"),
			NewCookie: &cookie, PrevEntry: &NotifyRemove{Entry: ent("prev"), Cookie: 9}, LastEntry: true}},
		{Remove: &NotifyRemove{Entry: ent("gone"), Cookie: 1 << 40}},
		{Remove: &NotifyRemove{Entry: ent("a")}, Add: &NotifyAdd{NewEntry: ent("b")},
			Rename:     &NotifyRename{OldEntry: NotifyRemove{Entry: ent("c")}, NewEntry: NotifyAdd{NewEntry: ent("d")}},
			ChildAttrs: &[]NotifyEntry{ent("e")}[0], DirAttrs: &[]NotifyEntry{ent("")}[0],
			Verifier: &NotifyVerifier{OldVerf: Verifier{1}, NewVerf: Verifier{2}}},
	} {
		n := MakeNotify(&v)
		// Through the CB_NOTIFY codec too.
		args := &CBNotifyArgs{StateID: sid41, FH: fh41, Changes: []Notify{n}}
		var e xdr.Encoder
		args.Encode(&e)
		var back CBNotifyArgs
		d := xdr.NewDecoder(e.Buf)
		back.Decode(d)
		if d.Err() != nil || d.Remaining() != 0 {
			t.Fatalf("CB_NOTIFY decode: %v, %d left", d.Err(), d.Remaining())
		}
		got, err := back.Changes[0].Values()
		if err != nil {
			t.Fatalf("Values: %v", err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, v)
		}
	}
}

func TestNotifyValuesMalformed(t *testing.T) {
	good := MakeNotify(&NotifyValues{Add: &NotifyAdd{NewEntry: NotifyEntry{Name: []byte("x")}}})
	for name, n := range map[string]Notify{
		"unknown type":     {Mask: Bitmap{1 << 6}, Vals: good.Vals},
		"second word":      {Mask: Bitmap{1 << NotifyAddEntry, 1}, Vals: good.Vals},
		"truncated":        {Mask: good.Mask, Vals: good.Vals[:len(good.Vals)-4]},
		"trailing bytes":   {Mask: good.Mask, Vals: append(append([]byte(nil), good.Vals...), 0, 0, 0, 0)},
		"mask without val": {Mask: Bitmap{1<<NotifyAddEntry | 1<<NotifyRemoveEntry}, Vals: good.Vals},
		"optional of 2":    {Mask: good.Mask, Vals: append([]byte{0, 0, 0, 2}, good.Vals[4:]...)},
	} {
		if _, err := n.Values(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
