package nfs4srv

import (
	"bytes"
	"errors"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Attribute ops: GETATTR, SETATTR, VERIFY, NVERIFY, ACCESS (RFC 7530 §16.7,
// §16.32, §16.35, §16.15, §16.1).

func init() {
	handle(nfs4.OpGetattr, needFH, opGetattr)
	handle(nfs4.OpSetattr, needFH|modifies, opSetattr)
	handle(nfs4.OpVerify, needFH, opVerify)
	handle(nfs4.OpNVerify, needFH, opNVerify)
	handle(nfs4.OpAccess, needFH, opAccess)
}

// hasAny reports whether a and b share a bit.
func hasAny(a, b nfs4.Bitmap) bool {
	for i := range min(len(a), len(b)) {
		if a[i]&b[i] != 0 {
			return true
		}
	}
	return false
}

// unreadable are attributes a client may not ask to read or compare:
// the write-only ones (RFC 7530 §5.5) and, for VERIFY/NVERIFY,
// rdattr_error (RFC 7530 §16.35.4).
var unreadableVerify = func() nfs4.Bitmap {
	b := append(nfs4.Bitmap(nil), nfs4.WriteOnlyAttrs...)
	b.Set(nfs4.AttrRdAttrError)
	return b
}()

// getattrRes encodes GETATTR4res straight from the typed attributes, so a
// GETATTR costs one allocation and no intermediate attrlist4 buffer.
type getattrRes struct {
	nfs4.GetattrRes
	want  nfs4.Bitmap
	attrs nfs4.Attrs
}

func (r *getattrRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == nfs4.OK {
		nfs4.EncodeAttrs(e, r.want, &r.attrs)
	}
}

// opGetattr is RFC 7530 §16.7: the requested attributes we support;
// asking for a write-only one is NFS4ERR_INVAL.
func opGetattr(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.GetattrArgs)
	res := &getattrRes{want: args.AttrRequest}
	if hasAny(args.AttrRequest, nfs4.WriteOnlyAttrs) {
		res.Status = nfs4.ErrInval
		return res
	}
	if st := c.getattrBreak(args.AttrRequest); st != nfs4.OK {
		res.Status = st
		return res
	}
	at, st := c.curAttr()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	c.fillAttrs(&res.attrs, c.cur.ex, c.cur.wire, &at, args.AttrRequest)
	return res
}

// heldAttrs are the attributes the holder of a write delegation may
// have changed without telling the server yet: those its writes change
// (written back later) and those a client may set behind its data, as
// mount_remote does with a file's times, owner and mode after writing it
// (mount/setattrbehind.go).
var heldAttrs = func() nfs4.Bitmap {
	var b nfs4.Bitmap
	for _, n := range []int{nfs4.AttrSize, nfs4.AttrChange, nfs4.AttrSpaceUsed,
		nfs4.AttrTimeModify, nfs4.AttrTimeMetadata, nfs4.AttrTimeAccess,
		nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrACL} {
		b.Set(n)
	}
	return b
}()

// getattrBreak recalls another client's write delegation on the current
// file before GETATTR reports attributes the holder may have changed: it
// may have data the server has not seen yet (written back later, RFC 8881
// §10.4.1), so the size and change known here can be stale, and so can
// the mode, owner and times a client sets behind its data. §10.4.3 lets
// a server ask the holder with CB_GETATTR instead; this one recalls, as
// the Linux server did before it sent CB_GETATTR. The caller gets
// NFS4ERR_DELAY until the delegation is back. A 4.0 GETATTR does not say
// which client sends it (no session, no stateid), so it cannot be told
// from the holder's own: it is answered as it is.
func (c *compound) getattrBreak(want nfs4.Bitmap) nfs4.Status {
	if c.seq == nil || !c.s.state.HasDelegations() || !hasAny(want, heldAttrs) {
		return nfs4.OK
	}
	return statusOf(c.s.state.BreakDelegations(c.fhKey(), c.seq.clientID, false))
}

// settableAttrs is what SETATTR and CREATE apply. time_create is writable
// in the RFC but the backend interface cannot set it: NFS4ERR_ATTRNOTSUPP.
var settableAttrs = func() nfs4.Bitmap {
	var b nfs4.Bitmap
	for _, n := range []int{nfs4.AttrSize, nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrOwnerGroup,
		nfs4.AttrTimeAccessSet, nfs4.AttrTimeModifySet} {
		b.Set(n)
	}
	return b
}()

// setAttrsOf decodes a client fattr4 (SETATTR obj_attributes, CREATE
// createattrs) into a backend SetAttr (RFC 7530 §16.32.4/.5): read-only
// attributes → NFS4ERR_INVAL, writable ones we cannot set →
// NFS4ERR_ATTRNOTSUPP, malformed values → NFS4ERR_BADXDR, out-of-range
// values → NFS4ERR_INVAL, unknown owners → NFS4ERR_BADOWNER.
func setAttrsOf(f *nfs4.Fattr) (fsadapters.SetAttr, nfs4.Status) {
	var in nfs4.Attrs
	return decodeSetAttrs(f, settableAttrs, &in)
}

// decodeSetAttrs is setAttrsOf with the settable set given (SETATTR adds
// acl on exports with ACLs); the decoded values are left in in.
func decodeSetAttrs(f *nfs4.Fattr, settable nfs4.Bitmap, in *nfs4.Attrs) (fsadapters.SetAttr, nfs4.Status) {
	var sa fsadapters.SetAttr
	if _, ro := nfs4.FirstReadOnly(f.Mask); ro {
		return sa, nfs4.ErrInval
	}
	if !f.Mask.SubsetOf(settable) {
		return sa, nfs4.ErrAttrNotSupp
	}
	if err := nfs4.DecodeAttrsInto(f, in); err != nil {
		return sa, attrErrStatus(err)
	}
	m := f.Mask
	if m.Has(nfs4.AttrSize) {
		sa.Valid |= fsadapters.SetSize
		sa.Size = in.Size
	}
	if m.Has(nfs4.AttrMode) {
		if in.Mode > 0o7777 {
			return sa, nfs4.ErrInval
		}
		sa.Valid |= fsadapters.SetMode
		sa.Mode = in.Mode
	}
	if m.Has(nfs4.AttrOwner) {
		id, st := parseOwner(in.Owner, false)
		if st != nfs4.OK {
			return sa, st
		}
		sa.Valid |= fsadapters.SetUID
		sa.UID = id
	}
	if m.Has(nfs4.AttrOwnerGroup) {
		id, st := parseOwner(in.OwnerGroup, true)
		if st != nfs4.OK {
			return sa, st
		}
		sa.Valid |= fsadapters.SetGID
		sa.GID = id
	}
	var st nfs4.Status
	if m.Has(nfs4.AttrTimeAccessSet) {
		sa.Atime, st = setTime(&in.TimeAccessSet, &sa, fsadapters.SetAtime, fsadapters.SetAtimeNow)
		if st != nfs4.OK {
			return sa, st
		}
	}
	if m.Has(nfs4.AttrTimeModifySet) {
		sa.Mtime, st = setTime(&in.TimeModifySet, &sa, fsadapters.SetMtime, fsadapters.SetMtimeNow)
		if st != nfs4.OK {
			return sa, st
		}
	}
	return sa, nfs4.OK
}

// setTime applies a settime4 (RFC 7530 §3.3.8): SET_TO_SERVER_TIME4 becomes
// the backend's "now" flag; a client time needs nseconds < 1e9.
func setTime(t *nfs4.SetTime, sa *fsadapters.SetAttr, client, now fsadapters.SetMask) (time.Time, nfs4.Status) {
	if t.How == nfs4.SetToServerTime {
		sa.Valid |= now
		return time.Time{}, nfs4.OK
	}
	if t.Time.NSeconds >= 1e9 {
		return time.Time{}, nfs4.ErrInval
	}
	sa.Valid |= client
	return time.Unix(t.Time.Seconds, int64(t.Time.NSeconds)), nfs4.OK
}

// opSetattr is RFC 7530 §16.32 / RFC 8881 §18.30. A size change is I/O:
// the stateid must allow writing (special stateids do, with a one-off
// open that checks permission). attrsset is sent whatever the status and
// lists the attributes set (none on error: we apply them in one backend
// call).
//
// acl (on exports with ACLs, acl.go) is applied after the other
// attributes: with mode in the same request, RFC 7530 §6.4.1.3 and RFC
// 8881 §6.4.1.3 order mode first, then the ACL, which so has the last
// word on the nine permission bits (setuid/setgid/sticky stay as the mode
// set them). Only the owner or root may set an ACL (NFS4ERR_PERM), checked
// before anything is changed.
func opSetattr(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.SetattrArgs)
	res := &nfs4.SetattrRes{}
	settable := settableAttrs
	if _, ok := c.exportACLer(c.cur.ex); ok {
		settable = settableAttrsACL
	}
	var in nfs4.Attrs
	sa, st := decodeSetAttrs(&args.ObjAttributes, settable, &in)
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	setACL := args.ObjAttributes.Mask.Has(nfs4.AttrACL)
	if setACL && c.cred.UID != 0 {
		at, st := c.curAttr()
		if st == nfs4.OK && at.UID != c.cred.UID {
			st = nfs4.ErrPerm
		}
		if st != nfs4.OK {
			res.Status = st
			return res
		}
	}
	if sa.Valid&fsadapters.SetSize != 0 {
		at, st := c.curAttr()
		if st != nfs4.OK {
			res.Status = st
			return res
		}
		switch at.Type {
		case fsadapters.TypeRegular:
		case fsadapters.TypeDir:
			res.Status = nfs4.ErrIsDir
			return res
		default:
			res.Status = nfs4.ErrInval
			return res
		}
		if sa.Size > math.MaxInt64 {
			res.Status = nfs4.ErrFBig // beyond maxfilesize (attrs.go)
			return res
		}
		_, done, st := c.fileForIO(args.StateID, true)
		if st != nfs4.OK {
			res.Status = st
			return res
		}
		defer done()
	}
	// Other clients' delegations are recalled first (RFC 8881 §10.4.4).
	if st := c.breakDelegations(c.fhKey(), c.setattrClient(args.StateID)); st != nfs4.OK {
		res.Status = st
		return res
	}
	var err error
	if sa.Valid != 0 || !setACL {
		_, err = c.fs().SetAttr(c.ctx, &c.cred, c.cur.h, &sa)
	}
	if err != nil && sa.Valid&fsadapters.SetMode != 0 && statusOf(err) == nfs4.ErrNotSupp {
		// Linux cannot chmod a symlink (EOPNOTSUPP) and its mode means
		// nothing; like knfsd and ganesha we accept and ignore it
		// (pynfs's 4.1 tree cleanup chmods every entry).
		if at, st := c.curAttr(); st == nfs4.OK && at.Type == fsadapters.TypeSymlink {
			sa.Valid &^= fsadapters.SetMode
			err = nil
			if sa.Valid != 0 {
				_, err = c.fs().SetAttr(c.ctx, &c.cred, c.cur.h, &sa)
			}
		}
	}
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	if setACL {
		if st := c.setACL(in.ACL); st != nfs4.OK {
			res.Status = st
			return res
		}
	}
	res.AttrsSet = args.ObjAttributes.Mask
	return res
}

// verifyAttrs compares the client's fattr4 with ours by encoding our values
// for exactly the client's bitmap and comparing bytes (RFC 7530 §16.35.4:
// the comparison is of the attribute values as they would be returned by
// GETATTR). Write-only attributes and rdattr_error → NFS4ERR_INVAL;
// attributes we do not support → NFS4ERR_ATTRNOTSUPP.
func (c *compound) verifyAttrs(f *nfs4.Fattr) (same bool, st nfs4.Status) {
	if hasAny(f.Mask, unreadableVerify) {
		return false, nfs4.ErrInval
	}
	if !f.Mask.SubsetOf(c.supportedIn(c.cur.ex)) {
		return false, nfs4.ErrAttrNotSupp
	}
	var in nfs4.Attrs
	if err := nfs4.DecodeAttrsInto(f, &in); err != nil {
		return false, attrErrStatus(err)
	}
	at, st := c.curAttr()
	if st != nfs4.OK {
		return false, st
	}
	var ours nfs4.Attrs
	c.fillAttrs(&ours, c.cur.ex, c.cur.wire, &at, f.Mask)
	// Encode at the end of the reply buffer and cut it off again: no
	// scratch allocation.
	mark := c.enc.Len()
	if err := nfs4.AppendAttrVals(&c.enc, f.Mask, &ours); err != nil {
		c.enc.Truncate(mark)
		return false, attrErrStatus(err)
	}
	same = bytes.Equal(c.enc.Buf[mark:], f.Vals)
	c.enc.Truncate(mark)
	return same, nfs4.OK
}

// opVerify is RFC 7530 §16.35: NFS4ERR_NOT_SAME unless all values match.
func opVerify(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.VerifyArgs)
	same, st := c.verifyAttrs(&args.ObjAttributes)
	if st == nfs4.OK && !same {
		st = nfs4.ErrNotSame
	}
	return &nfs4.VerifyRes{StatusRes: nfs4.StatusRes{Status: st}}
}

// opNVerify is RFC 7530 §16.15: NFS4ERR_SAME if all values match.
func opNVerify(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.NVerifyArgs)
	same, st := c.verifyAttrs(&args.ObjAttributes)
	if st == nfs4.OK && same {
		st = nfs4.ErrSame
	}
	return &nfs4.NVerifyRes{StatusRes: nfs4.StatusRes{Status: st}}
}

// Access bits meaningful per object type (RFC 7530 §16.1.4): LOOKUP and
// DELETE only for directories, EXECUTE only for non-directories.
const (
	accessDir    = nfs4.AccessRead | nfs4.AccessLookup | nfs4.AccessModify | nfs4.AccessExtend | nfs4.AccessDelete
	accessNonDir = nfs4.AccessRead | nfs4.AccessModify | nfs4.AccessExtend | nfs4.AccessExecute
	accessAll40  = 0x3f  // ACCESS4_READ … ACCESS4_EXECUTE
	accessAll42  = 0x1ff // + ACCESS4_XAREAD/XAWRITE/XALIST (RFC 8276 §8.4.1)
	accessWrite  = nfs4.AccessModify | nfs4.AccessExtend | nfs4.AccessDelete
	accessXattr  = nfs4.AccessXARead | nfs4.AccessXAWrite | nfs4.AccessXAList
)

// xattrAccess returns the ACCESS4_XA* bits cred has on an object with
// attributes at. Reading and listing follow the same rule; an object that
// cannot carry xattrs (ENODATA) reads and lists as empty, so those are
// granted, but it cannot be written.
func xattrAccess(at *fsadapters.Attr, cred *fsadapters.Cred) uint32 {
	var acc uint32
	if err := fsadapters.CheckXattrAccess(at, cred, false); err == nil || err == unix.ENODATA {
		acc |= nfs4.AccessXARead | nfs4.AccessXAList
	}
	if fsadapters.CheckXattrAccess(at, cred, true) == nil {
		acc |= nfs4.AccessXAWrite
	}
	return acc
}

// opAccess is RFC 7530 §16.1: supported holds the requested bits we can
// judge for this object, access those the caller's credential is granted
// by the mode bits or, on backends with ACLs, the POSIX ACL. Unknown bits → NFS4ERR_INVAL (pynfs ACC tests). The
// xattr bits of 4.2 (RFC 8276 §8.4, ACCESS) are supported on backends with
// xattrs and granted by fsadapters.CheckXattrAccess.
func opAccess(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.AccessArgs)
	res := &nfs4.AccessRes{}
	valid := uint32(accessAll40)
	if c.minor >= 2 {
		valid = accessAll42
	}
	if args.Access&^valid != 0 {
		res.Status = nfs4.ErrInval
		return res
	}
	at, st := c.curAttr()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	meaningful := uint32(accessNonDir)
	if at.Type == fsadapters.TypeDir {
		meaningful = accessDir
	}
	res.Supported = args.Access & meaningful
	// The backend's answer, which includes its POSIX ACL (fsadapters.Access).
	granted, err := fsadapters.Access(c.ctx, c.fs(), &c.cred, c.cur.h, &at, fsadapters.MayRead|fsadapters.MayWrite|fsadapters.MayExec)
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	var acc uint32
	if granted&fsadapters.MayRead != 0 {
		acc |= nfs4.AccessRead
	}
	if granted&fsadapters.MayWrite != 0 {
		acc |= nfs4.AccessModify | nfs4.AccessExtend
		// Deleting entries of a directory needs write and search on it.
		if at.Type == fsadapters.TypeDir && granted&fsadapters.MayExec != 0 {
			acc |= nfs4.AccessDelete
		}
	}
	if granted&fsadapters.MayExec != 0 {
		acc |= nfs4.AccessLookup | nfs4.AccessExecute
	}
	if _, ok := c.fs().(fsadapters.Xattrer); ok && c.minor >= 2 {
		res.Supported |= args.Access & accessXattr
		acc |= xattrAccess(&at, &c.cred)
	}
	if c.curExport().caps.ReadOnly {
		acc &^= accessWrite | nfs4.AccessXAWrite
	}
	res.Access = acc & res.Supported
	return res
}

// attrErrStatus is the status of an fattr4 codec error (*nfs4.AttrError:
// NFS4ERR_ATTRNOTSUPP or NFS4ERR_BADXDR).
func attrErrStatus(err error) nfs4.Status {
	var ae *nfs4.AttrError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return nfs4.ErrBadXDR
}
