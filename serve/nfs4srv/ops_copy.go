package nfs4srv

import (
	"bytes"
	"errors"
	"math"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Server-side copy, NFSv4.2 (RFC 7862 §4): COPY (§15.2) and CLONE
// (§15.13), intra-server only. SAVED_FH is the source, CURRENT_FH the
// destination. Every COPY runs synchronously, so no copy stateid is ever
// handed out: OFFLOAD_CANCEL and OFFLOAD_STATUS (§15.8, §15.9; optional
// unless asynchronous COPY is offered, §13) stay unregistered and answer
// NFS4ERR_NOTSUPP, as does COPY_NOTIFY (inter-server only, §15.3).

func init() {
	handle(nfs4.OpCopy, needFH|needSaved|modifies, opCopy)
	handle(nfs4.OpClone, needFH|needSaved|modifies, opClone)
}

// copyMax caps the bytes one COPY moves: a short count is legal (the
// client loops on the rest, §15.2.3) and keeps one request from holding a
// worker for long.
const copyMax = 64 << 20

// copyBufSize is the buffer of the read/write fallback.
const copyBufSize = 1 << 20

// withSaved runs fn with the saved filehandle (and, minor ≥ 1, saved
// stateid) as the current one, so the source side goes through the same
// checks as READ.
func (c *compound) withSaved(fn func()) {
	swap := func() {
		c.cur, c.saved = c.saved, c.cur
		c.curSID, c.savedSID = c.savedSID, c.curSID
		c.haveCurSID, c.haveSavSID = c.haveSavSID, c.haveCurSID
	}
	swap()
	defer swap()
	fn()
}

// copyTypes checks that both objects are regular files of one export: a
// directory is NFS4ERR_ISDIR, another type NFS4ERR_WRONG_TYPE, objects of
// different exports NFS4ERR_XDEV (RFC 7862 §15.2.3, §15.13.3). It returns
// the source's size.
func (c *compound) copyTypes() (uint64, nfs4.Status) {
	if c.saved.ex != c.cur.ex {
		return 0, nfs4.ErrXDev
	}
	fs := c.fs()
	var src fsadapters.Attr
	for i, h := range []fsadapters.FileHandle{c.saved.h, c.cur.h} {
		a, err := fs.GetAttr(c.ctx, h)
		if err != nil {
			return 0, statusOf(err)
		}
		switch a.Type {
		case fsadapters.TypeRegular:
		case fsadapters.TypeDir:
			return 0, nfs4.ErrIsDir
		default:
			return 0, nfs4.ErrWrongType
		}
		if i == 0 {
			src = a
		}
	}
	return src.Size, nfs4.OK
}

// copyRange validates a source/destination range against the source's
// size and returns the byte count to move (count 0: to the end of the
// source). A source range past EOF is NFS4ERR_INVAL (§15.2.3, §15.13.3),
// as are overlapping ranges of one file; a destination range beyond what
// the backend can hold is NFS4ERR_FBIG, as for WRITE.
func (c *compound) copyRange(srcOff, dstOff, count, size uint64) (uint64, nfs4.Status) {
	if srcOff > size {
		return 0, nfs4.ErrInval
	}
	if count == 0 {
		count = size - srcOff
	} else if count > size-srcOff {
		return 0, nfs4.ErrInval
	}
	if dstOff > math.MaxInt64 || count > math.MaxInt64-dstOff {
		return 0, nfs4.ErrFBig
	}
	if count > 0 && bytes.Equal(c.saved.wire, c.cur.wire) && srcOff < dstOff+count && dstOff < srcOff+count {
		return 0, nfs4.ErrInval
	}
	return count, nfs4.OK
}

// copyFiles opens the source (read, through SAVED_FH and srcSID) and the
// destination (write, through CURRENT_FH and dstSID) as READ and WRITE
// would, and returns a function that releases both.
func (c *compound) copyFiles(srcSID, dstSID nfs4.StateID) (src, dst fsadapters.File, done func(), st nfs4.Status) {
	var srcDone func()
	c.withSaved(func() { src, srcDone, st = c.fileForIO(srcSID, false) })
	if st != nfs4.OK {
		return nil, nil, nil, ioStatus(st)
	}
	dst, dstDone, st := c.fileForIO(dstSID, true)
	if st != nfs4.OK {
		srcDone()
		return nil, nil, nil, ioStatus(st)
	}
	return src, dst, func() { dstDone(); srcDone() }, nfs4.OK
}

func opCopy(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.CopyArgs)
	res := &nfs4.CopyRes{}
	// Inter-server copy (a source server named, §4.8, §15.2.3) is not
	// offered; Linux nfsd answers the same when it is disabled.
	if len(args.SourceServer) > 0 {
		res.Status = nfs4.ErrNotSupp
		return res
	}
	src, dst, count, done, st := c.copyPrepare(args.SrcStateID, args.DstStateID, args.SrcOffset, args.DstOffset, args.Count)
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	defer done()
	n, err := copyData(src, dst, int64(args.SrcOffset), int64(args.DstOffset), int64(min(count, copyMax)))
	if err != nil && n == 0 {
		res.Status = ioErr(err)
		return res
	}
	// Whatever was asked (ca_synchronous, ca_consecutive), the copy is done
	// when we reply, and in order (§15.2.3: cr_requirements tells the
	// client what happened). The data is as stable as an UNSTABLE WRITE:
	// COMMIT of the destination under this verifier covers it (§15.2.3,
	// wr_committed).
	res.Response = nfs4.WriteResponse{Count: uint64(n), Committed: nfs4.Unstable4, WriteVerf: c.s.writeVerf}
	res.Requirements = nfs4.CopyRequirements{Consecutive: true, Synchronous: true}
	return res
}

// copyPrepare is what COPY and CLONE check first: the file types
// (copyTypes), the stateids and open files (copyFiles) and the range
// (copyRange). On OK, done must be called when the files are no longer
// used.
func (c *compound) copyPrepare(srcSID, dstSID nfs4.StateID, srcOff, dstOff, count uint64) (src, dst fsadapters.File, n uint64, done func(), st nfs4.Status) {
	size, st := c.copyTypes()
	if st != nfs4.OK {
		return nil, nil, 0, nil, st
	}
	src, dst, done, st = c.copyFiles(srcSID, dstSID)
	if st != nfs4.OK {
		return nil, nil, 0, nil, st
	}
	if n, st = c.copyRange(srcOff, dstOff, count, size); st != nfs4.OK {
		done()
		return nil, nil, 0, nil, st
	}
	return src, dst, n, done, nfs4.OK
}

// copyData moves up to n bytes: through the backend's Copier when it has
// one for this pair of files, else by ReadAt/WriteAt. It stops early at
// the source's end, and on an error after some progress (the short count
// is the answer; the client's next COPY meets the error).
func copyData(src, dst fsadapters.File, srcOff, dstOff, n int64) (int64, error) {
	var done int64
	if cp, ok := src.(fsadapters.Copier); ok {
		for done < n {
			m, err := cp.CopyRange(dst, srcOff+done, dstOff+done, n-done)
			done += m
			if errors.Is(err, fsadapters.ErrCrossCopy) && done == 0 {
				break // fall back below
			}
			if err != nil || m == 0 {
				return done, err
			}
		}
		if done == n {
			return done, nil
		}
	}
	buf := make([]byte, min(n-done, copyBufSize))
	for done < n {
		k := min(n-done, int64(len(buf)))
		r, eof, err := src.ReadAt(buf[:k], srcOff+done)
		if r > 0 {
			w, werr := dst.WriteAt(buf[:r], dstOff+done, false)
			done += int64(w)
			if werr != nil {
				return done, werr
			}
		}
		if err != nil || eof || r == 0 {
			return done, err
		}
	}
	return done, nil
}

// opClone is CLONE (RFC 7862 §15.13): all of the range or nothing, on
// backends that can share storage; others answer NFS4ERR_NOTSUPP, as does
// a filesystem that cannot (ext4, tmpfs: EOPNOTSUPP).
func opClone(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.CloneArgs)
	res := &nfs4.CloneRes{}
	src, dst, count, done, st := c.copyPrepare(args.SrcStateID, args.DstStateID, args.SrcOffset, args.DstOffset, args.Count)
	if st != nfs4.OK {
		res.Status = st
		return res
	}
	defer done()
	cl, ok := src.(fsadapters.Cloner)
	if !ok {
		res.Status = nfs4.ErrNotSupp
		return res
	}
	if count == 0 {
		return res
	}
	err := cl.CloneRange(dst, int64(args.SrcOffset), int64(args.DstOffset), int64(count))
	if errors.Is(err, fsadapters.ErrCrossCopy) {
		res.Status = nfs4.ErrNotSupp
		return res
	}
	res.Status = ioErr(err)
	return res
}
