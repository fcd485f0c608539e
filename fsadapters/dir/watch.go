package dir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Local change notification (fsadapters.ChangeWatcher) with fanotify(7).
//
// The server watches the files it delegates, so that a change by a local
// process recalls the delegation. One fanotify group per FS, created on
// the first Watch, with one inode mark per watched file (never a
// filesystem or mount mark: those would report every write on the
// machine). The group is FAN_CLASS_NOTIF: local processes are never
// blocked, the recall follows the change asynchronously.
//
// Events come from every process, fs_serv included; those whose pid is
// ours are dropped, so fs_serv's own I/O (on behalf of the holder, or of
// other clients, whose conflicts the server detects itself) recalls
// nothing.
//
// With FAN_REPORT_FID (Linux 5.1) events carry the object's file handle,
// which is the kernel handle inside our own handles, and the mask covers
// FAN_MODIFY, FAN_CLOSE_WRITE, FAN_ATTRIB (chmod, chown, utimes, link
// count: unlink and rename-over), FAN_DELETE_SELF and FAN_MOVE_SELF, plus
// FAN_OPEN and FAN_ACCESS for write delegations. Without FID reporting
// (older kernels, or a filesystem fanotify cannot name objects on) the
// group reports open fds instead, mapped back by device and inode, and only
// FAN_MODIFY, FAN_CLOSE_WRITE, FAN_OPEN and FAN_ACCESS are available: a
// local chmod, chown, utimes, unlink or rename then goes unnoticed.
// A queue overflow (FAN_Q_OVERFLOW) fires every watch.
//
// Directories (directory delegations, RFC 8881 §10.9) are watched in FID
// mode only: an inode mark on the directory with FAN_CREATE, FAN_DELETE,
// FAN_MOVED_FROM and FAN_MOVED_TO (entries, which fanotify reports only
// with FID reporting), FAN_ATTRIB, FAN_DELETE_SELF and FAN_MOVE_SELF (the
// directory itself), all with FAN_ONDIR so that subdirectories count and
// events on the directory inode are reported. Without FAN_EVENT_ON_CHILD
// a change inside a child file is not reported (it does not change the
// directory's entries). In fd mode Watch refuses directories
// (fsadapters.ErrWatchNotSupported), so they are not delegated.
//
// Not detectable: a local stat(2) of a file under a write delegation
// (fanotify has no event for it), and writes through a shared mmap until
// the writer closes the file.

// testNoFID makes tests use fd mode.
var testNoFID bool

// watcher is one FS's fanotify group.
type watcher struct {
	fs   *FS
	err  error    // set when the group could not be created: every Watch fails
	fd   int      // the group; owned by f, valid until f is closed (under mu)
	f    *os.File // non-blocking, so Close wakes the reader
	fid  bool     // FAN_REPORT_FID
	pid  int32    // our own pid: events we caused are dropped
	done chan struct{}

	mu     sync.Mutex
	closed bool
	byKey  map[string]*inodeWatch // kernel handle (handleKey)
	byIno  map[devIno]*inodeWatch
}

type devIno struct{ dev, ino uint64 }

// inodeWatch is the mark on one inode and its subscribers; the mark's
// mask is the union of theirs.
type inodeWatch struct {
	key  string
	ino  devIno
	fd   int // our own O_PATH fd: pins the inode and names it for fanotify_mark
	mask uint64
	dir  bool // a directory: dirMask, whatever the subscribers' write
	subs map[*watchSub]struct{}
}

type watchSub struct {
	write bool
	fn    func(fsadapters.Change)
}

const (
	// modifyMaskFID / modifyMaskFd: events that conflict with every
	// delegation, with and without FAN_REPORT_FID (ATTRIB and the *_SELF
	// events need it).
	modifyMaskFID = unix.FAN_MODIFY | unix.FAN_CLOSE_WRITE | unix.FAN_ATTRIB |
		unix.FAN_DELETE_SELF | unix.FAN_MOVE_SELF
	modifyMaskFd = unix.FAN_MODIFY | unix.FAN_CLOSE_WRITE
	// dirMask: the events of a watched directory (FID mode only).
	dirMask = unix.FAN_CREATE | unix.FAN_DELETE | unix.FAN_MOVED_FROM | unix.FAN_MOVED_TO |
		unix.FAN_ATTRIB | unix.FAN_DELETE_SELF | unix.FAN_MOVE_SELF | unix.FAN_ONDIR
	// dirEvents: dirMask's events that report a change (FAN_ONDIR only
	// qualifies them).
	dirEvents = dirMask &^ unix.FAN_ONDIR
	// accessMask: events that conflict with write delegations only.
	accessMask = unix.FAN_OPEN | unix.FAN_ACCESS

	fanMetadataVersion = 3         // FANOTIFY_METADATA_VERSION
	fidInfoMin         = 4 + 8 + 8 // info header, fsid, file_handle header
)

var _ fsadapters.ChangeWatcher = (*FS)(nil)

// Watch implements fsadapters.ChangeWatcher for regular files and, in
// FID mode, directories. It fails
// with an error wrapping fsadapters.ErrWatchUnavailable when fanotify
// cannot be used at all (no CAP_SYS_ADMIN, kernel without fanotify).
func (fs *FS) Watch(fh fsadapters.FileHandle, write bool, onChange func(fsadapters.Change)) (func(), error) {
	w := fs.watcher()
	if w.err != nil {
		return nil, w.err
	}
	kh, err := fs.decode(fh)
	if err != nil {
		return nil, err
	}
	r, at, err := fs.resolve(fh)
	if err != nil {
		return nil, err
	}
	defer fs.release(r)
	isDir := at.Type == fsadapters.TypeDir
	switch {
	case isDir && !w.fid:
		return nil, fmt.Errorf("dir: directory watch needs fanotify FID reporting: %w", fsadapters.ErrWatchNotSupported)
	case isDir:
		write = false
	case at.Type != fsadapters.TypeRegular:
		return nil, unix.EINVAL
	}
	key := handleKey(kh.Type(), kh.Bytes())
	sub := &watchSub{write: write, fn: onChange}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, unix.EBADF
	}
	iw := w.byKey[key]
	fresh := iw == nil
	if fresh {
		nfd, err := unix.FcntlInt(uintptr(r.fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		iw = &inodeWatch{key: key, ino: devIno{fs.rootDev, at.FileID}, fd: nfd, dir: isDir,
			subs: map[*watchSub]struct{}{}}
	}
	if want := iw.mask | w.maskFor(iw.dir, write); want != iw.mask {
		// /proc/self/fd/N: fanotify_mark takes no O_PATH fd as dirfd
		// with a NULL path, but follows the magic link to our inode.
		if err := unix.FanotifyMark(w.fd, unix.FAN_MARK_ADD, want, unix.AT_FDCWD, procPath(iw.fd)); err != nil {
			if fresh {
				unix.Close(iw.fd)
			}
			return nil, fmt.Errorf("dir: fanotify_mark: %w", err)
		}
		iw.mask = want
	}
	if fresh {
		w.byKey[key] = iw
		w.byIno[iw.ino] = iw
	}
	iw.subs[sub] = struct{}{}
	var once sync.Once
	return func() { once.Do(func() { w.cancel(iw, sub) }) }, nil
}

func (w *watcher) maskFor(dir, write bool) uint64 {
	if dir {
		return dirMask
	}
	m := uint64(modifyMaskFd)
	if w.fid {
		m = modifyMaskFID
	}
	if write {
		m |= accessMask
	}
	return m
}

// cancel drops one subscriber, narrowing or removing the mark.
func (w *watcher) cancel(iw *inodeWatch, sub *watchSub) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(iw.subs, sub)
	if w.closed || w.byKey[iw.key] != iw {
		return
	}
	var want uint64
	for s := range iw.subs {
		want |= w.maskFor(iw.dir, s.write)
	}
	if want == iw.mask {
		return
	}
	// Removing every bit destroys the mark. A failure leaves a mark that
	// only costs spurious events, which are dropped as unmatched.
	unix.FanotifyMark(w.fd, unix.FAN_MARK_REMOVE, iw.mask&^want, unix.AT_FDCWD, procPath(iw.fd))
	iw.mask = want
	if len(iw.subs) == 0 {
		unix.Close(iw.fd)
		delete(w.byKey, iw.key)
		if w.byIno[iw.ino] == iw {
			delete(w.byIno, iw.ino)
		}
	}
}

// watcher returns fs's watcher, creating the fanotify group on first use.
// A failure is remembered: fanotify will not become available later.
func (fs *FS) watcher() *watcher {
	fs.watchMu.Lock()
	defer fs.watchMu.Unlock()
	if w := fs.watch; w != nil {
		return w
	}
	w := &watcher{fs: fs, pid: int32(os.Getpid()), byKey: map[string]*inodeWatch{},
		byIno: map[devIno]*inodeWatch{}, done: make(chan struct{})}
	if err := w.start(); err != nil {
		w.err = fmt.Errorf("dir: %w: %v", fsadapters.ErrWatchUnavailable, err)
		close(w.done)
	}
	fs.watch = w
	return w
}

// start creates the group: FID mode if the kernel and the export's
// filesystem support it, else fd mode.
func (w *watcher) start() error {
	const flags = unix.FAN_CLASS_NOTIF | unix.FAN_CLOEXEC | unix.FAN_NONBLOCK
	const evFlags = unix.O_RDONLY | unix.O_LARGEFILE | unix.O_CLOEXEC
	fd, err := unix.FanotifyInit(flags|unix.FAN_REPORT_FID, evFlags)
	if err == nil && testNoFID {
		unix.Close(fd)
		err = unix.EINVAL
	}
	if err == nil {
		// FID reporting also needs the filesystem's cooperation (an fsid
		// and file handles): try a mark on the root.
		root := procPath(w.fs.rootFd)
		if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD, unix.FAN_ATTRIB|unix.FAN_ONDIR, unix.AT_FDCWD, root); err != nil {
			unix.Close(fd)
			fd = -1
		} else {
			unix.FanotifyMark(fd, unix.FAN_MARK_REMOVE, unix.FAN_ATTRIB|unix.FAN_ONDIR, unix.AT_FDCWD, root)
			w.fid = true
		}
	} else {
		fd = -1
	}
	if fd < 0 {
		if fd, err = unix.FanotifyInit(flags, evFlags); err != nil {
			return fmt.Errorf("fanotify_init: %w", err)
		}
	}
	w.fd = fd
	w.f = os.NewFile(uintptr(fd), "fanotify")
	go w.read()
	return nil
}

// stopWatcher ends fs's watcher (FS.Close): closing the group drops its
// marks; the reader goroutine has returned when it returns.
func (fs *FS) stopWatcher() {
	fs.watchMu.Lock()
	w := fs.watch
	fs.watch = nil
	fs.watchMu.Unlock()
	if w == nil || w.err != nil {
		return
	}
	w.mu.Lock()
	w.closed = true
	for _, iw := range w.byKey {
		unix.Close(iw.fd)
	}
	w.byKey, w.byIno = nil, nil
	w.f.Close()
	w.mu.Unlock()
	<-w.done
}

// read is the reader goroutine.
func (w *watcher) read() {
	defer close(w.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				// Cannot happen short of a kernel bug; nothing is
				// watched any more, so be conservative: fire all.
				w.fireAll()
			}
			return
		}
		w.dispatch(buf[:n])
	}
}

// dispatch handles the events in b (struct fanotify_event_metadata
// followed, in FID mode, by info records).
func (w *watcher) dispatch(b []byte) {
	ne := binary.NativeEndian
	for len(b) >= unix.FAN_EVENT_METADATA_LEN {
		evLen := int(ne.Uint32(b[0:4]))
		vers := b[4]
		mdLen := int(ne.Uint16(b[6:8]))
		mask := ne.Uint64(b[8:16])
		fd := int(int32(ne.Uint32(b[16:20])))
		pid := int32(ne.Uint32(b[20:24]))
		if evLen < unix.FAN_EVENT_METADATA_LEN || evLen > len(b) ||
			mdLen < unix.FAN_EVENT_METADATA_LEN || mdLen > evLen || vers != fanMetadataVersion {
			if fd >= 0 {
				unix.Close(fd)
			}
			w.fireAll() // not the format we know: we may miss changes
			return
		}
		ev := b[:evLen]
		b = b[evLen:]
		if mask&unix.FAN_Q_OVERFLOW != 0 {
			w.fireAll() // events were lost
			continue
		}
		if pid == w.pid {
			if fd >= 0 {
				unix.Close(fd)
			}
			continue
		}
		kind := fsadapters.ChangeAccess
		if mask&(modifyMaskFID|dirEvents) != 0 {
			kind = fsadapters.ChangeModify
		}
		var iw []*watchSub
		if fd >= 0 {
			iw = w.subsByFd(fd, kind)
			unix.Close(fd)
		} else {
			iw = w.subsByFID(ev[mdLen:], kind)
		}
		for _, s := range iw {
			s.fn(kind)
		}
	}
}

// subsByFd finds the subscribers for an fd-mode event.
func (w *watcher) subsByFd(fd int, kind fsadapters.Change) []*watchSub {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.subsLocked(w.byIno[devIno{st.Dev, st.Ino}], kind)
}

// subsByFID finds the subscribers for the FID info record in info.
func (w *watcher) subsByFID(info []byte, kind fsadapters.Change) []*watchSub {
	ne := binary.NativeEndian
	for len(info) >= 4 {
		typ, n := info[0], int(ne.Uint16(info[2:4]))
		if n < 4 || n > len(info) {
			return nil
		}
		rec := info[:n]
		info = info[n:]
		// Directory entry events name the directory: as FID with
		// FAN_REPORT_FID alone, as DFID if the group ever asks for
		// FAN_REPORT_DIR_FID.
		if (typ != unix.FAN_EVENT_INFO_TYPE_FID && typ != unix.FAN_EVENT_INFO_TYPE_DFID) || n < fidInfoMin {
			continue
		}
		hlen := int(ne.Uint32(rec[12:16]))
		htyp := int32(ne.Uint32(rec[16:20]))
		if hlen > n-fidInfoMin {
			return nil
		}
		h := rec[fidInfoMin : fidInfoMin+hlen]
		w.mu.Lock()
		iw := w.byKey[handleKey(htyp, h)]
		closed := w.closed
		w.mu.Unlock()
		if iw == nil && !closed {
			iw = w.byHandle(htyp, h)
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.subsLocked(iw, kind)
	}
	return nil
}

// byHandle is the slow path for a FID that matches no watch by its bytes:
// only marked inodes report events, so this is an event that raced with
// a cancel, or a filesystem whose fanotify handles differ from its
// name_to_handle_at ones. Identify the inode by opening the handle.
func (w *watcher) byHandle(typ int32, h []byte) *inodeWatch {
	w.mu.Lock()
	empty := len(w.byIno) == 0
	w.mu.Unlock()
	if empty {
		return nil
	}
	fd, err := unix.OpenByHandleAt(w.fs.mountFd, unix.NewFileHandle(typ, h), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Statx_t
	if statxFd(fd, &st) != nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.byIno[devIno{unix.Mkdev(st.Dev_major, st.Dev_minor), st.Ino}]
}

// subsLocked lists the subscribers of iw interested in kind.
func (w *watcher) subsLocked(iw *inodeWatch, kind fsadapters.Change) []*watchSub {
	if iw == nil || w.closed {
		return nil
	}
	var out []*watchSub
	for s := range iw.subs {
		if kind == fsadapters.ChangeModify || s.write {
			out = append(out, s)
		}
	}
	return out
}

// fireAll reports a change to every subscriber (events were lost).
func (w *watcher) fireAll() {
	w.mu.Lock()
	var out []*watchSub
	if !w.closed {
		for _, iw := range w.byKey {
			for s := range iw.subs {
				out = append(out, s)
			}
		}
	}
	w.mu.Unlock()
	for _, s := range out {
		s.fn(fsadapters.ChangeModify)
	}
}

// handleKey is the map key of a kernel handle.
func handleKey(typ int32, h []byte) string {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(h)), uint32(typ))
	return string(append(b, h...))
}
