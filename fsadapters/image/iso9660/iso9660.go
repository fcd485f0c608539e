// Package iso9660 reads ISO 9660 images (ECMA-119) with the Rock Ridge
// (RRIP 1.10/1.12 over SUSP 1.12) and Joliet extensions, as an
// image.Reader.
//
// Open walks the whole directory tree once and indexes every object, so
// Stat of any Ino (also one from a file handle minted before a restart)
// is a map lookup, and a forged Ino is simply absent (ErrStale). The walk
// is bounded: every directory extent is read at most once (cycles are
// damage), and the directory bytes read in all never exceed the image
// size.
//
// Names: Rock Ridge NM if the image has Rock Ridge, else Joliet (UCS-2/
// UTF-16) if it has a Joliet SVD, else the ISO identifier mapped like
// Linux's map=normal.
//
// Inos: a directory is the byte offset of its extent; another object is
// serialTag|serial when every RRIP 1.12 PX (44 bytes) serial number in the
// image is consistent (hard links then share one Ino), else the byte offset
// of its (first) directory record. Extent locations are never used for
// files: empty files commonly share one.
package iso9660

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
)

const (
	formatName = "iso9660"
	sectorSize = 2048 // logical sector, ECMA-119 §6.1.2
	// System Area is sectors 0-15; descriptors start at 16 (§6.2.1, §6.7.1).
	vdStart  = 16 * sectorSize
	maxVDs   = 256
	readSize = 64 << 10 // directory extents are read in pieces of this size
	// serialTag marks Inos derived from PX serial numbers, so they can
	// never equal a byte offset (images are far below 2^62 bytes).
	serialTag = 1 << 62
	// byNameMin: directories with more entries get a name map for Lookup.
	byNameMin = 16
)

func corrupt(off int64, what string, err error) error {
	return image.Corrupt(formatName, off, what, err)
}

// extent is one contiguous piece of a file's content.
type extent struct {
	off  int64 // byte offset in the image
	size int64
	pos  int64 // offset of this piece within the file
}

// node is one indexed object.
type node struct {
	typ                 fsadapters.FileType
	mode                uint32
	nlink, uid, gid     uint32
	size                int64
	rdevMaj, rdevMin    uint32
	mtime, atime, ctime time.Time
	btime               time.Time
	target              string
	extents             []extent // regular files
	unsupported         string   // why Open refuses (interleaved files)
	zf                  bool
	serial              uint32 // PX 1.12 serial, 0 if none

	// directories
	dirOff, dirLen int64
	fromDot        bool // attributes come from the "." record (root, CL-relocated)
	parent         image.Ino
	children       []image.Dirent
	byName         map[string]image.Ino
	hiddenRE       int   // entries hidden because of RE
	err            error // the directory could not be read
}

var _ image.Reader = (*Reader)(nil)

// Reader is an opened ISO 9660 image. It is immutable after Open and safe
// for concurrent use.
type Reader struct {
	img    io.ReaderAt
	size   int64
	bs     int64 // logical block size (§8.4.12)
	root   image.Ino
	nodes  map[image.Ino]*node
	info   image.Info
	rr     bool // Rock Ridge in use
	suSkip int  // SUSP SP LEN_SKP
	joliet bool // names from the Joliet tree
	longTF bool // some TF uses the 17-byte form (centiseconds)
	// bytes of directory extents read by the walk (bounded by size).
	dirBytes int64
}

// Probe reports whether the image starts a volume descriptor set (the
// "CD001" standard identifier at sector 16, ECMA-119 §8.1.2).
func Probe(r io.ReaderAt, size int64) bool {
	if size < vdStart+sectorSize {
		return false
	}
	var b [6]byte
	if _, err := r.ReadAt(b[:], vdStart); err != nil {
		return false
	}
	return string(b[1:6]) == "CD001"
}

func (rd *Reader) readFull(p []byte, off int64, what string) error {
	if off < 0 || off+int64(len(p)) > rd.size {
		return corrupt(off, what, errors.New("beyond the end of the image"))
	}
	n, err := rd.img.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return corrupt(off, what, err)
}

// Open reads the volume descriptors and indexes the directory tree.
func Open(r io.ReaderAt, size int64, opt image.Options) (*Reader, error) {
	rd := &Reader{img: r, size: size, nodes: map[image.Ino]*node{}}
	pvd, svd, err := rd.descriptors()
	if err != nil {
		return nil, err
	}
	bs := int64(uint16(pvd[128]) | uint16(pvd[129])<<8)
	switch bs {
	case 512, 1024, 2048:
	default:
		return nil, corrupt(vdStart+128, "logical block size", fmt.Errorf("%d", bs))
	}
	rd.bs = bs
	rootRec, err := parseRecord(pvd[156:190], vdStart+156)
	if err != nil {
		return nil, err
	}
	if err := rd.detectRR(rootRec); err != nil {
		return nil, err
	}
	if !rd.rr && svd != nil {
		rd.joliet = true
		if rootRec, err = parseRecord(svd[156:190], -1); err != nil {
			return nil, err
		}
	}
	rd.info = image.Info{
		Format:     formatName,
		Label:      strings.TrimRight(string(pvd[40:72]), " \x00"),
		TotalBytes: uint64(size),
		UsedBytes:  min(uint64(le32(pvd[80:]))*uint64(bs), uint64(size)),
		MaxName:    255,
		TimeDelta:  time.Second,
		NoSymlinks: !rd.rr,
		NoDevices:  !rd.rr,
	}
	switch {
	case rd.rr:
		rd.info.SourceDescription = "ISO 9660 with Rock Ridge"
	case rd.joliet:
		rd.info.SourceDescription = "ISO 9660 with Joliet"
		rd.info.MaxName = 103
	default:
		rd.info.SourceDescription = "ISO 9660"
		rd.info.MaxName = 37
		rd.info.CaseInsensitive = true
	}
	if err := rd.walk(rootRec); err != nil {
		return nil, err
	}
	rd.info.Files = uint64(len(rd.nodes))
	zf := 0
	for _, n := range rd.nodes {
		if n.zf {
			zf++
		}
	}
	if zf > 0 && opt.Log != nil {
		// zisofs (RRIP ZF) is not decompressed: such files are served
		// as stored, like Linux built without CONFIG_ZISOFS.
		opt.Log.Warn("iso9660: zisofs-compressed files are served compressed", "image", opt.Name, "files", zf)
	}
	if rd.longTF {
		rd.info.TimeDelta = 10 * time.Millisecond
	}
	return rd, nil
}

// descriptors scans the volume descriptor set (§8) for the Primary Volume
// Descriptor and a Joliet Supplementary Volume Descriptor (escape
// sequence %/@, %/C or %/E: UCS-2 levels 1-3).
func (rd *Reader) descriptors() (pvd, svd []byte, err error) {
	for i := int64(0); i < maxVDs; i++ {
		off := vdStart + i*sectorSize
		b := make([]byte, sectorSize)
		if err := rd.readFull(b, off, "volume descriptor"); err != nil {
			return nil, nil, err
		}
		if string(b[1:6]) != "CD001" {
			return nil, nil, corrupt(off, "volume descriptor identifier", nil)
		}
		switch b[0] {
		case 1:
			if pvd == nil {
				pvd = b
			}
		case 2:
			esc := b[88:120]
			if svd == nil && esc[0] == '%' && esc[1] == '/' && (esc[2] == '@' || esc[2] == 'C' || esc[2] == 'E') {
				svd = b
			}
		case 255: // terminator, §8.3
			if pvd == nil {
				return nil, nil, corrupt(off, "volume descriptor set without a primary volume descriptor", nil)
			}
			return pvd, svd, nil
		}
	}
	return nil, nil, corrupt(vdStart, "volume descriptor set without terminator", nil)
}

// detectRR reads the root's "." record: SUSP is in use when its System
// Use area starts with SP (SUSP §5.3); Rock Ridge when an ER names RRIP or
// RRIP entries are present there.
func (rd *Reader) detectRR(root record) error {
	off := int64(root.extent) * rd.bs
	if root.size < drMinLen || off+sectorSize > rd.size {
		return corrupt(vdStart+156, "root directory extent", nil)
	}
	b := make([]byte, sectorSize)
	if err := rd.readFull(b, off, "root directory"); err != nil {
		return err
	}
	if int(b[0]) < drMinLen {
		return corrupt(off, "root directory record", nil)
	}
	dot, err := parseRecord(b[:b[0]], off)
	if err != nil {
		return err
	}
	su := dot.su
	if len(su) < 7 || string(su[:2]) != "SP" || su[2] < 7 || su[4] != 0xBE || su[5] != 0xEF {
		return nil
	}
	var in rrInfo
	if err := rd.parseSU(su, off, &in); err != nil {
		return err
	}
	rd.suSkip = in.spSkip
	rd.rr = in.rrip || in.pxLen > 0 || in.hasTF || in.hasNM
	return nil
}

// walk indexes the tree breadth first from the root record.
func (rd *Reader) walk(rootRec record) error {
	rootIno := image.Ino(int64(rootRec.extent) * rd.bs)
	if rootIno == 0 {
		return corrupt(vdStart+156, "root directory location", nil)
	}
	root := &node{typ: fsadapters.TypeDir, fromDot: true, parent: rootIno}
	if err := rd.setDirExtent(root, rootRec, vdStart+156); err != nil {
		return err
	}
	rd.root = rootIno
	rd.nodes[rootIno] = root
	queue := []image.Ino{rootIno}
	for len(queue) > 0 {
		ino := queue[0]
		queue = queue[1:]
		n := rd.nodes[ino]
		subdirs, err := rd.readDir(ino, n)
		if err != nil {
			// The directory is unreadable: ReadDir reports it; its
			// entries are not served.
			for _, c := range n.children {
				if c.Ino != ino {
					delete(rd.nodes, c.Ino)
				}
			}
			n.children, n.err = nil, err
			if ino == rootIno {
				return err
			}
			continue
		}
		queue = append(queue, subdirs...)
	}
	rd.finish()
	return nil
}

func (rd *Reader) setDirExtent(n *node, rec record, at int64) error {
	off := (int64(rec.extent) + int64(rec.xar)) * rd.bs
	if rec.size == 0 || off+int64(rec.size) > rd.size {
		return corrupt(at, "directory extent out of bounds", nil)
	}
	n.dirOff, n.dirLen, n.size = off, int64(rec.size), int64(rec.size)
	return nil
}

// entry is one directory entry being assembled (multi-extent files span
// several records, ECMA-119 §6.5.1).
type entry struct {
	first record
	info  rrInfo
	ext   []extent
	size  int64
}

// readDir parses the extent of directory n, indexes its entries and
// returns the Inos of its subdirectories.
func (rd *Reader) readDir(ino image.Ino, n *node) ([]image.Ino, error) {
	if rd.dirBytes+n.dirLen > rd.size {
		return nil, corrupt(n.dirOff, "directory extents exceed the image size (overlapping directories)", nil)
	}
	rd.dirBytes += n.dirLen
	var (
		subdirs []image.Ino
		pending *entry
		index   int
	)
	add := func(e *entry) error {
		pending = nil
		sub, err := rd.addEntry(ino, n, e)
		if err != nil {
			return err
		}
		if sub != 0 {
			subdirs = append(subdirs, sub)
		}
		return nil
	}
	err := rd.records(n.dirOff, n.dirLen, func(b []byte, off int64) error {
		rec, err := parseRecord(b, off)
		if err != nil {
			return err
		}
		i := index
		index++
		switch {
		case i == 0:
			if !rec.isDot() || (int64(rec.extent)+int64(rec.xar))*rd.bs != n.dirOff {
				return corrupt(off, "directory does not start with its \".\" record", nil)
			}
			if n.fromDot {
				var in rrInfo
				if rd.rr {
					su := rec.su
					if ino != rd.root {
						su = skip(su, rd.suSkip)
					}
					if err := rd.parseSU(su, off, &in); err != nil {
						return err
					}
				}
				rd.setAttrs(n, rec, &in)
				n.typ = fsadapters.TypeDir
			}
			return nil
		case i == 1:
			if !rec.isDotDot() {
				return corrupt(off, "directory without \"..\" record", nil)
			}
			return nil
		case rec.isDot() || rec.isDotDot():
			return corrupt(off, "misplaced \".\" or \"..\" record", nil)
		}
		if pending != nil {
			if !bytes.Equal(rec.ident, pending.first.ident) {
				return corrupt(off, "multi-extent file without its final record", nil)
			}
			if err := rd.addExtent(pending, rec); err != nil {
				return err
			}
			if rec.flags&flagMultiEx == 0 {
				return add(pending)
			}
			return nil
		}
		if rec.flags&flagAssoc != 0 {
			return nil // associated files are hidden, as Linux does by default
		}
		e := &entry{first: rec}
		if rd.rr {
			if err := rd.parseSU(skip(rec.su, rd.suSkip), off, &e.info); err != nil {
				return err
			}
		}
		if rec.flags&flagDir == 0 && !e.info.cl {
			if err := rd.addExtent(e, rec); err != nil {
				return err
			}
		}
		if rec.flags&flagMultiEx != 0 && rec.flags&flagDir == 0 {
			pending = e
			return nil
		}
		return add(e)
	})
	if err == nil && pending != nil {
		err = corrupt(pending.first.off, "multi-extent file without its final record", nil)
	}
	if err == nil && index < 2 {
		err = corrupt(n.dirOff, "directory without \".\" and \"..\"", nil)
	}
	return subdirs, err
}

func skip(su []byte, n int) []byte {
	if n >= len(su) {
		return nil
	}
	return su[n:]
}

// addExtent appends the extent of record rec to file entry e.
func (rd *Reader) addExtent(e *entry, rec record) error {
	if len(e.ext) > 0 && (rec.flags&flagDir != 0) {
		return corrupt(rec.off, "multi-extent directory", nil)
	}
	if len(e.ext) >= 1<<16 {
		return corrupt(rec.off, "too many extents", nil)
	}
	if rec.size > 0 {
		e.ext = append(e.ext, extent{off: (int64(rec.extent) + int64(rec.xar)) * rd.bs, size: int64(rec.size), pos: e.size})
		e.size += int64(rec.size)
	}
	if rec.unitSize != 0 || rec.gap != 0 {
		e.first.unitSize = 1 // remembered: interleaved, unsupported
	}
	return nil
}

// records calls fn for every directory record of the extent at off, read
// in pieces. Records never cross a logical sector boundary; a zero length
// byte pads the rest of a sector (ECMA-119 §6.8.1.1).
func (rd *Reader) records(off, length int64, fn func(b []byte, off int64) error) error {
	buf := make([]byte, min(length, readSize))
	for pos := int64(0); pos < length; pos += readSize {
		n := min(readSize, length-pos)
		b := buf[:n]
		if err := rd.readFull(b, off+pos, "directory extent"); err != nil {
			return err
		}
		for s := int64(0); s < n; s += sectorSize {
			sec := b[s:min(s+sectorSize, n)]
			for p := 0; p < len(sec); {
				l := int(sec[p])
				if l == 0 {
					break
				}
				at := off + pos + s + int64(p)
				if l < drMinLen || p+l > len(sec) {
					return corrupt(at, "directory record crosses a sector boundary", nil)
				}
				if err := fn(sec[p:p+l], at); err != nil {
					return err
				}
				p += l
			}
		}
	}
	return nil
}

// addEntry indexes entry e of directory dir; for a subdirectory it
// returns its Ino, to be walked.
func (rd *Reader) addEntry(dirIno image.Ino, dir *node, e *entry) (image.Ino, error) {
	rec := &e.first
	if e.info.re {
		dir.hiddenRE++
		return 0, nil
	}
	var name string
	switch {
	case rd.rr && e.info.hasNM:
		name = sanitize(string(e.info.name))
	case rd.joliet:
		name = jolietName(rec.ident)
	default:
		name = isoName(rec.ident)
	}
	if name == "" || name == "." || name == ".." {
		return 0, corrupt(rec.off, "directory entry name", fmt.Errorf("%q", name))
	}
	n := &node{parent: dirIno}
	var ino image.Ino
	if rec.flags&flagDir != 0 || e.info.cl {
		n.typ = fsadapters.TypeDir
		loc := rec.extent
		if e.info.cl {
			// RRIP §4.1.5.1: the real directory is at the CL location;
			// its attributes come from its own "." record.
			loc = e.info.clLoc
			n.fromDot = true
			rec2 := *rec
			rec2.extent, rec2.xar = loc, 0
			rec2.size = 0
			if err := rd.clExtent(&rec2); err != nil {
				return 0, err
			}
			if err := rd.setDirExtent(n, rec2, rec.off); err != nil {
				return 0, err
			}
		} else if err := rd.setDirExtent(n, *rec, rec.off); err != nil {
			return 0, err
		}
		ino = image.Ino(int64(loc) * rd.bs)
		if !n.fromDot {
			rd.setAttrs(n, *rec, &e.info)
			n.typ = fsadapters.TypeDir
		}
	} else {
		ino = image.Ino(rec.off)
		rd.setAttrs(n, *rec, &e.info)
		if n.typ == fsadapters.TypeDir {
			return 0, corrupt(rec.off, "RRIP PX says directory for a non-directory record", nil)
		}
		if n.typ == fsadapters.TypeRegular {
			n.extents, n.size = e.ext, e.size
			if rec.unitSize != 0 {
				n.unsupported = "interleaved file"
			}
		}
	}
	if ino == 0 {
		return 0, corrupt(rec.off, "directory entry location", nil)
	}
	if _, dup := rd.nodes[ino]; dup {
		return 0, corrupt(rec.off, "directory entry reached twice (directory cycle or overlapping records)", nil)
	}
	rd.nodes[ino] = n
	dir.children = append(dir.children, image.Dirent{Name: name, Ino: ino, Type: n.typ})
	if n.typ == fsadapters.TypeDir {
		return ino, nil
	}
	return 0, nil
}

// clExtent reads the "." record of a relocated directory for its length.
func (rd *Reader) clExtent(rec *record) error {
	off := int64(rec.extent) * rd.bs
	var b [drMinLen]byte
	if err := rd.readFull(b[:], off, "relocated directory (RRIP CL)"); err != nil {
		return err
	}
	if int(b[0]) < drMinLen || b[32] != 1 || b[33] != 0 {
		return corrupt(off, "relocated directory (RRIP CL) \".\" record", nil)
	}
	rec.size = le32(b[10:])
	return nil
}

// setAttrs fills n's attributes from rec and its Rock Ridge entries.
func (rd *Reader) setAttrs(n *node, rec record, in *rrInfo) {
	isDir := rec.flags&flagDir != 0 || in.cl || n.fromDot
	t := shortDate(rec.date[:])
	n.mtime, n.atime, n.ctime = t, t, t
	n.uid, n.gid, n.nlink = 0, 0, 0
	if isDir {
		n.typ, n.mode = fsadapters.TypeDir, 0o555
	} else {
		n.typ, n.mode = fsadapters.TypeRegular, 0o444
	}
	if in.pxLen > 0 {
		n.mode = in.mode & 0o7777
		n.nlink, n.uid, n.gid = in.nlink, in.uid, in.gid
		if in.pxLen >= 44 {
			n.serial = in.serial
		}
		if !isDir {
			switch in.mode & unix.S_IFMT {
			case unix.S_IFREG, 0:
				n.typ = fsadapters.TypeRegular
			case unix.S_IFDIR:
				n.typ = fsadapters.TypeDir
			case unix.S_IFLNK:
				n.typ = fsadapters.TypeSymlink
			case unix.S_IFCHR:
				n.typ = fsadapters.TypeChar
			case unix.S_IFBLK:
				n.typ = fsadapters.TypeBlock
			case unix.S_IFIFO:
				n.typ = fsadapters.TypeFIFO
			case unix.S_IFSOCK:
				n.typ = fsadapters.TypeSocket
			}
		}
	}
	if n.typ == fsadapters.TypeSymlink {
		n.target = in.target()
		n.size = int64(len(n.target))
	}
	if (n.typ == fsadapters.TypeChar || n.typ == fsadapters.TypeBlock) && in.pn {
		// RRIP §4.1.2; like Linux, a zero high word with a low word above
		// 0xff is the old 8:8 encoding.
		if in.devHi == 0 && in.devLo&^0xff != 0 {
			n.rdevMaj, n.rdevMin = (in.devLo>>8)&0xff, in.devLo&0xff
		} else {
			n.rdevMaj, n.rdevMin = in.devHi, in.devLo
		}
	}
	if in.hasM {
		n.mtime = in.mtime
	}
	n.atime, n.ctime = n.mtime, n.mtime
	if in.hasA {
		n.atime = in.atime
	}
	if in.hasC {
		n.ctime = in.ct
	}
	if in.hasB {
		n.btime = in.btime
	}
	if in.tfLong {
		rd.longTF = true
	}
	n.zf = in.zf
}

// finish runs after the walk: hard-link identities from PX serials, the
// hidden relocation directory, synthesized nlink and Lookup maps.
func (rd *Reader) finish() {
	rd.linkSerials()
	rd.hideRRMoved()
	for _, n := range rd.nodes {
		if n.typ != fsadapters.TypeDir {
			if n.nlink == 0 {
				n.nlink = 1
			}
			continue
		}
		// xorriso --hardlinks writes nlink 1 for every directory (not a
		// POSIX count: a directory has at least "." and its parent's
		// entry); such values are synthesized like when PX is absent.
		if n.nlink < 2 || !rd.rr {
			sub := uint32(0)
			for _, c := range n.children {
				if c.Type == fsadapters.TypeDir {
					sub++
				}
			}
			n.nlink = 2 + sub
		}
		if len(n.children) >= byNameMin {
			n.byName = make(map[string]image.Ino, len(n.children))
			for _, c := range n.children {
				if _, dup := n.byName[c.Name]; !dup {
					n.byName[c.Name] = c.Ino
				}
			}
		}
	}
}

// linkSerials gives every non-directory with a PX serial (RRIP 1.12) the
// Ino serialTag|serial, so hard links share one, but only if the serials
// are consistent: every record sharing a serial must describe the same
// object (same type, extent, size, owner and mode). Otherwise the image's
// serials are not trusted at all and hard links stay separate files.
func (rd *Reader) linkSerials() {
	groups := map[uint32][]image.Ino{}
	for ino, n := range rd.nodes {
		if n.typ == fsadapters.TypeDir || n.serial == 0 {
			continue
		}
		groups[n.serial] = append(groups[n.serial], ino)
	}
	if len(groups) == 0 {
		rd.info.NoHardLinks = true
		return
	}
	same := func(a, b *node) bool {
		if a.typ != b.typ || a.size != b.size || a.mode != b.mode || a.uid != b.uid || a.gid != b.gid ||
			a.target != b.target || a.rdevMaj != b.rdevMaj || a.rdevMin != b.rdevMin || len(a.extents) != len(b.extents) {
			return false
		}
		for i := range a.extents {
			if a.extents[i] != b.extents[i] {
				return false
			}
		}
		return true
	}
	for _, g := range groups {
		for _, ino := range g[1:] {
			if !same(rd.nodes[g[0]], rd.nodes[ino]) {
				rd.info.NoHardLinks = true
				return
			}
		}
	}
	remap := map[image.Ino]image.Ino{}
	for serial, g := range groups {
		to := image.Ino(serialTag | uint64(serial))
		// Keep the node of the lowest record offset: stable across opens.
		best := g[0]
		for _, ino := range g {
			if ino < best {
				best = ino
			}
		}
		n := rd.nodes[best]
		for _, ino := range g {
			remap[ino] = to
			delete(rd.nodes, ino)
		}
		rd.nodes[to] = n
	}
	for _, n := range rd.nodes {
		for i, c := range n.children {
			if to, ok := remap[c.Ino]; ok {
				n.children[i].Ino = to
			}
		}
	}
}

// hideRRMoved hides the directory that holds relocated directories
// (genisoimage "rr_moved", RRIP §4.1.5) when, with its RE entries hidden,
// it is empty and sits in the root: it is an artefact of the writer.
func (rd *Reader) hideRRMoved() {
	root := rd.nodes[rd.root]
	for i, c := range root.children {
		if c.Type != fsadapters.TypeDir || (c.Name != "rr_moved" && c.Name != ".rr_moved") {
			continue
		}
		m := rd.nodes[c.Ino]
		if m == nil || m.hiddenRE == 0 || len(m.children) != 0 || m.err != nil {
			continue
		}
		delete(rd.nodes, c.Ino)
		root.children = append(root.children[:i:i], root.children[i+1:]...)
		if root.nlink > 2 {
			root.nlink--
		}
		return
	}
}

func (rd *Reader) get(ino image.Ino) (*node, error) {
	n := rd.nodes[ino]
	if n == nil {
		return nil, fsadapters.ErrStale
	}
	return n, nil
}

// Root implements image.Reader.
func (rd *Reader) Root() image.Ino { return rd.root }

// Info implements image.Reader.
func (rd *Reader) Info() image.Info { return rd.info }

// Close implements image.Reader.
func (rd *Reader) Close() error { return nil }

// Stat implements image.Reader.
func (rd *Reader) Stat(ino image.Ino) (fsadapters.Attr, error) {
	n, err := rd.get(ino)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	a := fsadapters.Attr{
		Type: n.typ, Mode: n.mode, Nlink: n.nlink, UID: n.uid, GID: n.gid,
		Size: uint64(n.size), RdevMajor: n.rdevMaj, RdevMinor: n.rdevMin,
		FileID: uint64(ino), Atime: n.atime, Mtime: n.mtime, Ctime: n.ctime, Btime: n.btime,
	}
	for _, e := range n.extents {
		a.SpaceUsed += uint64((e.size + rd.bs - 1) / rd.bs * rd.bs)
	}
	if n.typ == fsadapters.TypeDir {
		a.SpaceUsed = uint64(n.dirLen)
	}
	c := n.mtime
	if n.ctime.After(c) {
		c = n.ctime
	}
	a.Change = uint64(c.UnixNano())
	return a, nil
}

func (rd *Reader) dir(ino image.Ino) (*node, error) {
	n, err := rd.get(ino)
	if err != nil {
		return nil, err
	}
	if n.typ != fsadapters.TypeDir {
		return nil, unix.ENOTDIR
	}
	if n.err != nil {
		return nil, n.err
	}
	return n, nil
}

// ReadDir implements image.Reader: entries in on-disk order.
func (rd *Reader) ReadDir(ino image.Ino) ([]image.Dirent, error) {
	n, err := rd.dir(ino)
	if err != nil {
		return nil, err
	}
	return append([]image.Dirent(nil), n.children...), nil
}

// Lookup implements image.Reader.
func (rd *Reader) Lookup(dir image.Ino, name string) (image.Ino, error) {
	n, err := rd.dir(dir)
	if err != nil {
		return 0, err
	}
	if n.byName != nil {
		if ino, ok := n.byName[name]; ok {
			return ino, nil
		}
		return 0, unix.ENOENT
	}
	for _, c := range n.children {
		if c.Name == name {
			return c.Ino, nil
		}
	}
	return 0, unix.ENOENT
}

// Parent implements image.Reader (the parent found by the walk, which for
// a relocated directory is the directory holding its CL entry).
func (rd *Reader) Parent(dir image.Ino) (image.Ino, error) {
	n, err := rd.get(dir)
	if err != nil {
		return 0, err
	}
	if n.typ != fsadapters.TypeDir {
		return 0, unix.ENOTDIR
	}
	return n.parent, nil
}

// Readlink implements image.Reader.
func (rd *Reader) Readlink(ino image.Ino) (string, error) {
	n, err := rd.get(ino)
	if err != nil {
		return "", err
	}
	if n.typ != fsadapters.TypeSymlink {
		return "", unix.EINVAL
	}
	return n.target, nil
}

// Open implements image.Reader.
func (rd *Reader) Open(ino image.Ino) (io.ReaderAt, error) {
	n, err := rd.get(ino)
	if err != nil {
		return nil, err
	}
	switch n.typ {
	case fsadapters.TypeRegular:
	case fsadapters.TypeDir:
		return nil, unix.EISDIR
	default:
		return nil, unix.EINVAL
	}
	if n.unsupported != "" {
		return nil, fmt.Errorf("iso9660: %s: %w", n.unsupported, unix.EOPNOTSUPP)
	}
	return &fileReader{rd: rd, ext: n.extents, size: n.size}, nil
}

// fileReader reads a file's extents straight from the image: ISO 9660
// file sections are contiguous (§6.5.1), so any offset costs one lookup.
type fileReader struct {
	rd   *Reader
	ext  []extent
	size int64
}

func (f *fileReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	if off >= f.size {
		return 0, io.EOF
	}
	// First extent holding off (extents are in file order).
	lo, hi := 0, len(f.ext)
	for lo < hi {
		m := (lo + hi) / 2
		if f.ext[m].pos+f.ext[m].size <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	done := 0
	for i := lo; i < len(f.ext) && done < len(p); i++ {
		e := f.ext[i]
		in := off + int64(done) - e.pos
		n := min(int64(len(p)-done), e.size-in)
		if err := f.rd.readFull(p[done:done+int(n)], e.off+in, "file data"); err != nil {
			return done, err
		}
		done += int(n)
	}
	if done < len(p) {
		return done, io.EOF
	}
	if off+int64(done) == f.size {
		return done, io.EOF
	}
	return done, nil
}
