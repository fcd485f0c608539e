package nfs4srv

import (
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// SECINFO (RFC 7530 §16.31) and SECINFO_NO_NAME (RFC 8881 §18.45).

func init() {
	handle(nfs4.OpSecInfo, needFH, opSecInfo)
	handle(nfs4.OpSecInfoNoName, needFH, opSecInfoNoName)
}

// consumeFH ends a SECINFO: the current filehandle is consumed, so a
// following op that needs one gets NFS4ERR_NOFILEHANDLE (RFC 8881
// §2.6.3.1.1.8; RFC 7530 §16.31.4 says the same for 4.0). This keeps a
// client from using a handle whose security it has not yet negotiated.
func (c *compound) consumeFH() {
	c.cur = fhRef{}
	c.clearCurSID()
}

// opSecInfo looks name up in the current directory (NOTDIR, NOENT, name
// errors as LOOKUP) and answers the flavours its export accepts, in the
// order configured (the client picks the first it can use).
func opSecInfo(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.SecInfoArgs)
	res := &nfs4.SecInfoRes{}
	_, st := c.curDir()
	if st == nfs4.OK {
		st = checkName(args.Name)
	}
	var flavors []nfs4.SecInfo
	if st == nfs4.OK {
		flavors, st = c.secInfoFor(string(args.Name)) // exports.go
	}
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	res.Flavors = flavors
	c.consumeFH()
	return res
}

// opSecInfoNoName answers for the current filehandle (style CURRENT_FH) or
// its parent (style PARENT: NFS4ERR_NOENT at the root), RFC 8881 §18.45.3.
func opSecInfoNoName(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.SecInfoNoNameArgs)
	res := &nfs4.SecInfoNoNameRes{}
	flavors := c.curExport().sec
	switch args.Style {
	case nfs4.SecInfoStyleCurrentFH:
	case nfs4.SecInfoStyleParent:
		_, st := c.curDir()
		if st == nfs4.OK {
			flavors, st = c.secInfoParent() // exports.go
		}
		if st != nfs4.OK {
			res.Status = st
			return res
		}
	default:
		res.Status = nfs4.ErrInval
		return res
	}
	res.Flavors = flavors
	c.consumeFH()
	return res
}
