// Package mount is the FUSE side of mount_remote: go-fuse (fs package)
// nodes backed by an NFSv4.1 server through client/nfs4client.
//
// Every node keeps its NFS file handle; inode numbers are the server's
// fileid. Each FUSE request becomes one COMPOUND (lookup, create, open,
// link… return attributes in the same round trip), sent with the caller's
// uid/gid as AUTH_SYS so the server enforces permissions. Writes go out
// UNSTABLE in the background, waited for by close and by everything that
// depends on the data (writebehind.go), and are committed on fsync and
// release (FILE_SYNC, synchronous, for O_SYNC/O_DSYNC opens); directory
// listings ask READDIR for the full
// attribute set including the file handle, so READDIRPLUS needs no LOOKUP
// per entry.
package mount

import (
	"context"
	"crypto/rand"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// FS is one mounted export.
type FS struct {
	C    *nfs4client.Client
	Root []byte // file handle of the mounted directory
	Opts Options

	posix       posixOwners   // POSIX lock owners holding locks, by file (lock.go)
	noWaitTypes atomic.Bool   // the server refused READW_LT/WRITEW_LT (lock.go)
	dn          delegNodes    // nodes holding delegations, by file handle (deleg.go)
	touched     touchedFHs    // objects changed through this mount (lookahead.go)
	readBufs    readBufs      // READ reply buffers (readbuf.go)
	writeCopies writeCopies   // copies of uncommitted writes (readbuf.go)
	dd          dirDelegNodes // directories holding delegations, by handle (dirdeleg.go)
	behind      behindBudget  // bytes of background writes in flight (writebehind.go)
}

// Node is a file, directory or other object of the export.
type Node struct {
	fs.Inode
	fsys *FS
	fh   []byte

	writes nodeWrites // background writes in flight (writebehind.go)

	mu         sync.Mutex
	openChange uint64 // change attribute seen at the last open
	opened     bool
	opens      int    // open file handles
	silly      string // name it was silly-renamed to in sillyDir, or ""
	sillyDir   []byte
	sillyGone  chan struct{} // closed once the silly name is removed
	sillyPar   *Node         // the directory holding the silly name
	// pending are children of this directory silly-renamed here whose
	// last close has not arrived yet (see Rmdir).
	pending   map[*Node]chan struct{}
	lastAttrs *nfs4.Attrs // from the last GETATTR/open, for fstat of a removed file

	locks nodeLocks // byte-range lock owners (lock.go)
	dl    nodeDeleg // delegation state (deleg.go)
	// longReply is when a reply with DelegTimeout was last decided
	// (Unix ns; invalidate).
	longReply atomic.Int64
	look      listing // lookahead listing of a directory (lookahead.go)
}

var (
	_ fs.NodeLookuper       = (*Node)(nil)
	_ fs.NodeGetattrer      = (*Node)(nil)
	_ fs.NodeSetattrer      = (*Node)(nil)
	_ fs.NodeOpendirHandler = (*Node)(nil)
	_ fs.NodeOpener         = (*Node)(nil)
	_ fs.NodeCreater        = (*Node)(nil)
	_ fs.NodeMkdirer        = (*Node)(nil)
	_ fs.NodeMknoder        = (*Node)(nil)
	_ fs.NodeRmdirer        = (*Node)(nil)
	_ fs.NodeUnlinker       = (*Node)(nil)
	_ fs.NodeRenamer        = (*Node)(nil)
	_ fs.NodeLinker         = (*Node)(nil)
	_ fs.NodeSymlinker      = (*Node)(nil)
	_ fs.NodeReadlinker     = (*Node)(nil)
	_ fs.NodeStatfser       = (*Node)(nil)
	_ fs.NodeAccesser       = (*Node)(nil)
	_ fs.NodeFsyncer        = (*Node)(nil)
	_ fs.FileReaddirenter   = (*dirHandle)(nil)
	_ fs.FileLookuper       = (*dirHandle)(nil)
	_ fs.FileSeekdirer      = (*dirHandle)(nil)
	_ fs.FileReader         = (*fileHandle)(nil)
	_ fs.FileWriter         = (*fileHandle)(nil)
	_ fs.FileFlusher        = (*fileHandle)(nil)
	_ fs.FileFsyncer        = (*fileHandle)(nil)
	_ fs.FileReleaser       = (*fileHandle)(nil)
)

// NewRoot returns the root node of fsys, for fs.Mount.
func NewRoot(fsys *FS) *Node { return &Node{fsys: fsys, fh: fsys.Root} }

// FH returns the node's NFS file handle.
func (n *Node) FH() []byte { return n.fh }

// call returns ctx carrying the FUSE caller's uid/gid/groups as the
// AUTH_SYS credential of the requests it makes (see withCaller, cred.go),
// without the caller's cancellation: the kernel turns every signal the
// caller gets into FUSE_INTERRUPT, and Go programs get SIGURG all the time,
// so honouring it would fail ordinary chmod/utimes/read calls with EINTR.
// Like an NFS hard mount, requests end by their reply or the client's
// timeout; waits that may last (F_SETLKW) still watch the caller's ctx.
func (n *Node) call(ctx context.Context) context.Context {
	return context.WithoutCancel(withCaller(ctx, n.fsys.Opts.machine()))
}

var nfsTypeMode = map[uint32]uint32{
	nfs4.NF4REG: syscall.S_IFREG, nfs4.NF4DIR: syscall.S_IFDIR, nfs4.NF4BLK: syscall.S_IFBLK,
	nfs4.NF4CHR: syscall.S_IFCHR, nfs4.NF4LNK: syscall.S_IFLNK, nfs4.NF4SOCK: syscall.S_IFSOCK,
	nfs4.NF4FIFO: syscall.S_IFIFO, nfs4.NF4NAMEDATTR: syscall.S_IFREG, nfs4.NF4ATTRDIR: syscall.S_IFDIR,
}

func typeMode(a *nfs4.Attrs) uint32 {
	if m, ok := nfsTypeMode[a.Type]; ok {
		return m
	}
	return syscall.S_IFREG
}

// fillAttr converts fattr4 to a stat.
func fillAttr(a *nfs4.Attrs, out *fuse.Attr) {
	out.Ino = a.FileID
	out.Size = a.Size
	out.Blocks = (a.SpaceUsed + 511) / 512
	if !a.Present.Has(nfs4.AttrSpaceUsed) {
		out.Blocks = (a.Size + 511) / 512
	}
	out.Blksize = 4096
	out.Mode = typeMode(a) | a.Mode&07777
	out.Nlink = max(a.NumLinks, 1)
	out.Uid = nfs4client.OwnerID(a.Owner)
	out.Gid = nfs4client.OwnerID(a.OwnerGroup)
	out.Rdev = uint32(unix.Mkdev(a.RawDev.SpecData1, a.RawDev.SpecData2))
	out.Atime, out.Atimensec = uint64(a.TimeAccess.Seconds), a.TimeAccess.NSeconds
	out.Mtime, out.Mtimensec = uint64(a.TimeModify.Seconds), a.TimeModify.NSeconds
	out.Ctime, out.Ctimensec = uint64(a.TimeMetadata.Seconds), a.TimeMetadata.NSeconds
}

// newChild returns the inode for an object the server named: fh with
// attributes a. go-fuse reuses an existing inode with the same fileid
// (hard links, concurrent lookups).
//
// since is when the request that brought a was sent: an existing node
// written through this mount since then may have newer attributes than a
// (writebehind.go, freshAttrs).
func (n *Node) newChild(ctx context.Context, fh []byte, a *nfs4.Attrs, out *fuse.EntryOut, since time.Time) *fs.Inode {
	if fresh := n.freshAttrs(ctx, fh, since); fresh != nil {
		a = fresh
	}
	fillAttr(a, &out.Attr)
	n.fsys.entryTimeoutsFor(fh, out)
	child := &Node{fsys: n.fsys, fh: fh}
	return n.NewInode(ctx, child, fs.StableAttr{Mode: typeMode(a), Ino: a.FileID, Gen: fhGen(fh)})
}

// fhGen derives the inode generation from the file handle: a server may
// reuse a fileid for a new file (ext4 reuses inode numbers), which has a
// new handle, and must then get a new go-fuse node rather than the old one
// with its stale handle. Hard links share the handle and so the node.
func fhGen(fh []byte) uint64 {
	h := fnv.New64a()
	h.Write(fh)
	return h.Sum64() | 2 // 0 and 1 are reserved
}

func (n *Node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	cred := credKey(ctx)
	a, age, ok := n.cachedLookup(name, cred)
	if !ok && n.lookupMissed() {
		n.fetchListing(n.call(ctx), cred)
		a, age, ok = n.cachedLookup(name, cred)
	}
	if ok {
		if a == nil {
			n.lookupTimeouts(name, nil, age, out) // a cached negative entry under a directory delegation
			return nil, syscall.ENOENT
		}
		// The listing answers only for objects not written since it
		// was fetched (cachedLookup): just writes starting now matter.
		ch := n.newChild(ctx, a.FileHandle, a, out, time.Now())
		n.lookupTimeouts(name, a, age, out)
		return ch, 0
	}
	since := time.Now()
	fh, a, err := n.fsys.C.LookupAttrs(n.call(ctx), n.fh, name)
	if err != nil {
		return nil, ToErrno(err)
	}
	return n.newChild(ctx, fh, a, out, since), 0
}

func (n *Node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if n.predictedGetattr(out) {
		return 0 // changes deferred behind the data (setattrbehind.go)
	}
	n.writes.drain() // size and times after the writes the kernel saw succeed
	if n.cachedGetattr(out) {
		return 0 // under a delegation (deleg.go)
	}
	d := n.deleg()
	a, err := n.fsys.C.GetAttr(n.call(ctx), n.fh, nfs4client.FileAttrs)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		// fstat of an open file the server no longer has (removed by
		// another client): what we last knew, with no links left.
		if ToErrno(err) == syscall.ESTALE && n.opens > 0 && n.lastAttrs != nil {
			fillAttr(n.lastAttrs, &out.Attr)
			n.fsys.Opts.mapOwner(&out.Attr)
			out.Nlink = 0
			return 0
		}
		return ToErrno(err)
	}
	n.lastAttrs = a
	long := n.storeAttrsLocked(d, a)
	fillAttr(a, &out.Attr)
	if n.silly != "" {
		// Removed while open and kept under a hidden name: to the
		// program it has one link fewer (0 for a single link).
		out.Nlink = max(a.NumLinks, 1) - 1
	}
	n.setAttrTimeout(out, long)
	return 0
}

func nfsTime(sec uint64, nsec uint32) nfs4.Time {
	return nfs4.Time{Seconds: int64(sec), NSeconds: nsec}
}

// Setattr maps chmod/chown/truncate/utimens onto one SETATTR (RFC 7530
// §16.32); a size change through an open file uses its open stateid.
func (n *Node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var set nfs4.Attrs
	if m, ok := in.GetMode(); ok {
		set.Present.Set(nfs4.AttrMode)
		set.Mode = m & 07777
	}
	if uid, ok := in.GetUID(); ok {
		set.Present.Set(nfs4.AttrOwner)
		set.UID = uid
	}
	if gid, ok := in.GetGID(); ok {
		set.Present.Set(nfs4.AttrOwnerGroup)
		set.GID = gid
	}
	var sid nfs4.StateID
	if sz, ok := in.GetSize(); ok {
		set.Present.Set(nfs4.AttrSize)
		set.Size = sz
		if fh, ok := f.(*fileHandle); ok {
			sid = fh.of.SID()
		}
	}
	if in.Valid&fuse.FATTR_ATIME_NOW != 0 {
		set.Present.Set(nfs4.AttrTimeAccessSet)
		set.TimeAccessSet.How = nfs4.SetToServerTime
	} else if in.Valid&fuse.FATTR_ATIME != 0 {
		set.Present.Set(nfs4.AttrTimeAccessSet)
		set.TimeAccessSet = nfs4.SetTime{How: nfs4.SetToClientTime, Time: nfsTime(in.Atime, in.Atimensec)}
	}
	if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
		set.Present.Set(nfs4.AttrTimeModifySet)
		set.TimeModifySet.How = nfs4.SetToServerTime
	} else if in.Valid&fuse.FATTR_MTIME != 0 {
		set.Present.Set(nfs4.AttrTimeModifySet)
		set.TimeModifySet = nfs4.SetTime{How: nfs4.SetToClientTime, Time: nfsTime(in.Mtime, in.Mtimensec)}
	}
	var a *nfs4.Attrs
	var err error
	cctx := n.call(ctx)
	// A truncate or new times come after the data written before: the
	// data goes in the same COMPOUND when it is all there is to wait for
	// (setAttrsAfter; not with a size change, which a short WRITE would
	// get out of order), else it is waited for.
	var g *gathering
	if len(set.Present) != 0 && !set.Present.Has(nfs4.AttrSize) {
		if n.deferSetattr(cctx, &set, out) {
			return 0 // sent behind the data (setattrbehind.go)
		}
		g = n.writes.takeAlone(cctx)
	}
	if g == nil {
		n.writes.drain()
	}
	n.dropAttrs() // our own change (deleg.go)
	switch {
	case len(set.Present) == 0:
		a, err = n.fsys.C.GetAttr(cctx, n.fh, nfs4client.FileAttrs)
	case g != nil:
		a, err = n.setAttrsAfter(cctx, g, sid, &set)
	default:
		a, err = n.fsys.C.SetAttrs(cctx, n.fh, sid, &set)
	}
	if err != nil {
		return ToErrno(err)
	}
	long := false
	n.mu.Lock()
	n.lastAttrs = a
	n.mu.Unlock()
	if d := n.deleg(); d != nil {
		n.mu.Lock()
		long = n.storeAttrsLocked(d, a)
		n.mu.Unlock()
		if d.Write() {
			_, change := d.Attrs()
			d.SetAttrs(a.Size, max(change+1, a.Change))
		}
	}
	fillAttr(a, &out.Attr)
	n.setAttrTimeout(out, long)
	return 0
}

func (n *Node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	s, err := n.fsys.C.ReadLink(n.call(ctx), n.fh)
	if err != nil {
		return nil, ToErrno(err)
	}
	return []byte(s), 0
}

func (n *Node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	a, err := n.fsys.C.Statfs(n.call(ctx), n.fh)
	if err != nil {
		return ToErrno(err)
	}
	const bs = 4096
	out.Bsize, out.Frsize = bs, bs
	out.Blocks, out.Bfree, out.Bavail = a.SpaceTotal/bs, a.SpaceFree/bs, a.SpaceAvail/bs
	out.Files, out.Ffree = a.FilesTotal, a.FilesFree
	out.NameLen = a.MaxName
	if out.NameLen == 0 {
		out.NameLen = 255
	}
	return 0
}

// Access asks the server (ACCESS, RFC 7530 §16.1), which knows the file's
// ACLs and the caller's groups.
func (n *Node) Access(ctx context.Context, mask uint32) syscall.Errno {
	var want uint32
	dir := n.StableAttr().Mode&syscall.S_IFMT == syscall.S_IFDIR
	if mask&unix.R_OK != 0 {
		want |= nfs4.AccessRead
	}
	if mask&unix.W_OK != 0 {
		want |= nfs4.AccessModify
		if dir {
			want |= nfs4.AccessExtend | nfs4.AccessDelete
		}
	}
	if mask&unix.X_OK != 0 {
		if dir {
			want |= nfs4.AccessLookup
		} else {
			want |= nfs4.AccessExecute
		}
	}
	if want == 0 {
		return 0
	}
	got, err := n.fsys.C.Access(n.call(ctx), n.fh, want)
	if err != nil {
		return ToErrno(err)
	}
	if got&want != want {
		return syscall.EACCES
	}
	return 0
}

func createAttrs(mode uint32) *nfs4.Attrs {
	a := &nfs4.Attrs{Mode: mode & 07777}
	a.Present.Set(nfs4.AttrMode)
	return a
}

func (n *Node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	since := time.Now()
	fh, a, err := n.fsys.C.CreateObj(n.call(ctx), n.fh, name, nfs4.NF4DIR, "", nfs4.SpecData{}, createAttrs(mode))
	if err != nil {
		n.listingDrop()
		return nil, ToErrno(err)
	}
	n.listingAdd(name, fh, a)
	return n.newChild(ctx, fh, a, out, since), 0
}

func (n *Node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	since := time.Now()
	fh, a, err := n.fsys.C.CreateObj(n.call(ctx), n.fh, name, nfs4.NF4LNK, target, nfs4.SpecData{}, nil)
	if err != nil {
		n.listingDrop()
		return nil, ToErrno(err)
	}
	n.listingAdd(name, fh, a)
	return n.newChild(ctx, fh, a, out, since), 0
}

func (n *Node) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	since := time.Now()
	var typ uint32
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG, 0:
		// A regular file is made by OPEN (RFC 7530 §16.4: CREATE is for
		// the other types) and closed at once.
		of, err := n.fsys.C.Create(n.call(ctx), n.fh, name, nfs4client.CreateHow{Mode: nfs4.Guarded4, Attrs: createAttrs(mode)})
		if err != nil {
			n.listingDrop()
			return nil, ToErrno(err)
		}
		n.fsys.C.CloseFile(n.call(ctx), of)
		n.listingAdd(name, of.FH, of.Attrs)
		return n.newChild(ctx, of.FH, of.Attrs, out, since), 0
	case syscall.S_IFIFO:
		typ = nfs4.NF4FIFO
	case syscall.S_IFSOCK:
		typ = nfs4.NF4SOCK
	case syscall.S_IFCHR:
		typ = nfs4.NF4CHR
	case syscall.S_IFBLK:
		typ = nfs4.NF4BLK
	default:
		return nil, syscall.EINVAL
	}
	spec := nfs4.SpecData{SpecData1: unix.Major(uint64(dev)), SpecData2: unix.Minor(uint64(dev))}
	fh, a, err := n.fsys.C.CreateObj(n.call(ctx), n.fh, name, typ, "", spec, createAttrs(mode))
	if err != nil {
		n.listingDrop()
		return nil, ToErrno(err)
	}
	n.listingAdd(name, fh, a)
	return n.newChild(ctx, fh, a, out, since), 0
}

// Unlink removes name, or, when the file is open here, renames it to a
// hidden .nfs name removed at the last close ("silly rename", as NFS
// clients do): the server would otherwise drop a file still in use.
func (n *Node) Unlink(ctx context.Context, name string) syscall.Errno {
	if n.sillyRename(ctx, name) {
		return 0
	}
	if ch := n.GetChild(name); ch != nil {
		if cn, ok := ch.Operations().(*Node); ok {
			cn.dropAttrs() // nlink of other names changes
		}
	}
	err := n.fsys.C.Remove(n.call(ctx), n.fh, name)
	if err == nil {
		n.listingRemove(name)
	} else {
		n.listingDrop()
	}
	return ToErrno(err)
}

// sillyRename renames dir entry name away if it is an open file of ours
// and reports whether it did.
func (n *Node) sillyRename(ctx context.Context, name string) bool {
	ch := n.GetChild(name)
	if ch == nil {
		return false
	}
	cn, ok := ch.Operations().(*Node)
	if !ok {
		return false
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.opens == 0 || cn.silly != "" {
		return false
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	hidden := fmt.Sprintf(".nfs%016x%x", ch.StableAttr().Ino, rnd)
	n.listingDrop()
	if err := n.fsys.C.Rename(n.call(ctx), n.fh, name, n.fh, hidden); err != nil {
		return false
	}
	cn.silly, cn.sillyDir = hidden, n.fh
	gone := make(chan struct{})
	cn.sillyGone, cn.sillyPar = gone, n
	n.mu.Lock()
	if n.pending == nil {
		n.pending = map[*Node]chan struct{}{}
	}
	n.pending[cn] = gone
	n.mu.Unlock()
	// Tell the kernel the hidden name exists, so a later lookup of it
	// does not use stale negative entries; the old name goes away when
	// we return.
	return true
}

// closed is called when an open handle of n is released; the last one
// removes a silly-renamed file.
func (n *Node) closed() {
	n.mu.Lock()
	n.opens--
	var dir []byte
	var name string
	var gone chan struct{}
	var par *Node
	if n.opens == 0 && n.silly != "" {
		dir, name, gone, par = n.sillyDir, n.silly, n.sillyGone, n.sillyPar
		n.silly, n.sillyDir, n.sillyGone, n.sillyPar = "", nil, nil, nil
	}
	n.mu.Unlock()
	if name != "" {
		n.fsys.C.Remove(context.Background(), dir, name)
		par.listingRemove(name)
		par.mu.Lock()
		delete(par.pending, n)
		par.mu.Unlock()
		close(gone)
	}
}

// sillyWait is how long Rmdir waits for silly-renamed files of the
// directory to be removed by their last close.
const sillyWait = 2 * time.Second

// Rmdir is REMOVE of a directory. The kernel sends FUSE RELEASE
// asynchronously after close(2), so `rm dir/f; rmdir dir` can find f still
// open here and silly-renamed, its hidden name keeping dir non-empty for a
// moment: on ENOTEMPTY, wait for this directory's pending silly files and
// try once more.
func (n *Node) Rmdir(ctx context.Context, name string) syscall.Errno {
	errno := n.rmdir(ctx, name)
	if errno == 0 {
		n.listingRemove(name)
	} else {
		n.listingDrop()
	}
	return errno
}

func (n *Node) rmdir(ctx context.Context, name string) syscall.Errno {
	err := n.fsys.C.Remove(n.call(ctx), n.fh, name)
	if ToErrno(err) != syscall.ENOTEMPTY {
		return ToErrno(err)
	}
	ch := n.GetChild(name)
	if ch == nil {
		return syscall.ENOTEMPTY
	}
	cn, ok := ch.Operations().(*Node)
	if !ok {
		return syscall.ENOTEMPTY
	}
	cn.mu.Lock()
	var waits []chan struct{}
	for _, g := range cn.pending {
		waits = append(waits, g)
	}
	cn.mu.Unlock()
	if len(waits) == 0 {
		return syscall.ENOTEMPTY
	}
	deadline := time.After(sillyWait)
	for _, g := range waits {
		select {
		case <-g:
		case <-deadline:
			return syscall.ENOTEMPTY
		case <-ctx.Done():
			return syscall.EINTR
		}
	}
	return ToErrno(n.fsys.C.Remove(n.call(ctx), n.fh, name))
}

// Rename is RENAME (RFC 7530 §16.27). NFSv4 has no RENAME_NOREPLACE, so it
// is emulated with a LOOKUP first (racy against other clients, like
// every NFS client's); RENAME_EXCHANGE cannot be done atomically and is
// refused.
func (n *Node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*Node)
	if !ok {
		return syscall.EXDEV
	}
	if flags&unix.RENAME_EXCHANGE != 0 || flags&^uint32(unix.RENAME_NOREPLACE) != 0 {
		return syscall.EINVAL
	}
	cctx := n.call(ctx)
	n.listingDrop()
	np.listingDrop()
	if flags&unix.RENAME_NOREPLACE == 0 {
		// Renaming over a file open here: keep it as a silly name.
		np.sillyRename(ctx, newName)
	}
	if flags&unix.RENAME_NOREPLACE != 0 {
		_, _, err := n.fsys.C.LookupAttrs(cctx, np.fh, newName)
		if err == nil {
			return syscall.EEXIST
		}
		if e := ToErrno(err); e != syscall.ENOENT {
			return e
		}
	}
	return ToErrno(n.fsys.C.Rename(cctx, n.fh, name, np.fh, newName))
}

func (n *Node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	since := time.Now()
	t, ok := target.(*Node)
	if !ok {
		return nil, syscall.EXDEV
	}
	a, err := n.fsys.C.Link(n.call(ctx), t.fh, n.fh, name)
	if err != nil {
		n.listingDrop()
		return nil, ToErrno(err)
	}
	t.dropAttrs() // nlink changed (deleg.go)
	n.listingAdd(name, t.fh, a)
	return n.newChild(ctx, t.fh, a, out, since), 0
}

// Fsync without an open file (e.g. fsync of a directory) has nothing
// buffered on this side: directory operations are synchronous in NFSv4.
func (n *Node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if fh, ok := f.(*fileHandle); ok {
		return fh.Fsync(ctx, flags)
	}
	return 0
}
