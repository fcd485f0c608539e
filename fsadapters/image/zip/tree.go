package zip

// The in-memory directory tree built from an archive's entry list. Archives
// (tar, zip) have no on-disk directory structure, only a list of paths, so
// Open builds this index once; every Reader call is then a map lookup.
// (A copy of image/tar/tree.go; keep them in step.)

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

// syntheticBit marks the Ino of a directory implied by a path but not
// stored in the archive. Real Inos are derived from byte offsets in the
// image (< 2^63), so the two ranges cannot collide.
const syntheticBit = 1 << 63

// node is one object of the tree. Hard links are several names pointing at
// one node (dirs cannot be hard-linked, so parent is well defined for dirs).
type node struct {
	ino      image.Ino
	parent   *node // directories only
	attr     fsadapters.Attr
	link     string // symlink target
	implied  bool   // directory synthesized from a path
	names    uint32 // number of names referring to the node
	children map[string]*node
	dirents  []image.Dirent // sorted by name, built by finish
	data     dataRef        // format-specific location of the content
}

type tree struct {
	format string
	root   *node
	byIno  map[image.Ino]*node
	nodes  []*node // every node, in creation order (for finish)
	newest time.Time
}

func newTree(format string) *tree {
	t := &tree{format: format, byIno: map[image.Ino]*node{}}
	t.root = t.newDir()
	t.root.parent = t.root
	return t
}

func (t *tree) newDir() *node {
	n := &node{implied: true, children: map[string]*node{}}
	n.attr.Type = fsadapters.TypeDir
	n.attr.Mode = 0o755
	t.nodes = append(t.nodes, n)
	return n
}

// cleanPath turns an archive member name into path components relative to
// the root. Leading "/" and "./" are dropped (like tar extraction); a name
// with a ".." component is refused (ok false) so nothing escapes the root.
// An empty result names the root itself.
func cleanPath(name string) (parts []string, ok bool) {
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

// dir returns the directory at parts, creating implied directories as
// needed. A non-directory in the way is replaced by a directory (a later
// entry "a/b" after a file "a" wins, as with tar extraction).
func (t *tree) dir(parts []string) *node {
	d := t.root
	for _, c := range parts {
		n := d.children[c]
		if n == nil || n.attr.Type != fsadapters.TypeDir {
			if n != nil {
				n.names--
			}
			n = t.newDir()
			n.parent = d
			n.names = 1
			d.children[c] = n
		}
		d = n
	}
	return d
}

// lookup returns the node at parts, nil if absent.
func (t *tree) lookup(parts []string) *node {
	n := t.root
	for _, c := range parts {
		if n.children == nil {
			return nil
		}
		if n = n.children[c]; n == nil {
			return nil
		}
	}
	return n
}

// put stores n under parts; the later entry wins. A directory entry for an
// existing directory only updates its attributes (its children stay); a
// non-empty directory is not replaced by a non-directory (tar cannot either).
// It returns the node now at parts, or nil if n was refused.
func (t *tree) put(parts []string, n *node) *node {
	if mt := n.attr.Mtime; mt.After(t.newest) {
		t.newest = mt
	}
	if len(parts) == 0 { // the root itself: only a directory may describe it
		if n.attr.Type != fsadapters.TypeDir {
			return nil
		}
		r := t.root
		r.attr, r.ino, r.implied, r.data = n.attr, n.ino, false, n.data
		return r
	}
	d := t.dir(parts[:len(parts)-1])
	name := parts[len(parts)-1]
	old := d.children[name]
	if old != nil && old.attr.Type == fsadapters.TypeDir {
		if n.attr.Type == fsadapters.TypeDir {
			old.attr, old.ino, old.implied, old.data = n.attr, n.ino, false, n.data
			return old
		}
		if len(old.children) > 0 {
			return nil
		}
	}
	if old != nil {
		old.names--
	}
	if n.attr.Type == fsadapters.TypeDir {
		n.children = map[string]*node{}
		n.parent = d
	}
	if n.names == 0 {
		t.nodes = append(t.nodes, n)
	}
	n.names++
	d.children[name] = n
	return n
}

// finish assigns Inos to implied directories, counts links, sorts
// directories and indexes nodes by Ino. Nodes no longer reachable (replaced
// by a later entry) are dropped.
func (t *tree) finish() {
	// Implied directories: a hash of the path with syntheticBit set; a
	// collision (astronomically rare) probes to the next value. The walk
	// is in sorted path order, so the result is the same on every Open.
	var walk func(n *node, p string)
	walk = func(n *node, p string) {
		names := make([]string, 0, len(n.children))
		for name := range n.children {
			names = append(names, name)
		}
		sort.Strings(names)
		n.dirents = make([]image.Dirent, 0, len(names))
		subdirs := uint32(0)
		for _, name := range names {
			c := n.children[name]
			cp := p + "/" + name
			if c.attr.Type == fsadapters.TypeDir {
				subdirs++
				if c.implied || c.ino == 0 {
					c.ino = t.synthIno(cp)
					c.attr.Mtime, c.attr.Atime, c.attr.Ctime = t.newest, t.newest, t.newest
				}
			}
			if _, seen := t.byIno[c.ino]; !seen {
				t.byIno[c.ino] = c
			}
			n.dirents = append(n.dirents, image.Dirent{Name: name, Ino: c.ino, Type: c.attr.Type})
		}
		n.attr.Nlink = 2 + subdirs
		for _, name := range names {
			if c := n.children[name]; c.attr.Type == fsadapters.TypeDir {
				walk(c, p+"/"+name)
			}
		}
	}
	r := t.root
	if r.implied || r.ino == 0 {
		r.ino = t.synthIno("")
		r.attr.Mtime, r.attr.Atime, r.attr.Ctime = t.newest, t.newest, t.newest
	}
	t.byIno[r.ino] = r
	walk(r, "")
	for _, n := range t.byIno {
		a := &n.attr
		if a.Type != fsadapters.TypeDir {
			a.Nlink = n.names
		}
		a.FileID = uint64(n.ino)
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

func (t *tree) synthIno(p string) image.Ino {
	h := fnv.New64a()
	h.Write([]byte(p))
	v := h.Sum64() | syntheticBit
	for {
		if _, used := t.byIno[image.Ino(v)]; !used {
			return image.Ino(v)
		}
		v = (v + 1) | syntheticBit
	}
}

func (t *tree) node(ino image.Ino) (*node, error) {
	n := t.byIno[ino]
	if n == nil {
		return nil, fsadapters.ErrStale
	}
	return n, nil
}

// Root implements image.Reader.
func (t *tree) Root() image.Ino { return t.root.ino }

// Stat implements image.Reader.
func (t *tree) Stat(ino image.Ino) (fsadapters.Attr, error) {
	n, err := t.node(ino)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	return n.attr, nil
}

// ReadDir implements image.Reader.
func (t *tree) ReadDir(ino image.Ino) ([]image.Dirent, error) {
	n, err := t.node(ino)
	if err != nil {
		return nil, err
	}
	if n.attr.Type != fsadapters.TypeDir {
		return nil, unix.ENOTDIR
	}
	return append([]image.Dirent(nil), n.dirents...), nil
}

// Lookup implements image.Reader.
func (t *tree) Lookup(dir image.Ino, name string) (image.Ino, error) {
	n, err := t.node(dir)
	if err != nil {
		return 0, err
	}
	if n.attr.Type != fsadapters.TypeDir {
		return 0, unix.ENOTDIR
	}
	c := n.children[name]
	if c == nil {
		return 0, unix.ENOENT
	}
	return c.ino, nil
}

// Parent implements image.Reader.
func (t *tree) Parent(dir image.Ino) (image.Ino, error) {
	n, err := t.node(dir)
	if err != nil {
		return 0, err
	}
	if n.attr.Type != fsadapters.TypeDir {
		return 0, unix.ENOTDIR
	}
	return n.parent.ino, nil
}

func (t *tree) countFiles() uint64 { return uint64(len(t.byIno)) }
