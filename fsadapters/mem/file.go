package mem

import (
	"sync/atomic"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"golang.org/x/sys/unix"
)

// file is an open regular file. It holds the inode itself, not its handle,
// so it keeps working after the last name is removed.
type file struct {
	fs     *FS
	ino    *inode
	flags  fsadapters.OpenFlags
	closed atomic.Bool
}

var (
	_ fsadapters.File      = (*file)(nil)
	_ fsadapters.Allocator = (*file)(nil)
	_ fsadapters.Seeker    = (*file)(nil)
)

func (f *file) check(need fsadapters.OpenFlags) error {
	if f.closed.Load() || f.flags&need == 0 {
		return unix.EBADF
	}
	return nil
}

// checkRange validates [off, off+n) against the maximum file size.
func checkRange(off, n int64) error {
	if off < 0 || n < 0 {
		return unix.EINVAL
	}
	if off > maxFileSize || n > maxFileSize-off {
		return unix.EFBIG
	}
	return nil
}

// ReadAt implements fsadapters.File; it needs an OpenRead open.
func (f *file) ReadAt(p []byte, off int64) (int, bool, error) {
	if err := f.check(fsadapters.OpenRead); err != nil {
		return 0, false, err
	}
	if off < 0 {
		return 0, false, unix.EINVAL
	}
	ino := f.ino
	ino.mu.RLock()
	defer ino.mu.RUnlock()
	if uint64(off) >= ino.size {
		return 0, true, nil
	}
	n := int(min(uint64(len(p)), ino.size-uint64(off)))
	for done := 0; done < n; {
		pos := off + int64(done)
		idx, o := pos/chunkSize, pos%chunkSize
		seg := p[done:n]
		if c := ino.chunks[idx]; c != nil {
			done += copy(seg, c[o:])
		} else {
			k := min(len(seg), int(chunkSize-o))
			clear(seg[:k])
			done += k
		}
	}
	return n, uint64(off)+uint64(n) >= ino.size, nil
}

// WriteAt implements fsadapters.File; it needs an OpenWrite open. Memory is
// volatile, so sync changes nothing.
func (f *file) WriteAt(p []byte, off int64, sync bool) (int, error) {
	if err := f.check(fsadapters.OpenWrite); err != nil {
		return 0, err
	}
	if err := checkRange(off, int64(len(p))); err != nil {
		return 0, err
	}
	ino := f.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if err := f.fs.reserveLocked(ino, off, int64(len(p))); err != nil {
		return 0, err
	}
	for done := 0; done < len(p); {
		pos := off + int64(done)
		done += copy(ino.chunks[pos/chunkSize][pos%chunkSize:], p[done:])
	}
	if end := uint64(off) + uint64(len(p)); end > ino.size {
		ino.size = end
	}
	f.fs.touchLocked(ino, time.Now().Round(0), true)
	return len(p), nil
}

// reserveLocked allocates every chunk of [off, off+n), failing with ENOSPC
// (and allocating nothing) when that would exceed the filesystem's
// capacity. Caller holds ino.mu for writing.
func (fs *FS) reserveLocked(ino *inode, off, n int64) error {
	if n == 0 {
		return nil
	}
	first, last := off/chunkSize, (off+n-1)/chunkSize
	var missing int64
	for i := first; i <= last; i++ {
		if ino.chunks[i] == nil {
			missing++
		}
		if missing*chunkSize > totalBytes {
			return unix.ENOSPC
		}
	}
	if missing == 0 {
		return nil
	}
	if fs.used.Add(missing*chunkSize) > totalBytes {
		fs.used.Add(-missing * chunkSize)
		return unix.ENOSPC
	}
	if ino.chunks == nil {
		ino.chunks = map[int64]*[chunkSize]byte{}
	}
	for i := first; i <= last; i++ {
		if ino.chunks[i] == nil {
			ino.chunks[i] = new([chunkSize]byte)
		}
	}
	return nil
}

// truncateLocked sets the size, dropping chunks past it and zeroing the
// tail of the last partial chunk so a later extension reads zeros.
// Caller holds ino.mu for writing.
func (fs *FS) truncateLocked(ino *inode, size uint64) {
	if size < ino.size {
		// Bytes past the old size are zero already; round up so the last
		// chunk is freed too when it holds nothing below the new size.
		end := (ino.size + chunkSize - 1) / chunkSize * chunkSize
		fs.zeroLocked(ino, int64(size), int64(end-size))
	}
	ino.size = size
}

// zeroLocked zeros [off, off+n), freeing whole chunks.
func (fs *FS) zeroLocked(ino *inode, off, n int64) {
	end := off + n
	if span := (end-off)/chunkSize + 2; span < int64(len(ino.chunks)) {
		for i := off / chunkSize; i <= (end-1)/chunkSize; i++ {
			fs.zeroChunk(ino, i, off, end)
		}
		return
	}
	for i := range ino.chunks {
		fs.zeroChunk(ino, i, off, end)
	}
}

func (fs *FS) zeroChunk(ino *inode, i, off, end int64) {
	c := ino.chunks[i]
	cs, ce := i*chunkSize, (i+1)*chunkSize
	if c == nil || ce <= off || cs >= end {
		return
	}
	if cs >= off && ce <= end {
		delete(ino.chunks, i)
		fs.used.Add(-chunkSize)
		return
	}
	clear(c[max(off, cs)-cs : min(end, ce)-cs])
}

// Sync implements fsadapters.File.
func (f *file) Sync() error {
	if f.closed.Load() {
		return unix.EBADF
	}
	return nil
}

// Close implements fsadapters.File; the last Close of an unlinked file
// frees it.
func (f *file) Close() error {
	if f.closed.Swap(true) {
		return unix.EBADF
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.ino.opens--
	f.fs.maybeFree(f.ino)
	return nil
}

// Allocate implements fsadapters.Allocator (NFSv4.2 ALLOCATE, RFC 7862
// §15.1): the range is backed by zeroed chunks and the size grows to cover
// it.
func (f *file) Allocate(off, length int64) error {
	if err := f.check(fsadapters.OpenWrite); err != nil {
		return err
	}
	if err := checkRange(off, length); err != nil {
		return err
	}
	ino := f.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if err := f.fs.reserveLocked(ino, off, length); err != nil {
		return err
	}
	if end := uint64(off + length); end > ino.size {
		ino.size = end
	}
	f.fs.touchLocked(ino, time.Now().Round(0), true)
	return nil
}

// Deallocate implements fsadapters.Allocator (NFSv4.2 DEALLOCATE, RFC 7862
// §15.4): the range reads as zeros afterwards; the size does not change.
func (f *file) Deallocate(off, length int64) error {
	if err := f.check(fsadapters.OpenWrite); err != nil {
		return err
	}
	if err := checkRange(off, length); err != nil {
		return err
	}
	ino := f.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if uint64(off) < ino.size && length > 0 {
		// Past the size everything is zero already: extend to the chunk
		// boundary so a trailing partial chunk can be freed.
		end := uint64(off + length)
		if end >= ino.size {
			end = (ino.size + chunkSize - 1) / chunkSize * chunkSize
		}
		f.fs.zeroLocked(ino, off, int64(end)-off)
	}
	f.fs.touchLocked(ino, time.Now().Round(0), true)
	return nil
}

// SeekData implements fsadapters.Seeker (NFSv4.2 SEEK, RFC 7862 §15.11).
// Allocated chunks are data, everything else a hole; there is always a
// hole at end of file. Offsets at or past the end give ENXIO.
func (f *file) SeekData(off int64, whence int) (int64, error) {
	if f.closed.Load() {
		return 0, unix.EBADF
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	ino := f.ino
	ino.mu.RLock()
	defer ino.mu.RUnlock()
	size := int64(ino.size)
	if off >= size {
		return 0, unix.ENXIO
	}
	switch whence {
	case unix.SEEK_DATA:
		best := int64(-1)
		for i := range ino.chunks {
			cs := i * chunkSize
			if cs+chunkSize > off && cs < size && (best < 0 || cs < best) {
				best = cs
			}
		}
		if best < 0 {
			return 0, unix.ENXIO
		}
		return max(best, off), nil
	case unix.SEEK_HOLE:
		i := off / chunkSize
		for ino.chunks[i] != nil && i*chunkSize < size {
			i++
		}
		return min(max(i*chunkSize, off), size), nil
	}
	return 0, unix.EINVAL
}
