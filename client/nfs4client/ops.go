package nfs4client

import (
	"context"
	"strconv"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Typed helpers for a file-system client (the FUSE layer): each is one
// COMPOUND, and those that produce or change an object also return its
// attributes (FileAttrs) so no second round trip is needed.

// FileAttrs is what a stat(2) needs (RFC 7530 §5.6, §5.7).
var FileAttrs = bitmap(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFSID,
	nfs4.AttrFileID, nfs4.AttrMode, nfs4.AttrNumLinks, nfs4.AttrOwner, nfs4.AttrOwnerGroup,
	nfs4.AttrRawDev, nfs4.AttrSpaceUsed, nfs4.AttrTimeAccess, nfs4.AttrTimeMetadata,
	nfs4.AttrTimeModify)

// DirEntryAttrs is FileAttrs plus the handle and rdattr_error, asked for in
// READDIR so a listing carries everything a readdirplus needs.
var DirEntryAttrs = bitmap(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFSID,
	nfs4.AttrRdAttrError, nfs4.AttrFileHandle,
	nfs4.AttrFileID, nfs4.AttrMode, nfs4.AttrNumLinks, nfs4.AttrOwner, nfs4.AttrOwnerGroup,
	nfs4.AttrRawDev, nfs4.AttrSpaceUsed, nfs4.AttrTimeAccess, nfs4.AttrTimeMetadata,
	nfs4.AttrTimeModify)

// StatfsAttrs are the file-system-wide attributes statfs(2) reports.
var StatfsAttrs = bitmap(nfs4.AttrFilesAvail, nfs4.AttrFilesFree, nfs4.AttrFilesTotal,
	nfs4.AttrMaxName, nfs4.AttrSpaceAvail, nfs4.AttrSpaceFree, nfs4.AttrSpaceTotal)

// MaxIO is the largest rsize/wsize NegotiateIO picks.
const MaxIO = 1 << 20

// ioSlack is the room left in a session's max request/response for the
// RPC and COMPOUND headers around READ/WRITE data.
const ioSlack = 1 << 12

// NegotiateIO sets RSize/WSize from the server's maxread/maxwrite on fh
// (RFC 7530 §5.8.2.20), capped at MaxIO and at what the session's channel
// attributes allow, and returns the lease time (lease_time, §5.8.1.10).
func (c *Client) NegotiateIO(ctx context.Context, fh []byte) (lease time.Duration, err error) {
	a, err := c.GetAttr(ctx, fh, bitmap(nfs4.AttrLeaseTime, nfs4.AttrMaxRead, nfs4.AttrMaxWrite))
	if err != nil {
		return 0, err
	}
	rs, ws := uint64(MaxIO), uint64(MaxIO)
	if a.Present.Has(nfs4.AttrMaxRead) && a.MaxRead > 0 {
		rs = min(rs, a.MaxRead)
	}
	if a.Present.Has(nfs4.AttrMaxWrite) && a.MaxWrite > 0 {
		ws = min(ws, a.MaxWrite)
	}
	if s := c.session(); s != nil {
		if s.MaxResponse > 2*ioSlack {
			rs = min(rs, uint64(s.MaxResponse-ioSlack))
		}
		if s.MaxRequest > 2*ioSlack {
			ws = min(ws, uint64(s.MaxRequest-ioSlack))
		}
	}
	// Whole pages keep the kernel's page-cache I/O aligned.
	c.RSize, c.WSize = uint32(max(rs&^4095, 4096)), uint32(max(ws&^4095, 4096))
	lease = 90 * time.Second
	if a.Present.Has(nfs4.AttrLeaseTime) && a.LeaseTime > 0 {
		lease = time.Duration(a.LeaseTime) * time.Second
	}
	return lease, nil
}

func decodeRes(res *nfs4.CompoundRes, i int) (*nfs4.Attrs, error) {
	f := result[*nfs4.GetattrRes](res, i).ObjAttributes
	return nfs4.DecodeAttrs(&f)
}

func op(o nfs4.Op, a nfs4.Args) nfs4.ArgOp { return nfs4.ArgOp{Op: o, Args: a} }

func saveFH() nfs4.ArgOp    { return op(nfs4.OpSaveFH, &nfs4.SaveFHArgs{}) }
func restoreFH() nfs4.ArgOp { return op(nfs4.OpRestoreFH, &nfs4.RestoreFHArgs{}) }

// LookupAttrs looks dir/name up and returns its handle and attributes
// (PUTFH LOOKUP GETFH GETATTR, one round trip).
func (c *Client) LookupAttrs(ctx context.Context, dir []byte, name string) ([]byte, *nfs4.Attrs, error) {
	res, err := c.Do(ctx, PutFH(dir), Lookup(name), GetFH(), GetAttrOp(FileAttrs))
	if err != nil {
		return nil, nil, err
	}
	a, err := decodeRes(res, 3)
	return result[*nfs4.GetFHRes](res, 2).Object, a, err
}

// SetAttrs applies the attributes in set.Present to fh (SETATTR, RFC 7530
// §16.32) and returns the attributes afterwards. sid is the open stateid
// for a size change through an open file, else the zero (anonymous)
// stateid.
func (c *Client) SetAttrs(ctx context.Context, fh []byte, sid nfs4.StateID, set *nfs4.Attrs) (*nfs4.Attrs, error) {
	var e xdr.Encoder
	if err := nfs4.AppendAttrVals(&e, set.Present, set); err != nil {
		return nil, err
	}
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpSetattr, &nfs4.SetattrArgs{StateID: sid,
		ObjAttributes: nfs4.Fattr{Mask: set.Present, Vals: e.Buf}}), GetAttrOp(FileAttrs))
	if err != nil {
		return nil, err
	}
	return decodeRes(res, 2)
}

// WriteSetAttrs is a WRITE of data (at most WSize) at off through wsid
// followed by the SETATTR of SetAttrs, in one COMPOUND (PUTFH WRITE
// SETATTR GETATTR): a client holding written data back can send it with
// an attribute change that must come after it, in one round trip. w is
// the WRITE's result, nil if the WRITE failed (err is then its error; the
// attributes are to be set again); with w set, err is the SETATTR's. A
// WRITE may be short (w.Count): the caller writes the rest.
func (c *Client) WriteSetAttrs(ctx context.Context, fh []byte, wsid nfs4.StateID, off uint64, data []byte, stable uint32,
	sid nfs4.StateID, set *nfs4.Attrs) (w *nfs4.WriteRes, a *nfs4.Attrs, err error) {
	var e xdr.Encoder
	if err := nfs4.AppendAttrVals(&e, set.Present, set); err != nil {
		return nil, nil, err
	}
	res, err := c.Do(ctx, PutFH(fh),
		op(nfs4.OpWrite, &nfs4.WriteArgs{StateID: wsid, Offset: off, Stable: stable, Data: data}),
		op(nfs4.OpSetattr, &nfs4.SetattrArgs{StateID: sid, ObjAttributes: nfs4.Fattr{Mask: set.Present, Vals: e.Buf}}),
		GetAttrOp(FileAttrs))
	if res == nil || len(res.Results) < 2 || (len(res.Results) == 2 && err != nil) {
		if err == nil {
			err = &StatusError{Op: nfs4.OpWrite, Status: nfs4.ErrServerFault}
		}
		return nil, nil, err
	}
	w = result[*nfs4.WriteRes](res, 1)
	if w.Count == 0 || int(w.Count) > len(data) {
		return nil, nil, &StatusError{Op: nfs4.OpWrite, Status: nfs4.ErrIO}
	}
	if err != nil {
		return w, nil, err
	}
	a, err = decodeRes(res, 3)
	return w, a, err
}

// ReadDirPage reads one page of dir from cookie (READDIR, RFC 7530
// §16.24) with the attributes in want (DirEntryAttrs for readdirplus).
func (c *Client) ReadDirPage(ctx context.Context, dir []byte, cookie uint64, verf nfs4.Verifier, want nfs4.Bitmap) (*nfs4.ReadDirRes, error) {
	res, err := c.Do(ctx, PutFH(dir), op(nfs4.OpReadDir, &nfs4.ReadDirArgs{
		Cookie: cookie, CookieVerf: verf, DirCount: 32768, MaxCount: 128 << 10, AttrRequest: want}))
	if err != nil {
		return nil, err
	}
	return result[*nfs4.ReadDirRes](res, 1), nil
}

// CreateObj makes a non-regular object dir/name (CREATE, RFC 7530 §16.4):
// typ is nfs4.NF4DIR, NF4LNK (link is the target), NF4BLK/NF4CHR (dev),
// NF4SOCK or NF4FIFO; attrs (may be nil) are the initial attributes.
// It returns the new handle and attributes.
func (c *Client) CreateObj(ctx context.Context, dir []byte, name string, typ uint32, link string, dev nfs4.SpecData, attrs *nfs4.Attrs) ([]byte, *nfs4.Attrs, error) {
	ca := nfs4.Fattr{Mask: nfs4.Bitmap{}}
	if attrs != nil {
		var e xdr.Encoder
		if err := nfs4.AppendAttrVals(&e, attrs.Present, attrs); err != nil {
			return nil, nil, err
		}
		ca = nfs4.Fattr{Mask: attrs.Present, Vals: e.Buf}
	}
	args := &nfs4.CreateArgs{ObjType: typ, ObjName: []byte(name), DevData: dev, CreateAttrs: ca}
	if typ == nfs4.NF4LNK {
		args.LinkData = []byte(link)
	}
	res, err := c.Do(ctx, PutFH(dir), op(nfs4.OpCreate, args), GetFH(), GetAttrOp(FileAttrs))
	if err != nil {
		return nil, nil, err
	}
	a, err := decodeRes(res, 3)
	return result[*nfs4.GetFHRes](res, 2).Object, a, err
}

// Link makes dir/name a new link to fh (LINK, RFC 7530 §16.9) and returns
// fh's attributes afterwards (its link count has changed).
func (c *Client) Link(ctx context.Context, fh, dir []byte, name string) (*nfs4.Attrs, error) {
	res, err := c.Do(ctx, PutFH(fh), saveFH(), PutFH(dir),
		op(nfs4.OpLink, &nfs4.LinkArgs{NewName: []byte(name)}), restoreFH(), GetAttrOp(FileAttrs))
	if err != nil {
		return nil, err
	}
	return decodeRes(res, 5)
}

// ReadLink returns the target of symlink fh (READLINK, RFC 7530 §16.25).
func (c *Client) ReadLink(ctx context.Context, fh []byte) (string, error) {
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpReadLink, &nfs4.ReadLinkArgs{}))
	if err != nil {
		return "", err
	}
	return string(result[*nfs4.ReadLinkRes](res, 1).Link), nil
}

// Access asks which of the nfs4.Access* bits in want the caller has on fh
// (ACCESS, RFC 7530 §16.1) and returns the granted ones.
func (c *Client) Access(ctx context.Context, fh []byte, want uint32) (uint32, error) {
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpAccess, &nfs4.AccessArgs{Access: want}))
	if err != nil {
		return 0, err
	}
	return result[*nfs4.AccessRes](res, 1).Access, nil
}

// Statfs returns the file-system attributes (StatfsAttrs) of fh's file system.
func (c *Client) Statfs(ctx context.Context, fh []byte) (*nfs4.Attrs, error) {
	return c.GetAttr(ctx, fh, StatfsAttrs)
}

// WriteAll writes data at off in WSize pieces with stable_how stable and
// returns the lowest commitment level the server gave and the verifier
// of the last write.
func (c *Client) WriteAll(ctx context.Context, fh []byte, sid nfs4.StateID, off uint64, data []byte, stable uint32) (committed uint32, verf nfs4.Verifier, err error) {
	ws := int(c.WSize)
	if ws == 0 {
		ws = 64 << 10
	}
	committed = nfs4.FileSync4
	for len(data) > 0 {
		n := min(len(data), ws)
		r, err := c.Write(ctx, fh, sid, off, data[:n], stable)
		if err != nil {
			return committed, verf, err
		}
		if r.Count == 0 || int(r.Count) > n {
			return committed, verf, &StatusError{Op: nfs4.OpWrite, Status: nfs4.ErrIO}
		}
		committed, verf = min(committed, r.Committed), r.WriteVerf
		off += uint64(r.Count)
		data = data[r.Count:]
	}
	return committed, verf, nil
}

// OwnerID parses an owner / owner_group string: the numeric form of RFC
// 7530 §5.9, or "n@domain" with a numeric n; anything else is nobody.
func OwnerID(s []byte) uint32 {
	if id, ok := nfs4.ParseID(s); ok {
		return id
	}
	for i, b := range s {
		if b == '@' {
			if id, err := strconv.ParseUint(string(s[:i]), 10, 32); err == nil {
				return uint32(id)
			}
			break
		}
	}
	return 65534
}
