package nfs4srv

import (
	"sync"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/state"
)

// openFile is the handle an open stateid carries (state.SetOpenHandle): the
// backend File opened for that open, shared by the open's READs and WRITEs.
// The backend File is opened read-write whenever the open has write access
// and permissions allow, because READ through a write-only open is legal
// (RFC 8881 §18.22.4) and clients do it (the page cache reads around
// partial writes).
type openFile struct {
	mu     sync.Mutex
	refs   int  // I/O requests using f right now
	closed bool // CLOSE/expiry asked to close f; the last user does it

	f     fsadapters.File
	flags fsadapters.OpenFlags
	ex    int
	fh    fsadapters.FileHandle
	key   string // fhKey: the wire handle as a string
}

// acquire pins f for one I/O request; false if the open is already closed.
func (o *openFile) acquire() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.refs++
	return true
}

// release unpins f, closing it if a close was asked for meanwhile.
func (o *openFile) release() {
	o.mu.Lock()
	o.refs--
	last := o.closed && o.refs == 0
	o.mu.Unlock()
	if last {
		o.f.Close()
	}
}

// close closes f now, or when the last in-flight request releases it. A
// file descriptor closed under a running pread could be reused by another
// open and serve that file's data, so closing always waits.
func (o *openFile) close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	now := o.refs == 0
	o.mu.Unlock()
	if now {
		o.f.Close()
	}
}

// fhKey is the state-table key of the current filehandle.
func (c *compound) fhKey() string { return string(c.cur.wire) }

// resolveStateID replaces the 4.1 "current stateid" (seqid 1, other 0;
// RFC 8881 §16.2.3.1.2) with the compound's current stateid.
func (c *compound) resolveStateID(sid nfs4.StateID) (nfs4.StateID, nfs4.Status) {
	if c.minor >= 1 && state.Classify(sid) == state.Current {
		if !c.haveCurSID {
			return sid, nfs4.ErrBadStateID
		}
		return c.curSID, nfs4.OK
	}
	return sid, nfs4.OK
}

// setCurrentStateID records sid as the current stateid (minor ≥ 1).
func (c *compound) setCurrentStateID(sid nfs4.StateID) {
	c.curSID, c.haveCurSID = sid, true
}

// fileForIO validates sid for I/O on the current filehandle and returns
// the backend File to use and a function to call when done. Special
// stateids (anonymous, bypass) and delegation stateids get a File opened
// for this one request with the caller's credentials.
func (c *compound) fileForIO(sid nfs4.StateID, write bool) (fsadapters.File, func(), nfs4.Status) {
	sid, st := c.resolveStateID(sid)
	if st != nfs4.OK {
		return nil, nil, st
	}
	h, err := c.s.state.CheckIO(sid, c.fhKey(), write, c.minor)
	if err != nil {
		return nil, nil, statusOf(err)
	}
	if of, ok := h.(*openFile); ok && of != nil {
		if write && of.flags&fsadapters.OpenWrite == 0 {
			return nil, nil, nfs4.ErrOpenMode
		}
		if st := c.checkIOAccess(write); st != nfs4.OK {
			return nil, nil, st
		}
		if !of.acquire() {
			return nil, nil, nfs4.ErrBadStateID
		}
		return of.f, of.release, nfs4.OK
	}
	flags := fsadapters.OpenRead
	if write {
		flags = fsadapters.OpenWrite
	}
	f, err := c.fs().Open(c.ctx, &c.cred, c.cur.h, flags)
	if err != nil {
		return nil, nil, statusOf(err)
	}
	return f, func() { f.Close() }, nfs4.OK
}
