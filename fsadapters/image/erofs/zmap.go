package erofs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/pierrec/lz4/v4"

	"github.com/fsbridge/fsbridge/fsadapters/image/internal/lru"
)

// Compressed files (layouts COMPRESSED_FULL and COMPRESSED_COMPACT, lz4).
//
// The file is cut into logical clusters (lclusters) of 2^lcBits bytes; an
// index entry per lcluster says whether a compressed extent starts in it
// (HEAD, or PLAIN for stored data) and where (clusterofs), or how far back
// its extent's head is (NONHEAD, delta[0]). An extent runs from its head to
// the next head; its data is one physical cluster (pcluster) of one block,
// or several with big pclusters (count stored in the first NONHEAD entry).
// With lz4 0padding the compressed stream is right-aligned in the pcluster.

const (
	zAdviseCompacted2B  = 0x01
	zAdviseBigPcluster1 = 0x02
	zAdviseBigPcluster2 = 0x04
	zAdviseKnown        = zAdviseCompacted2B | zAdviseBigPcluster1 | zAdviseBigPcluster2

	lcPlain   = 0
	lcHead1   = 1
	lcNonHead = 2
	lcHead2   = 3

	d0CblkCnt = 1 << 11 // delta[0] holds the pcluster's block count

	algLZ4 = 0

	maxExtent   = 16 << 20 // largest decompressed extent we accept
	maxPcluster = 1 << 20  // Z_EROFS_PCLUSTER_MAX_SIZE
)

// zinfo is the per-inode compression header (z_erofs_map_header).
type zinfo struct {
	advise   uint16
	alg      [2]uint8 // for HEAD1 and HEAD2 lclusters
	lcBits   uint
	ebase    int64 // first index entry
	totalIdx int64 // lclusters in the file
	legacy   bool  // COMPRESSED_FULL: 8-byte entries
	init4b   int64 // compact: leading 4-byte-amortized entries
	n2b      int64 // compact: 2-byte-amortized entries
}

// lclusterRec is one decoded index entry.
type lclusterRec struct {
	lcn        int64
	typ        int
	clusterofs int64
	delta      [2]int64
	pblk       int64
	cblks      int64 // big pcluster block count (from a CBLKCNT entry), 0 if none
}

// checkCompressed reads the map header of a compressed inode.
func (rd *Reader) checkCompressed(ino *inode, end int64) error {
	z := &zinfo{legacy: ino.layout == layoutCompressedFull}
	hpos := (end + 7) &^ 7
	if rd.incompat&incompatComprCfgs == 0 && z.legacy {
		// Old images: no header is consulted; 1-block lclusters, lz4.
		z.lcBits = rd.blkBits
	} else {
		var h [8]byte
		if err := rd.readFull(h[:], hpos, "compression map header"); err != nil {
			return err
		}
		z.advise = binary.LittleEndian.Uint16(h[4:])
		z.alg = [2]uint8{h[6] & 15, h[6] >> 4}
		if h[7]&0x80 != 0 || z.advise&^zAdviseKnown != 0 {
			return fmt.Errorf("erofs: nid %d: compressed file features (advise %#x) not supported (ztailpacking/fragments/interlaced)", ino.nid, z.advise)
		}
		z.lcBits = rd.blkBits + uint(h[7]&7)
	}
	for _, a := range z.alg {
		if a != algLZ4 {
			return fmt.Errorf("erofs: nid %d: compression algorithm %d not supported (only lz4)", ino.nid, a)
		}
	}
	z.totalIdx = (ino.size + (int64(1) << z.lcBits) - 1) >> z.lcBits
	var area int64
	if z.legacy {
		z.ebase = hpos + 16 // map header + 8 bytes of padding
		area = z.totalIdx * 8
	} else {
		if z.lcBits > 14 {
			return corrupt(hpos+7, "compression map header", fmt.Errorf("lcluster bits %d with compact indexes", z.lcBits))
		}
		if !(z.advise&zAdviseBigPcluster1 != 0) != !(z.advise&zAdviseBigPcluster2 != 0) {
			return corrupt(hpos+4, "compression map header", errors.New("inconsistent big pcluster bits"))
		}
		z.ebase = hpos + 8
		// Leading 4-byte entries align the 2-byte packs to 32 bytes.
		z.init4b = ((32 - z.ebase%32) / 4) % 8
		if z.advise&zAdviseCompacted2B != 0 && z.init4b < z.totalIdx {
			if z.lcBits != 12 {
				return corrupt(hpos+7, "compression map header", errors.New("compacted 2B indexes need 4 KiB lclusters"))
			}
			z.n2b = (z.totalIdx - z.init4b) &^ 15
		}
		area = (z.totalIdx-z.n2b)*4 + z.n2b*2 + 32
	}
	if z.totalIdx > rd.size || z.ebase+area > rd.size+32 {
		return corrupt(z.ebase, "compression index", fmt.Errorf("%d lclusters beyond the image", z.totalIdx))
	}
	ino.z = z
	return nil
}

// loadLcluster decodes the index entry of lcluster lcn.
func (rd *Reader) loadLcluster(ino *inode, lcn int64, lookahead bool) (lclusterRec, error) {
	z := ino.z
	m := lclusterRec{lcn: lcn}
	if lcn < 0 || lcn >= z.totalIdx {
		return m, corrupt(ino.off, "compression index", fmt.Errorf("lcluster %d of %d", lcn, z.totalIdx))
	}
	le := binary.LittleEndian
	if z.legacy {
		pos := z.ebase + lcn*8
		var e [8]byte
		if err := rd.readFull(e[:], pos, "compression index"); err != nil {
			return m, err
		}
		m.typ = int(le.Uint16(e[0:]) & 3)
		switch m.typ {
		case lcNonHead:
			m.clusterofs = 1 << z.lcBits
			m.delta[0] = int64(le.Uint16(e[4:]))
			if m.delta[0]&d0CblkCnt != 0 {
				if z.advise&zAdviseBigPcluster1 == 0 {
					return m, corrupt(pos, "compression index", errors.New("CBLKCNT without big pclusters"))
				}
				m.cblks = m.delta[0] &^ d0CblkCnt
				m.delta[0] = 1
			}
			m.delta[1] = int64(le.Uint16(e[6:]))
		default:
			m.clusterofs = int64(le.Uint16(e[2:]))
			m.pblk = int64(le.Uint32(e[4:]))
		}
		return m, nil
	}
	pos := z.ebase
	shift := uint(2)
	idx := lcn
	switch {
	case idx < z.init4b:
	case idx-z.init4b < z.n2b:
		pos += z.init4b * 4
		idx -= z.init4b
		shift = 1
	default:
		pos += z.init4b*4 + z.n2b*2
		idx -= z.init4b + z.n2b
	}
	pos += idx << shift
	vcnt := int64(2)
	if shift == 1 {
		vcnt = 16
	}
	packSize := vcnt << shift
	base := pos &^ (packSize - 1) // packs are aligned to their size
	var pack [32]byte
	in := pack[:packSize]
	if err := rd.readFull(in, base, "compact compression index"); err != nil {
		return m, err
	}
	lobits := max(z.lcBits, 12)
	encodebits := int64((packSize - 4) * 8 / vcnt)
	i := (pos - base) >> shift
	decode := func(i int64) (lo int64, typ int) {
		bit := encodebits * i
		var w [4]byte
		copy(w[:], in[bit/8:])
		v := le.Uint32(w[:]) >> (bit & 7)
		return int64(v & (1<<lobits - 1)), int((v >> lobits) & 3)
	}
	lo, typ := decode(i)
	m.typ = typ
	bigPcluster := z.advise&zAdviseBigPcluster1 != 0
	if typ == lcNonHead {
		m.clusterofs = 1 << z.lcBits
		if lookahead {
			// delta[1]: distance to the next head, counted through this
			// pack; the pack's last entry stores it for the next pack.
			d1 := int64(0)
			j := i
			var l int64
			for ; j < vcnt; j++ {
				var t int
				l, t = decode(j)
				if t != lcNonHead {
					break
				}
				d1++
			}
			if j == vcnt && l&d0CblkCnt == 0 {
				d1 += l - 1
			}
			m.delta[1] = d1
		}
		if lo&d0CblkCnt != 0 {
			if !bigPcluster {
				return m, corrupt(pos, "compact compression index", errors.New("CBLKCNT without big pclusters"))
			}
			m.cblks = lo &^ d0CblkCnt
			m.delta[0] = 1
			return m, nil
		}
		if i+1 != vcnt {
			m.delta[0] = lo
			return m, nil
		}
		// The pack's last entry holds delta[1]; delta[0] follows from
		// the entry before it.
		lo, typ = decode(i - 1)
		switch {
		case typ != lcNonHead:
			lo = 0
		case lo&d0CblkCnt != 0:
			lo = 1
		}
		m.delta[0] = lo + 1
		return m, nil
	}
	m.clusterofs = lo
	// The pack stores one base block address (its last 4 bytes); a head's
	// pcluster follows those of the heads before it in the pack.
	var nblk int64
	if !bigPcluster {
		nblk = 1
		for i > 0 {
			i--
			l, t := decode(i)
			if t == lcNonHead {
				i -= l
			}
			if i >= 0 {
				nblk++
			}
		}
	} else {
		for i > 0 {
			i--
			l, t := decode(i)
			if t == lcNonHead {
				if l&d0CblkCnt != 0 {
					i--
					nblk += l &^ d0CblkCnt
					continue
				}
				if l <= 1 {
					return m, corrupt(pos, "compact compression index", errors.New("bad delta in big pcluster"))
				}
				i -= l - 2
				continue
			}
			nblk++
		}
	}
	m.pblk = int64(le.Uint32(in[packSize-4:])) + nblk
	return m, nil
}

// zextent is one decoded extent: logical [la, la+llen) from pcluster
// [pa, pa+plen).
type zextent struct {
	la, llen int64
	pa, plen int64
	plain    bool
}

// mapCompressed finds the extent holding logical offset ofs (< size).
func (rd *Reader) mapCompressed(ino *inode, ofs int64) (zextent, error) {
	z := ino.z
	// Sequential reads stay inside one extent: reuse its mapping, so that
	// a long extent's index walk is paid once, not per block read.
	if ex, ok := rd.zcache.lastExtent(ino.nid); ok && ex.la <= ofs && ofs < ex.la+ex.llen {
		return ex, nil
	}
	var ex zextent
	lcn := ofs >> z.lcBits
	endoff := ofs & (1<<z.lcBits - 1)
	m, err := rd.loadLcluster(ino, lcn, false)
	if err != nil {
		return ex, err
	}
	bad := func(what string) error {
		return corrupt(ino.off, "compressed extent: "+what, fmt.Errorf("nid %d offset %d", ino.nid, ofs))
	}
	if m.typ != lcNonHead && endoff < m.clusterofs {
		// The extent holding ofs started before this head.
		if m.lcn == 0 {
			return ex, bad("head offset in lcluster 0")
		}
		m.typ, m.delta[0] = lcNonHead, 1
	}
	// Look back for the head; each step moves at least one lcluster back.
	for m.typ == lcNonHead {
		if m.delta[0] <= 0 || m.delta[0] > m.lcn {
			return ex, bad("lookback distance")
		}
		if m, err = rd.loadLcluster(ino, m.lcn-m.delta[0], false); err != nil {
			return ex, err
		}
	}
	head := m
	ex.la = head.lcn<<z.lcBits | head.clusterofs
	ex.plain = head.typ == lcPlain
	// Compressed length: one lcluster, or the CBLKCNT of the next entry.
	ex.plen = 1 << z.lcBits
	if !ex.plain && z.advise&zAdviseBigPcluster1 != 0 && head.lcn+1 < z.totalIdx {
		n, err := rd.loadLcluster(ino, head.lcn+1, false)
		if err != nil {
			return ex, err
		}
		if n.typ == lcNonHead {
			if n.delta[0] != 1 || n.cblks == 0 {
				return ex, bad("missing CBLKCNT")
			}
			ex.plen = n.cblks << rd.blkBits
		}
	}
	if ex.plen > maxPcluster {
		return ex, bad("pcluster too large")
	}
	ex.pa = head.pblk << rd.blkBits
	if ex.pa > rd.size-ex.plen {
		return ex, bad("pcluster beyond the image")
	}
	// Decompressed length: up to the next head lcluster (or EOF).
	l := head.lcn
	for steps := 0; ; steps++ {
		if l<<z.lcBits >= ino.size || l >= z.totalIdx {
			ex.llen = ino.size - ex.la
			break
		}
		if steps > maxExtent>>z.lcBits+2 {
			return ex, bad("extent too long")
		}
		n, err := rd.loadLcluster(ino, l, true)
		if err != nil {
			return ex, err
		}
		if n.typ != lcNonHead {
			if l != head.lcn {
				ex.llen = l<<z.lcBits + n.clusterofs - ex.la
				break
			}
			n.delta[1] = 1
		}
		if n.delta[1] <= 0 {
			ex.llen = l<<z.lcBits + n.clusterofs - ex.la
			break
		}
		l += n.delta[1]
	}
	// lz4 expands at most ~255 times (a 1-byte token + 255-byte length
	// runs per match); stored extents never exceed their pcluster.
	if (ex.plain && ex.llen > ex.plen) || ex.llen > ex.plen*255 {
		return ex, bad(fmt.Sprintf("extent of %d bytes from a %d-byte pcluster", ex.llen, ex.plen))
	}
	if ex.llen <= 0 || ex.llen > maxExtent || ex.la > ofs || ofs >= ex.la+ex.llen {
		return ex, bad(fmt.Sprintf("extent [%d,+%d) does not hold the offset", ex.la, ex.llen))
	}
	rd.zcache.setLastExtent(ino.nid, ex)
	return ex, nil
}

// extentData returns the decompressed bytes of ex, through the cache.
func (rd *Reader) extentData(ino *inode, ex zextent) ([]byte, error) {
	key := zkey{nid: ino.nid, la: ex.la}
	if b := rd.zcache.get(key); b != nil && int64(len(b)) == ex.llen {
		return b, nil
	}
	out := make([]byte, ex.llen)
	if ex.plain {
		// Stored data: the pcluster holds the extent from its first byte.
		if ex.llen > ex.plen {
			return nil, corrupt(ex.pa, "uncompressed pcluster", fmt.Errorf("%d bytes in a %d-byte pcluster", ex.llen, ex.plen))
		}
		if err := rd.readFull(out, ex.pa, "uncompressed pcluster"); err != nil {
			return nil, err
		}
	} else {
		src := make([]byte, ex.plen)
		if err := rd.readFull(src, ex.pa, "compressed pcluster"); err != nil {
			return nil, err
		}
		var n int
		var err error
		if rd.incompat&incompatZeroPadding != 0 {
			// 0padding: the stream is right-aligned in the pcluster.
			start := 0
			for start < len(src) && src[start] == 0 {
				start++
			}
			n, err = lz4.UncompressBlock(src[start:], out)
		} else {
			// The stream starts the pcluster and is followed by padding.
			n, err = lz4Partial(src, out)
		}
		if err != nil || int64(n) != ex.llen {
			return nil, corrupt(ex.pa, "lz4 pcluster", fmt.Errorf("decoded %d of %d bytes: %v", n, ex.llen, err))
		}
	}
	rd.zcache.put(key, out)
	return out, nil
}

// readCompressed copies ino's data at off into p (off < size, p fits).
func (rd *Reader) readCompressed(ino *inode, p []byte, off int64) error {
	for len(p) > 0 {
		ex, err := rd.mapCompressed(ino, off)
		if err != nil {
			return err
		}
		data, err := rd.extentData(ino, ex)
		if err != nil {
			return err
		}
		n := copy(p, data[off-ex.la:])
		p = p[n:]
		off += int64(n)
	}
	return nil
}

type zkey struct {
	nid uint64
	la  int64
}

// zcache is a byte-bounded LRU of decompressed extents, shared per image,
// and the last extent mapped per file (the next sequential read's hint).
type zcache struct {
	data *lru.Cache[zkey, []byte]
	mu   sync.Mutex
	last map[uint64]zextent // last extent mapped per nid, bounded
}

const maxLastExtents = 4096

func (c *zcache) lastExtent(nid uint64) (zextent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ex, ok := c.last[nid]
	return ex, ok
}

func (c *zcache) setLastExtent(nid uint64, ex zextent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.last) >= maxLastExtents {
		clear(c.last)
	}
	c.last[nid] = ex
}

func newZcache(limit int64) *zcache {
	return &zcache{data: lru.New[zkey, []byte](limit, 0), last: map[uint64]zextent{}}
}

func (c *zcache) get(k zkey) []byte {
	b, _ := c.data.Get(k)
	return b
}

func (c *zcache) put(k zkey, b []byte) { c.data.Put(k, b, int64(len(b))) }

func (c *zcache) reset() {
	c.data.Reset()
	c.mu.Lock()
	c.last = map[uint64]zextent{}
	c.mu.Unlock()
}
