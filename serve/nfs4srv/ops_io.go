package nfs4srv

import (
	"errors"
	"math"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Data-path operations: READ (RFC 7530 §16.23, RFC 8881 §18.22), WRITE
// (§16.36 / §18.32), COMMIT (§16.3 / §18.3) and the NFSv4.2 SEEK,
// ALLOCATE and DEALLOCATE (RFC 7862 §15.11, §15.1, §15.4).

func init() {
	handle(nfs4.OpRead, needFH, opRead)
	handle(nfs4.OpWrite, needFH|modifies, opWrite)
	handle(nfs4.OpCommit, needFH, opCommit)
	handle(nfs4.OpSeek, needFH, opSeek)
	handle(nfs4.OpAllocate, needFH|modifies, opAllocate)
	handle(nfs4.OpDeallocate, needFH|modifies, opDeallocate)
}

// readBufSize is the size of pooled READ buffers: DefaultMaxIO, the
// largest READ we answer unless Config.MaxIO raises it.
const readBufSize = DefaultMaxIO

// readBufs holds READ payload buffers. A buffer lives until the reply has
// been written (the payload is sent zero-copy), then goes back here.
var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// ioStatus adjusts a status for READ/WRITE/COMMIT on a non-regular file:
// the backend's ELOOP for a symlink becomes NFS4ERR_INVAL, which is what
// RFC 8881 §18.22.3/§18.32.3 ask for any non-regular object (pynfs RD7,
// WRT7 accept INVAL). Directories stay NFS4ERR_ISDIR.
func ioStatus(st nfs4.Status) nfs4.Status {
	if st == nfs4.ErrSymlink {
		return nfs4.ErrInval
	}
	return st
}

func ioErr(err error) nfs4.Status { return ioStatus(statusOf(err)) }

// checkIOAccess checks the caller's permission for I/O through an open
// stateid (called by fileForIO). The stateid shows that some client opened
// the file, not that this request's principal may use it: another user
// presenting it must pass the permission check (pynfs RD12/WRT19 want
// ACCESS), as in Linux nfsd. The file's owner always may (a file opened
// and then chmod'ed stays usable, NFSD_MAY_OWNER_OVERRIDE in Linux); root
// always may, without the GETATTR.
func (c *compound) checkIOAccess(write bool) nfs4.Status {
	if c.cred.UID == 0 {
		return nfs4.OK
	}
	a, err := c.fs().GetAttr(c.ctx, c.cur.h)
	if err != nil {
		return statusOf(err)
	}
	if a.UID == c.cred.UID {
		return nfs4.OK
	}
	want := uint32(fsadapters.MayRead)
	if write {
		want = fsadapters.MayWrite
	}
	if c.accessAllowed(c.cur.h, &a, want) != want { // the file's ACL, if any (acl.go)
		return nfs4.ErrAccess
	}
	return nfs4.OK
}

func opRead(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.ReadArgs)
	res := &nfs4.ReadRes{}
	f, done, st := c.fileForIO(args.StateID, false)
	if st != nfs4.OK {
		res.Status = ioStatus(st)
		return res
	}
	defer done()
	// An offset the backend cannot represent is past any EOF: OK, eof, no
	// data (RFC 7530 §16.23.4; pynfs RD5a).
	if args.Offset > math.MaxInt64 {
		res.EOF = true
		return res
	}
	// The server may return less than asked (§16.23.4); we clamp to maxread.
	// The kernel refuses (EINVAL) a pread whose end passes 2^63-1.
	count := int(min(uint64(args.Count), uint64(c.s.cfg.MaxIO), math.MaxInt64-args.Offset))
	var buf []byte
	if count <= readBufSize {
		bp := readBufs.Get().(*[]byte)
		buf = (*bp)[:count]
		c.release = append(c.release, func() { readBufs.Put(bp) })
	} else {
		buf = make([]byte, count)
	}
	n, eof, err := f.ReadAt(buf, int64(args.Offset))
	if err != nil {
		res.Status = ioErr(err)
		return res
	}
	res.Data, res.EOF = buf[:n], eof
	return res
}

func opWrite(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.WriteArgs)
	res := &nfs4.WriteRes{}
	if args.Stable > nfs4.FileSync4 {
		res.Status = nfs4.ErrBadXDR // stable_how4 is an enum
		return res
	}
	f, done, st := c.fileForIO(args.StateID, true)
	if st != nfs4.OK {
		res.Status = ioStatus(st)
		return res
	}
	defer done()
	// A server may write less than sent and say so in count (§16.36.4);
	// clients loop on the rest. So more than maxwrite is a short write.
	data := args.Data
	if uint64(len(data)) > uint64(c.s.cfg.MaxIO) {
		data = data[:c.s.cfg.MaxIO]
	}
	if args.Offset > math.MaxInt64 || uint64(len(data)) > math.MaxInt64-args.Offset {
		res.Status = nfs4.ErrFBig // beyond maxfilesize (RFC 8881 §18.32.3)
		return res
	}
	// FILE_SYNC4 and DATA_SYNC4 are both answered FILE_SYNC4 (§16.36.4
	// allows a stronger commitment than asked; a DATA_SYNC4 answer would
	// make the Linux client send a COMMIT). The backend's sync write
	// (fsadapters.File.WriteAt contract) makes the data and the metadata
	// needed to read it back stable before we reply. Caveat: the dir
	// backend does this with RWF_DSYNC, so timestamps are not forced out;
	// strict FILE_SYNC4 ("all file system metadata") would need RWF_SYNC.
	stable := args.Stable != nfs4.Unstable4
	n, err := f.WriteAt(data, int64(args.Offset), stable)
	if err != nil {
		res.Status = ioErr(err)
		return res
	}
	res.Count = uint32(n)
	res.Committed = nfs4.Unstable4
	if stable {
		res.Committed = nfs4.FileSync4
	}
	res.WriteVerf = c.s.writeVerf
	return res
}

// opCommit makes the file's unstable writes stable (RFC 7530 §16.3). We
// sync the whole file whatever the range: fsync has no cheaper ranged form
// that also covers metadata. Concurrent COMMITs of one file share fsyncs
// through c.s.syncs.
func opCommit(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.CommitArgs)
	res := &nfs4.CommitRes{}
	// offset + count past 2^64-1 is NFS4ERR_INVAL (RFC 8881 §18.3.3).
	if args.Count != 0 && args.Offset > math.MaxUint64-uint64(args.Count) {
		res.Status = nfs4.ErrInval
		return res
	}
	// COMMIT carries no stateid; the writes may have come through any
	// open, or an anonymous stateid. fsync of any descriptor of the inode
	// flushes them all, so a fresh read-only open suffices (write-only if
	// the caller may not read: a write-only client may still COMMIT). The
	// backend's type check gives ISDIR / INVAL for non-regular objects.
	f, err := c.fs().Open(c.ctx, &c.cred, c.cur.h, fsadapters.OpenRead)
	if errors.Is(err, unix.EACCES) {
		f, err = c.fs().Open(c.ctx, &c.cred, c.cur.h, fsadapters.OpenWrite)
	}
	if err != nil {
		res.Status = ioErr(err)
		return res
	}
	defer f.Close()
	if err := c.s.syncs.Sync(c.fhKey(), f.Sync); err != nil {
		res.Status = ioErr(err)
		return res
	}
	res.WriteVerf = c.s.writeVerf
	return res
}

// opSeek finds the next data or hole at or after an offset (RFC 7862
// §15.11). An offset at or past EOF is NFS4ERR_NXIO (§15.11.3). When no
// data follows the offset (a trailing hole) we also answer NXIO, as Linux
// nfsd does: the Linux client turns SEEK's result into lseek's without
// looking at sr_eof, so "OK, eof" would make lseek(SEEK_DATA) succeed.
func opSeek(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.SeekArgs)
	res := &nfs4.SeekRes{}
	var whence int
	switch args.What {
	case nfs4.ContentData:
		whence = unix.SEEK_DATA
	case nfs4.ContentHole:
		whence = unix.SEEK_HOLE
	default:
		res.Status = nfs4.ErrUnionNotSupp
		return res
	}
	f, done, st := c.fileForIO(args.StateID, false)
	if st != nfs4.OK {
		res.Status = ioStatus(st)
		return res
	}
	defer done()
	sk, ok := f.(fsadapters.Seeker)
	if !ok {
		res.Status = nfs4.ErrNotSupp
		return res
	}
	if args.Offset > math.MaxInt64 {
		res.Status = nfs4.ErrNXIO
		return res
	}
	off, err := sk.SeekData(int64(args.Offset), whence)
	if err != nil {
		res.Status = ioErr(err) // ENXIO → NFS4ERR_NXIO
		return res
	}
	attr, err := c.fs().GetAttr(c.ctx, c.cur.h)
	if err != nil {
		res.Status = ioErr(err)
		return res
	}
	res.Offset = uint64(off)
	res.EOF = uint64(off) >= attr.Size
	return res
}

// allocRange checks an ALLOCATE/DEALLOCATE range: empty is INVAL, past
// the largest offset the backend takes is FBIG (RFC 7862 §15.1.3).
func allocRange(off, length uint64) nfs4.Status {
	switch {
	case length == 0:
		return nfs4.ErrInval
	case off > math.MaxInt64 || length > math.MaxInt64-off:
		return nfs4.ErrFBig
	}
	return nfs4.OK
}

// allocOp runs fn on the Allocator behind sid; backends without one get
// NFS4ERR_NOTSUPP (RFC 7862 §15.1.3: ALLOCATE is optional).
func allocOp(c *compound, sid nfs4.StateID, off, length uint64, fn func(fsadapters.Allocator, int64, int64) error) nfs4.Status {
	if st := allocRange(off, length); st != nfs4.OK {
		return st
	}
	f, done, st := c.fileForIO(sid, true)
	if st != nfs4.OK {
		return ioStatus(st)
	}
	defer done()
	al, ok := f.(fsadapters.Allocator)
	if !ok {
		return nfs4.ErrNotSupp
	}
	return ioErr(fn(al, int64(off), int64(length)))
}

func opAllocate(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.AllocateArgs)
	res := &nfs4.AllocateRes{}
	res.Status = allocOp(c, args.StateID, args.Offset, args.Length, fsadapters.Allocator.Allocate)
	return res
}

func opDeallocate(c *compound, a nfs4.Args) nfs4.Res {
	args := a.(*nfs4.DeallocateArgs)
	res := &nfs4.DeallocateRes{}
	res.Status = allocOp(c, args.StateID, args.Offset, args.Length, fsadapters.Allocator.Deallocate)
	return res
}
