package nfs4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// The fattr4 codec (RFC 7530 §5, RFC 8881 §5): Attrs holds one typed field
// per attribute we support; EncodeAttrs/DecodeAttrs convert between it and
// the wire form {bitmap4, attrlist4}. Values in attrlist4 appear in
// increasing attribute-number order (RFC 7530 §3.3.7).

// SpecData is specdata4 (rawdev, CREATE of NF4BLK/NF4CHR).
type SpecData struct {
	SpecData1 uint32 // major
	SpecData2 uint32 // minor
}

func (s *SpecData) Encode(e *xdr.Encoder) {
	e.Uint32(s.SpecData1)
	e.Uint32(s.SpecData2)
}
func (s *SpecData) Decode(d *xdr.Decoder) {
	s.SpecData1 = d.Uint32()
	s.SpecData2 = d.Uint32()
}

// FSID is fsid4.
type FSID struct {
	Major uint64
	Minor uint64
}

// SetTime is settime4 (time_access_set / time_modify_set, RFC 7530 §3.3.8):
// How is SetToServerTime (Time unused) or SetToClientTime.
type SetTime struct {
	How  uint32
	Time Time
}

// Attrs is the typed form of fattr4. For encoding the server fills the
// fields it has and lists the attributes it supports in Supported; for
// decoding, Present records which attributes the peer sent.
type Attrs struct {
	// Present is set by DecodeAttrs: the attributes found in the bitmap.
	// EncodeAttrs ignores it.
	Present Bitmap

	Supported      Bitmap // supported_attrs (0); also the encode filter
	Type           uint32 // type (1), NF4REG…
	FHExpireType   uint32 // fh_expire_type (2)
	Change         uint64 // change (3)
	Size           uint64 // size (4)
	LinkSupport    bool   // link_support (5)
	SymlinkSupport bool   // symlink_support (6)
	NamedAttr      bool   // named_attr (7)
	FSID           FSID   // fsid (8)
	UniqueHandles  bool   // unique_handles (9)
	LeaseTime      uint32 // lease_time (10)
	RdAttrError    Status // rdattr_error (11)
	// ACL is acl (12): nfsace4<>, at most MaxACEs on decode; who
	// strings alias the input.
	ACL             []ACE
	ACLSupport      uint32 // aclsupport (13)
	CanSetTime      bool   // cansettime (15)
	CaseInsensitive bool   // case_insensitive (16)
	CasePreserving  bool   // case_preserving (17)
	ChownRestricted bool   // chown_restricted (18)
	FileHandle      []byte // filehandle (19)
	FileID          uint64 // fileid (20)
	FilesAvail      uint64 // files_avail (21)
	FilesFree       uint64 // files_free (22)
	FilesTotal      uint64 // files_total (23)
	Homogeneous     bool   // homogeneous (26)
	MaxFileSize     uint64 // maxfilesize (27)
	MaxLink         uint32 // maxlink (28)
	MaxName         uint32 // maxname (29)
	MaxRead         uint64 // maxread (30)
	MaxWrite        uint64 // maxwrite (31)
	Mode            uint32 // mode (33), permission bits only
	NoTrunc         bool   // no_trunc (34)
	NumLinks        uint32 // numlinks (35)

	// owner (36) / owner_group (37). On encode, a non-nil Owner/OwnerGroup
	// is written verbatim; otherwise UID/GID go out as decimal strings
	// (the numeric form of RFC 7530 §5.9). On decode only the raw strings
	// are set (aliasing the input); the server resolves them (ParseID).
	Owner      []byte
	OwnerGroup []byte
	UID        uint32
	GID        uint32

	RawDev          SpecData // rawdev (41)
	SpaceAvail      uint64   // space_avail (42)
	SpaceFree       uint64   // space_free (43)
	SpaceTotal      uint64   // space_total (44)
	SpaceUsed       uint64   // space_used (45)
	TimeAccess      Time     // time_access (47)
	TimeAccessSet   SetTime  // time_access_set (48), write-only
	TimeCreate      Time     // time_create (50)
	TimeDelta       Time     // time_delta (51)
	TimeMetadata    Time     // time_metadata (52)
	TimeModify      Time     // time_modify (53)
	TimeModifySet   SetTime  // time_modify_set (54), write-only
	MountedOnFileID uint64   // mounted_on_fileid (55)

	FSLayoutTypes     []uint32 // fs_layout_types (62), 4.1; we send an empty list
	SuppAttrExclCreat Bitmap   // suppattr_exclcreat (75), 4.1
	ChangeAttrType    uint32   // change_attr_type (79), 4.2
	XattrSupport      bool     // xattr_support (82), 4.2
}

// CodecAttrs is every attribute this codec can encode and decode.
var CodecAttrs = bitmapOf(
	AttrSupportedAttrs, AttrType, AttrFHExpireType, AttrChange, AttrSize,
	AttrLinkSupport, AttrSymlinkSupport, AttrNamedAttr, AttrFSID,
	AttrUniqueHandles, AttrLeaseTime, AttrRdAttrError, AttrACL, AttrACLSupport,
	AttrCanSetTime, AttrCaseInsensitive, AttrCasePreserving,
	AttrChownRestricted, AttrFileHandle, AttrFileID, AttrFilesAvail,
	AttrFilesFree, AttrFilesTotal, AttrHomogeneous, AttrMaxFileSize,
	AttrMaxLink, AttrMaxName, AttrMaxRead, AttrMaxWrite, AttrMode,
	AttrNoTrunc, AttrNumLinks, AttrOwner, AttrOwnerGroup, AttrRawDev,
	AttrSpaceAvail, AttrSpaceFree, AttrSpaceTotal, AttrSpaceUsed,
	AttrTimeAccess, AttrTimeAccessSet, AttrTimeCreate, AttrTimeDelta,
	AttrTimeMetadata, AttrTimeModify, AttrTimeModifySet,
	AttrMountedOnFileID, AttrFSLayoutTypes, AttrSuppAttrExclCreat,
	AttrChangeAttrType, AttrXattrSupport,
)

// WritableAttrs are the attributes the RFCs define as writable (RFC 7530
// §5.5–5.7, RFC 8881 §5.6–5.8, RFC 7862 §12.2). SETATTR naming any other
// attribute gets NFS4ERR_INVAL (RFC 7530 §16.32.5); a writable one we do
// not support (acl, archive, …) gets NFS4ERR_ATTRNOTSUPP.
var WritableAttrs = bitmapOf(
	AttrSize, AttrACL, AttrArchive, AttrHidden, AttrMimeType, AttrMode,
	AttrOwner, AttrOwnerGroup, AttrSystem, AttrTimeAccessSet,
	AttrTimeBackup, AttrTimeCreate, AttrTimeModifySet, AttrDACL, AttrSACL,
	AttrRetentionSet, AttrRetentEvtSet, AttrRetentionHold,
	AttrModeSetMasked, AttrSecLabel, AttrModeUmask,
)

// SettableAttrs are the writable attributes this codec decodes and the
// server can apply: size, acl, mode, owner, owner_group, time_access_set,
// time_modify_set (and time_create, which backends may ignore).
var SettableAttrs = bitmapOf(
	AttrSize, AttrACL, AttrMode, AttrOwner, AttrOwnerGroup, AttrTimeAccessSet,
	AttrTimeCreate, AttrTimeModifySet,
)

// WriteOnlyAttrs cannot be read (GETATTR/READDIR/VERIFY must not ask).
var WriteOnlyAttrs = bitmapOf(AttrTimeAccessSet, AttrTimeModifySet)

// FirstReadOnly returns the lowest attribute in b that is not writable, for
// SETATTR's NFS4ERR_INVAL check.
func FirstReadOnly(b Bitmap) (int, bool) {
	for w, word := range b {
		var ro uint32 = word
		if w < len(WritableAttrs) {
			ro &^= WritableAttrs[w]
		}
		if ro != 0 {
			return w*32 + bits.TrailingZeros32(ro), true
		}
	}
	return 0, false
}

// IsWritable reports whether attribute n is writable per the RFCs.
func IsWritable(n int) bool { return WritableAttrs.Has(n) }

func bitmapOf(attrs ...int) Bitmap {
	var b Bitmap
	for _, a := range attrs {
		b.Set(a)
	}
	return b
}

// AttrError is a fattr4 decoding error. Status is NFS4ERR_ATTRNOTSUPP for an
// attribute bit this codec does not know (Attr says which) or
// NFS4ERR_BADXDR for malformed, missing or trailing bytes (Attr is the
// attribute being decoded, or -1 for trailing bytes).
type AttrError struct {
	Attr   int
	Status Status
	Err    error
}

func (e *AttrError) Error() string {
	if e.Status == ErrAttrNotSupp {
		return fmt.Sprintf("nfs4: fattr4: unsupported attribute %d", e.Attr)
	}
	return fmt.Sprintf("nfs4: fattr4: bad value for attribute %d: %v", e.Attr, e.Err)
}

func (e *AttrError) Unwrap() error { return e.Err }

var errTrailing = errors.New("trailing bytes in attrlist4")

const codecWords = 3 // bitmap words this codec knows (attrs 0..95)

// EncodeAttrs writes a fattr4 holding the attributes in want that a
// supports (want ∩ a.Supported ∩ CodecAttrs, minus write-only ones) and
// back-patches the attrlist4 length. It does not allocate beyond growing
// e.Buf.
//
// rdattr_error (RFC 7530 §5.8.1.12 / RFC 8881 §5.8.1.12): when
// a.RdAttrError is not OK and want includes rdattr_error, only rdattr_error
// is written (the READDIR per-entry error form). When it is not OK and
// rdattr_error was not requested, the caller must fail the operation
// instead; EncodeAttrs then writes the attributes as if no error occurred.
// When a.RdAttrError is OK and requested, it goes out as 0 (NFS4_OK).
func EncodeAttrs(e *xdr.Encoder, want Bitmap, a *Attrs) {
	e.Buf = appendAttrs(e.Buf, want, a)
}

func appendAttrs(b []byte, want Bitmap, a *Attrs) []byte {
	var m [codecWords]uint32
	for i := range min(len(want), len(a.Supported), codecWords) {
		m[i] = want[i] & a.Supported[i] & CodecAttrs[i] &^ writeOnly[i]
	}
	if a.RdAttrError != OK && m[0]&(1<<AttrRdAttrError) != 0 {
		m = [codecWords]uint32{1 << AttrRdAttrError}
	}
	n := codecWords
	for n > 0 && m[n-1] == 0 {
		n--
	}
	b = be.AppendUint32(b, uint32(n))
	for _, w := range m[:n] {
		b = be.AppendUint32(b, w)
	}
	at := len(b)
	b = appendVals(append(b, 0, 0, 0, 0), m[:n], a)
	be.PutUint32(b[at:], uint32(len(b)-at-4)) // every value is 4-aligned: no pad
	return b
}

// writeOnly is WriteOnlyAttrs as a fixed array for the encode loop.
var writeOnly = [codecWords]uint32{0, 1<<(AttrTimeAccessSet-32) | 1<<(AttrTimeModifySet-32)}

// EncodeAttrsExact writes a fattr4 whose bitmap is exactly mask (word count
// included), for clients (SETATTR, CREATE, OPEN createattrs, VERIFY) and for
// comparing values in VERIFY/NVERIFY. a.Supported is ignored. It fails with
// an *AttrError (NFS4ERR_ATTRNOTSUPP) if mask has a bit the codec lacks;
// nothing is written then.
func EncodeAttrsExact(e *xdr.Encoder, mask Bitmap, a *Attrs) error {
	if n, ok := firstUnknown(mask); ok {
		return &AttrError{Attr: n, Status: ErrAttrNotSupp}
	}
	mask.Encode(e)
	mark := e.BeginOpaque()
	encodeVals(e, mask, a)
	e.EndOpaque(mark)
	return nil
}

// AppendAttrVals appends only the attrlist4 contents (no bitmap, no length)
// for mask. VERIFY/NVERIFY (RFC 7530 §16.35, §16.15) compare this with the
// request's Fattr.Vals after DecodeAttrs has accepted the request's mask.
func AppendAttrVals(e *xdr.Encoder, mask Bitmap, a *Attrs) error {
	if n, ok := firstUnknown(mask); ok {
		return &AttrError{Attr: n, Status: ErrAttrNotSupp}
	}
	encodeVals(e, mask, a)
	return nil
}

func firstUnknown(mask Bitmap) (int, bool) {
	for w, word := range mask {
		if w < codecWords {
			word &^= CodecAttrs[w]
		}
		if word != 0 {
			return w*32 + bits.TrailingZeros32(word), true
		}
	}
	return 0, false
}

// appendVals appends the values of the attributes in mask. The switch is
// inlined in the loop and works on a local slice rather than through the
// Encoder, so the buffer stays in registers: this is the server's hottest
// encoder (GETATTR, every READDIR entry).
func encodeVals(e *xdr.Encoder, mask Bitmap, a *Attrs) {
	e.Buf = appendVals(e.Buf, mask, a)
}

func appendVals(b []byte, mask Bitmap, a *Attrs) []byte {
	for w, word := range mask {
		for word != 0 {
			bit := bits.TrailingZeros32(word)
			word &^= 1 << bit
			n := w*32 + bit
			switch n {
			case AttrSupportedAttrs:
				b = appendBitmap(b, a.Supported)
			case AttrType:
				b = be.AppendUint32(b, a.Type)
			case AttrFHExpireType:
				b = be.AppendUint32(b, a.FHExpireType)
			case AttrChange:
				b = be.AppendUint64(b, a.Change)
			case AttrSize:
				b = be.AppendUint64(b, a.Size)
			case AttrLinkSupport:
				b = appendBool(b, a.LinkSupport)
			case AttrSymlinkSupport:
				b = appendBool(b, a.SymlinkSupport)
			case AttrNamedAttr:
				b = appendBool(b, a.NamedAttr)
			case AttrFSID:
				b = be.AppendUint64(be.AppendUint64(b, a.FSID.Major), a.FSID.Minor)
			case AttrUniqueHandles:
				b = appendBool(b, a.UniqueHandles)
			case AttrLeaseTime:
				b = be.AppendUint32(b, a.LeaseTime)
			case AttrRdAttrError:
				b = be.AppendUint32(b, uint32(a.RdAttrError))
			case AttrACL:
				b = appendACL(b, a.ACL)
			case AttrACLSupport:
				b = be.AppendUint32(b, a.ACLSupport)
			case AttrCanSetTime:
				b = appendBool(b, a.CanSetTime)
			case AttrCaseInsensitive:
				b = appendBool(b, a.CaseInsensitive)
			case AttrCasePreserving:
				b = appendBool(b, a.CasePreserving)
			case AttrChownRestricted:
				b = appendBool(b, a.ChownRestricted)
			case AttrFileHandle:
				b = appendOpaque(b, a.FileHandle)
			case AttrFileID:
				b = be.AppendUint64(b, a.FileID)
			case AttrFilesAvail:
				b = be.AppendUint64(b, a.FilesAvail)
			case AttrFilesFree:
				b = be.AppendUint64(b, a.FilesFree)
			case AttrFilesTotal:
				b = be.AppendUint64(b, a.FilesTotal)
			case AttrHomogeneous:
				b = appendBool(b, a.Homogeneous)
			case AttrMaxFileSize:
				b = be.AppendUint64(b, a.MaxFileSize)
			case AttrMaxLink:
				b = be.AppendUint32(b, a.MaxLink)
			case AttrMaxName:
				b = be.AppendUint32(b, a.MaxName)
			case AttrMaxRead:
				b = be.AppendUint64(b, a.MaxRead)
			case AttrMaxWrite:
				b = be.AppendUint64(b, a.MaxWrite)
			case AttrMode:
				b = be.AppendUint32(b, a.Mode)
			case AttrNoTrunc:
				b = appendBool(b, a.NoTrunc)
			case AttrNumLinks:
				b = be.AppendUint32(b, a.NumLinks)
			case AttrOwner:
				b = appendOwner(b, a.Owner, a.UID)
			case AttrOwnerGroup:
				b = appendOwner(b, a.OwnerGroup, a.GID)
			case AttrRawDev:
				b = be.AppendUint32(be.AppendUint32(b, a.RawDev.SpecData1), a.RawDev.SpecData2)
			case AttrSpaceAvail:
				b = be.AppendUint64(b, a.SpaceAvail)
			case AttrSpaceFree:
				b = be.AppendUint64(b, a.SpaceFree)
			case AttrSpaceTotal:
				b = be.AppendUint64(b, a.SpaceTotal)
			case AttrSpaceUsed:
				b = be.AppendUint64(b, a.SpaceUsed)
			case AttrTimeAccess:
				b = appendTime(b, &a.TimeAccess)
			case AttrTimeAccessSet:
				b = appendSetTime(b, &a.TimeAccessSet)
			case AttrTimeCreate:
				b = appendTime(b, &a.TimeCreate)
			case AttrTimeDelta:
				b = appendTime(b, &a.TimeDelta)
			case AttrTimeMetadata:
				b = appendTime(b, &a.TimeMetadata)
			case AttrTimeModify:
				b = appendTime(b, &a.TimeModify)
			case AttrTimeModifySet:
				b = appendSetTime(b, &a.TimeModifySet)
			case AttrMountedOnFileID:
				b = be.AppendUint64(b, a.MountedOnFileID)
			case AttrFSLayoutTypes:
				b = appendBitmap(b, a.FSLayoutTypes)
			case AttrSuppAttrExclCreat:
				b = appendBitmap(b, a.SuppAttrExclCreat)
			case AttrChangeAttrType:
				b = be.AppendUint32(b, a.ChangeAttrType)
			case AttrXattrSupport:
				b = appendBool(b, a.XattrSupport)
			}
		}
	}
	return b
}

var be = binary.BigEndian

func appendBool(b []byte, v bool) []byte {
	if v {
		return be.AppendUint32(b, 1)
	}
	return be.AppendUint32(b, 0)
}

func appendTime(b []byte, t *Time) []byte {
	return be.AppendUint32(be.AppendUint64(b, uint64(t.Seconds)), t.NSeconds)
}

// appendBitmap appends a counted uint32 array (bitmap4, layouttype4<>).
func appendBitmap(b []byte, v []uint32) []byte {
	b = be.AppendUint32(b, uint32(len(v)))
	for _, w := range v {
		b = be.AppendUint32(b, w)
	}
	return b
}

func appendOpaque(b []byte, v []byte) []byte {
	b = be.AppendUint32(b, uint32(len(v)))
	b = append(b, v...)
	return append(b, make([]byte, xdr.Padded(len(v))-len(v))...)
}

// appendOwner writes raw if set, else id in decimal, formatted straight
// into the buffer (no allocation), with the length patched afterwards.
func appendOwner(b []byte, raw []byte, id uint32) []byte {
	if raw != nil {
		return appendOpaque(b, raw)
	}
	at := len(b)
	b = strconv.AppendUint(append(b, 0, 0, 0, 0), uint64(id), 10)
	n := len(b) - at - 4
	be.PutUint32(b[at:], uint32(n))
	return append(b, make([]byte, xdr.Padded(n)-n)...)
}

// settime4 is a union on time_how4: only SET_TO_CLIENT_TIME4 has a body.
func appendSetTime(b []byte, s *SetTime) []byte {
	b = be.AppendUint32(b, s.How)
	if s.How == SetToClientTime {
		b = appendTime(b, &s.Time)
	}
	return b
}

// ParseID parses an owner/owner_group string in the numeric form ("1000",
// RFC 7530 §5.9). ok is false for any other form ("name@domain") or for
// values that do not fit 32 bits.
func ParseID(s []byte) (id uint32, ok bool) {
	if len(s) == 0 || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<32-1 {
		return 0, false
	}
	return uint32(v), true
}

// DecodeAttrs decodes f into a new Attrs; see DecodeAttrsInto.
func DecodeAttrs(f *Fattr) (*Attrs, error) {
	a := new(Attrs)
	if err := DecodeAttrsInto(f, a); err != nil {
		return nil, err
	}
	return a, nil
}

// DecodeAttrsInto decodes f's values in bitmap order into a (overwriting
// the fields present) and sets a.Present to f.Mask. Errors are *AttrError:
// ATTRNOTSUPP for a bit the codec does not know (checked for the whole mask
// before any value is read), BADXDR for short, malformed or trailing data
// (RFC 7530 §16.32.5). Opaque values alias f.Vals.
func DecodeAttrsInto(f *Fattr, a *Attrs) error {
	if n, ok := firstUnknown(f.Mask); ok {
		return &AttrError{Attr: n, Status: ErrAttrNotSupp}
	}
	d := xdr.NewDecoder(f.Vals)
	for w, word := range f.Mask {
		for word != 0 {
			b := bits.TrailingZeros32(word)
			word &^= 1 << b
			n := w*32 + b
			decodeAttr(d, n, a)
			if err := d.Err(); err != nil {
				return &AttrError{Attr: n, Status: ErrBadXDR, Err: err}
			}
		}
	}
	if d.Remaining() != 0 {
		return &AttrError{Attr: -1, Status: ErrBadXDR, Err: errTrailing}
	}
	a.Present = f.Mask
	return nil
}

// Bounds for attribute values that are arrays.
const (
	maxLayoutTypes = 16
)

func decodeAttr(d *xdr.Decoder, n int, a *Attrs) {
	switch n {
	case AttrSupportedAttrs:
		a.Supported.Decode(d)
	case AttrType:
		a.Type = d.Uint32()
	case AttrFHExpireType:
		a.FHExpireType = d.Uint32()
	case AttrChange:
		a.Change = d.Uint64()
	case AttrSize:
		a.Size = d.Uint64()
	case AttrLinkSupport:
		a.LinkSupport = d.Bool()
	case AttrSymlinkSupport:
		a.SymlinkSupport = d.Bool()
	case AttrNamedAttr:
		a.NamedAttr = d.Bool()
	case AttrFSID:
		a.FSID.Major = d.Uint64()
		a.FSID.Minor = d.Uint64()
	case AttrUniqueHandles:
		a.UniqueHandles = d.Bool()
	case AttrLeaseTime:
		a.LeaseTime = d.Uint32()
	case AttrRdAttrError:
		a.RdAttrError = Status(d.Uint32())
	case AttrACL:
		// nfsace4 is at least 16 bytes: Length bounds the count by what
		// the buffer can hold before allocating.
		n := d.Length("acl", MaxACEs, 16)
		if d.Err() != nil {
			return
		}
		a.ACL = make([]ACE, n)
		for i := range a.ACL {
			a.ACL[i].Decode(d)
		}
	case AttrACLSupport:
		a.ACLSupport = d.Uint32()
	case AttrCanSetTime:
		a.CanSetTime = d.Bool()
	case AttrCaseInsensitive:
		a.CaseInsensitive = d.Bool()
	case AttrCasePreserving:
		a.CasePreserving = d.Bool()
	case AttrChownRestricted:
		a.ChownRestricted = d.Bool()
	case AttrFileHandle:
		a.FileHandle = d.Opaque("filehandle", FHSize)
	case AttrFileID:
		a.FileID = d.Uint64()
	case AttrFilesAvail:
		a.FilesAvail = d.Uint64()
	case AttrFilesFree:
		a.FilesFree = d.Uint64()
	case AttrFilesTotal:
		a.FilesTotal = d.Uint64()
	case AttrHomogeneous:
		a.Homogeneous = d.Bool()
	case AttrMaxFileSize:
		a.MaxFileSize = d.Uint64()
	case AttrMaxLink:
		a.MaxLink = d.Uint32()
	case AttrMaxName:
		a.MaxName = d.Uint32()
	case AttrMaxRead:
		a.MaxRead = d.Uint64()
	case AttrMaxWrite:
		a.MaxWrite = d.Uint64()
	case AttrMode:
		a.Mode = d.Uint32()
	case AttrNoTrunc:
		a.NoTrunc = d.Bool()
	case AttrNumLinks:
		a.NumLinks = d.Uint32()
	case AttrOwner:
		a.Owner = d.Opaque("owner", MaxOwnerLen)
	case AttrOwnerGroup:
		a.OwnerGroup = d.Opaque("owner_group", MaxOwnerLen)
	case AttrRawDev:
		a.RawDev.Decode(d)
	case AttrSpaceAvail:
		a.SpaceAvail = d.Uint64()
	case AttrSpaceFree:
		a.SpaceFree = d.Uint64()
	case AttrSpaceTotal:
		a.SpaceTotal = d.Uint64()
	case AttrSpaceUsed:
		a.SpaceUsed = d.Uint64()
	case AttrTimeAccess:
		a.TimeAccess.Decode(d)
	case AttrTimeAccessSet:
		decodeSetTime(d, &a.TimeAccessSet)
	case AttrTimeCreate:
		a.TimeCreate.Decode(d)
	case AttrTimeDelta:
		a.TimeDelta.Decode(d)
	case AttrTimeMetadata:
		a.TimeMetadata.Decode(d)
	case AttrTimeModify:
		a.TimeModify.Decode(d)
	case AttrTimeModifySet:
		decodeSetTime(d, &a.TimeModifySet)
	case AttrMountedOnFileID:
		a.MountedOnFileID = d.Uint64()
	case AttrFSLayoutTypes:
		a.FSLayoutTypes = d.Uint32s("fs_layout_types", maxLayoutTypes)
	case AttrSuppAttrExclCreat:
		a.SuppAttrExclCreat.Decode(d)
	case AttrChangeAttrType:
		a.ChangeAttrType = d.Uint32()
	case AttrXattrSupport:
		a.XattrSupport = d.Bool()
	}
}

// time_how4 has two values (RFC 7530 §3.3.8); any other is a malformed
// union, NFS4ERR_BADXDR. nseconds >= 1e9 is left for the server to reject
// with NFS4ERR_INVAL.
var errTimeHow = errors.New("settime4: bad time_how4")

func decodeSetTime(d *xdr.Decoder, s *SetTime) {
	s.How = d.Uint32()
	switch s.How {
	case SetToServerTime:
		s.Time = Time{}
	case SetToClientTime:
		s.Time.Decode(d)
	default:
		d.SetErr(errTimeHow)
	}
}
