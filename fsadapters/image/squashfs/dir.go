package squashfs

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"golang.org/x/sys/unix"
)

// dir is a parsed directory listing with a name index for Lookup.
type dir struct {
	ents  []image.Dirent
	index map[string]int32
}

// maxDirBytes bounds one directory listing (file_size is 32 bits in
// extended directory inodes); 64 MiB is over a million entries.
const maxDirBytes = 64 << 20

func (fr *Reader) dirOf(ino Ino) (*dir, error) {
	if d, ok := fr.dirs.Get(ino); ok {
		return d, nil
	}
	in, err := fr.inodeOf(ino, false)
	if err != nil {
		return nil, err
	}
	if in.fileType() != fsadapters.TypeDir {
		return nil, unix.ENOTDIR
	}
	d, cost, err := fr.parseDir(in)
	if err != nil {
		return nil, err
	}
	fr.dirs.Put(ino, d, cost)
	return d, nil
}

// parseDir reads a directory listing: runs of up to 256 entries, each run
// headed by {count−1, inode block start, base inode number} and each entry
// {offset in block, signed inode number delta, type, name size−1, name}.
// The listing's size is the inode's file_size minus 3 ("." and "..").
func (fr *Reader) parseDir(in *inode) (*dir, int64, error) {
	pos := int64(fr.sb.dirTable) + int64(in.dirBlock)
	c := fr.cursorAt(pos, int(in.dirOffset), fr.dirEnd)
	left := int64(in.size) - 3
	if left > maxDirBytes {
		return nil, 0, corrupt(pos, "directory", fmt.Errorf("listing of %d bytes", left))
	}
	le := binary.LittleEndian
	bad := func(f string, a ...any) error {
		return corrupt(pos, fmt.Sprintf("directory of inode %d", in.number), fmt.Errorf(f, a...))
	}
	d := &dir{index: map[string]int32{}}
	cost := int64(64)
	var learnt []uint64 // number, ref pairs of subdirectories
	for left > 0 {
		if left < 12 {
			return nil, 0, bad("%d stray bytes", left)
		}
		h, err := c.read(12)
		if err != nil {
			return nil, 0, err
		}
		left -= 12
		count, start, base := int64(le.Uint32(h))+1, le.Uint32(h[4:]), le.Uint32(h[8:])
		if count > 256 {
			return nil, 0, bad("run of %d entries", count)
		}
		for i := int64(0); i < count; i++ {
			if left < 8 {
				return nil, 0, bad("entry past the listing's end")
			}
			e, err := c.read(8)
			if err != nil {
				return nil, 0, err
			}
			off, delta, typ, nsize := le.Uint16(e), int16(le.Uint16(e[2:])), le.Uint16(e[4:]), int64(le.Uint16(e[6:]))+1
			left -= 8
			if nsize > 256 || nsize > left {
				return nil, 0, bad("name of %d bytes", nsize)
			}
			nb, err := c.read(int(nsize))
			if err != nil {
				return nil, 0, err
			}
			left -= nsize
			name := string(nb)
			if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
				return nil, 0, bad("entry name %q", name)
			}
			if typ < typeDir || typ > typeSock {
				return nil, 0, bad("entry %q type %d", name, typ)
			}
			num := int64(base) + int64(delta)
			ref := uint64(start)<<16 | uint64(off)
			if num < 1 || num > int64(fr.sb.inodeCount) || !fr.validRef(ref) {
				return nil, 0, bad("entry %q inode %d at %#x", name, num, ref)
			}
			if _, dup := d.index[name]; dup {
				return nil, 0, bad("entry %q twice", name)
			}
			d.index[name] = int32(len(d.ents))
			d.ents = append(d.ents, image.Dirent{Name: name, Ino: Ino(ref + 1), Type: typeOf(typ)})
			cost += int64(len(name))*2 + 96
			if typ == typeDir {
				learnt = append(learnt, uint64(num), ref)
			}
		}
	}
	if len(learnt) > 0 {
		fr.pmu.Lock()
		for i := 0; i < len(learnt); i += 2 {
			fr.parents[uint32(learnt[i])] = learnt[i+1]
		}
		fr.pmu.Unlock()
	}
	return d, cost, nil
}

// ReadDir implements image.Reader: entries in on-disk (name) order.
func (fr *Reader) ReadDir(ino Ino) ([]image.Dirent, error) {
	d, err := fr.dirOf(ino)
	if err != nil {
		return nil, err
	}
	return append([]image.Dirent(nil), d.ents...), nil
}

// Lookup implements image.Reader.
func (fr *Reader) Lookup(ino Ino, name string) (Ino, error) {
	d, err := fr.dirOf(ino)
	if err != nil {
		return 0, err
	}
	i, ok := d.index[name]
	if !ok {
		return 0, unix.ENOENT
	}
	return d.ents[i].Ino, nil
}

// maxParentWalk bounds the directories read while searching for a parent
// in an image without an export table.
const maxParentWalk = 1 << 20

// Parent implements image.Reader. A directory inode stores its parent's
// inode number, not its reference: the number is resolved through what
// directory reads have taught, then the export table, then a walk from
// the root.
func (fr *Reader) Parent(ino Ino) (Ino, error) {
	in, err := fr.inodeOf(ino, false)
	if err != nil {
		return 0, err
	}
	if in.fileType() != fsadapters.TypeDir {
		return 0, unix.ENOTDIR
	}
	if ino == fr.root || in.parent == fr.rootNum {
		return fr.root, nil
	}
	if in.parent == 0 || in.parent > fr.sb.inodeCount {
		return 0, corrupt(int64(fr.sb.inodeTable+in.ref>>16), "directory parent", fmt.Errorf("inode number %d", in.parent))
	}
	known := func() (Ino, bool) {
		fr.pmu.Lock()
		defer fr.pmu.Unlock()
		ref, ok := fr.parents[in.parent]
		return Ino(ref + 1), ok
	}
	if p, ok := known(); ok {
		return p, nil
	}
	if fr.sb.exportTable != noTable {
		ref, err := fr.exportRef(in.parent)
		if err != nil {
			return 0, err
		}
		if !fr.validRef(ref) {
			return 0, corrupt(int64(fr.sb.exportTable), "export table", fmt.Errorf("reference %#x", ref))
		}
		return Ino(ref + 1), nil
	}
	// Breadth-first from the root until the parent's number is learnt.
	queue := []Ino{fr.root}
	seen := map[Ino]bool{fr.root: true}
	for n := 0; len(queue) > 0 && n < maxParentWalk; n++ {
		d, err := fr.dirOf(queue[0])
		queue = queue[1:]
		if err != nil {
			return 0, err
		}
		if p, ok := known(); ok {
			return p, nil
		}
		for _, e := range d.ents {
			if e.Type == fsadapters.TypeDir && !seen[e.Ino] {
				seen[e.Ino] = true
				queue = append(queue, e.Ino)
			}
		}
	}
	return 0, fsadapters.ErrStale
}
