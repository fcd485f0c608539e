// Package mem is an in-RAM fsadapters backend, for tests and for exports
// that need no persistence.
//
// # Design
//
// Inodes live in a map keyed by fileid; fileids are never reused, and each
// inode also carries a random generation. A handle is 24 bytes: the
// instance's random boot id, the fileid and the generation, so handles from
// another instance (or from before a restart) are ErrStale and
// Caps().HandlesPersist is false.
//
// Locking: FS.mu (RWMutex) guards the namespace — the inode map, directory
// entries, parent pointers, link and open counts. Each inode's own mu guards
// its attributes and data, so I/O on different files and GETATTR proceed in
// parallel. Lock order is FS.mu before inode.mu. The change attribute comes
// from one global counter bumped on every modification, so it strictly
// increases regardless of clock granularity.
//
// Directories keep entries in a map by name plus a slice ordered by cookie.
// Each entry gets the directory's next cookie (starting at 3; 0-2 are
// reserved, RFC 7530 §16.24.4) when inserted, so cookies stay valid across
// inserts and removes and the cookie verifier never changes. Resuming a
// listing is a binary search (O(log n)); ReadDir copies entries out in
// small batches and calls fn without holding any lock.
//
// File data is sparse: a map of 64 KiB chunks, so a write at 5 GiB
// allocates one chunk. Files implement fsadapters.Allocator and Seeker.
// Capacity is a fixed 1 TiB (ENOSPC beyond it). Reads do not update atime.
//
// An unlinked inode stays in the map (its handle usable) while a File from
// Open is still open, and is dropped at the last Close.
//
// Permissions follow POSIX via fsadapters.CheckAccess: search on a
// directory for Lookup, read for ReadDir, write+search on a directory to
// create, remove or rename in it, the sticky bit, ownership for
// chmod/utimes, root-only chown to another uid.
package mem

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"golang.org/x/sys/unix"
)

const (
	chunkSize   = 64 << 10
	handleLen   = 24
	totalBytes  = 1 << 40
	totalFiles  = 1 << 32
	maxFileSize = 1 << 62
	maxName     = 255
	maxSymlink  = 4096
	firstCookie = 3
	batchSize   = 64
	rootID      = 1
)

// FS is an in-memory filesystem. The zero value is not usable; call New.
type FS struct {
	mu     sync.RWMutex
	inodes map[uint64]*inode
	nextID uint64
	root   *inode

	boot   [8]byte
	used   atomic.Int64 // bytes held in data chunks
	change atomic.Uint64
}

type inode struct {
	id, gen uint64
	typ     fsadapters.FileType

	// Guarded by FS.mu.
	nlink  uint32
	opens  int
	parent *inode // directories only
	dir    *dirData

	mu           sync.RWMutex
	mode         uint32
	uid, gid     uint32
	rdev         [2]uint32
	atime, mtime time.Time
	ctime, btime time.Time
	change       uint64
	verf         fsadapters.CreateVerf
	hasVerf      bool
	size         uint64
	chunks       map[int64]*[chunkSize]byte
	target       string
}

type dirent struct {
	name   string
	cookie uint64
	ino    *inode
}

type dirData struct {
	byName map[string]*dirent
	order  []*dirent // ascending cookie
	next   uint64
}

// New returns an empty filesystem whose root is a 0755 directory owned by
// uid 0, gid 0.
func New() *FS {
	fs := &FS{inodes: map[uint64]*inode{}, nextID: rootID}
	if _, err := crand.Read(fs.boot[:]); err != nil {
		panic(err)
	}
	fs.boot[0] |= 1 // never all zero: it doubles as the cookie verifier
	now := time.Now().Round(0)
	fs.root = fs.newInode(fsadapters.TypeDir, 0o755, 0, 0, now)
	fs.root.nlink = 2
	fs.root.parent = fs.root
	return fs
}

func (fs *FS) newInode(typ fsadapters.FileType, mode, uid, gid uint32, now time.Time) *inode {
	ino := &inode{
		id: fs.nextID, gen: rand.Uint64(), typ: typ, nlink: 1,
		mode: mode & 0o7777, uid: uid, gid: gid,
		atime: now, mtime: now, ctime: now, btime: now,
		change: fs.change.Add(1),
	}
	fs.nextID++
	if typ == fsadapters.TypeDir {
		ino.dir = &dirData{byName: map[string]*dirent{}, next: firstCookie}
		ino.nlink = 2
	}
	fs.inodes[ino.id] = ino
	return ino
}

func (fs *FS) handle(ino *inode) fsadapters.FileHandle {
	h := make([]byte, handleLen)
	copy(h, fs.boot[:])
	binary.BigEndian.PutUint64(h[8:], ino.id)
	binary.BigEndian.PutUint64(h[16:], ino.gen)
	return h
}

// resolve maps a handle to its inode. Caller holds fs.mu.
func (fs *FS) resolve(fh fsadapters.FileHandle) (*inode, error) {
	if len(fh) != handleLen {
		return nil, fsadapters.ErrBadHandle
	}
	if [8]byte(fh[:8]) != fs.boot {
		return nil, fsadapters.ErrStale
	}
	ino := fs.inodes[binary.BigEndian.Uint64(fh[8:])]
	if ino == nil || ino.gen != binary.BigEndian.Uint64(fh[16:]) {
		return nil, fsadapters.ErrStale
	}
	return ino, nil
}

func (fs *FS) resolveDir(fh fsadapters.FileHandle) (*inode, error) {
	ino, err := fs.resolve(fh)
	if err != nil {
		return nil, err
	}
	if ino.typ != fsadapters.TypeDir {
		return nil, unix.ENOTDIR
	}
	return ino, nil
}

// attr snapshots ino. Caller holds fs.mu (read or write), not ino.mu.
func (ino *inode) attr() fsadapters.Attr {
	ino.mu.RLock()
	defer ino.mu.RUnlock()
	return ino.attrLocked()
}

// attrLocked needs fs.mu and ino.mu (either mode).
func (ino *inode) attrLocked() fsadapters.Attr {
	a := fsadapters.Attr{
		Type: ino.typ, Mode: ino.mode, Nlink: ino.nlink, UID: ino.uid, GID: ino.gid,
		Size: ino.size, FileID: ino.id,
		RdevMajor: ino.rdev[0], RdevMinor: ino.rdev[1],
		Atime: ino.atime, Mtime: ino.mtime, Ctime: ino.ctime, Btime: ino.btime,
		Change: ino.change,
	}
	switch ino.typ {
	case fsadapters.TypeRegular:
		a.SpaceUsed = uint64(len(ino.chunks)) * chunkSize
	case fsadapters.TypeDir:
		a.Size = uint64(len(ino.dir.order)+2) * 32 // nominal, like tmpfs
	}
	return a
}

// checkAccess checks want bits of cred on ino. Caller holds fs.mu.
func checkAccess(ino *inode, cred *fsadapters.Cred, want uint32) error {
	ino.mu.RLock()
	a := fsadapters.Attr{Type: ino.typ, Mode: ino.mode, UID: ino.uid, GID: ino.gid}
	ino.mu.RUnlock()
	return fsadapters.CheckAccess(&a, cred, want)
}

// touch records a modification: ctime and change always, mtime if data
// (or, for directories, entries) changed. Caller holds ino.mu for writing.
func (fs *FS) touchLocked(ino *inode, now time.Time, mtime bool) {
	ino.ctime = now
	if mtime {
		ino.mtime = now
	}
	ino.change = fs.change.Add(1)
}

func (fs *FS) touch(ino *inode, now time.Time, mtime bool) {
	ino.mu.Lock()
	fs.touchLocked(ino, now, mtime)
	ino.mu.Unlock()
}

func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return unix.EINVAL
	case len(name) > maxName:
		return unix.ENAMETOOLONG
	case strings.ContainsAny(name, "/\x00"):
		return unix.EINVAL
	}
	return nil
}

// stickyDenied reports whether the sticky bit on dir stops cred from
// removing or replacing victim (unlink(2): EPERM).
func stickyDenied(dir, victim *inode, cred *fsadapters.Cred) bool {
	if cred.UID == 0 {
		return false
	}
	dir.mu.RLock()
	sticky, downer := dir.mode&0o1000 != 0, dir.uid
	dir.mu.RUnlock()
	if !sticky || cred.UID == downer {
		return false
	}
	victim.mu.RLock()
	defer victim.mu.RUnlock()
	return cred.UID != victim.uid
}

func (d *dirData) insert(name string, ino *inode) {
	de := &dirent{name: name, cookie: d.next, ino: ino}
	d.next++
	d.byName[name] = de
	d.order = append(d.order, de)
}

func (d *dirData) remove(name string) {
	de := d.byName[name]
	delete(d.byName, name)
	i := sort.Search(len(d.order), func(i int) bool { return d.order[i].cookie >= de.cookie })
	d.order = slices.Delete(d.order, i, i+1)
}

// maybeFree drops an inode that has neither links nor opens. Caller holds
// fs.mu for writing.
func (fs *FS) maybeFree(ino *inode) {
	if ino.nlink > 0 || ino.opens > 0 {
		return
	}
	delete(fs.inodes, ino.id)
	ino.mu.Lock()
	fs.used.Add(-int64(len(ino.chunks)) * chunkSize)
	ino.chunks = nil
	ino.mu.Unlock()
}

// Caps implements fsadapters.FS.
func (fs *FS) Caps() fsadapters.Caps {
	return fsadapters.Caps{
		FSIDMajor: binary.BigEndian.Uint64(fs.boot[:]),
		FSIDMinor: 0x6d656d, // "mem"
		TimeDelta: time.Nanosecond,
	}
}

// Root implements fsadapters.FS.
func (fs *FS) Root() fsadapters.FileHandle { return fs.handle(fs.root) }

// CheckHandle implements fsadapters.FS.
func (fs *FS) CheckHandle(ctx context.Context, fh fsadapters.FileHandle) error {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	_, err := fs.resolve(fh)
	return err
}

// GetAttr implements fsadapters.FS.
func (fs *FS) GetAttr(ctx context.Context, fh fsadapters.FileHandle) (fsadapters.Attr, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.resolve(fh)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	return ino.attr(), nil
}

// SetAttr implements fsadapters.FS with the permission rules of chmod(2),
// chown(2), truncate(2) and utimensat(2).
func (fs *FS) SetAttr(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, sa *fsadapters.SetAttr) (fsadapters.Attr, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.resolve(fh)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if err := checkSetAttr(ino, cred, sa); err != nil {
		return fsadapters.Attr{}, err
	}
	fs.applySetAttrLocked(ino, cred, sa, time.Now().Round(0))
	return ino.attrLocked(), nil
}

// checkSetAttr validates sa for cred. Caller holds ino.mu.
func checkSetAttr(ino *inode, cred *fsadapters.Cred, sa *fsadapters.SetAttr) error {
	isRoot := cred.UID == 0
	owner := isRoot || cred.UID == ino.uid
	cur := fsadapters.Attr{Type: ino.typ, Mode: ino.mode, UID: ino.uid, GID: ino.gid}
	v := sa.Valid
	if v&fsadapters.SetSize != 0 {
		switch ino.typ {
		case fsadapters.TypeRegular:
		case fsadapters.TypeDir:
			return unix.EISDIR
		default:
			return unix.EINVAL
		}
		if sa.Size > maxFileSize {
			return unix.EFBIG
		}
		if err := fsadapters.CheckAccess(&cur, cred, fsadapters.MayWrite); err != nil {
			return err
		}
	}
	if v&fsadapters.SetMode != 0 && !owner {
		return unix.EPERM
	}
	if v&fsadapters.SetUID != 0 && !isRoot && (cred.UID != ino.uid || sa.UID != ino.uid) {
		return unix.EPERM
	}
	if v&fsadapters.SetGID != 0 && !isRoot && (cred.UID != ino.uid || (sa.GID != ino.gid && !cred.InGroup(sa.GID))) {
		return unix.EPERM
	}
	if v&(fsadapters.SetAtime|fsadapters.SetMtime) != 0 && !owner {
		return unix.EPERM
	}
	if v&(fsadapters.SetAtimeNow|fsadapters.SetMtimeNow) != 0 && !owner {
		if err := fsadapters.CheckAccess(&cur, cred, fsadapters.MayWrite); err != nil {
			return err
		}
	}
	return nil
}

// applySetAttrLocked applies a validated sa. Caller holds ino.mu.
func (fs *FS) applySetAttrLocked(ino *inode, cred *fsadapters.Cred, sa *fsadapters.SetAttr, now time.Time) {
	v := sa.Valid
	if v&(fsadapters.SetUID|fsadapters.SetGID) != 0 {
		if v&fsadapters.SetUID != 0 {
			ino.uid = sa.UID
		}
		if v&fsadapters.SetGID != 0 {
			ino.gid = sa.GID
		}
		// chown(2) clears setuid, and setgid when group-executable.
		if ino.typ != fsadapters.TypeDir {
			ino.mode &^= 0o4000
			if ino.mode&0o010 != 0 {
				ino.mode &^= 0o2000
			}
		}
	}
	if v&fsadapters.SetMode != 0 {
		ino.mode = sa.Mode & 0o7777
		// chmod(2): setgid is dropped for a non-member, non-root caller.
		if cred.UID != 0 && ino.typ != fsadapters.TypeDir && !cred.InGroup(ino.gid) {
			ino.mode &^= 0o2000
		}
	}
	mtime := false
	if v&fsadapters.SetSize != 0 {
		fs.truncateLocked(ino, sa.Size)
		mtime = true
	}
	switch {
	case v&fsadapters.SetAtimeNow != 0:
		ino.atime = now
	case v&fsadapters.SetAtime != 0:
		ino.atime = sa.Atime
	}
	switch {
	case v&fsadapters.SetMtimeNow != 0:
		ino.mtime = now
	case v&fsadapters.SetMtime != 0:
		ino.mtime = sa.Mtime
	}
	fs.touchLocked(ino, now, mtime)
}

// Lookup implements fsadapters.FS.
func (fs *FS) Lookup(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle, name string) (fsadapters.FileHandle, fsadapters.Attr, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	dir, err := fs.resolveDir(dirfh)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	if err := checkAccess(dir, cred, fsadapters.MayExec); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	de := dir.dir.byName[name]
	if de == nil {
		if len(name) > maxName {
			return nil, fsadapters.Attr{}, unix.ENAMETOOLONG
		}
		return nil, fsadapters.Attr{}, unix.ENOENT
	}
	return fs.handle(de.ino), de.ino.attr(), nil
}

// LookupParent implements fsadapters.FS.
func (fs *FS) LookupParent(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle) (fsadapters.FileHandle, fsadapters.Attr, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	dir, err := fs.resolveDir(dirfh)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	if dir == fs.root {
		return nil, fsadapters.Attr{}, unix.ENOENT
	}
	if err := checkAccess(dir, cred, fsadapters.MayExec); err != nil {
		return nil, fsadapters.Attr{}, err
	}
	return fs.handle(dir.parent), dir.parent.attr(), nil
}

// ReadDir implements fsadapters.FS. Cookies are stable for the life of the
// directory, so the verifier is the (constant) boot id; another non-zero
// verifier or a cookie that was never issued is ErrBadCookie.
func (fs *FS) ReadDir(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle, cookie uint64, verf fsadapters.CookieVerf,
	fn func(*fsadapters.DirEntry) bool) (fsadapters.CookieVerf, bool, error) {
	myVerf := fsadapters.CookieVerf(fs.boot)
	first := true
	for {
		var batch []fsadapters.DirEntry
		fs.mu.RLock()
		dir, err := fs.resolveDir(dirfh)
		if err == nil && first {
			err = checkAccess(dir, cred, fsadapters.MayRead)
			// Cookies never expire, so a zero verifier (as some clients
			// send after losing theirs) is accepted too.
			badVerf := verf != myVerf && verf != (fsadapters.CookieVerf{})
			if err == nil && cookie != 0 && (badVerf || cookie < firstCookie || cookie >= dir.dir.next) {
				err = fsadapters.ErrBadCookie
			}
		}
		if err != nil {
			fs.mu.RUnlock()
			return myVerf, false, err
		}
		first = false
		order := dir.dir.order
		i := sort.Search(len(order), func(i int) bool { return order[i].cookie > cookie })
		for ; i < len(order) && len(batch) < batchSize; i++ {
			de := order[i]
			batch = append(batch, fsadapters.DirEntry{Name: de.name, Cookie: de.cookie, Handle: fs.handle(de.ino), Attr: de.ino.attr()})
		}
		end := i == len(order)
		fs.mu.RUnlock()

		for j := range batch {
			if !fn(&batch[j]) {
				return myVerf, false, nil
			}
			cookie = batch[j].Cookie
		}
		if end {
			return myVerf, true, nil
		}
		if err := ctx.Err(); err != nil {
			return myVerf, false, err
		}
	}
}

// Readlink implements fsadapters.FS.
func (fs *FS) Readlink(ctx context.Context, fh fsadapters.FileHandle) (string, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.resolve(fh)
	if err != nil {
		return "", err
	}
	if ino.typ != fsadapters.TypeSymlink {
		return "", unix.EINVAL
	}
	ino.mu.RLock()
	defer ino.mu.RUnlock()
	return ino.target, nil
}

// prepareCreate does the checks common to every call that adds a name:
// dir is a directory, name is valid and free, cred may write in dir, and
// the ownership in attrs is one cred may set. Caller holds fs.mu.
func (fs *FS) prepareCreate(cred *fsadapters.Cred, dirfh fsadapters.FileHandle, name string, attrs *fsadapters.SetAttr) (*inode, error) {
	dir, err := fs.resolveDir(dirfh)
	if err != nil {
		return nil, err
	}
	if dir.nlink == 0 {
		return nil, unix.ENOENT // removed directory still open by handle
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := checkAccess(dir, cred, fsadapters.MayWrite|fsadapters.MayExec); err != nil {
		return nil, err
	}
	if dir.dir.byName[name] != nil {
		return nil, unix.EEXIST
	}
	if attrs != nil && cred.UID != 0 {
		if attrs.Valid&fsadapters.SetUID != 0 && attrs.UID != cred.UID {
			return nil, unix.EPERM
		}
		if attrs.Valid&fsadapters.SetGID != 0 && !cred.InGroup(attrs.GID) {
			return nil, unix.EPERM
		}
	}
	return dir, nil
}

// addChild creates an inode of typ named name in dir, owned by cred (gid
// from a setgid dir, BSD style), with attrs applied. Caller holds fs.mu
// for writing and has called prepareCreate.
func (fs *FS) addChild(cred *fsadapters.Cred, dir *inode, name string, typ fsadapters.FileType, defMode uint32, attrs *fsadapters.SetAttr) *inode {
	now := time.Now().Round(0)
	dir.mu.RLock()
	gid, setgid := cred.GID, dir.mode&0o2000 != 0
	if setgid {
		gid = dir.gid
	}
	dir.mu.RUnlock()
	mode := defMode
	if attrs != nil && attrs.Valid&fsadapters.SetMode != 0 {
		mode = attrs.Mode
	}
	ino := fs.newInode(typ, mode, cred.UID, gid, now)
	if typ == fsadapters.TypeDir {
		ino.parent = dir
		dir.nlink++
		if setgid {
			ino.mode |= 0o2000
		}
	} else if cred.UID != 0 && ino.mode&0o2000 != 0 && !cred.InGroup(gid) {
		ino.mode &^= 0o2000
	}
	if attrs != nil {
		rest := *attrs
		rest.Valid &^= fsadapters.SetMode
		if typ != fsadapters.TypeRegular {
			rest.Valid &^= fsadapters.SetSize
		}
		if rest.Valid != 0 {
			ino.mu.Lock()
			fs.applySetAttrLocked(ino, &fsadapters.Root, &rest, now)
			ino.mu.Unlock()
		}
	}
	dir.dir.insert(name, ino)
	fs.touch(dir, now, true)
	return ino
}

// Create implements fsadapters.FS (OPEN with OPEN4_CREATE, RFC 8881
// §18.16.3: UNCHECKED4, GUARDED4, EXCLUSIVE4).
func (fs *FS) Create(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle, name string, req *fsadapters.CreateReq) (fsadapters.FileHandle, fsadapters.Attr, bool, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, err := fs.resolveDir(dirfh)
	if err != nil {
		return nil, fsadapters.Attr{}, false, err
	}
	if err := checkAccess(dir, cred, fsadapters.MayExec); err != nil {
		return nil, fsadapters.Attr{}, false, err
	}
	if de := dir.dir.byName[name]; de != nil {
		ino := de.ino
		switch req.Mode {
		case fsadapters.CreateGuarded:
			return nil, fsadapters.Attr{}, false, unix.EEXIST
		case fsadapters.CreateExclusive:
			ino.mu.RLock()
			same := ino.typ == fsadapters.TypeRegular && ino.hasVerf && ino.verf == req.Verf
			ino.mu.RUnlock()
			if !same {
				return nil, fsadapters.Attr{}, false, unix.EEXIST
			}
			return fs.handle(ino), ino.attr(), false, nil
		}
		if err := fsadapters.CheckCreateOver(ino.typ); err != nil {
			return nil, fsadapters.Attr{}, false, err
		}
		if req.Attrs.Valid&fsadapters.SetSize != 0 {
			sa := fsadapters.SetAttr{Valid: fsadapters.SetSize, Size: req.Attrs.Size}
			ino.mu.Lock()
			err := checkSetAttr(ino, cred, &sa)
			if err == nil {
				fs.applySetAttrLocked(ino, cred, &sa, time.Now().Round(0))
			}
			ino.mu.Unlock()
			if err != nil {
				return nil, fsadapters.Attr{}, false, err
			}
		}
		return fs.handle(ino), ino.attr(), false, nil
	}
	attrs := req.Attrs
	if req.Mode == fsadapters.CreateExclusive {
		attrs.Valid &= fsadapters.SetMode
	}
	if _, err := fs.prepareCreate(cred, dirfh, name, &attrs); err != nil {
		return nil, fsadapters.Attr{}, false, err
	}
	ino := fs.addChild(cred, dir, name, fsadapters.TypeRegular, 0o644, &attrs)
	if req.Mode == fsadapters.CreateExclusive {
		ino.verf, ino.hasVerf = req.Verf, true // not yet visible to others: fs.mu held
	}
	return fs.handle(ino), ino.attr(), true, nil
}

// Mkdir implements fsadapters.FS.
func (fs *FS) Mkdir(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle, name string, attrs *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, err := fs.prepareCreate(cred, dirfh, name, attrs)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	ino := fs.addChild(cred, dir, name, fsadapters.TypeDir, 0o755, attrs)
	return fs.handle(ino), ino.attr(), nil
}

// Symlink implements fsadapters.FS. Symlinks are always mode 0777.
func (fs *FS) Symlink(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle, name, target string, attrs *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return nil, fsadapters.Attr{}, unix.EINVAL
	}
	if len(target) > maxSymlink {
		return nil, fsadapters.Attr{}, unix.ENAMETOOLONG
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, err := fs.prepareCreate(cred, dirfh, name, attrs)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	var rest fsadapters.SetAttr
	if attrs != nil {
		rest = *attrs
	}
	rest.Valid &^= fsadapters.SetMode
	ino := fs.addChild(cred, dir, name, fsadapters.TypeSymlink, 0o777, &rest)
	ino.mu.Lock()
	ino.target = target
	ino.size = uint64(len(target))
	ino.mu.Unlock()
	return fs.handle(ino), ino.attr(), nil
}

// Mknod implements fsadapters.FS. Only root may make device nodes, as
// mknod(2) requires CAP_MKNOD.
func (fs *FS) Mknod(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle, name string, typ fsadapters.FileType, major, minor uint32, attrs *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	switch typ {
	case fsadapters.TypeFIFO, fsadapters.TypeSocket:
		major, minor = 0, 0
	case fsadapters.TypeBlock, fsadapters.TypeChar:
		if cred.UID != 0 {
			return nil, fsadapters.Attr{}, unix.EPERM
		}
	default:
		return nil, fsadapters.Attr{}, unix.EINVAL
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, err := fs.prepareCreate(cred, dirfh, name, attrs)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	ino := fs.addChild(cred, dir, name, typ, 0o644, attrs)
	ino.mu.Lock()
	ino.rdev = [2]uint32{major, minor}
	ino.mu.Unlock()
	return fs.handle(ino), ino.attr(), nil
}

// Link implements fsadapters.FS.
func (fs *FS) Link(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, dirfh fsadapters.FileHandle, name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.resolve(fh)
	if err != nil {
		return err
	}
	dir, err := fs.prepareCreate(cred, dirfh, name, nil)
	if err != nil {
		return err
	}
	if ino.typ == fsadapters.TypeDir {
		return unix.EPERM
	}
	if ino.nlink == 0 {
		return unix.ENOENT // open but unlinked, as linkat(2) without AT_EMPTY_PATH
	}
	now := time.Now().Round(0)
	ino.nlink++
	fs.touch(ino, now, false)
	dir.dir.insert(name, ino)
	fs.touch(dir, now, true)
	return nil
}

// Remove implements fsadapters.FS.
func (fs *FS) Remove(ctx context.Context, cred *fsadapters.Cred, dirfh fsadapters.FileHandle, name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, err := fs.resolveDir(dirfh)
	if err != nil {
		return err
	}
	if err := checkAccess(dir, cred, fsadapters.MayWrite|fsadapters.MayExec); err != nil {
		return err
	}
	de := dir.dir.byName[name]
	if de == nil {
		return unix.ENOENT
	}
	child := de.ino
	if stickyDenied(dir, child, cred) {
		return unix.EPERM
	}
	if child.typ == fsadapters.TypeDir && len(child.dir.order) > 0 {
		return unix.ENOTEMPTY
	}
	now := time.Now().Round(0)
	dir.dir.remove(name)
	fs.unlinkInode(dir, child, now)
	fs.touch(dir, now, true)
	return nil
}

// unlinkInode drops one link to child, whose entry in dir is gone. Caller
// holds fs.mu for writing.
func (fs *FS) unlinkInode(dir, child *inode, now time.Time) {
	if child.typ == fsadapters.TypeDir {
		child.nlink = 0
		dir.nlink--
	} else {
		child.nlink--
	}
	fs.touch(child, now, false)
	fs.maybeFree(child)
}

// Rename implements fsadapters.FS with rename(2) semantics (and
// RENAME_NOREPLACE).
func (fs *FS) Rename(ctx context.Context, cred *fsadapters.Cred, srcfh fsadapters.FileHandle, srcName string, dstfh fsadapters.FileHandle, dstName string, noReplace bool) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	sd, err := fs.resolveDir(srcfh)
	if err != nil {
		return err
	}
	dd, err := fs.resolveDir(dstfh)
	if err != nil {
		return err
	}
	if err := checkName(dstName); err != nil {
		return err
	}
	for _, d := range []*inode{sd, dd} {
		if err := checkAccess(d, cred, fsadapters.MayWrite|fsadapters.MayExec); err != nil {
			return err
		}
	}
	sde := sd.dir.byName[srcName]
	if sde == nil {
		return unix.ENOENT
	}
	src := sde.ino
	if stickyDenied(sd, src, cred) {
		return unix.EPERM
	}
	if dd.nlink == 0 {
		return unix.ENOENT
	}
	var dst *inode
	if dde := dd.dir.byName[dstName]; dde != nil {
		dst = dde.ino
		if dst == src {
			return nil // both names link the same file: rename(2) does nothing
		}
		if noReplace {
			return unix.EEXIST
		}
		if src.typ == fsadapters.TypeDir {
			if dst.typ != fsadapters.TypeDir {
				return unix.ENOTDIR
			}
			if len(dst.dir.order) > 0 {
				return unix.ENOTEMPTY
			}
		} else if dst.typ == fsadapters.TypeDir {
			return unix.EISDIR
		}
		if stickyDenied(dd, dst, cred) {
			return unix.EPERM
		}
	}
	if src.typ == fsadapters.TypeDir && sd != dd {
		for p := dd; ; p = p.parent {
			if p == src {
				return unix.EINVAL // into its own subtree
			}
			if p == fs.root {
				break
			}
		}
		// Its ".." entry changes, which needs write access to it.
		if err := checkAccess(src, cred, fsadapters.MayWrite); err != nil {
			return err
		}
	}
	now := time.Now().Round(0)
	if dst != nil {
		dd.dir.remove(dstName)
		fs.unlinkInode(dd, dst, now)
	}
	sd.dir.remove(srcName)
	dd.dir.insert(dstName, src)
	if src.typ == fsadapters.TypeDir && sd != dd {
		src.parent = dd
		sd.nlink--
		dd.nlink++
	}
	fs.touch(src, now, false)
	fs.touch(sd, now, true)
	if dd != sd {
		fs.touch(dd, now, true)
	}
	return nil
}

// StatFS implements fsadapters.FS: a fixed 1 TiB and 2^32 inodes.
func (fs *FS) StatFS(ctx context.Context, fh fsadapters.FileHandle) (fsadapters.StatFS, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	if _, err := fs.resolve(fh); err != nil {
		return fsadapters.StatFS{}, err
	}
	free := uint64(totalBytes - min(fs.used.Load(), totalBytes))
	files := uint64(totalFiles - len(fs.inodes))
	return fsadapters.StatFS{
		TotalBytes: totalBytes, FreeBytes: free, AvailBytes: free,
		TotalFiles: totalFiles, FreeFiles: files, AvailFiles: files,
		MaxName: maxName,
	}, nil
}

// Open implements fsadapters.FS.
func (fs *FS) Open(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, flags fsadapters.OpenFlags) (fsadapters.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.resolve(fh)
	if err != nil {
		return nil, err
	}
	if err := fsadapters.CheckOpenType(ino.typ); err != nil {
		return nil, err
	}
	if err := checkAccess(ino, cred, fsadapters.OpenAccess(flags)); err != nil {
		return nil, err
	}
	ino.opens++
	return &file{fs: fs, ino: ino, flags: flags}, nil
}
