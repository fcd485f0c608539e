package erofs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"golang.org/x/sys/unix"
)

const direntSize = 12 // {nid u64, nameoff u16, file_type u8, reserved u8}

// dirInfo is a parsed directory: its entries in on-disk order without "."
// and "..", and the nid ".." names.
type dirInfo struct {
	ents      []image.Dirent
	sorted    bool // names strictly increasing: Lookup binary-searches
	parent    uint64
	hasParent bool
}

// erofs file_type values (EROFS_FT_*) to NFS types.
var ftypes = [...]fsadapters.FileType{
	1: fsadapters.TypeRegular, 2: fsadapters.TypeDir, 3: fsadapters.TypeChar,
	4: fsadapters.TypeBlock, 5: fsadapters.TypeFIFO, 6: fsadapters.TypeSocket, 7: fsadapters.TypeSymlink,
}

// dir returns the parsed directory ino, from the cache when possible.
func (rd *Reader) dir(ino image.Ino) (*dirInfo, error) {
	in, err := rd.inodeOf(ino)
	if err != nil {
		return nil, err
	}
	if in.typ != fsadapters.TypeDir {
		return nil, unix.ENOTDIR
	}
	rd.mu.Lock()
	d := rd.dirs[in.nid]
	rd.mu.Unlock()
	if d != nil {
		return d, nil
	}
	d, err = rd.parseDir(in)
	if err != nil {
		return nil, err
	}
	rd.mu.Lock()
	// Bounded cache: evict arbitrary directories (map order is random)
	// until the new one fits.
	for k, v := range rd.dirs {
		if rd.dirCount+len(d.ents) <= rd.dirLimit {
			break
		}
		delete(rd.dirs, k)
		rd.dirCount -= len(v.ents)
	}
	if rd.dirCount+len(d.ents) <= rd.dirLimit {
		rd.dirs[in.nid] = d
		rd.dirCount += len(d.ents)
	}
	rd.mu.Unlock()
	return d, nil
}

// parseDir reads every directory block of in. Each block starts with an
// array of dirents; the first nameoff gives the array's length, and each
// name runs to the next entry's nameoff (the last one to the block's end or
// its first NUL).
func (rd *Reader) parseDir(in *inode) (*dirInfo, error) {
	d := &dirInfo{sorted: true}
	bs := rd.blkSize
	buf := make([]byte, bs)
	var prev []byte
	first := true
	for boff := int64(0); boff < in.size; boff += bs {
		blen := min(bs, in.size-boff)
		blk := buf[:blen]
		if n, err := rd.readData(in, blk, boff); n != len(blk) {
			if err == nil {
				err = errors.New("short read")
			}
			return nil, err
		}
		bad := func(what string, err error) error {
			return corrupt(in.off, fmt.Sprintf("directory nid %d block %d: %s", in.nid, boff/bs, what), err)
		}
		if blen < direntSize {
			return nil, bad("block too short", nil)
		}
		le := binary.LittleEndian
		nameoff0 := int64(le.Uint16(blk[8:]))
		if nameoff0 < direntSize || nameoff0%direntSize != 0 || nameoff0 >= blen {
			return nil, bad("first nameoff", fmt.Errorf("%d", nameoff0))
		}
		count := int(nameoff0 / direntSize)
		for i := 0; i < count; i++ {
			e := blk[i*direntSize:]
			nid := le.Uint64(e[0:])
			start := int64(le.Uint16(e[8:]))
			ft := e[10]
			end := blen
			if i+1 < count {
				end = int64(le.Uint16(blk[(i+1)*direntSize+8:]))
			}
			if start < nameoff0 || end > blen || start >= end {
				return nil, bad("name offsets", fmt.Errorf("entry %d: %d..%d", i, start, end))
			}
			name := blk[start:end]
			if i+1 == count {
				if z := bytes.IndexByte(name, 0); z >= 0 {
					name = name[:z]
				}
			}
			if len(name) == 0 || len(name) > maxNameLen || bytes.IndexByte(name, '/') >= 0 || bytes.IndexByte(name, 0) >= 0 {
				return nil, bad("entry name", fmt.Errorf("entry %d: %q", i, name))
			}
			if !first && bytes.Compare(prev, name) >= 0 {
				d.sorted = false
			}
			prev = append(prev[:0], name...)
			first = false
			if nid >= 1<<62 {
				return nil, bad("entry nid", fmt.Errorf("%d", nid))
			}
			switch string(name) {
			case ".":
				continue
			case "..":
				d.parent, d.hasParent = nid, true
				continue
			}
			if int(ft) >= len(ftypes) || ftypes[ft] == 0 {
				return nil, bad("entry file type", fmt.Errorf("%q: %d", name, ft))
			}
			d.ents = append(d.ents, image.Dirent{Name: string(name), Ino: image.Ino(nid + 1), Type: ftypes[ft]})
		}
	}
	return d, nil
}

// ReadDir lists directory ino in on-disk (sorted) order, without "." and "..".
func (rd *Reader) ReadDir(ino image.Ino) ([]image.Dirent, error) {
	d, err := rd.dir(ino)
	if err != nil {
		return nil, err
	}
	return append([]image.Dirent(nil), d.ents...), nil
}

// Lookup finds name in directory dir.
func (rd *Reader) Lookup(dir image.Ino, name string) (image.Ino, error) {
	d, err := rd.dir(dir)
	if err != nil {
		return 0, err
	}
	switch name {
	case ".":
		return dir, nil
	case "..":
		return rd.Parent(dir)
	}
	if d.sorted {
		i := sort.Search(len(d.ents), func(i int) bool { return d.ents[i].Name >= name })
		if i < len(d.ents) && d.ents[i].Name == name {
			return d.ents[i].Ino, nil
		}
		return 0, unix.ENOENT
	}
	for _, e := range d.ents {
		if e.Name == name {
			return e.Ino, nil
		}
	}
	return 0, unix.ENOENT
}

// Parent returns the directory the ".." entry of dir names.
func (rd *Reader) Parent(dir image.Ino) (image.Ino, error) {
	d, err := rd.dir(dir)
	if err != nil {
		return 0, err
	}
	if !d.hasParent {
		return 0, corrupt(-1, fmt.Sprintf("directory Ino %d", dir), errors.New(`no ".." entry`))
	}
	return image.Ino(d.parent + 1), nil
}
