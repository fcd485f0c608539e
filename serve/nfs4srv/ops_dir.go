package nfs4srv

import (
	"bytes"
	"sync"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Directory ops: READDIR, CREATE, REMOVE, RENAME, LINK, READLINK
// (RFC 7530 §16.24, §16.4, §16.25–16.26, §16.9, RFC 8881 §18).

func init() {
	handle(nfs4.OpReadDir, needFH, opReadDir)
	handle(nfs4.OpCreate, needFH|modifies, opCreate)
	handle(nfs4.OpRemove, needFH|modifies, opRemove)
	handle(nfs4.OpRename, needFH|needSaved|modifies, opRename)
	handle(nfs4.OpLink, needFH|needSaved|modifies, opLink)
	handle(nfs4.OpReadLink, needFH, opReadLink)
}

// fsWideAttrs come from StatFS: READDIR fetches them once, not per entry.
var fsWideAttrs = func() nfs4.Bitmap {
	var b nfs4.Bitmap
	for _, n := range []int{nfs4.AttrFilesAvail, nfs4.AttrFilesFree, nfs4.AttrFilesTotal,
		nfs4.AttrSpaceAvail, nfs4.AttrSpaceFree, nfs4.AttrSpaceTotal} {
		b.Set(n)
	}
	return b
}()

// dirBufs holds scratch buffers for READDIR entry lists.
var dirBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// readdirRes is READDIR4res whose entry4 list was encoded by the handler
// into a pooled buffer; Encode copies it into the reply and recycles it.
type readdirRes struct {
	Status  nfs4.Status
	verf    nfs4.Verifier
	entries *[]byte
	eof     bool
}

func (r *readdirRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == nfs4.OK {
		r.verf.Encode(e)
		e.Buf = append(e.Buf, *r.entries...)
		nfs4.EncodeDirEnd(e, r.eof)
	}
	r.recycle()
}

func (r *readdirRes) recycle() {
	if r.entries != nil {
		*r.entries = (*r.entries)[:0]
		dirBufs.Put(r.entries)
		r.entries = nil
	}
}

// Decode exists for the nfs4.Res interface (the client side uses
// nfs4.ReadDirRes).
func (r *readdirRes) Decode(d *xdr.Decoder) {
	var x nfs4.ReadDirRes
	x.Decode(d)
	r.Status = x.Status
}
func (r *readdirRes) GetStatus() nfs4.Status { return r.Status }

// readdirOverhead is the part of READDIR4resok that is not entries:
// cookieverf, the list terminator and eof. maxcount counts all of it
// (RFC 7530 §16.24.4; pynfs RDDR8: an empty listing needs 16 bytes).
const readdirOverhead = nfs4.VerifierSize + nfs4.DirEndSize

// opReadDir is RFC 7530 §16.24 / RFC 8881 §18.23. Entries are encoded as
// the backend produces them; the first one that would exceed maxcount (or,
// after at least one entry, dircount) is cut off and ends the reply, with
// eof false. Cookies 1 and 2 are reserved (NFS4ERR_BAD_COOKIE); a cookie
// whose verifier the backend rejects is NFS4ERR_NOT_SAME.
func opReadDir(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.ReadDirArgs)
	res := &readdirRes{}
	switch {
	case args.Cookie == 1 || args.Cookie == 2:
		res.Status = nfs4.ErrBadCookie
		return res
	case hasAny(args.AttrRequest, nfs4.WriteOnlyAttrs):
		res.Status = nfs4.ErrInval
		return res
	}
	maxcount := min(int(args.MaxCount), int(c.s.cfg.MaxIO))
	if maxcount < readdirOverhead {
		res.Status = nfs4.ErrTooSmall
		return res
	}
	want := args.AttrRequest
	ex := c.cur.ex

	// Filesystem-wide values once, through fillAttrs on the directory.
	var fsw nfs4.Attrs
	entWant := want
	if hasAny(want, fsWideAttrs) {
		c.fillAttrs(&fsw, ex, c.cur.wire, &fsadapters.Attr{}, want)
		entWant = nil // fillAttrs only checks entWant for the StatFS bits
	}

	res.entries = dirBufs.Get().(*[]byte)
	enc := xdr.Encoder{Buf: (*res.entries)[:0]}
	used := readdirOverhead
	dirUsed, count := 0, 0
	full := false
	var attrs nfs4.Attrs
	fh := make([]byte, 0, nfs4.FHSize)
	var failed nfs4.Status
	fn := func(ent *fsadapters.DirEntry) bool {
		mark := enc.Len()
		if len(ent.Handle) == 0 || len(ent.Handle) > maxBackendHandle {
			// No usable handle: report it per entry through rdattr_error
			// if asked (RFC 7530 §5.8.1.12), else fail the READDIR.
			if !want.Has(nfs4.AttrRdAttrError) {
				failed = nfs4.ErrServerFault
				return false
			}
			attrs = nfs4.Attrs{Supported: c.supported(), RdAttrError: nfs4.ErrServerFault}
		} else {
			fh = appendWireFH(fh[:0], ex, ent.Handle)
			c.fillAttrs(&attrs, ex, fh, &ent.Attr, entWant)
			attrs.FilesAvail, attrs.FilesFree, attrs.FilesTotal = fsw.FilesAvail, fsw.FilesFree, fsw.FilesTotal
			attrs.SpaceAvail, attrs.SpaceFree, attrs.SpaceTotal = fsw.SpaceAvail, fsw.SpaceFree, fsw.SpaceTotal
		}
		n := nfs4.EncodeDirEntry(&enc, ent.Cookie, []byte(ent.Name), want, &attrs)
		// dircount: the cookie and name part of each entry (a hint,
		// RFC 7530 §16.24.4), never cutting the first entry.
		dn := 4 + 8 + 4 + xdr.Padded(len(ent.Name))
		if used+n > maxcount || (args.DirCount > 0 && count > 0 && dirUsed+dn > int(args.DirCount)) {
			enc.Truncate(mark)
			full = true
			return false
		}
		used += n
		dirUsed += dn
		count++
		return true
	}
	verf, eof, err := c.fs().ReadDir(c.ctx, &c.cred, c.cur.h, args.Cookie, fsadapters.CookieVerf(args.CookieVerf), fn)
	*res.entries = enc.Buf
	st := statusOf(err)
	switch {
	case st == nfs4.ErrNotDir:
		if at, ast := c.curAttr(); ast == nfs4.OK {
			st = notDirStatus(at.Type)
		}
	case st == nfs4.OK && failed != nfs4.OK:
		st = failed
	case st == nfs4.OK && full && count == 0:
		st = nfs4.ErrTooSmall
	}
	if st != nfs4.OK {
		res.recycle()
		res.Status = st
		return res
	}
	res.verf = nfs4.Verifier(verf)
	res.eof = eof && !full
	return res
}

// changeInfo is a change_info4 from the directory's change attribute
// before and after (not atomic: other requests may run in between).
func changeInfo(before fsadapters.Attr, fs fsadapters.FS, c *compound, dir fsadapters.FileHandle) nfs4.ChangeInfo {
	ci := nfs4.ChangeInfo{Before: before.Change, After: before.Change}
	if after, err := fs.GetAttr(c.ctx, dir); err == nil {
		ci.After = after.Change
	}
	return ci
}

// opCreate is RFC 7530 §16.4 / RFC 8881 §18.4: non-regular objects
// (NF4REG is NFS4ERR_BADTYPE: regular files are made by OPEN). The new
// object becomes the current filehandle.
func opCreate(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.CreateArgs)
	res := &nfs4.CreateRes{}
	dirAt, st := c.curDir()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	var typ fsadapters.FileType
	switch args.ObjType {
	case nfs4.NF4DIR, nfs4.NF4LNK, nfs4.NF4BLK, nfs4.NF4CHR, nfs4.NF4SOCK, nfs4.NF4FIFO:
		typ = fsadapters.FileType(args.ObjType)
	default:
		res.Status = nfs4.ErrBadType
		return res
	}
	if st := checkName(args.ObjName); st != nfs4.OK {
		res.Status = st
		return res
	}
	sa, st := setAttrsOf(&args.CreateAttrs)
	if st == nfs4.OK && sa.Valid&fsadapters.SetSize != 0 {
		st = nfs4.ErrInval // size of a non-regular object
	}
	var ch dirChg
	if st == nfs4.OK {
		ch, st = c.dirChange(c.fhKey(), nfs4.NotifyAddEntry, 0) // dirdeleg.go
	}
	defer ch.end()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	fs, name := c.fs(), string(args.ObjName)
	var h fsadapters.FileHandle
	var err error
	switch typ {
	case fsadapters.TypeDir:
		h, _, err = fs.Mkdir(c.ctx, &c.cred, c.cur.h, name, &sa)
	case fsadapters.TypeSymlink:
		if len(args.LinkData) == 0 {
			res.Status = nfs4.ErrInval
			return res
		}
		h, _, err = fs.Symlink(c.ctx, &c.cred, c.cur.h, name, string(args.LinkData), &sa)
	case fsadapters.TypeBlock, fsadapters.TypeChar:
		h, _, err = fs.Mknod(c.ctx, &c.cred, c.cur.h, name, typ, args.DevData.SpecData1, args.DevData.SpecData2, &sa)
	default:
		h, _, err = fs.Mknod(c.ctx, &c.cred, c.cur.h, name, typ, 0, 0, &sa)
	}
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	res.CInfo = changeInfo(dirAt, fs, c, c.cur.h)
	c.notifyAdded(ch, args.ObjName)
	if sa.Valid != 0 {
		res.AttrSet = args.CreateAttrs.Mask
	}
	c.cur = fhRef{wire: wireFH(c.cur.ex, h), ex: c.cur.ex, h: h}
	c.clearCurSID()
	return res
}

// opRemove is RFC 7530 §16.25: a non-directory or an empty directory.
func opRemove(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.RemoveArgs)
	res := &nfs4.RemoveRes{}
	dirAt, st := c.curDir()
	if st == nfs4.OK {
		st = checkName(args.Target)
	}
	var ch dirChg
	if st == nfs4.OK {
		ch, st = c.dirChange(c.fhKey(), -1, 0) // dirdeleg.go
	}
	defer ch.end()
	if st == nfs4.OK {
		st = c.breakDelegationsByName(c.cur.h, args.Target) // deleg.go
	}
	if st == nfs4.OK {
		st = statusOf(c.fs().Remove(c.ctx, &c.cred, c.cur.h, string(args.Target)))
	}
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	res.CInfo = changeInfo(dirAt, c.fs(), c, c.cur.h)
	return res
}

// opRename is RFC 7530 §16.26 / RFC 8881 §18.26: the saved filehandle is
// the source directory, the current one the target directory. Across
// exports → NFS4ERR_XDEV. Renaming a name onto itself, or onto another
// link of the same file, succeeds without change.
func opRename(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.RenameArgs)
	res := &nfs4.RenameRes{}
	if c.saved.ex != c.cur.ex {
		res.Status = nfs4.ErrXDev
		return res
	}
	fs := c.fs()
	srcAt, err := fs.GetAttr(c.ctx, c.saved.h)
	st := statusOf(err)
	if st == nfs4.OK && srcAt.Type != fsadapters.TypeDir {
		st = notDirStatus(srcAt.Type)
	}
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	dstAt, st := c.curDir()
	if st == nfs4.OK {
		st = checkName(args.OldName)
	}
	if st == nfs4.OK {
		st = checkName(args.NewName)
	}
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	if bytes.Equal(c.saved.h, c.cur.h) && bytes.Equal(args.OldName, args.NewName) {
		// Same name: a no-op once the source is known to exist.
		if _, _, err := fs.Lookup(c.ctx, &c.cred, c.saved.h, string(args.OldName)); err != nil {
			res.Status = statusOf(err)
			return res
		}
		res.SourceCInfo = nfs4.ChangeInfo{Atomic: true, Before: srcAt.Change, After: srcAt.Change}
		res.TargetCInfo = res.SourceCInfo
		return res
	}
	// Both directories' delegations (dirdeleg.go); the renamed file and a
	// file renamed over lose their delegations (RFC 8881 §10.4.4; deleg.go).
	src, st := c.dirChange(string(c.saved.wire), -1, 0)
	defer src.end()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	dst, st := c.dirChange(c.fhKey(), -1, 0)
	defer dst.end()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	if st := c.breakDelegationsByName(c.saved.h, args.OldName); st != nfs4.OK {
		res.Status = st
		return res
	}
	if st := c.breakDelegationsByName(c.cur.h, args.NewName); st != nfs4.OK {
		res.Status = st
		return res
	}
	if err := fs.Rename(c.ctx, &c.cred, c.saved.h, string(args.OldName), c.cur.h, string(args.NewName), false); err != nil {
		res.Status = statusOf(err)
		return res
	}
	res.SourceCInfo = changeInfo(srcAt, fs, c, c.saved.h)
	res.TargetCInfo = changeInfo(dstAt, fs, c, c.cur.h)
	return res
}

// opLink is RFC 7530 §16.9 / RFC 8881 §18.9: the saved filehandle is the
// existing object, the current one the directory that gets the new name.
func opLink(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.LinkArgs)
	res := &nfs4.LinkRes{}
	if c.saved.ex != c.cur.ex {
		res.Status = nfs4.ErrXDev
		return res
	}
	fs := c.fs()
	dirAt, st := c.curDir()
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	srcAt, err := fs.GetAttr(c.ctx, c.saved.h)
	st = statusOf(err)
	if st == nfs4.OK && srcAt.Type == fsadapters.TypeDir {
		st = nfs4.ErrIsDir // no hard links to directories
	}
	if st == nfs4.OK {
		st = checkName(args.NewName)
	}
	if st == nfs4.OK {
		st = c.breakDelegations(string(c.saved.wire), 0) // deleg.go
	}
	var ch dirChg
	if st == nfs4.OK {
		ch, st = c.dirChange(c.fhKey(), nfs4.NotifyAddEntry, 0) // dirdeleg.go
	}
	defer ch.end()
	if st == nfs4.OK {
		st = statusOf(fs.Link(c.ctx, &c.cred, c.saved.h, c.cur.h, string(args.NewName)))
	}
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	c.notifyAdded(ch, args.NewName)
	res.CInfo = changeInfo(dirAt, fs, c, c.cur.h)
	return res
}

// opReadLink is RFC 7530 §16.25: NFS4ERR_INVAL for anything but a symlink.
func opReadLink(c *compound, _ nfs4.Args) nfs4.Res {
	res := &nfs4.ReadLinkRes{}
	at, st := c.curAttr()
	if st == nfs4.OK && at.Type != fsadapters.TypeSymlink {
		st = nfs4.ErrInval
	}
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	target, err := c.fs().Readlink(c.ctx, c.cur.h)
	if err != nil {
		res.Status = statusOf(err)
		return res
	}
	res.Link = []byte(target)
	return res
}
