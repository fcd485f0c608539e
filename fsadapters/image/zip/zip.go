// Package zip serves zip archives (including Zip64) as an image.Reader.
//
// archive/zip parses the central directory; this package reads each
// FileHeader itself (not archive/zip's fs.FS, which reports 0555 for every
// directory): the Unix mode from ExternalAttrs>>16 when the creator is Unix,
// owners from the Info-ZIP "ux" (0x7875) or old "Ux" (0x5855) extra field,
// mtime from the extended timestamp (0x5455, UTC seconds) or the DOS time.
//
// Ino is the byte offset of the member's central-directory record (always
// > 0: local headers precede the central directory). Directories implied by
// member paths but not stored get an Ino hashed from their path with the
// top bit set (offsets never reach it), mode 0755, owner 0:0 and the newest
// mtime in the archive. Zip has no hard links.
//
// Random access: stored members are read in place (SectionReader at the
// data offset). Compressed members are inflated once, on first read, into
// a per-image cache bounded by Options.CacheBytes (LRU); members larger
// than a quarter of that budget are inflated into unlinked temporary files
// in Options.TempDir (at most maxTempFiles kept open, LRU). The CRC-32 is
// checked on every inflation: a mismatch is a CorruptError, never data.
package zip

import (
	stdzip "archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/pathtree"
)

const (
	formatName = "zip"
	// defaultCache is the decompressed-data budget when Options gives none.
	defaultCache = 32 << 20
	// maxTempFiles bounds the inflated members kept in temp files.
	maxTempFiles = 16
	// maxLink bounds a symlink target (PATH_MAX).
	maxLink = 4096

	eocdLen  = 22
	cdHdrLen = 46
)

// member is one zip entry with content.
type member struct {
	f      *stdzip.File
	cdOff  int64
	mu     sync.Mutex
	dataAt int64 // offset of the stored data, -1 until first computed
}

// dataRef locates the content of a node.
type dataRef struct{ m *member }

// Reader is an open zip archive. It is safe for concurrent use.
type Reader struct {
	*pathtree.Tree[dataRef]
	src   io.ReaderAt
	size  int64
	cache *cache
	info  image.Info
}

var _ image.Reader = (*Reader)(nil)

// findEOCD returns the offset of the end-of-central-directory record:
// searched backwards in the last 64 KiB + 22 bytes (the comment is at most
// 65535 bytes), APPNOTE 4.3.16.
func findEOCD(r io.ReaderAt, size int64) (int64, []byte) {
	n := min(size, 65535+eocdLen)
	if n < eocdLen {
		return -1, nil
	}
	buf := make([]byte, n)
	if k, _ := r.ReadAt(buf, size-n); int64(k) != n {
		return -1, nil
	}
	for i := int(n) - eocdLen; i >= 0; i-- {
		if buf[i] == 'P' && buf[i+1] == 'K' && buf[i+2] == 5 && buf[i+3] == 6 {
			clen := int(binary.LittleEndian.Uint16(buf[i+20:]))
			if i+eocdLen+clen <= int(n) {
				return size - n + int64(i), buf[i:]
			}
		}
	}
	return -1, nil
}

// Probe reports whether r holds a zip archive: an end-of-central-directory
// record near the end, or a local file header at offset 0.
func Probe(r io.ReaderAt, size int64) bool {
	var b [4]byte
	if n, _ := r.ReadAt(b[:], 0); n == 4 && string(b[:]) == "PK\x03\x04" {
		return true
	}
	off, _ := findEOCD(r, size)
	return off >= 0
}

// cdStart locates the central directory from the (Zip64) end records. It
// uses "end record position − directory size" rather than the stored
// offset, so archives with data prepended (self-extractors) work too.
func cdStart(r io.ReaderAt, size int64) (int64, error) {
	eocd, b := findEOCD(r, size)
	if eocd < 0 {
		return 0, errors.New("no end of central directory record")
	}
	cdSize := int64(binary.LittleEndian.Uint32(b[12:]))
	end := eocd
	saturated := binary.LittleEndian.Uint32(b[12:]) == 0xffffffff || binary.LittleEndian.Uint32(b[16:]) == 0xffffffff ||
		binary.LittleEndian.Uint16(b[10:]) == 0xffff
	// A Zip64 end record, found through its locator (APPNOTE 4.3.14/15),
	// sits between the directory and the classic end record whenever it
	// exists, even if the classic fields are not saturated (zip -fz).
	var loc [20]byte
	if eocd >= 20 {
		if _, err := r.ReadAt(loc[:], eocd-20); err != nil || string(loc[:4]) != "PK\x06\x07" {
			loc = [20]byte{}
		}
	}
	if string(loc[:4]) == "PK\x06\x07" {
		var rec [56]byte
		found := false
		for _, z := range []int64{int64(binary.LittleEndian.Uint64(loc[8:])), eocd - 20 - 56} {
			if z >= 0 && z+56 <= size {
				if _, err := r.ReadAt(rec[:], z); err == nil && string(rec[:4]) == "PK\x06\x06" {
					end, found = z, true
					break
				}
			}
		}
		if !found {
			return 0, errors.New("zip64 end record missing")
		}
		cdSize = int64(binary.LittleEndian.Uint64(rec[40:]))
	} else if saturated {
		return 0, errors.New("zip64 locator missing")
	}
	if cdSize < 0 || cdSize > end {
		return 0, fmt.Errorf("central directory size %d out of range", cdSize)
	}
	return end - cdSize, nil
}

// Open indexes the archive in r (size bytes).
func Open(r io.ReaderAt, size int64, opt image.Options) (*Reader, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	zr, err := stdzip.NewReader(r, size)
	if err != nil && err != stdzip.ErrInsecurePath { // we normalise names ourselves
		return nil, image.Corrupt(formatName, -1, "central directory", err)
	}
	zr.RegisterDecompressor(12, func(r io.Reader) io.ReadCloser { return io.NopCloser(bzip2.NewReader(r)) })
	zr.RegisterDecompressor(93, func(r io.Reader) io.ReadCloser {
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return io.NopCloser(&errReader{err})
		}
		return z.IOReadCloser()
	})
	start, err := cdStart(r, size)
	if err != nil {
		return nil, image.Corrupt(formatName, -1, "end of central directory", err)
	}
	rd := &Reader{src: r, size: size, Tree: pathtree.New[dataRef](formatName)}
	budget := opt.CacheBytes
	if budget <= 0 {
		budget = defaultCache
	}
	tmp := opt.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	rd.cache = newCache(budget, tmp)
	extTime := false
	// Walk the central directory records (contiguous, in archive/zip's
	// order) to learn each record's offset, our Ino.
	off := start
	cd := bufio.NewReaderSize(io.NewSectionReader(r, start, size-start), 64<<10)
	var hdr [cdHdrLen]byte
	for i, f := range zr.File {
		if _, err := io.ReadFull(cd, hdr[:]); err != nil || string(hdr[:4]) != "PK\x01\x02" {
			return nil, image.Corrupt(formatName, off, "central directory record", err)
		}
		nl := int(binary.LittleEndian.Uint16(hdr[28:]))
		skip := int(binary.LittleEndian.Uint16(hdr[30:])) + int(binary.LittleEndian.Uint16(hdr[32:]))
		name := make([]byte, nl)
		if _, err := io.ReadFull(cd, name); err != nil || string(name) != f.Name {
			return nil, image.Corrupt(formatName, off, fmt.Sprintf("central directory record %d name", i), err)
		}
		if _, err := cd.Discard(skip); err != nil {
			return nil, image.Corrupt(formatName, off, "central directory record", err)
		}
		if rd.add(f, off, log) {
			extTime = true
		}
		off += int64(cdHdrLen + nl + skip)
	}
	rd.Tree.Finish()
	rd.info = image.Info{
		Format:           formatName,
		TotalBytes:       uint64(size),
		UsedBytes:        uint64(size),
		Files:            rd.Tree.CountFiles(),
		MaxName:          255,
		TimeDelta:        2 * time.Second, // DOS time
		NoHardLinks:      true,
		HasDataChecksums: true,
		SourceDescription: fmt.Sprintf("zip archive, %d members; compressed members are inflated on first read "+
			"into a %d-byte cache (larger ones into unlinked temporary files in %s); CRC-32 checked on inflation",
			len(zr.File), budget, tmp),
	}
	if extTime {
		rd.info.TimeDelta = time.Second
	}
	return rd, nil
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// Unix file type bits of ExternalAttrs>>16 (st_mode).
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

// extras is what we take from the extra fields.
type extras struct {
	uid, gid uint32
	hasOwner bool
	mtime    time.Time
	hasMtime bool
}

// parseExtra reads the central-directory extra fields (APPNOTE 4.5, and
// Info-ZIP's extrafld.txt for 0x5455, 0x5855, 0x7875). Malformed fields
// are ignored (archive/zip already bounded the whole extra area).
func parseExtra(b []byte) extras {
	var x extras
	for len(b) >= 4 {
		tag := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		if 4+n > len(b) {
			break
		}
		d := b[4 : 4+n]
		b = b[4+n:]
		switch tag {
		case 0x5455: // extended timestamp: flags, then mtime if bit 0
			if len(d) >= 5 && d[0]&1 != 0 {
				x.mtime = time.Unix(int64(binary.LittleEndian.Uint32(d[1:])), 0)
				x.hasMtime = true
			}
		case 0x7875: // "ux": version 1, uid size, uid, gid size, gid (LE)
			if len(d) < 2 || d[0] != 1 {
				continue
			}
			us := int(d[1])
			if len(d) < 2+us+1 {
				continue
			}
			gs := int(d[2+us])
			if len(d) < 3+us+gs {
				continue
			}
			u, ok1 := leUint(d[2 : 2+us])
			g, ok2 := leUint(d[3+us : 3+us+gs])
			if ok1 && ok2 {
				x.uid, x.gid, x.hasOwner = u, g, true
			}
		case 0x5855: // old "Ux": atime, mtime, then uid, gid (16 bit) in local headers
			if len(d) >= 12 && !x.hasOwner {
				x.uid, x.gid = uint32(binary.LittleEndian.Uint16(d[8:])), uint32(binary.LittleEndian.Uint16(d[10:]))
				x.hasOwner = true
			}
			if len(d) >= 8 && !x.hasMtime {
				x.mtime, x.hasMtime = time.Unix(int64(binary.LittleEndian.Uint32(d[4:])), 0), true
			}
		}
	}
	return x
}

func leUint(b []byte) (uint32, bool) {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		if v > math.MaxUint32 {
			return 0, false
		}
		v = v<<8 | uint64(b[i])
	}
	return uint32(v), v <= math.MaxUint32
}

// add indexes one member; it reports whether it had an extended timestamp.
func (rd *Reader) add(f *stdzip.File, cdOff int64, log *slog.Logger) bool {
	corrupt := func(what string) {
		log.Warn("zip: damaged archive", "err", image.Corrupt(formatName, cdOff, what, nil))
	}
	if cdOff <= 0 {
		corrupt("central directory record at offset 0")
		return false
	}
	parts, ok := pathtree.CleanPath(f.Name)
	if !ok {
		corrupt(fmt.Sprintf("member name %q escapes the archive root; entry skipped", f.Name))
		return false
	}
	n := &pathtree.Node[dataRef]{Ino: image.Ino(cdOff)}
	a := &n.Attr
	x := parseExtra(f.Extra)
	creator := f.CreatorVersion >> 8
	mode := f.ExternalAttrs >> 16
	isDir := strings.HasSuffix(f.Name, "/")
	if (creator == 3 || creator == 19) && mode != 0 { // Unix, OS X
		a.Mode = mode & 0o7777
		switch mode & sIFMT {
		case sIFDIR:
			isDir = true
		case sIFLNK:
			a.Type = fsadapters.TypeSymlink
		case sIFCHR:
			a.Type = fsadapters.TypeChar
		case sIFBLK:
			a.Type = fsadapters.TypeBlock
		case sIFIFO:
			a.Type = fsadapters.TypeFIFO
		case sIFSOCK:
			a.Type = fsadapters.TypeSocket
		}
	} else {
		isDir = isDir || f.ExternalAttrs&0x10 != 0 // MS-DOS directory attribute
		a.Mode = 0o644
		if isDir {
			a.Mode = 0o755
		}
		if f.ExternalAttrs&0x01 != 0 { // MS-DOS read-only attribute
			a.Mode &^= 0o222
		}
	}
	switch {
	case isDir:
		a.Type = fsadapters.TypeDir
	case a.Type == 0:
		a.Type = fsadapters.TypeRegular
	}
	if x.hasOwner {
		a.UID, a.GID = x.uid, x.gid
	}
	if x.hasMtime {
		a.Mtime = x.mtime
	} else {
		a.Mtime = f.Modified
	}
	if a.Type == fsadapters.TypeRegular || a.Type == fsadapters.TypeSymlink {
		if f.UncompressedSize64 > math.MaxInt64 || f.CompressedSize64 > uint64(rd.size) {
			corrupt(fmt.Sprintf("member %q sizes out of range; entry skipped", f.Name))
			return x.hasMtime
		}
		a.Size = f.UncompressedSize64
		a.SpaceUsed = f.CompressedSize64
		n.Data = dataRef{m: &member{f: f, cdOff: cdOff, dataAt: -1}}
	}
	if rd.Tree.Put(parts, n) == nil {
		corrupt(fmt.Sprintf("member %q would replace a non-empty directory; skipped", f.Name))
	}
	return x.hasMtime
}

// Readlink implements image.Reader: the target is the member's content.
func (rd *Reader) Readlink(ino image.Ino) (string, error) {
	n, err := rd.Node(ino)
	if err != nil {
		return "", err
	}
	if n.Attr.Type != fsadapters.TypeSymlink {
		return "", unix.EINVAL
	}
	if n.Attr.Size > maxLink {
		return "", image.Corrupt(formatName, int64(n.Ino), "symlink target longer than PATH_MAX", nil)
	}
	ra, err := rd.reader(n)
	if err != nil {
		return "", err
	}
	buf := make([]byte, n.Attr.Size)
	k, err := ra.ReadAt(buf, 0)
	if k == len(buf) {
		return string(buf), nil
	}
	return "", err
}

// Open implements image.Reader.
func (rd *Reader) Open(ino image.Ino) (io.ReaderAt, error) {
	n, err := rd.Node(ino)
	if err != nil {
		return nil, err
	}
	switch n.Attr.Type {
	case fsadapters.TypeRegular:
	case fsadapters.TypeDir:
		return nil, unix.EISDIR
	default:
		return nil, unix.EINVAL
	}
	return rd.reader(n)
}

func (rd *Reader) reader(n *pathtree.Node[dataRef]) (io.ReaderAt, error) {
	m := n.Data.m
	if m == nil {
		return nil, unix.EINVAL
	}
	if m.f.Flags&0x1 != 0 {
		return nil, fmt.Errorf("zip: %q is encrypted: %w", m.f.Name, unix.EACCES)
	}
	if m.f.Method == stdzip.Store {
		at, err := m.dataOffset(rd.size)
		if err != nil {
			return nil, err
		}
		return &storedReader{src: rd.src, off: at, size: int64(m.f.UncompressedSize64)}, nil
	}
	return &cachedReader{rd: rd, m: m}, nil
}

// dataOffset finds (once) where a stored member's bytes start, checking
// that they lie inside the image.
func (m *member) dataOffset(size int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dataAt >= 0 {
		return m.dataAt, nil
	}
	at, err := m.f.DataOffset()
	if err != nil {
		return 0, image.Corrupt(formatName, m.cdOff, "local file header", err)
	}
	if m.f.CompressedSize64 != m.f.UncompressedSize64 || at < 0 || at > size || int64(m.f.CompressedSize64) > size-at {
		return 0, image.Corrupt(formatName, m.cdOff, "stored member extent", io.ErrUnexpectedEOF)
	}
	m.dataAt = at
	return at, nil
}

// Info implements image.Reader.
func (rd *Reader) Info() image.Info { return rd.info }

// Close implements image.Reader; it closes the cache's temporary files.
func (rd *Reader) Close() error {
	rd.cache.close()
	return nil
}

type storedReader struct {
	src       io.ReaderAt
	off, size int64
}

func (s *storedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	if off >= s.size {
		return 0, io.EOF
	}
	var eof error
	if rem := s.size - off; int64(len(p)) >= rem {
		p, eof = p[:rem], io.EOF
	}
	n, err := s.src.ReadAt(p, s.off+off)
	if n == len(p) {
		return n, eof
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// cachedReader reads a compressed member through the image's cache.
type cachedReader struct {
	rd *Reader
	m  *member
}

func (c *cachedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	size := int64(c.m.f.UncompressedSize64)
	if off >= size {
		return 0, io.EOF
	}
	e, err := c.rd.cache.get(c.m)
	if err != nil {
		return 0, err
	}
	defer c.rd.cache.release(e)
	var eof error
	if rem := size - off; int64(len(p)) >= rem {
		p, eof = p[:rem], io.EOF
	}
	if e.file == nil {
		return copy(p, e.data[off:]), eof
	}
	n, err := e.file.ReadAt(p, off)
	if n == len(p) {
		return n, eof
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// cache holds inflated members: small ones in memory (LRU bounded by
// budget bytes), large ones in unlinked temp files (LRU bounded by count).
// Concurrent requests for one member wait for a single inflation.
type cache struct {
	mu     sync.Mutex
	budget int64
	used   int64
	dir    string
	m      map[*member]*centry
	mem    *list.List // *centry, most recent first
	files  *list.List
	closed bool
}

type centry struct {
	key     *member
	ready   chan struct{}
	data    []byte
	file    *os.File
	cost    int64
	err     error
	elem    *list.Element
	lru     *list.List
	refs    int
	evicted bool
}

func newCache(budget int64, dir string) *cache {
	return &cache{budget: budget, dir: dir, m: map[*member]*centry{}, mem: list.New(), files: list.New()}
}

func (c *cache) get(m *member) (*centry, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, os.ErrClosed
	}
	if e := c.m[m]; e != nil {
		e.refs++
		if e.elem != nil {
			e.lru.MoveToFront(e.elem)
		}
		c.mu.Unlock()
		<-e.ready
		if e.err != nil {
			c.release(e)
			return nil, e.err
		}
		return e, nil
	}
	e := &centry{key: m, ready: make(chan struct{}), refs: 1}
	c.m[m] = e
	c.mu.Unlock()

	e.data, e.file, e.err = c.inflate(m)
	c.mu.Lock()
	switch {
	case e.err != nil:
		e.cost, e.lru = 1024, c.mem // remember the failure, cheaply
	case e.file != nil:
		e.lru = c.files
	default:
		e.cost, e.lru = int64(len(e.data)), c.mem
	}
	if c.closed {
		e.evicted = true
	} else {
		e.elem = e.lru.PushFront(e)
		c.used += e.cost
		c.evict()
	}
	close(e.ready)
	c.mu.Unlock()
	if e.err != nil {
		c.release(e)
		return nil, e.err
	}
	return e, nil
}

// evict drops least recently used entries over the budgets; c.mu is held.
func (c *cache) evict() {
	for c.used > c.budget && c.mem.Len() > 1 {
		c.drop(c.mem.Back().Value.(*centry))
	}
	for c.files.Len() > maxTempFiles {
		c.drop(c.files.Back().Value.(*centry))
	}
}

func (c *cache) drop(e *centry) {
	e.lru.Remove(e.elem)
	e.elem = nil
	c.used -= e.cost
	delete(c.m, e.key)
	e.evicted = true
	if e.refs == 0 && e.file != nil {
		e.file.Close()
	}
}

func (c *cache) release(e *centry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.evicted && e.file != nil {
		e.file.Close()
	}
}

func (c *cache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, l := range []*list.List{c.mem, c.files} {
		for l.Len() > 0 {
			c.drop(l.Back().Value.(*centry))
		}
	}
}

// inflate decompresses m completely, into memory or a temp file, checking
// its size and CRC-32 (APPNOTE 4.4.7).
func (c *cache) inflate(m *member) ([]byte, *os.File, error) {
	f := m.f
	size := int64(f.UncompressedSize64)
	bad := func(err error) error {
		return image.Corrupt(formatName, m.cdOff, fmt.Sprintf("data of %q", f.Name), err)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, nil, bad(err)
	}
	defer rc.Close()
	h := crc32.NewIEEE()
	src := io.TeeReader(io.LimitReader(rc, size+1), h)
	var data []byte
	var tf *os.File
	var n int64
	if size <= c.budget/4 {
		var b bytes.Buffer
		b.Grow(int(size))
		n, err = b.ReadFrom(src)
		data = b.Bytes()
	} else {
		if tf, err = os.CreateTemp(c.dir, "fsbridge-zip-*"); err != nil {
			return nil, nil, fmt.Errorf("zip: temporary file for %q: %w", f.Name, err)
		}
		os.Remove(tf.Name())
		n, err = io.CopyBuffer(tf, src, make([]byte, 256<<10))
		var pe *os.PathError
		if errors.As(err, &pe) && pe.Path == tf.Name() || errors.Is(err, unix.ENOSPC) {
			tf.Close()
			return nil, nil, fmt.Errorf("zip: inflating %q into %s: %w", f.Name, c.dir, err)
		}
	}
	switch {
	case err != nil:
	case n != size:
		err = fmt.Errorf("inflated to %d bytes, directory says %d", n, size)
	case h.Sum32() != f.CRC32:
		err = fmt.Errorf("%w: computed %08x, directory says %08x", stdzip.ErrChecksum, h.Sum32(), f.CRC32)
	}
	if err != nil {
		if tf != nil {
			tf.Close()
		}
		return nil, nil, bad(err)
	}
	return data, tf, nil
}
