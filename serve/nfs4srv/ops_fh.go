package nfs4srv

import (
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Filehandle ops: PUTFH, PUTROOTFH, PUTPUBFH, GETFH, SAVEFH, RESTOREFH,
// LOOKUP, LOOKUPP (RFC 7530 §16.7–16.30, RFC 8881 §18).

func init() {
	handle(nfs4.OpPutFH, 0, opPutFH)
	handle(nfs4.OpPutRootFH, 0, opPutRootFH)
	handle(nfs4.OpPutPubFH, 0, opPutPubFH)
	handle(nfs4.OpGetFH, needFH, opGetFH)
	handle(nfs4.OpSaveFH, needFH, opSaveFH)
	handle(nfs4.OpRestoreFH, 0, opRestoreFH)
	handle(nfs4.OpLookup, needFH, opLookup)
	handle(nfs4.OpLookupP, needFH, opLookupP)
}

// opPutFH is RFC 7530 §16.20 / RFC 8881 §18.19: the handle must be one we
// minted (NFS4ERR_BADHANDLE) for an object that still exists
// (NFS4ERR_STALE).
func opPutFH(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.PutFHArgs)
	var f fhRef
	st := f.set(args.Object)
	e := c.table().get(f.ex)
	if st == nfs4.OK && e == nil {
		st = nfs4.ErrStale // an export that no longer exists (exports.go)
	}
	if st == nfs4.OK {
		st = statusOf(e.fs.CheckHandle(c.ctx, f.h))
		// A file unlinked while open stays usable through its opens
		// (RFC 7530 §9.1.1 "preserve unlinked"): CLOSE, READ and WRITE
		// on it must still find it, though the backend says stale.
		if st == nfs4.ErrStale && c.s.state.FileHasOpens(string(args.Object)) {
			st = nfs4.OK
		}
	}
	if st == nfs4.OK {
		c.cur = f
		c.clearCurSID()
	}
	return &nfs4.PutFHRes{Status: st}
}

// setRoot makes the root of the pseudo filesystem, or the export at "/",
// the current filehandle.
func (c *compound) setRoot() {
	root := c.table().root
	c.cur = fhRef{wire: root.root, ex: root.id, h: root.rootH}
	c.clearCurSID()
}

// opPutRootFH is RFC 7530 §16.22: the root of the pseudo filesystem
// (RFC 7530 §7), or of the only export when that is at "/".
func opPutRootFH(c *compound, _ nfs4.Args) nfs4.Res {
	c.setRoot()
	return &nfs4.PutRootFHRes{}
}

// opPutPubFH is RFC 7530 §16.21: the public filehandle; ours is the root.
func opPutPubFH(c *compound, _ nfs4.Args) nfs4.Res {
	c.setRoot()
	return &nfs4.PutPubFHRes{}
}

// opGetFH is RFC 7530 §16.8.
func opGetFH(c *compound, _ nfs4.Args) nfs4.Res {
	return &nfs4.GetFHRes{Object: c.cur.wire}
}

// opSaveFH is RFC 7530 §16.30; in 4.1 the current stateid is saved with
// it (RFC 8881 §16.2.3.1.2).
func opSaveFH(c *compound, _ nfs4.Args) nfs4.Res {
	c.saved = c.cur
	c.savedSID, c.haveSavSID = c.curSID, c.haveCurSID
	return &nfs4.SaveFHRes{}
}

// opRestoreFH is RFC 7530 §16.29: NFS4ERR_RESTOREFH without a saved
// filehandle; restores the saved stateid too (RFC 8881 §16.2.3.1.2).
func opRestoreFH(c *compound, _ nfs4.Args) nfs4.Res {
	if !c.saved.valid() {
		return &nfs4.RestoreFHRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrRestoreFH}}
	}
	c.cur = c.saved
	c.curSID, c.haveCurSID = c.savedSID, c.haveSavSID
	return &nfs4.RestoreFHRes{}
}

// opLookup is RFC 7530 §16.13 / RFC 8881 §18.13.
func opLookup(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.LookupArgs)
	res := &nfs4.LookupRes{}
	if st := checkName(args.ObjName); st != nfs4.OK {
		// The name is checked first only when the directory is one;
		// a non-directory wins (pynfs LOOK tests use valid names there).
		if at, ast := c.curAttr(); ast == nfs4.OK && at.Type != fsadapters.TypeDir {
			st = notDirStatus(at.Type)
		}
		res.Status = st
		return res
	}
	if c.cur.ex == pseudoID {
		res.Status = c.lookupCross(string(args.ObjName)) // exports.go
		return res
	}
	if st := c.secCheck(c.curExport()); st != nfs4.OK {
		res.Status = st // RFC 8881 §2.6.3.1.1.7: LOOKUP checks its target
		return res
	}
	h, _, err := c.fs().Lookup(c.ctx, &c.cred, c.cur.h, string(args.ObjName))
	if err != nil {
		st := statusOf(err)
		if st == nfs4.ErrNotDir {
			// LOOKUP on a symlink is NFS4ERR_SYMLINK (RFC 7530 §16.13.4).
			if at, ast := c.curAttr(); ast == nfs4.OK {
				st = notDirStatus(at.Type)
			}
		}
		res.Status = st
		return res
	}
	c.cur = fhRef{wire: wireFH(c.cur.ex, h), ex: c.cur.ex, h: h}
	c.clearCurSID()
	return res
}

// opLookupP is RFC 7530 §16.14: NFS4ERR_NOENT at the export root,
// NFS4ERR_NOTDIR (or SYMLINK) for a non-directory.
func opLookupP(c *compound, _ nfs4.Args) nfs4.Res {
	res := &nfs4.LookupPRes{}
	if _, st := c.curDir(); st != nfs4.OK {
		res.Status = st
		return res
	}
	if c.lookupParentCross() { // an export root: its pseudo parent (exports.go)
		return res
	}
	if st := c.secCheck(c.curExport()); st != nfs4.OK {
		res.Status = st
		return res
	}
	h, _, err := c.fs().LookupParent(c.ctx, &c.cred, c.cur.h)
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	c.cur = fhRef{wire: wireFH(c.cur.ex, h), ex: c.cur.ex, h: h}
	c.clearCurSID()
	return res
}
