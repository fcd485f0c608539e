package nfs4

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// FuzzNotifyValues feeds a notify4 (mask and notifylist4, as a client gets
// them in CB_NOTIFY) to Values: no panic, and accepted values re-encode
// with MakeNotify to the same mask and bytes, modulo XDR padding.
func FuzzNotifyValues(f *testing.F) {
	name := []byte("entry")
	for _, v := range []NotifyValues{
		{Add: &NotifyAdd{NewEntry: NotifyEntry{Name: name}}},
		{Remove: &NotifyRemove{Entry: NotifyEntry{Name: name}, Cookie: 7}},
		{Rename: &NotifyRename{OldEntry: NotifyRemove{Entry: NotifyEntry{Name: name}}, NewEntry: NotifyAdd{NewEntry: NotifyEntry{Name: []byte("new")}}}},
		{Verifier: &NotifyVerifier{}, ChildAttrs: &NotifyEntry{Name: name}},
	} {
		n := MakeNotify(&v)
		var e xdr.Encoder
		n.Encode(&e)
		f.Add(bytes.Clone(e.Buf))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var n Notify
		d := xdr.NewDecoder(data)
		n.Decode(d)
		if d.Err() != nil {
			return
		}
		v, err := n.Values()
		if err != nil {
			return
		}
		again := MakeNotify(&v)
		if len(again.Vals) != len(n.Vals) {
			t.Fatalf("re-encoded values: %d bytes, decoded from %d", len(again.Vals), len(n.Vals))
		}
		v2, err := again.Values()
		if err != nil || !reflect.DeepEqual(normNotify(v), normNotify(v2)) {
			t.Fatalf("re-decode differs: %v\n%+v\n%+v", err, v, v2)
		}
	})
}

// normNotify makes nil and empty byte slices compare equal.
func normNotify(v NotifyValues) string {
	var e xdr.Encoder
	m := MakeNotify(&v)
	m.Encode(&e)
	return string(e.Buf)
}
