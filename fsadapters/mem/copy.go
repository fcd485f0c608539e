package mem

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Server-side copy for NFSv4.2 COPY and CLONE (RFC 7862 §15.2, §15.13):
// chunk to chunk under both inodes' locks, holes staying holes.

var (
	_ fsadapters.Copier = (*file)(nil)
	_ fsadapters.Cloner = (*file)(nil)
)

// CopyRange implements fsadapters.Copier.
func (f *file) CopyRange(dst fsadapters.File, srcOff, dstOff, n int64) (int64, error) {
	d, ok := dst.(*file)
	if !ok || d.fs != f.fs {
		return 0, fsadapters.ErrCrossCopy
	}
	if err := f.check(fsadapters.OpenRead); err != nil {
		return 0, err
	}
	if err := d.check(fsadapters.OpenWrite); err != nil {
		return 0, err
	}
	if err := checkRange(srcOff, n); err != nil {
		return 0, err
	}
	if err := checkRange(dstOff, n); err != nil {
		return 0, err
	}
	si, di := f.ino, d.ino
	if si == di {
		if srcOff < dstOff+n && dstOff < srcOff+n {
			return 0, unix.EINVAL // overlapping ranges of one file
		}
		si.mu.Lock()
		defer si.mu.Unlock()
	} else {
		// A fixed order (inode id) so copies a→b and b→a cannot deadlock.
		first, second := si, di
		if second.id < first.id {
			first, second = second, first
		}
		first.mu.Lock()
		defer first.mu.Unlock()
		second.mu.Lock()
		defer second.mu.Unlock()
	}
	if uint64(srcOff) >= si.size {
		return 0, nil
	}
	n = min(n, int64(si.size)-srcOff)
	var done int64
	var err error
	for done < n {
		pos := srcOff + done
		k := min(n-done, chunkSize-pos%chunkSize)
		dpos := dstOff + done
		if c := si.chunks[pos/chunkSize]; c == nil {
			f.fs.zeroLocked(di, dpos, k) // a hole reads as zeros; keep it one
		} else {
			if err = f.fs.reserveLocked(di, dpos, k); err != nil {
				break
			}
			src := c[pos%chunkSize : pos%chunkSize+k]
			for w := int64(0); w < k; {
				p := dpos + w
				w += int64(copy(di.chunks[p/chunkSize][p%chunkSize:], src[w:]))
			}
		}
		done += k
		if end := uint64(dpos + k); end > di.size {
			di.size = end
		}
	}
	if done > 0 {
		f.fs.touchLocked(di, time.Now().Round(0), true)
		return done, nil
	}
	return 0, err
}

// CloneRange implements fsadapters.Cloner: memory has no shared extents,
// so a clone is a complete copy (CLONE promises the contents, not the
// sharing). n 0 means to the end of the source.
func (f *file) CloneRange(dst fsadapters.File, srcOff, dstOff, n int64) error {
	if n == 0 {
		f.ino.mu.RLock()
		size := int64(f.ino.size)
		f.ino.mu.RUnlock()
		if srcOff > size {
			return unix.EINVAL
		}
		n = size - srcOff
		if n == 0 {
			return nil
		}
	}
	done, err := f.CopyRange(dst, srcOff, dstOff, n)
	if err == nil && done != n {
		err = unix.EINVAL // the range passes the source's end
	}
	return err
}
