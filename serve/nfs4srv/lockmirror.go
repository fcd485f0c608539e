package nfs4srv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/state"
)

// lockMirror implements state.LockHook: it mirrors every NFS lock owner's
// byte-range locks on a file into open-file-description locks on a
// descriptor of its own (fsadapters.RangeLocker), so processes on the
// server host and NFS clients see each other's locks. The server's
// in-memory lock table stays the authority among NFS clients (it carries
// owners and stateids); the kernel adds the local processes.
//
// One descriptor per (lock owner, file): OFD locks belong to the open file
// description, so two owners must never share one, and one owner's locks
// must not conflict with themselves. Closing the descriptor (Drop) releases
// everything, as lease expiry and RELEASE_LOCKOWNER require.
type lockMirror struct {
	s  *Server
	mu sync.Mutex
	// held: the descriptor of each (owner, file) that holds or held locks.
	held map[mirrorKey]fsadapters.File
}

type mirrorKey struct {
	clientID uint64
	owner    string
	file     string // fhKey
}

func newLockMirror(s *Server) *lockMirror {
	return &lockMirror{s: s, held: map[mirrorKey]fsadapters.File{}}
}

func keyOf(fhKey string, o *state.Owner) mirrorKey {
	return mirrorKey{o.ClientID(), string(o.Name()), fhKey}
}

// lockTypeOf maps an NFS lock type (0 = unlock) to the backend's.
func lockTypeOf(typ uint32) fsadapters.LockType {
	switch typ {
	case nfs4.ReadLT, nfs4.ReadWLT:
		return fsadapters.ReadLock
	case nfs4.WriteLT, nfs4.WriteWLT:
		return fsadapters.WriteLock
	}
	return fsadapters.Unlock
}

// lengthOf turns an inclusive end into a RangeLocker length (0: to EOF).
func lengthOf(start, end uint64) uint64 {
	if end == math.MaxUint64 {
		return 0
	}
	return end - start + 1
}

// SetLock implements state.LockHook.
func (lm *lockMirror) SetLock(fhKey string, open any, o *state.Owner, start, end uint64, typ uint32) error {
	of, _ := open.(*openFile)
	if of == nil {
		return nil
	}
	lm.mu.Lock()
	defer lm.mu.Unlock()
	k := keyOf(fhKey, o)
	f := lm.held[k]
	if f == nil {
		if typ == 0 {
			return nil // nothing held, nothing to release
		}
		var err error
		if f, err = lm.openFor(of); err != nil || f == nil {
			return err
		}
		lm.held[k] = f
	}
	rl := f.(fsadapters.RangeLocker)
	lt := lockTypeOf(typ)
	err := rl.SetLockRange(lt, start, lengthOf(start, end))
	if errors.Is(err, unix.EAGAIN) {
		return deniedByLocal(rl, lt, start, end)
	}
	if err != nil {
		return fmt.Errorf("mirroring lock to the backend: %w", err)
	}
	return nil
}

// Drop implements state.LockHook.
func (lm *lockMirror) Drop(fhKey string, o *state.Owner) {
	lm.mu.Lock()
	k := keyOf(fhKey, o)
	f := lm.held[k]
	delete(lm.held, k)
	lm.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// openFor opens the descriptor that will carry an owner's locks: read-write
// when the backend allows it (write locks need it), else read-only. It runs
// as the server (root): the client's permission to lock was its OPEN. A
// backend without RangeLocker gives nil: locks stay in memory only.
func (lm *lockMirror) openFor(of *openFile) (fsadapters.File, error) {
	fs := lm.s.exportByID(of.ex).fs
	ctx := context.Background()
	f, err := fs.Open(ctx, &fsadapters.Root, of.fh, fsadapters.OpenRead|fsadapters.OpenWrite)
	if err != nil {
		f, err = fs.Open(ctx, &fsadapters.Root, of.fh, fsadapters.OpenRead)
	}
	if err != nil {
		return nil, err
	}
	if _, ok := f.(fsadapters.RangeLocker); !ok {
		f.Close()
		return nil, nil
	}
	return f, nil
}

// deniedByLocal describes a conflict with a lock the kernel holds for a
// local process (or another descriptor) as LOCK4denied; the owner names the
// local process so `nfs4_getfacl`-style tools and logs can show it.
func deniedByLocal(rl fsadapters.RangeLocker, lt fsadapters.LockType, start, end uint64) error {
	d := &state.LockDenied{LockRange: state.LockRange{Offset: start, Length: lengthOf(start, end), Type: nfs4.WriteLT},
		Owner: []byte("local lock on the server")}
	if d.Length == 0 {
		d.Length = math.MaxUint64
	}
	if c, err := rl.TestLockRange(lt, start, lengthOf(start, end)); err == nil && c != nil {
		d.Offset, d.Length = c.Offset, c.Length
		if d.Length == 0 {
			d.Length = math.MaxUint64
		}
		if c.Type == fsadapters.ReadLock {
			d.Type = nfs4.ReadLT
		}
		if c.PID > 0 {
			d.Owner = fmt.Appendf(nil, "local pid %d on the server", c.PID)
		}
	}
	return d
}

// test is LOCKT's second half: after the in-memory table found no NFS
// conflict, ask the kernel about local processes. The owner's own
// descriptor is used when it has one, so its own locks do not count.
func (lm *lockMirror) test(c *compound, clientID uint64, owner []byte, typ uint32, off, length uint64) error {
	start, end := off, uint64(math.MaxUint64)
	if length != math.MaxUint64 {
		end = off + length - 1
	}
	lt := lockTypeOf(typ)
	// Held across the query: Drop must not close the owner's descriptor
	// (and the number be reused) while F_OFD_GETLK uses it.
	lm.mu.Lock()
	defer lm.mu.Unlock()
	f := lm.held[mirrorKey{clientID, string(owner), c.fhKey()}]
	if f == nil {
		ex := c.curExport()
		var err error
		f, err = ex.fs.Open(c.ctx, &fsadapters.Root, c.cur.h, fsadapters.OpenRead)
		if err != nil {
			return nil // cannot ask: the in-memory answer stands
		}
		defer f.Close()
	}
	rl, ok := f.(fsadapters.RangeLocker)
	if !ok {
		return nil
	}
	if cf, err := rl.TestLockRange(lt, start, lengthOf(start, end)); err != nil || cf == nil {
		return nil
	}
	return deniedByLocal(rl, lt, start, end)
}
