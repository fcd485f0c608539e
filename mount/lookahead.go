package mount

import (
	"context"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Lookahead: answering a run of LOOKUPs in one directory from its listing.
//
// The kernel asks for names one at a time (stat of many files after their
// dentries were dropped, `rm` of a whole directory, the negative lookup
// before every create of an untar), and each is a round trip. When a
// directory sees lookaheadMisses lookups within lookaheadWindow, its whole
// listing is fetched instead (READDIR with attributes and handles, a few
// hundred entries per round trip) and later lookups are answered from it
// while it is younger than the entry timeout — including "no such name",
// since the listing is complete. That is the freshness the kernel's own
// dentry and attribute caches already give (entry_timeout, attr_timeout):
// a name another client adds or removes is seen at most that late.
//
// Changes made through this mount keep the listing exact: creating,
// linking and removing names update it; a rename drops the listings of
// both directories. An object whose data or attributes we changed after
// the listing was fetched (write, setattr, link, copy: dropAttrs) is not
// answered from it (its size or times there are old); touched remembers
// those for the entry timeout.
//
// LOOKUP checks the caller's search permission on the directory, so a
// listing answers only callers with the credential it was fetched with.
//
// Directories larger than lookaheadMaxEntries are not listed (memory; and
// a few lookups in a huge directory should not cost its whole listing).

const (
	lookaheadMisses     = 8
	lookaheadWindow     = 200 * time.Millisecond
	lookaheadMaxEntries = 1 << 16
	lookaheadMaxPages   = 512
)

// listing is a directory node's lookahead state.
type listing struct {
	mu        sync.Mutex
	misses    int       // lookups not answered from a listing …
	firstMiss time.Time // … since this time
	fetching  bool
	gen       uint64                 // bumped by every change through this mount (add, remove, drop)
	lastHit   time.Time              // last lookup answered from a listing
	at        time.Time              // when entries was fetched; zero: none
	cred      string                 // credKey of the caller it was fetched for
	entries   map[string]*nfs4.Attrs // complete listing: name → attributes with handle
	tooBig    time.Time              // the directory was over lookaheadMaxEntries at this time
	dd        dirDelegState          // directory delegation the listing is held under (dirdeleg.go)
}

// touchedFHs records objects changed through this mount, by handle, with
// the time of the change, and which have background writes in flight
// (writebehind.go): their attributes on the server are about to change.
type touchedFHs struct {
	mu    sync.Mutex
	m     map[string]touch
	limit int // size at which old entries are pruned (amortised: twice what is left)
}

type touch struct {
	at      time.Time
	writing int   // background writes in flight …
	writer  *Node // … through this node
}

func (t *touchedFHs) touch(fh []byte, ttl time.Duration) { t.change(fh, nil, 0, ttl) }

// busy records a change of n now; delta counts a background write
// starting (+1) or ending (-1).
func (t *touchedFHs) busy(n *Node, delta int, ttl time.Duration) { t.change(n.fh, n, delta, ttl) }

func (t *touchedFHs) change(fh []byte, n *Node, delta int, ttl time.Duration) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]touch{}
	}
	if len(t.m) >= max(t.limit, 4096) {
		for k, e := range t.m {
			if e.writing == 0 && now.Sub(e.at) > ttl {
				delete(t.m, k)
			}
		}
		t.limit = 2 * len(t.m)
	}
	e := t.m[string(fh)]
	e.at, e.writing = now, e.writing+delta
	if n != nil {
		e.writer = n
	}
	if e.writing == 0 {
		e.writer = nil
	}
	t.m[string(fh)] = e
}

// since reports whether fh was changed through this mount at or after
// at, or has a write in flight.
func (t *touchedFHs) since(fh []byte, at time.Time) bool {
	changed, _ := t.written(fh, at)
	return changed
}

// written is since, and returns the node whose background writes of fh
// are in flight, if any.
func (t *touchedFHs) written(fh []byte, at time.Time) (bool, *Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[string(fh)]
	return ok && (e.writing > 0 || !e.at.Before(at)), e.writer
}

// ttl is how long a listing answers lookups: the entry timeout (the
// kernel may keep what we answer that long anyway), at most the attribute
// timeout, since the answer carries attributes too.
func (f *FS) lookaheadTTL() time.Duration {
	return min(f.Opts.EntryTimeout, f.Opts.AttrTimeout)
}

// cachedLookup answers name from n's listing for a caller with credential
// cred: found (a, true), absent (nil, true), or unknown (false); age is how
// old the listing is. An age past the TTL (only under a directory
// delegation) means a's attributes are old: only its handle is known.
func (n *Node) cachedLookup(name, cred string) (a *nfs4.Attrs, age time.Duration, ok bool) {
	ttl := n.fsys.lookaheadTTL()
	if ttl <= 0 {
		return nil, 0, false
	}
	l := &n.look
	l.mu.Lock()
	defer l.mu.Unlock()
	// Under a directory delegation the names stay valid past the TTL
	// (dirdeleg.go); the attributes in the listing do not.
	held := n.dirDelegLocked() != nil
	expired := time.Since(l.at) >= ttl
	if l.entries == nil || expired && !held {
		l.entries = nil
		return nil, 0, false
	}
	if cred != l.cred {
		return nil, 0, false
	}
	a = l.entries[name]
	// Past the TTL (only under a delegation, above) the name still leads
	// to the same object: the answer (age ≥ ttl) gets the long entry
	// timeout and attributes valid for no time, so what uses only the name
	// (unlink, rename, open) costs no round trip and what needs the
	// attributes (stat) fetches them. Objects we changed since the listing
	// ask the server: their attributes here are older than those the
	// kernel has, which they would overwrite.
	if a == askServer || a != nil && n.fsys.touched.since(a.FileHandle, l.at) {
		return nil, 0, false
	}
	l.lastHit = time.Now()
	return a, time.Since(l.at), true
}

// lookupMissed counts a lookup the listing could not answer and reports
// whether the directory should now be listed.
func (n *Node) lookupMissed() bool {
	if n.fsys.lookaheadTTL() <= 0 {
		return false
	}
	l := &n.look
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.firstMiss) > lookaheadWindow {
		l.misses, l.firstMiss = 0, now
	}
	l.misses++
	// A listing that was answering lookups a moment ago and has just
	// expired is fetched again at once: the run goes on.
	again := now.Sub(l.lastHit) < lookaheadWindow
	if (l.misses < lookaheadMisses && !again) || l.fetching || now.Sub(l.tooBig) < 10*lookaheadWindow ||
		l.entries != nil && n.dirDelegLocked() != nil {
		return false
	}
	l.fetching, l.misses = true, 0
	return true
}

// fetchListing lists n completely (bounded) into its lookahead state, with
// the credential of ctx's caller (cred).
func (n *Node) fetchListing(ctx context.Context, cred string) {
	start := time.Now()
	// The delegation comes first: a change by someone else after it is
	// granted recalls it (and bumps gen), so the listing below cannot miss
	// a change and still be trusted.
	n.look.mu.Lock()
	gen := n.look.gen
	d := n.dirDelegLocked()
	n.look.mu.Unlock()
	if d == nil {
		d = n.getDirDeleg(ctx)
	}
	entries := map[string]*nfs4.Attrs{}
	var cookie uint64
	var verf nfs4.Verifier
	ok := false
	for page := 0; page < lookaheadMaxPages; page++ {
		r, err := n.fsys.C.ReadDirPage(ctx, n.fh, cookie, verf, nfs4client.DirEntryAttrs)
		if err != nil {
			break
		}
		usable := true
		for i := range r.Entries {
			e := &r.Entries[i]
			a := entryAttrs(e)
			if a == nil || len(a.FileHandle) == 0 {
				usable = false // the server would not say: no listing
				break
			}
			entries[string(e.Name)] = a
		}
		if !usable || len(entries) > lookaheadMaxEntries {
			break
		}
		if r.EOF || len(r.Entries) == 0 {
			ok = true
			break
		}
		next := r.Entries[len(r.Entries)-1].Cookie
		if next == cookie {
			break
		}
		cookie, verf = next, r.CookieVerf
	}
	l := &n.look
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fetching = false
	if !ok {
		l.tooBig = time.Now()
		return
	}
	if l.gen != gen {
		// We changed the directory meanwhile: the listing may predate
		// it. Start counting misses afresh rather than listing again at
		// once (the directory is busy with our own changes).
		l.misses, l.lastHit = 0, time.Time{}
		return
	}
	// Stamped with the start: a change of ours during the fetch makes the
	// entries it touched stale, and touched compares with this time.
	l.entries, l.at, l.cred = entries, start, cred
	if d != nil && d.Valid() && l.dd.d != d {
		l.dd = dirDelegState{d: d}
	}
}

// lookupTimeouts finishes the reply to a lookup answered from n's listing
// (a nil: the name does not exist) that is age old.
func (n *Node) lookupTimeouts(name string, a *nfs4.Attrs, age time.Duration, out *fuse.EntryOut) {
	if a != nil {
		n.shortenTimeouts(out, age)
	}
	n.look.mu.Lock()
	n.longEntryLocked(name, out)
	n.look.mu.Unlock()
}

// shortenTimeouts makes the kernel keep an answer taken from a listing age
// old only for what is left of the timeouts, so that what it shows is never
// older than if it had asked the server itself. Longer timeouts (a file
// under delegation, deleg.go) stay, except for attributes past the TTL.
func (n *Node) shortenTimeouts(out *fuse.EntryOut, age time.Duration) {
	ttl := n.fsys.lookaheadTTL()
	left := max(ttl-age, 0)
	if out.EntryTimeout() <= ttl {
		out.SetEntryTimeout(left)
	}
	if out.AttrTimeout() <= ttl || left == 0 {
		// Past the TTL (under a directory delegation) the listed
		// attributes may predate a file delegation's: never long.
		out.SetAttrTimeout(left)
	}
}

// askServer marks a name known to exist whose attributes a lookup must
// fetch.
var askServer = &nfs4.Attrs{}

// listingAdd records a name this mount just created (or linked) in n:
// object fh with attributes a.
func (n *Node) listingAdd(name string, fh []byte, a *nfs4.Attrs) {
	l := &n.look
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	if l.entries == nil {
		return
	}
	if a == nil || !a.Present.Has(nfs4.AttrFileID) || !a.Present.Has(nfs4.AttrType) {
		l.entries[name] = askServer // it exists; LOOKUP tells the rest
		return
	}
	c := *a
	c.FileHandle = fh
	l.entries[name] = &c
}

// listingRemove records that this mount removed name from n.
func (n *Node) listingRemove(name string) {
	l := &n.look
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	if l.entries != nil {
		delete(l.entries, name)
	}
}

// listingDrop forgets n's listing (after a rename in or out of it).
func (n *Node) listingDrop() {
	l := &n.look
	l.mu.Lock()
	l.gen++
	l.entries = nil
	l.mu.Unlock()
}
