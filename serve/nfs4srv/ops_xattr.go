package nfs4srv

import (
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Extended attributes, RFC 8276 §8.4: GETXATTR, SETXATTR, LISTXATTRS and
// REMOVEXATTR. They exist in minor version 2 only; validInMinor already
// answers them NFS4ERR_OP_ILLEGAL in 4.0 and 4.1 compounds (op numbers
// above those versions' last op). Backends without fsadapters.Xattrer get
// NFS4ERR_NOTSUPP, and report xattr_support FALSE (RFC 8276 §8.2).
//
// Names travel without a namespace; the backend keeps them as user.NAME
// (as Linux knfsd does), so NFS clients see and change only user xattrs.

func init() {
	handle(nfs4.OpGetXattr, needFH, opGetXattr)
	handle(nfs4.OpSetXattr, needFH|modifies, opSetXattr)
	handle(nfs4.OpListXattrs, needFH, opListXattrs)
	handle(nfs4.OpRemoveXattr, needFH|modifies, opRemoveXattr)
}

// xattrer returns the current export's backend as an Xattrer.
func (c *compound) xattrer() (fsadapters.Xattrer, nfs4.Status) {
	if x, ok := c.fs().(fsadapters.Xattrer); ok {
		return x, nfs4.OK
	}
	return nil, nfs4.ErrNotSupp
}

// xattrName checks a wire xattrkey4: RFC 8276 §8.3 makes it a component4,
// so the empty name is NFS4ERR_INVAL; one that does not fit in XATTR_NAME_MAX
// with its user. prefix is NFS4ERR_NAMETOOLONG.
func xattrName(b []byte) (string, nfs4.Status) {
	name := string(b)
	return name, statusOf(fsadapters.CheckXattrName(name))
}

// opGetXattr is RFC 8276 §8.4 GETXATTR: a missing name is NFS4ERR_NOXATTR
// (ENODATA from the backend, errmap.go). A value too large for the
// session's reply becomes NFS4ERR_REP_TOO_BIG in compound.result.
func opGetXattr(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.GetXattrArgs)
	res := &nfs4.GetXattrRes{}
	x, st := c.xattrer()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	name, st := xattrName(args.Name)
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	v, err := x.GetXattr(c.ctx, &c.cred, c.cur.h, name)
	res.Status, res.Value = statusOf(err), v
	return res
}

// opSetXattr is RFC 8276 §8.4 SETXATTR: SETXATTR4_CREATE of a present name
// is NFS4ERR_EXIST, SETXATTR4_REPLACE of a missing one NFS4ERR_NOXATTR, a
// value over 64 KiB NFS4ERR_XATTR2BIG. The reply carries the object's
// change attribute before and after (not atomic: other requests may run
// in between).
func opSetXattr(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.SetXattrArgs)
	res := &nfs4.SetXattrRes{}
	x, st := c.xattrer()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	var how fsadapters.XattrSetHow
	switch args.Option {
	case nfs4.SetXattrEither:
		how = fsadapters.XattrEither
	case nfs4.SetXattrCreate:
		how = fsadapters.XattrCreate
	case nfs4.SetXattrReplace:
		how = fsadapters.XattrReplace
	default:
		res.Status = nfs4.ErrInval
		return res
	}
	name, st := xattrName(args.Name)
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	if len(args.Value) > fsadapters.MaxXattrSize {
		res.Status = nfs4.ErrXattr2Big
		return res
	}
	before, st := c.curAttr()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	if err := x.SetXattr(c.ctx, &c.cred, c.cur.h, name, args.Value, how); err != nil {
		res.Status = statusOf(err)
		return res
	}
	res.CInfo = changeInfo(before, c.fs(), c, c.cur.h)
	return res
}

// opRemoveXattr is RFC 8276 §8.4 REMOVEXATTR: a missing name is
// NFS4ERR_NOXATTR; the reply carries change_info4 as SETXATTR's does.
func opRemoveXattr(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.RemoveXattrArgs)
	res := &nfs4.RemoveXattrRes{}
	x, st := c.xattrer()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	name, st := xattrName(args.Name)
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	before, st := c.curAttr()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	if err := x.RemoveXattr(c.ctx, &c.cred, c.cur.h, name); err != nil {
		res.Status = statusOf(err)
		return res
	}
	res.CInfo = changeInfo(before, c.fs(), c, c.cur.h)
	return res
}

// listXattrsOverhead is the resok of LISTXATTRS4res without names: the
// cookie (8), the array count (4) and eof (4). lxa_maxcount bounds the
// resok this way, as Linux knfsd and client count it.
const listXattrsOverhead = 8 + 4 + 4

// opListXattrs is RFC 8276 §8.4 LISTXATTRS. The cookie is an index into
// the backend's sorted name list: 0 starts, the returned cookie resumes
// after the last name sent, one beyond the list is NFS4ERR_BADCOOKIE.
// Names are added while they fit in lxa_maxcount; if not even one fits
// (or maxcount cannot hold the empty resok) the answer is NFS4ERR_TOOSMALL.
func opListXattrs(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.ListXattrsArgs)
	res := &nfs4.ListXattrsRes{}
	x, st := c.xattrer()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	names, err := x.ListXattrs(c.ctx, &c.cred, c.cur.h)
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	if args.Cookie > uint64(len(names)) {
		res.Status = nfs4.ErrBadCookie
		return res
	}
	if args.MaxCount < listXattrsOverhead {
		res.Status = nfs4.ErrTooSmall
		return res
	}
	room := int(args.MaxCount) - listXattrsOverhead
	i := int(args.Cookie)
	for ; i < len(names); i++ {
		n := 4 + xdr.Padded(len(names[i]))
		if n > room {
			break
		}
		room -= n
		res.Names = append(res.Names, []byte(names[i]))
	}
	if len(res.Names) == 0 && i < len(names) {
		res.Names = nil
		res.Status = nfs4.ErrTooSmall
		return res
	}
	res.Cookie, res.EOF = uint64(i), i == len(names)
	return res
}
