package nfs4srv

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// The pseudo filesystem (RFC 7530 §7.3, RFC 8881 §7.3): read-only
// directories joining the exports' paths. Its handles and fileids are
// hashes of the path, so they survive reloads that keep the directory.

// pnode is one pseudo directory.
type pnode struct {
	name   string
	fh     fsadapters.FileHandle // 8 bytes
	fileid uint64
	parent *pnode // the root is its own parent
	kids   []*pnode
	export *export   // set on mount points: the export whose root this is
	under  []*export // exports at or below this node (visibility)
}

type pseudoFS struct {
	root  *pnode
	byFH  map[string]*pnode
	built time.Time
}

var _ fsadapters.FS = (*pseudoFS)(nil)

func pathHash(p string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(p))
	v := h.Sum64()
	if v == 0 {
		v = 1
	}
	return v
}

// newPseudoFS builds the tree for exports and links each export to its
// mount point (export.mount).
func newPseudoFS(exports []*export) *pseudoFS {
	fs := &pseudoFS{byFH: map[string]*pnode{}, built: time.Now()}
	mk := func(p, name string, parent *pnode) *pnode {
		id := pathHash(p)
		n := &pnode{name: name, fileid: id, fh: binary.BigEndian.AppendUint64(nil, id), parent: parent}
		fs.byFH[string(n.fh)] = n
		return n
	}
	fs.root = mk("/", "", nil)
	fs.root.parent = fs.root
	for _, e := range exports {
		n := fs.root
		n.under = append(n.under, e)
		p := ""
		for _, el := range strings.Split(e.path, "/")[1:] {
			p += "/" + el
			i := slices.IndexFunc(n.kids, func(k *pnode) bool { return k.name == el })
			if i < 0 {
				n.kids = append(n.kids, mk(p, el, n))
				i = len(n.kids) - 1
			}
			n = n.kids[i]
			n.under = append(n.under, e)
		}
		n.export = e
		e.mount = n
	}
	var sortKids func(n *pnode)
	sortKids = func(n *pnode) {
		slices.SortFunc(n.kids, func(a, b *pnode) int { return strings.Compare(a.name, b.name) })
		for _, k := range n.kids {
			sortKids(k)
		}
	}
	sortKids(fs.root)
	return fs
}

func (fs *pseudoFS) node(h fsadapters.FileHandle) *pnode { return fs.byFH[string(h)] }

// visible reports whether the client of ctx may see n: some export at or
// below it admits the client.
func visible(ctx context.Context, n *pnode) bool {
	addr, _ := ctx.Value(peerKey{}).(netip.Addr)
	return slices.ContainsFunc(n.under, func(e *export) bool { return e.admits(addr) })
}

func (fs *pseudoFS) get(h fsadapters.FileHandle) (*pnode, error) {
	if len(h) != 8 {
		return nil, fsadapters.ErrBadHandle
	}
	n := fs.byFH[string(h)]
	if n == nil {
		return nil, fsadapters.ErrStale
	}
	return n, nil
}

func (fs *pseudoFS) attr(n *pnode) fsadapters.Attr {
	return fsadapters.Attr{Type: fsadapters.TypeDir, Mode: 0o555, Nlink: uint32(2 + len(n.kids)),
		Size: 4096, FileID: n.fileid, Atime: fs.built, Mtime: fs.built, Ctime: fs.built,
		Change: uint64(fs.built.UnixNano())}
}

func (fs *pseudoFS) Caps() fsadapters.Caps {
	return fsadapters.Caps{ReadOnly: true, NoHardLinks: true, NoSymlinks: true, NoDevices: true,
		FSIDMajor: fsidTag | pseudoID, TimeDelta: time.Second, HandlesPersist: true}
}

func (fs *pseudoFS) Root() fsadapters.FileHandle { return fs.root.fh }

func (fs *pseudoFS) CheckHandle(_ context.Context, h fsadapters.FileHandle) error {
	_, err := fs.get(h)
	return err
}

func (fs *pseudoFS) GetAttr(_ context.Context, h fsadapters.FileHandle) (fsadapters.Attr, error) {
	n, err := fs.get(h)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	return fs.attr(n), nil
}

func (fs *pseudoFS) Lookup(ctx context.Context, _ *fsadapters.Cred, dir fsadapters.FileHandle, name string) (fsadapters.FileHandle, fsadapters.Attr, error) {
	n, err := fs.get(dir)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	for _, k := range n.kids {
		if k.name == name && visible(ctx, k) {
			return k.fh, fs.attr(k), nil
		}
	}
	return nil, fsadapters.Attr{}, unix.ENOENT
}

func (fs *pseudoFS) LookupParent(_ context.Context, _ *fsadapters.Cred, dir fsadapters.FileHandle) (fsadapters.FileHandle, fsadapters.Attr, error) {
	n, err := fs.get(dir)
	if err != nil {
		return nil, fsadapters.Attr{}, err
	}
	if n == fs.root {
		return nil, fsadapters.Attr{}, unix.ENOENT
	}
	return n.parent.fh, fs.attr(n.parent), nil
}

// ReadDir lists the children the client may see; cookies are 3 + index
// (0–2 are reserved, RFC 7530 §16.24.4).
func (fs *pseudoFS) ReadDir(ctx context.Context, _ *fsadapters.Cred, dir fsadapters.FileHandle, cookie uint64, _ fsadapters.CookieVerf,
	fn func(*fsadapters.DirEntry) bool) (fsadapters.CookieVerf, bool, error) {
	var verf fsadapters.CookieVerf
	n, err := fs.get(dir)
	if err != nil {
		return verf, false, err
	}
	if cookie != 0 && (cookie < 3 || cookie-3 >= uint64(len(n.kids))) {
		return verf, false, fsadapters.ErrBadCookie
	}
	for i, k := range n.kids {
		c := uint64(i) + 3
		if c <= cookie || !visible(ctx, k) {
			continue
		}
		if !fn(&fsadapters.DirEntry{Name: k.name, Cookie: c, Handle: k.fh, Attr: fs.attr(k)}) {
			return verf, false, nil
		}
	}
	return verf, true, nil
}

func (fs *pseudoFS) Readlink(context.Context, fsadapters.FileHandle) (string, error) {
	return "", unix.EINVAL
}

func (fs *pseudoFS) Open(context.Context, *fsadapters.Cred, fsadapters.FileHandle, fsadapters.OpenFlags) (fsadapters.File, error) {
	return nil, unix.EISDIR
}

func (fs *pseudoFS) SetAttr(context.Context, *fsadapters.Cred, fsadapters.FileHandle, *fsadapters.SetAttr) (fsadapters.Attr, error) {
	return fsadapters.Attr{}, unix.EROFS
}

func (fs *pseudoFS) Create(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, *fsadapters.CreateReq) (fsadapters.FileHandle, fsadapters.Attr, bool, error) {
	return nil, fsadapters.Attr{}, false, unix.EROFS
}

func (fs *pseudoFS) Mkdir(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	return nil, fsadapters.Attr{}, unix.EROFS
}

func (fs *pseudoFS) Symlink(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, string, *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	return nil, fsadapters.Attr{}, unix.EROFS
}

func (fs *pseudoFS) Mknod(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, fsadapters.FileType, uint32, uint32, *fsadapters.SetAttr) (fsadapters.FileHandle, fsadapters.Attr, error) {
	return nil, fsadapters.Attr{}, unix.EROFS
}

func (fs *pseudoFS) Link(context.Context, *fsadapters.Cred, fsadapters.FileHandle, fsadapters.FileHandle, string) error {
	return unix.EROFS
}

func (fs *pseudoFS) Remove(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string) error {
	return unix.EROFS
}

func (fs *pseudoFS) Rename(context.Context, *fsadapters.Cred, fsadapters.FileHandle, string, fsadapters.FileHandle, string, bool) error {
	return unix.EROFS
}

func (fs *pseudoFS) StatFS(context.Context, fsadapters.FileHandle) (fsadapters.StatFS, error) {
	return fsadapters.StatFS{MaxName: 255}, nil
}
