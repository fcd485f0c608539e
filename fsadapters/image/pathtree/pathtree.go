// Package pathtree is the in-memory directory tree of an archive (tar,
// zip): archives have no on-disk directory structure, only a list of
// paths, so a reader builds this index once at Open; every image.Reader
// call is then a map lookup. D is the format's reference to a file's data.
package pathtree

import (
	"hash/fnv"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
)

// SyntheticBit marks the Ino of a directory implied by a path but not
// stored in the archive. Real Inos are derived from byte offsets in the
// image (< 2^63), so the two ranges cannot collide.
const SyntheticBit = 1 << 63

// Node is one object of the tree. Hard links are several names pointing at
// one node (dirs cannot be hard-linked, so parent is well defined for dirs).
type Node[D any] struct {
	Ino      image.Ino
	Parent   *Node[D] // directories only
	Attr     fsadapters.Attr
	Link     string // symlink target
	Implied  bool   // directory synthesized from a path
	Names    uint32 // number of names referring to the node
	Children map[string]*Node[D]
	Dirents  []image.Dirent // sorted by name, built by finish
	Data     D              // format-specific location of the content
}

type Tree[D any] struct {
	format string
	root   *Node[D]
	byIno  map[image.Ino]*Node[D]
	nodes  []*Node[D] // every node, in creation order (for Finish)
	newest time.Time
}

// New returns an empty tree (a root directory) for the named format.
func New[D any](format string) *Tree[D] {
	t := &Tree[D]{format: format, byIno: map[image.Ino]*Node[D]{}}
	t.root = t.NewDir()
	t.root.Parent = t.root
	return t
}

// NewDir makes an implied directory (not yet linked into the tree).
func (t *Tree[D]) NewDir() *Node[D] {
	n := &Node[D]{Implied: true, Children: map[string]*Node[D]{}}
	n.Attr.Type = fsadapters.TypeDir
	n.Attr.Mode = 0o755
	t.nodes = append(t.nodes, n)
	return n
}

// CleanPath turns an archive member name into path components relative to
// the root. Leading "/" and "./" are dropped (like tar extraction); a name
// with a ".." component is refused (ok false) so nothing escapes the root.
// An empty result names the root itself.
func CleanPath(name string) (parts []string, ok bool) {
	if strings.IndexByte(name, 0) >= 0 {
		return nil, false
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return nil, false
		}
	}
	p := path.Clean("/" + name)
	if p == "/" {
		return nil, true
	}
	return strings.Split(p[1:], "/"), true
}

// Dir returns the directory at parts, creating implied directories as
// needed. A non-directory in the way is replaced by a directory (a later
// entry "a/b" after a file "a" wins, as with tar extraction).
func (t *Tree[D]) Dir(parts []string) *Node[D] {
	d := t.root
	for _, c := range parts {
		n := d.Children[c]
		if n == nil || n.Attr.Type != fsadapters.TypeDir {
			if n != nil {
				n.Names--
			}
			n = t.NewDir()
			n.Parent = d
			n.Names = 1
			d.Children[c] = n
		}
		d = n
	}
	return d
}

// Find returns the node at parts, nil if absent.
func (t *Tree[D]) Find(parts []string) *Node[D] {
	n := t.root
	for _, c := range parts {
		if n.Children == nil {
			return nil
		}
		if n = n.Children[c]; n == nil {
			return nil
		}
	}
	return n
}

// Put stores n under parts; the later entry wins. A directory entry for an
// existing directory only updates its attributes (its children stay); a
// non-empty directory is not replaced by a non-directory (tar cannot either).
// It returns the node now at parts, or nil if n was refused.
func (t *Tree[D]) Put(parts []string, n *Node[D]) *Node[D] {
	if mt := n.Attr.Mtime; mt.After(t.newest) {
		t.newest = mt
	}
	if len(parts) == 0 { // the root itself: only a directory may describe it
		if n.Attr.Type != fsadapters.TypeDir {
			return nil
		}
		r := t.root
		r.Attr, r.Ino, r.Implied, r.Data = n.Attr, n.Ino, false, n.Data
		return r
	}
	d := t.Dir(parts[:len(parts)-1])
	name := parts[len(parts)-1]
	old := d.Children[name]
	if old != nil && old.Attr.Type == fsadapters.TypeDir {
		if n.Attr.Type == fsadapters.TypeDir {
			old.Attr, old.Ino, old.Implied, old.Data = n.Attr, n.Ino, false, n.Data
			return old
		}
		if len(old.Children) > 0 {
			return nil
		}
	}
	if old != nil {
		old.Names--
	}
	if n.Attr.Type == fsadapters.TypeDir {
		n.Children = map[string]*Node[D]{}
		n.Parent = d
	}
	if n.Names == 0 {
		t.nodes = append(t.nodes, n)
	}
	n.Names++
	d.Children[name] = n
	return n
}

// Finish assigns Inos to implied directories, counts links, sorts
// directories and indexes nodes by Ino. Nodes no longer reachable (replaced
// by a later entry) are dropped.
func (t *Tree[D]) Finish() {
	// Implied directories: a hash of the path with SyntheticBit set; a
	// collision (astronomically rare) probes to the next value. The walk
	// is in sorted path order, so the result is the same on every Open.
	var walk func(n *Node[D], p string)
	walk = func(n *Node[D], p string) {
		names := make([]string, 0, len(n.Children))
		for name := range n.Children {
			names = append(names, name)
		}
		sort.Strings(names)
		n.Dirents = make([]image.Dirent, 0, len(names))
		subdirs := uint32(0)
		for _, name := range names {
			c := n.Children[name]
			cp := p + "/" + name
			if c.Attr.Type == fsadapters.TypeDir {
				subdirs++
				if c.Implied || c.Ino == 0 {
					c.Ino = t.synthIno(cp)
					c.Attr.Mtime, c.Attr.Atime, c.Attr.Ctime = t.newest, t.newest, t.newest
				}
			}
			if _, seen := t.byIno[c.Ino]; !seen {
				t.byIno[c.Ino] = c
			}
			n.Dirents = append(n.Dirents, image.Dirent{Name: name, Ino: c.Ino, Type: c.Attr.Type})
		}
		n.Attr.Nlink = 2 + subdirs
		for _, name := range names {
			if c := n.Children[name]; c.Attr.Type == fsadapters.TypeDir {
				walk(c, p+"/"+name)
			}
		}
	}
	r := t.root
	if r.Implied || r.Ino == 0 {
		r.Ino = t.synthIno("")
		r.Attr.Mtime, r.Attr.Atime, r.Attr.Ctime = t.newest, t.newest, t.newest
	}
	t.byIno[r.Ino] = r
	walk(r, "")
	for _, n := range t.byIno {
		a := &n.Attr
		if a.Type != fsadapters.TypeDir {
			a.Nlink = n.Names
		}
		a.FileID = uint64(n.Ino)
		if a.Atime.IsZero() {
			a.Atime = a.Mtime
		}
		if a.Ctime.IsZero() {
			a.Ctime = a.Mtime
		}
		// The change attribute only has to be stable for an unchanged image.
		c := a.Ctime
		if a.Mtime.After(c) {
			c = a.Mtime
		}
		a.Change = uint64(c.UnixNano())
	}
	t.nodes = nil
}

func (t *Tree[D]) synthIno(p string) image.Ino {
	h := fnv.New64a()
	h.Write([]byte(p))
	v := h.Sum64() | SyntheticBit
	for {
		if _, used := t.byIno[image.Ino(v)]; !used {
			return image.Ino(v)
		}
		v = (v + 1) | SyntheticBit
	}
}

// Node returns the object ino, or fsadapters.ErrStale.
func (t *Tree[D]) Node(ino image.Ino) (*Node[D], error) {
	n := t.byIno[ino]
	if n == nil {
		return nil, fsadapters.ErrStale
	}
	return n, nil
}

// Root implements image.Reader.
func (t *Tree[D]) Root() image.Ino { return t.root.Ino }

// Stat implements image.Reader.
func (t *Tree[D]) Stat(ino image.Ino) (fsadapters.Attr, error) {
	n, err := t.Node(ino)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	return n.Attr, nil
}

// ReadDir implements image.Reader.
func (t *Tree[D]) ReadDir(ino image.Ino) ([]image.Dirent, error) {
	n, err := t.Node(ino)
	if err != nil {
		return nil, err
	}
	if n.Attr.Type != fsadapters.TypeDir {
		return nil, unix.ENOTDIR
	}
	return append([]image.Dirent(nil), n.Dirents...), nil
}

// Lookup implements image.Reader.
func (t *Tree[D]) Lookup(dir image.Ino, name string) (image.Ino, error) {
	n, err := t.Node(dir)
	if err != nil {
		return 0, err
	}
	if n.Attr.Type != fsadapters.TypeDir {
		return 0, unix.ENOTDIR
	}
	c := n.Children[name]
	if c == nil {
		return 0, unix.ENOENT
	}
	return c.Ino, nil
}

// Parent implements image.Reader.
func (t *Tree[D]) Parent(dir image.Ino) (image.Ino, error) {
	n, err := t.Node(dir)
	if err != nil {
		return 0, err
	}
	if n.Attr.Type != fsadapters.TypeDir {
		return 0, unix.ENOTDIR
	}
	return n.Parent.Ino, nil
}

// CountFiles is the number of objects (for image.Info).
func (t *Tree[D]) CountFiles() uint64 { return uint64(len(t.byIno)) }

// Inos lists every object's Ino (tests).
func (t *Tree[D]) Inos() []image.Ino {
	out := make([]image.Ino, 0, len(t.byIno))
	for ino := range t.byIno {
		out = append(out, ino)
	}
	return out
}
