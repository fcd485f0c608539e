package fat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
)

// RootIno is the Ino of the root directory. Every other Ino is the offset
// of a 32-byte directory entry, a multiple of 32, so 1 cannot collide.
const RootIno image.Ino = 1

// Directory entry attributes (fatgen103 §6).
const (
	attrReadOnly = 0x01
	attrVolume   = 0x08
	attrDir      = 0x10
	attrLFNMask  = 0x3F
	attrLFN      = 0x0F // READ_ONLY|HIDDEN|SYSTEM|VOLUME_ID
)

const (
	// maxDirEntries bounds a directory (fatgen103 §6: 65536 entries, 2 MiB).
	maxDirEntries = 65536
	maxDirBytes   = maxDirEntries * 32
	// maxNodes bounds the index Open builds (memory ≈ 150 B per entry).
	maxNodes = 2 << 20
	// maxRunCache bounds the cached run lists (total runs over all files).
	maxRunCache = 1 << 20
)

// node is one indexed object.
type node struct {
	name   string
	short  string // 8.3 alias ("BASE.EXT"), also accepted by Lookup
	parent image.Ino
	ent    [32]byte // raw 8.3 entry (zero for the root)
	dir    *dirInfo // nil for regular files
}

type dirInfo struct {
	children []image.Ino
	nsub     uint32
	bytes    int64
	err      error // damage found while reading this directory
	once     sync.Once
	lookup   map[string]image.Ino
}

func (n *node) firstCluster(v *volume) uint32 {
	c := uint32(binary.LittleEndian.Uint16(n.ent[26:]))
	if v.fatType == FAT32 { // DIR_FstClusHI is only defined on FAT32
		c |= uint32(binary.LittleEndian.Uint16(n.ent[20:])) << 16
	}
	return c
}

func (n *node) fileSize() int64 { return int64(binary.LittleEndian.Uint32(n.ent[28:])) }

// Reader is a read-only FAT12/16/32 volume. Safe for concurrent use.
type Reader struct {
	r     io.ReaderAt
	size  int64
	opt   image.Options
	v     *volume
	nodes map[image.Ino]*node
	label string
	used  uint64
	fat   fatCache

	runMu    sync.Mutex
	runCache map[image.Ino][]run
	runCount int
}

// Open validates the boot sector and indexes the whole directory tree.
// Damage in one directory is reported by ReadDir of that directory; only a
// bad boot sector or an unreadable root fails Open.
func Open(r io.ReaderAt, size int64, opt image.Options) (*Reader, error) {
	b := make([]byte, 512)
	if size < 512 {
		return nil, image.Corrupt(formatName, 0, "boot sector", io.ErrUnexpectedEOF)
	}
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, image.Corrupt(formatName, 0, "boot sector", err)
	}
	v, err := parseBPB(b, size)
	if err != nil {
		return nil, image.Corrupt(formatName, 0, "boot sector", err)
	}
	fr := &Reader{r: r, size: size, opt: opt, v: v, nodes: map[image.Ino]*node{}, label: v.label,
		runCache: map[image.Ino][]run{}}
	if err := fr.index(); err != nil {
		return nil, err
	}
	return fr, nil
}

// dirExtent is one piece of a directory's on-disk bytes.
type dirExtent struct{ off, n int64 }

// index walks the tree breadth-first from the root. Every directory cluster
// may belong to one directory only, which stops cycles (a subdirectory
// pointing at an ancestor) and bounds the work by the volume size.
func (r *Reader) index() error {
	root := &node{parent: RootIno, dir: &dirInfo{}}
	r.nodes[RootIno] = root
	dirClusters := map[uint32]struct{}{}
	queue := []image.Ino{RootIno}
	for len(queue) > 0 {
		ino := queue[0]
		queue = queue[1:]
		n := r.nodes[ino]
		err := r.indexDir(ino, n, dirClusters, &queue)
		if err != nil {
			if ino == RootIno {
				return err
			}
			n.dir.err = err
		}
	}
	var used int64
	for _, n := range r.nodes {
		if n.dir != nil {
			used += n.dir.bytes
		} else {
			used += (n.fileSize() + r.v.clusterBytes - 1) / r.v.clusterBytes * r.v.clusterBytes
		}
	}
	r.used = uint64(used)
	return nil
}

// dirExtents lists the bytes of directory n: the fixed root region, or its
// cluster chain (at most maxDirBytes, no cluster shared with another dir).
func (r *Reader) dirExtents(ino image.Ino, n *node, seen map[uint32]struct{}) ([]dirExtent, error) {
	if ino == RootIno && r.v.fatType != FAT32 {
		return []dirExtent{{r.v.rootOff, min(r.v.rootBytes, maxDirBytes)}}, nil
	}
	c := r.v.rootCluster
	entOff := int64(-1)
	if ino != RootIno {
		c = n.firstCluster(r.v)
		entOff = int64(ino)
	}
	if !r.v.validCluster(c) {
		return nil, image.Corrupt(formatName, entOff, "directory entry", fmt.Errorf("directory start cluster %d out of range", c))
	}
	var ext []dirExtent
	var total int64
	for {
		if _, dup := seen[c]; dup {
			return nil, image.Corrupt(formatName, r.v.clusterOff(c), "directory cluster chain", errors.New("cluster used twice (loop or cross-link)"))
		}
		seen[c] = struct{}{}
		if total+r.v.clusterBytes > maxDirBytes {
			return nil, image.Corrupt(formatName, r.v.clusterOff(c), "directory", errors.New("more than 65536 entries"))
		}
		off := r.v.clusterOff(c)
		if l := len(ext) - 1; l >= 0 && ext[l].off+ext[l].n == off {
			ext[l].n += r.v.clusterBytes
		} else {
			ext = append(ext, dirExtent{off, r.v.clusterBytes})
		}
		total += r.v.clusterBytes
		nc, eoc, err := r.next(c, false)
		if err != nil {
			return nil, err
		}
		if eoc {
			return ext, nil
		}
		c = nc
	}
}

// indexDir reads directory ino and adds its entries to the index.
func (r *Reader) indexDir(ino image.Ino, n *node, seen map[uint32]struct{}, queue *[]image.Ino) error {
	ext, err := r.dirExtents(ino, n, seen)
	if err != nil {
		return err
	}
	var lfn lfnState
	var buf []byte
	for _, e := range ext {
		n.dir.bytes += e.n
	}
	if ino == RootIno && r.v.fatType != FAT32 {
		n.dir.bytes = r.v.rootBytes
	}
	for _, e := range ext {
		if int64(cap(buf)) < e.n {
			buf = make([]byte, e.n)
		}
		buf = buf[:e.n]
		if err := r.readFull(buf, e.off); err != nil {
			return image.Corrupt(formatName, e.off, "directory", err)
		}
		for i := int64(0); i+32 <= e.n; i += 32 {
			d := buf[i : i+32]
			off := e.off + i
			switch {
			case d[0] == 0x00: // end of directory (fatgen103 §6.1)
				return nil
			case d[0] == 0xE5: // deleted
				lfn.reset()
				continue
			case d[11]&attrLFNMask == attrLFN:
				lfn.add(d)
				continue
			case d[11]&attrVolume != 0: // volume label (or a bogus entry)
				if ino == RootIno && d[11]&attrDir == 0 && r.label == "" {
					r.label = shortName(d, false)
				}
				lfn.reset()
				continue
			}
			long := lfn.take(d)
			if d[0] == '.' && (string(d[:11]) == ".          " || string(d[:11]) == "..         ") {
				continue
			}
			if len(r.nodes) >= maxNodes {
				return image.Corrupt(formatName, off, "directory", fmt.Errorf("more than %d entries in the volume", maxNodes))
			}
			c := &node{short: shortName(d, false), parent: ino}
			copy(c.ent[:], d)
			c.name = long
			if !validName(c.name) {
				c.name = shortName(d, true)
			}
			if !validName(c.name) {
				continue // unusable name (damage): skip the entry
			}
			id := image.Ino(off)
			if _, dup := r.nodes[id]; dup {
				continue // cannot happen: directory clusters are distinct
			}
			if d[11]&attrDir != 0 {
				c.dir = &dirInfo{}
				n.dir.nsub++
				*queue = append(*queue, id)
			}
			r.nodes[id] = c
			n.dir.children = append(n.dir.children, id)
		}
	}
	return nil
}

func (r *Reader) get(ino image.Ino) (*node, error) {
	n := r.nodes[ino]
	if n == nil {
		return nil, fsadapters.ErrStale
	}
	return n, nil
}

// Root implements image.Reader.
func (r *Reader) Root() image.Ino { return RootIno }

// fatTime decodes a FAT date and time (fatgen103 §6.1) plus the creation
// tenths (10 ms units). FAT stores local time without a zone: read as UTC.
// Out-of-range fields are clamped like Linux fat_time_fat2unix.
func fatTime(date, tm uint16, cs uint8) time.Time {
	year := 1980 + int(date>>9)
	month := max(1, min(12, int(date>>5&0xF)))
	day := max(1, int(date&0x1F))
	t := time.Date(year, time.Month(month), day, int(tm>>11), int(tm>>5&0x3F), int(tm&0x1F)*2, 0, time.UTC)
	return t.Add(time.Duration(cs) * 10 * time.Millisecond)
}

// Stat implements image.Reader.
func (r *Reader) Stat(ino image.Ino) (fsadapters.Attr, error) {
	n, err := r.get(ino)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	e := n.ent[:]
	a := fsadapters.Attr{FileID: uint64(ino), Nlink: 1}
	le16 := func(o int) uint16 { return binary.LittleEndian.Uint16(e[o:]) }
	if ino == RootIno {
		a.Mtime = time.Unix(0, 0).UTC() // the root has no entry, hence no times
	} else {
		a.Mtime = fatTime(le16(24), le16(22), 0)
		if ad := le16(18); ad != 0 {
			a.Atime = fatTime(ad, 0, 0)
		}
		if cd := le16(16); cd != 0 {
			a.Btime = fatTime(cd, le16(14), e[13])
		}
	}
	if a.Atime.IsZero() {
		a.Atime = a.Mtime
	}
	a.Ctime = a.Mtime
	a.Change = uint64(a.Mtime.UnixNano())
	if n.dir != nil {
		a.Type = fsadapters.TypeDir
		a.Mode = 0o755
		a.Nlink = 2 + n.dir.nsub
		a.Size = uint64(n.dir.bytes)
		a.SpaceUsed = a.Size
	} else {
		a.Type = fsadapters.TypeRegular
		a.Mode = 0o644
		if e[11]&attrReadOnly != 0 {
			a.Mode = 0o444
		}
		a.Size = uint64(n.fileSize())
		cb := uint64(r.v.clusterBytes)
		a.SpaceUsed = (a.Size + cb - 1) / cb * cb
	}
	return a, nil
}

func (r *Reader) getDir(ino image.Ino) (*node, error) {
	n, err := r.get(ino)
	if err != nil {
		return nil, err
	}
	if n.dir == nil {
		return nil, unix.ENOTDIR
	}
	return n, nil
}

// ReadDir implements image.Reader: entries in on-disk order.
func (r *Reader) ReadDir(ino image.Ino) ([]image.Dirent, error) {
	n, err := r.getDir(ino)
	if err != nil {
		return nil, err
	}
	if n.dir.err != nil {
		return nil, n.dir.err
	}
	out := make([]image.Dirent, 0, len(n.dir.children))
	for _, c := range n.dir.children {
		cn := r.nodes[c]
		t := fsadapters.TypeRegular
		if cn.dir != nil {
			t = fsadapters.TypeDir
		}
		out = append(out, image.Dirent{Name: cn.name, Ino: c, Type: t})
	}
	return out, nil
}

// Lookup implements image.Reader. FAT is case-insensitive: names match
// under Unicode simple case folding, long names first, then 8.3 aliases
// (as Linux vfat also accepts the short alias).
func (r *Reader) Lookup(dir image.Ino, name string) (image.Ino, error) {
	n, err := r.getDir(dir)
	if err != nil {
		return 0, err
	}
	switch name {
	case ".":
		return dir, nil
	case "..":
		return n.parent, nil
	}
	if n.dir.err != nil {
		return 0, n.dir.err
	}
	n.dir.once.Do(func() {
		m := make(map[string]image.Ino, len(n.dir.children))
		for _, c := range n.dir.children {
			k := foldKey(r.nodes[c].name)
			if _, dup := m[k]; !dup {
				m[k] = c
			}
		}
		for _, c := range n.dir.children {
			k := foldKey(r.nodes[c].short)
			if _, dup := m[k]; !dup {
				m[k] = c
			}
		}
		n.dir.lookup = m
	})
	if c, ok := n.dir.lookup[foldKey(name)]; ok {
		return c, nil
	}
	return 0, unix.ENOENT
}

// Parent implements image.Reader (from the index; the root is its own).
func (r *Reader) Parent(dir image.Ino) (image.Ino, error) {
	n, err := r.getDir(dir)
	if err != nil {
		return 0, err
	}
	return n.parent, nil
}

// Readlink implements image.Reader: FAT has no symlinks.
func (r *Reader) Readlink(ino image.Ino) (string, error) {
	if _, err := r.get(ino); err != nil {
		return "", err
	}
	return "", unix.EINVAL
}

// Open implements image.Reader. The file's cluster chain is resolved once
// into runs of contiguous clusters (cached, bounded), so ReadAt costs a
// binary search plus the read.
func (r *Reader) Open(ino image.Ino) (io.ReaderAt, error) {
	n, err := r.get(ino)
	if err != nil {
		return nil, err
	}
	if n.dir != nil {
		return nil, unix.EISDIR
	}
	size := n.fileSize()
	r.runMu.Lock()
	runs, ok := r.runCache[ino]
	r.runMu.Unlock()
	if !ok {
		need := (size + r.v.clusterBytes - 1) / r.v.clusterBytes
		runs, err = r.fileRuns(n.firstCluster(r.v), need, int64(ino))
		if err != nil {
			return nil, err
		}
		r.runMu.Lock()
		for k, old := range r.runCache {
			if r.runCount+len(runs)+1 <= maxRunCache {
				break
			}
			r.runCount -= len(old) + 1
			delete(r.runCache, k)
		}
		if _, dup := r.runCache[ino]; !dup {
			r.runCache[ino] = runs
			r.runCount += len(runs) + 1
		}
		r.runMu.Unlock()
	}
	return &fileReader{r: r, size: size, runs: runs}, nil
}

// Info implements image.Reader.
func (r *Reader) Info() image.Info {
	return image.Info{
		Format:            formatName,
		Label:             r.label,
		TotalBytes:        uint64(r.v.totalBytes),
		UsedBytes:         r.used,
		Files:             uint64(len(r.nodes)),
		MaxName:           255,
		TimeDelta:         2 * time.Second,
		CaseInsensitive:   true,
		NoHardLinks:       true,
		NoSymlinks:        true,
		NoDevices:         true,
		SourceDescription: fmt.Sprintf("FAT%d, %d clusters of %d bytes", r.v.fatType, r.v.clusters, r.v.clusterBytes),
	}
}

// Close implements image.Reader.
func (r *Reader) Close() error {
	r.runMu.Lock()
	r.runCache = map[image.Ino][]run{}
	r.runCount = 0
	r.runMu.Unlock()
	r.fat.mu.Lock()
	r.fat.chunks = nil
	r.fat.bytes = 0
	r.fat.mu.Unlock()
	return nil
}

var _ image.Reader = (*Reader)(nil)
