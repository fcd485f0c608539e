package ext4

import (
	"encoding/binary"
	"fmt"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"golang.org/x/sys/unix"
)

// dirInfo is a parsed directory: its entries in on-disk order (without
// "." and ".."), a name index for Lookup, and its parent from "..".
type dirInfo struct {
	ents   []image.Dirent
	byName map[string]image.Ino
	parent uint32
}

const (
	maxDirEntries = 1 << 24 // far beyond any real directory; bounds memory
	dirTailType   = 0xDE
)

var direntTypes = [8]fsadapters.FileType{0, fsadapters.TypeRegular, fsadapters.TypeDir, fsadapters.TypeChar,
	fsadapters.TypeBlock, fsadapters.TypeFIFO, fsadapters.TypeSocket, fsadapters.TypeSymlink}

type dirParser struct {
	fs  *Reader
	in  *inode
	d   *dirInfo
	dot int // "." and ".." seen
}

// entries parses linear directory entries in buf (ext4 docs: "Linear
// (Classic) Directories"); off is buf's byte offset in the image, for
// errors. htree index blocks look like one empty entry to this scan.
func (p *dirParser) entries(buf []byte, off int64) error {
	le := binary.LittleEndian
	fs := p.fs
	for pos := 0; pos < len(buf); {
		bad := func(why string, args ...any) error {
			return corrupt(off+int64(pos), "directory entry", fmt.Errorf("directory %d: "+why, append([]any{p.in.ino}, args...)...))
		}
		if len(buf)-pos < 8 {
			return bad("truncated entry")
		}
		ino := le.Uint32(buf[pos:])
		rl := fs.recLen(le.Uint16(buf[pos+4:]))
		nameLen := int(buf[pos+6])
		ft := buf[pos+7]
		if fs.sb.featureIncompat&incompatFiletype == 0 {
			nameLen |= int(ft) << 8
			ft = 0
		}
		if rl < 8 || rl%4 != 0 || rl > len(buf)-pos || 8+nameLen > rl {
			return bad("record length %d, name length %d", rl, nameLen)
		}
		if ino != 0 && nameLen > 0 {
			if ino > fs.sb.inodesCount {
				return bad("inode %d out of range", ino)
			}
			name := string(buf[pos+8 : pos+8+nameLen])
			switch {
			case name == ".":
			case name == "..":
				p.d.parent = ino
			default:
				if _, dup := p.d.byName[name]; !dup {
					if len(p.d.ents) >= maxDirEntries {
						return bad("more than %d entries", maxDirEntries)
					}
					t := fsadapters.FileType(0)
					if int(ft) < len(direntTypes) {
						t = direntTypes[ft]
					}
					p.d.ents = append(p.d.ents, image.Dirent{Name: name, Ino: image.Ino(ino), Type: t})
					p.d.byName[name] = image.Ino(ino)
				}
			}
		}
		pos += rl
	}
	return nil
}

// block checks one directory block's checksum (metadata_csum): a leaf
// block ends in a 12-byte tail entry holding crc32c of the rest; htree
// index blocks carry a dx_tail instead. It returns the part to parse.
func (p *dirParser) block(buf []byte, off int64, lblk uint64) ([]byte, error) {
	if !p.fs.csum {
		return buf, nil
	}
	le := binary.LittleEndian
	n := len(buf)
	t := buf[n-12:]
	if le.Uint32(t[0:]) == 0 && le.Uint16(t[4:]) == 12 && t[6] == 0 && t[7] == dirTailType {
		if c := crc32c(p.in.csumSeed, buf[:n-12]); c != le.Uint32(t[8:]) {
			return nil, corrupt(off, "directory block", fmt.Errorf("directory %d block %d: checksum mismatch", p.in.ino, lblk))
		}
		return buf[:n-12], nil
	}
	if p.in.flags&flagIndex != 0 {
		countOff := -1
		switch {
		case lblk == 0:
			countOff = 32 // ".", "..", dx_root_info
		case le.Uint32(buf[0:]) == 0 && p.fs.recLen(le.Uint16(buf[4:])) == n:
			countOff = 8 // empty fake entry, then dx entries
		}
		if countOff > 0 {
			limit := int(le.Uint16(buf[countOff:]))
			count := int(le.Uint16(buf[countOff+2:]))
			tail := countOff + 8*limit
			if count <= limit && tail+8 <= n {
				c := crc32c(p.in.csumSeed, buf[:countOff+8*count])
				c = crc32c(c, buf[tail:tail+4])
				c = crc32c(c, []byte{0, 0, 0, 0}) // dt_checksum itself, as zero
				if c == le.Uint32(buf[tail+4:]) {
					return buf, nil
				}
			}
			return nil, corrupt(off, "directory index block", fmt.Errorf("directory %d block %d: checksum mismatch", p.in.ino, lblk))
		}
	}
	return nil, corrupt(off, "directory block", fmt.Errorf("directory %d block %d: no checksum tail", p.in.ino, lblk))
}

// recLen decodes a rec_len: 64 KiB blocks store 65536 as 65535 (or 0),
// and the low two bits extend larger lengths.
func (fs *Reader) recLen(v uint16) int {
	if fs.bs == 65536 && (v == 65535 || v == 0) {
		return 65536
	}
	return int(v&65532) | int(v&3)<<16
}

// dir returns the parsed directory ino (cached).
func (fs *Reader) dir(ino image.Ino) (*dirInfo, *inode, error) {
	n, err := toIno(ino)
	if err != nil {
		return nil, nil, err
	}
	in, err := fs.inode(n)
	if err != nil {
		return nil, nil, err
	}
	if in.mode&sIFMT != sIFDIR {
		return nil, nil, unix.ENOTDIR
	}
	if d, ok := fs.dirs.Get(n); ok {
		return d, in, nil
	}
	p := &dirParser{fs: fs, in: in, d: &dirInfo{byName: map[string]image.Ino{}}}
	if in.flags&flagInline != 0 {
		// Inline directory: the parent's inode number, then entries in the
		// rest of i_block and in the system.data xattr.
		if fs.sb.featureIncompat&incompatInlineData == 0 {
			return nil, nil, corrupt(in.off, "inode", fmt.Errorf("inode %d: inline data flag without the feature", n))
		}
		p.d.parent = binary.LittleEndian.Uint32(in.block[:4])
		if err := p.entries(in.block[4:], in.off+0x28+4); err != nil {
			return nil, nil, err
		}
		if len(in.inlineXattr) > 0 {
			if err := p.entries(in.inlineXattr, in.off); err != nil {
				return nil, nil, err
			}
		}
	} else {
		m, err := fs.blockMap(in)
		if err != nil {
			return nil, nil, err
		}
		bs := uint64(fs.bs)
		nblk := in.size / bs
		const chunkBlocks = 64
		buf := make([]byte, min(nblk, chunkBlocks)*bs)
		for _, r := range m.runs {
			for i := uint64(0); i < r.n && r.lblk+i < nblk; {
				k := min(r.n-i, nblk-r.lblk-i, chunkBlocks)
				off := int64((r.pblk + i) * bs)
				if err := fs.readAt(buf[:k*bs], off, "directory block"); err != nil {
					return nil, nil, err
				}
				for j := uint64(0); j < k; j++ {
					b := buf[j*bs : (j+1)*bs]
					boff := off + int64(j*bs)
					body, err := p.block(b, boff, r.lblk+i+j)
					if err != nil {
						return nil, nil, err
					}
					if err := p.entries(body, boff); err != nil {
						return nil, nil, err
					}
				}
				i += k
			}
		}
	}
	if p.d.parent == 0 || p.d.parent > fs.sb.inodesCount {
		return nil, nil, corrupt(in.off, "directory", fmt.Errorf("directory %d: no valid \"..\" entry", n))
	}
	cost := int64(64)
	for _, e := range p.d.ents {
		cost += int64(len(e.Name))*2 + 96 // slice entry, map entry, two string headers
	}
	fs.dirs.Put(n, p.d, cost)
	return p.d, in, nil
}

// ReadDir implements image.Reader.
func (fs *Reader) ReadDir(ino image.Ino) ([]image.Dirent, error) {
	d, _, err := fs.dir(ino)
	if err != nil {
		return nil, err
	}
	out := make([]image.Dirent, len(d.ents))
	copy(out, d.ents)
	for i := range out {
		if out[i].Type == 0 { // no file type in the entry (ext2 without filetype)
			a, err := fs.Stat(out[i].Ino)
			if err != nil {
				return nil, err
			}
			out[i].Type = a.Type
		}
	}
	return out, nil
}

// Lookup implements image.Reader.
func (fs *Reader) Lookup(dir image.Ino, name string) (image.Ino, error) {
	d, _, err := fs.dir(dir)
	if err != nil {
		return 0, err
	}
	switch name {
	case ".":
		return dir, nil
	case "..":
		return image.Ino(d.parent), nil
	}
	if ino, ok := d.byName[name]; ok {
		return ino, nil
	}
	return 0, unix.ENOENT
}

// Parent implements image.Reader.
func (fs *Reader) Parent(dir image.Ino) (image.Ino, error) {
	d, _, err := fs.dir(dir)
	if err != nil {
		return 0, err
	}
	return image.Ino(d.parent), nil
}
