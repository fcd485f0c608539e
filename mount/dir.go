package mount

import (
	"context"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// dirEntry is one READDIR entry with its decoded attributes.
type dirEntry struct {
	name  string
	attrs *nfs4.Attrs // nil if the server gave none usable
	at    time.Time   // when the READDIR that brought it was sent
}

// dirHandle is an open directory. Pages are fetched from the server as
// the kernel reads on (READDIR with DirEntryAttrs, RFC 7530 §16.24);
// positions are indexes into the entries seen so far, so telldir/seekdir
// work without relying on the server's cookies staying valid.
type dirHandle struct {
	n *Node

	mu      sync.Mutex
	entries []dirEntry // ".", "..", then the server's entries
	pos     int
	cookie  uint64
	verf    nfs4.Verifier
	eof     bool
	last    *dirEntry // the entry Readdirent returned last (for Lookup)
}

func (n *Node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	d := &dirHandle{n: n, entries: []dirEntry{{name: "."}, {name: ".."}}}
	// Fetch the first page now so an unreadable directory fails opendir.
	if errno := d.fill(ctx); errno != 0 {
		return nil, 0, errno
	}
	return d, 0, 0
}

// fill reads the next page (d.mu held or not yet shared).
func (d *dirHandle) fill(ctx context.Context) syscall.Errno {
	for !d.eof {
		at := time.Now()
		r, err := d.n.fsys.C.ReadDirPage(d.n.call(ctx), d.n.fh, d.cookie, d.verf, nfs4client.DirEntryAttrs)
		if err != nil {
			return ToErrno(err)
		}
		for i := range r.Entries {
			e := &r.Entries[i]
			de := dirEntry{name: string(e.Name), attrs: entryAttrs(e), at: at}
			d.entries = append(d.entries, de)
			d.cookie = e.Cookie
		}
		d.verf = r.CookieVerf
		d.eof = r.EOF || len(r.Entries) == 0
		if len(r.Entries) > 0 {
			return 0
		}
	}
	return 0
}

// entryAttrs decodes the attributes a READDIR entry carried, or nil if
// they are unusable (undecodable, rdattr_error, no fileid or type).
func entryAttrs(e *nfs4.DirEntry) *nfs4.Attrs {
	a, err := nfs4.DecodeAttrs(&e.Attrs)
	if err != nil || a.RdAttrError != nfs4.OK || !a.Present.Has(nfs4.AttrFileID) || !a.Present.Has(nfs4.AttrType) {
		return nil
	}
	return a
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.pos >= len(d.entries) {
		if d.eof {
			return nil, 0
		}
		if errno := d.fill(ctx); errno != 0 {
			return nil, errno
		}
	}
	e := &d.entries[d.pos]
	d.pos++
	d.last = e
	de := &fuse.DirEntry{Name: e.name, Off: uint64(d.pos), Mode: syscall.S_IFDIR}
	switch {
	case e.attrs != nil:
		de.Ino, de.Mode = e.attrs.FileID, typeMode(e.attrs)
	case e.name == "." || e.name == "..":
		de.Ino = d.n.StableAttr().Ino
	default:
		de.Mode = syscall.S_IFREG // unknown; the lookup will tell
	}
	return de, 0
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off == 0 {
		// rewinddir: start over and see changes (POSIX rewinddir).
		d.entries = []dirEntry{{name: "."}, {name: ".."}}
		d.pos, d.cookie, d.verf, d.eof, d.last = 0, 0, nfs4.Verifier{}, false, nil
		return 0
	}
	d.pos = int(off)
	return 0
}

// Lookup serves READDIRPLUS from the attributes the READDIR page carried
// (handle included), falling back to a LOOKUP round trip when the server
// sent none.
func (d *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.mu.Lock()
	e := d.last
	d.mu.Unlock()
	if e != nil && e.name == name && e.attrs != nil && len(e.attrs.FileHandle) > 0 {
		return d.n.newChild(ctx, e.attrs.FileHandle, e.attrs, out, e.at), 0
	}
	return d.n.Lookup(ctx, name, out)
}
