package nfs4

import (
	"fmt"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Directory notification values (RFC 8881 §20.4.1): the notifylist4 of a
// notify4 holds, in bit order, one XDR value per NOTIFY4_* bit set in
// its mask. Notify keeps them raw; NotifyValues is the typed form.

// notify_type4 (RFC 8881 §20.4.1): bit numbers of notification bitmaps
// (GET_DIR_DELEGATION's gdda_notification_types, notify4's mask).
const (
	NotifyChangeChildAttrs     = 0
	NotifyChangeDirAttrs       = 1
	NotifyRemoveEntry          = 2
	NotifyAddEntry             = 3
	NotifyRenameEntry          = 4
	NotifyChangeCookieVerifier = 5
	notifyTypes                = 6
)

// NotifyEntry is notify_entry4: a name and attributes of it.
type NotifyEntry struct {
	Name  []byte // component4
	Attrs Fattr
}

func (n *NotifyEntry) Encode(e *xdr.Encoder) {
	e.Opaque(n.Name)
	n.Attrs.Encode(e)
}
func (n *NotifyEntry) Decode(d *xdr.Decoder) {
	n.Name = decodeName(d)
	n.Attrs.Decode(d)
}

// NotifyRemove is notify_remove4 (also prev_entry4, which has the same
// shape: an entry and its READDIR cookie).
type NotifyRemove struct {
	Entry  NotifyEntry
	Cookie uint64
}

func (n *NotifyRemove) Encode(e *xdr.Encoder) {
	n.Entry.Encode(e)
	e.Uint64(n.Cookie)
}
func (n *NotifyRemove) Decode(d *xdr.Decoder) {
	n.Entry.Decode(d)
	n.Cookie = d.Uint64()
}

// NotifyAdd is notify_add4. The optional members (XDR arrays of at most
// one element) are nil when absent.
type NotifyAdd struct {
	OldEntry  *NotifyRemove // an entry the new one replaced
	NewEntry  NotifyEntry
	NewCookie *uint64
	PrevEntry *NotifyRemove // prev_entry4: the entry before the new one
	LastEntry bool
}

func (n *NotifyAdd) Encode(e *xdr.Encoder) {
	encodeOpt(e, n.OldEntry)
	n.NewEntry.Encode(e)
	if n.NewCookie != nil {
		e.Uint32(1)
		e.Uint64(*n.NewCookie)
	} else {
		e.Uint32(0)
	}
	encodeOpt(e, n.PrevEntry)
	e.Bool(n.LastEntry)
}
func (n *NotifyAdd) Decode(d *xdr.Decoder) {
	n.OldEntry = decodeOpt(d, "nad_old_entry")
	n.NewEntry.Decode(d)
	if d.Length("nad_new_entry_cookie", 1, 8) == 1 {
		c := d.Uint64()
		n.NewCookie = &c
	}
	n.PrevEntry = decodeOpt(d, "nad_prev_entry")
	n.LastEntry = d.Bool()
}

func encodeOpt(e *xdr.Encoder, r *NotifyRemove) {
	if r == nil {
		e.Uint32(0)
		return
	}
	e.Uint32(1)
	r.Encode(e)
}

func decodeOpt(d *xdr.Decoder, what string) *NotifyRemove {
	if d.Length(what, 1, 4+4+4+8) != 1 {
		return nil
	}
	r := new(NotifyRemove)
	r.Decode(d)
	return r
}

// NotifyRename is notify_rename4.
type NotifyRename struct {
	OldEntry NotifyRemove
	NewEntry NotifyAdd
}

// NotifyVerifier is notify_verifier4.
type NotifyVerifier struct{ OldVerf, NewVerf Verifier }

// NotifyValues are the values of one notify4, typed; nil members are
// absent from its mask. ChildAttrs and DirAttrs are notify_attr4.
type NotifyValues struct {
	ChildAttrs *NotifyEntry
	DirAttrs   *NotifyEntry
	Remove     *NotifyRemove
	Add        *NotifyAdd
	Rename     *NotifyRename
	Verifier   *NotifyVerifier
}

// MakeNotify encodes v as a notify4.
func MakeNotify(v *NotifyValues) Notify {
	var n Notify
	var e xdr.Encoder
	if v.ChildAttrs != nil {
		n.Mask.Set(NotifyChangeChildAttrs)
		v.ChildAttrs.Encode(&e)
	}
	if v.DirAttrs != nil {
		n.Mask.Set(NotifyChangeDirAttrs)
		v.DirAttrs.Encode(&e)
	}
	if v.Remove != nil {
		n.Mask.Set(NotifyRemoveEntry)
		v.Remove.Encode(&e)
	}
	if v.Add != nil {
		n.Mask.Set(NotifyAddEntry)
		v.Add.Encode(&e)
	}
	if v.Rename != nil {
		n.Mask.Set(NotifyRenameEntry)
		v.Rename.OldEntry.Encode(&e)
		v.Rename.NewEntry.Encode(&e)
	}
	if v.Verifier != nil {
		n.Mask.Set(NotifyChangeCookieVerifier)
		v.Verifier.OldVerf.Encode(&e)
		v.Verifier.NewVerf.Encode(&e)
	}
	if n.Mask == nil {
		n.Mask = Bitmap{}
	}
	n.Vals = e.Buf
	return n
}

// Values decodes n's notifylist4. An unknown notification type or values
// that do not match the mask exactly are an error. Names and attributes
// alias n.Vals.
func (n *Notify) Values() (NotifyValues, error) {
	var v NotifyValues
	for w, word := range n.Mask {
		known := uint32(0)
		if w == 0 {
			known = 1<<notifyTypes - 1
		}
		if word&^known != 0 {
			return v, fmt.Errorf("nfs4: notify4: unknown notification type in mask %#x", []uint32(n.Mask))
		}
	}
	d := xdr.NewDecoder(n.Vals)
	if n.Mask.Has(NotifyChangeChildAttrs) {
		v.ChildAttrs = new(NotifyEntry)
		v.ChildAttrs.Decode(d)
	}
	if n.Mask.Has(NotifyChangeDirAttrs) {
		v.DirAttrs = new(NotifyEntry)
		v.DirAttrs.Decode(d)
	}
	if n.Mask.Has(NotifyRemoveEntry) {
		v.Remove = new(NotifyRemove)
		v.Remove.Decode(d)
	}
	if n.Mask.Has(NotifyAddEntry) {
		v.Add = new(NotifyAdd)
		v.Add.Decode(d)
	}
	if n.Mask.Has(NotifyRenameEntry) {
		v.Rename = new(NotifyRename)
		v.Rename.OldEntry.Decode(d)
		v.Rename.NewEntry.Decode(d)
	}
	if n.Mask.Has(NotifyChangeCookieVerifier) {
		v.Verifier = new(NotifyVerifier)
		v.Verifier.OldVerf.Decode(d)
		v.Verifier.NewVerf.Decode(d)
	}
	if d.Err() != nil {
		return NotifyValues{}, d.Err()
	}
	if d.Remaining() != 0 {
		return NotifyValues{}, fmt.Errorf("nfs4: notify4: %d bytes after the values", d.Remaining())
	}
	return v, nil
}
