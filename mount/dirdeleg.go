package mount

import (
	"context"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fsbridge/fsbridge/client/nfs4client"
)

// Directory delegations (RFC 8881 §10.9): the lookahead listing of a
// directory (lookahead.go) is fetched under a directory delegation when the
// server grants one. While it is held, no other client (nor a local process
// on the server) changes the directory's entries without the server first
// recalling it, so:
//
//   - the listing keeps answering which names exist past its usual TTL:
//     a name absent from it is absent (no LOOKUP), a name present still
//     names the same object; its attributes, which the delegation does not
//     cover, are then handed out valid for no time, so the kernel fetches
//     them (GETATTR) when it needs them and not for an unlink or a rename;
//   - the kernel is told so: entries answered from the listing, positive
//     and negative, get a long entry timeout (DelegTimeout), and a negative
//     one is cached by the kernel at all (lookupFS.Lookup), so a repeated
//     stat or open of a missing name costs nothing.
//
// On recall (another client or a local process changes the directory, or
// the delegation is lost) every name handed out with the long timeout is
// invalidated in the kernel (NotifyEntry), the listing dropped, and the
// client returns the delegation. We ask for no notifications: any change by
// someone else ends the delegation, and the next burst of lookups lists the
// directory again under a new one.
//
// The delegation is asked for before the READDIR, so a change that races
// with the listing recalls it and the listing is discarded (gen).

// dirDelegMaxNames bounds the names per directory handed out with the long
// timeout; past it, answers carry the usual timeouts.
const dirDelegMaxNames = 8192

// dirDelegState is a directory node's delegation state (n.look.mu).
type dirDelegState struct {
	d     *nfs4client.DirDeleg
	names map[string]struct{} // given to the kernel with DelegTimeout
}

// dirDelegNodes maps directory handles to the nodes holding delegations.
type dirDelegNodes struct {
	mu sync.Mutex
	m  map[string]*Node
}

// enableDirDelegations installs the recall hook (after the session is up).
func (fsys *FS) enableDirDelegations() {
	if fsys.Opts.NoDeleg || fsys.C == nil {
		return
	}
	fsys.C.SetDirDelegHooks(nfs4client.DirDelegHooks{OnRecall: fsys.dirRecalled})
}

// getDirDeleg asks for a delegation on directory n before it is listed.
func (n *Node) getDirDeleg(ctx context.Context) *nfs4client.DirDeleg {
	f := n.fsys
	if f.Opts.NoDeleg || f.C.Minor < 1 {
		return nil
	}
	f.dd.mu.Lock()
	if f.dd.m == nil {
		f.dd.m = map[string]*Node{}
	}
	f.dd.m[string(n.fh)] = n // before asking: a recall may come at once
	f.dd.mu.Unlock()
	d, err := f.C.GetDirDelegation(ctx, n.fh, nil)
	if err != nil {
		f.dd.mu.Lock()
		if f.dd.m[string(n.fh)] == n && f.C.DirDelegation(n.fh) == nil {
			delete(f.dd.m, string(n.fh)) // nothing to recall: do not keep n
		}
		f.dd.mu.Unlock()
		return nil
	}
	return d
}

// dirDelegLocked returns n's valid directory delegation (n.look.mu held).
func (n *Node) dirDelegLocked() *nfs4client.DirDeleg {
	if d := n.look.dd.d; d != nil && d.Valid() {
		return d
	}
	return nil
}

// longEntryLocked gives an answer about name taken from n's listing the
// long entry timeout when n holds a directory delegation, and remembers
// the name for the recall (n.look.mu held). It reports whether it did.
func (n *Node) longEntryLocked(name string, out *fuse.EntryOut) bool {
	dd := &n.look.dd
	if n.dirDelegLocked() == nil {
		return false
	}
	if _, ok := dd.names[name]; !ok {
		if len(dd.names) >= dirDelegMaxNames {
			return false
		}
		if dd.names == nil {
			dd.names = map[string]struct{}{}
		}
		dd.names[name] = struct{}{}
	}
	out.SetEntryTimeout(DelegTimeout)
	return true
}

// dirRecalled is the client's OnRecall hook: the directory delegation on
// fh ends. The kernel forgets what it was told on its strength.
func (fsys *FS) dirRecalled(fh []byte) {
	fsys.dd.mu.Lock()
	n := fsys.dd.m[string(fh)]
	delete(fsys.dd.m, string(fh))
	fsys.dd.mu.Unlock()
	if n == nil {
		return
	}
	l := &n.look
	l.mu.Lock()
	names := l.dd.names
	l.dd = dirDelegState{}
	l.gen++
	l.entries = nil
	l.lastHit = time.Time{}
	l.mu.Unlock()
	invalidate := func() {
		for name := range names {
			n.NotifyEntry(name)
		}
	}
	invalidate()
	if len(names) > 0 {
		// A LOOKUP answered just before the recall may reach the kernel
		// (which installs the entry in the calling thread, after our
		// reply) later than this invalidation: invalidate once more.
		time.AfterFunc(dirRecallRecheck, invalidate)
	}
}

// dirRecallRecheck is when dirRecalled invalidates its names again.
const dirRecallRecheck = 100 * time.Millisecond

// Lookup turns a negative answer that carries an entry timeout into a
// negative entry the kernel caches: go-fuse's bridge returns ENOENT, which
// the kernel never caches (unless a mount-wide NegativeTimeout is set),
// while a reply OK with node ID 0 is a negative entry valid for the entry
// timeout (fs/fuse/dir.c, fuse_lookup_name).
func (r *lockFlushFS) Lookup(cancel <-chan struct{}, header *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	st := r.RawFileSystem.Lookup(cancel, header, name, out)
	if st == fuse.ENOENT && out.EntryTimeout() > 0 {
		out.NodeId = 0
		return fuse.OK
	}
	return st
}
