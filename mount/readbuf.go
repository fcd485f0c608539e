package mount

import (
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fsbridge/fsbridge/client/rpcclient"
)

// Reads without copies. A READ reply is read from the socket straight into
// a pooled buffer (rpcclient.WithReplyBuffer), and the data inside it goes
// to the kernel as the FUSE reply (pooledRead); go-fuse calls Done once the
// reply is written, which returns the buffer to the pool. Without this a
// 1 MiB read allocated and zeroed a fresh buffer, grew it chunk by chunk
// while the record arrived, and copied the data once more into go-fuse's.

// readBufSlack is room for the RPC and COMPOUND headers around READ data.
const readBufSlack = 4 << 10

// readBufs pools reply buffers big enough for one READ of rsize bytes.
type readBufs struct {
	once sync.Once
	pool sync.Pool
	size int
}

func (p *readBufs) get(rsize int) *rpcclient.ReplyBuffer {
	p.once.Do(func() { p.size = rsize + readBufSlack })
	if rb, _ := p.pool.Get().(*rpcclient.ReplyBuffer); rb != nil {
		return rb
	}
	return &rpcclient.ReplyBuffer{B: make([]byte, 0, p.size)}
}

// put recycles rb unless an abandoned call may still write into it.
func (p *readBufs) put(rb *rpcclient.ReplyBuffer) {
	if !rb.Lost() && cap(rb.B) == p.size {
		p.pool.Put(rb)
	}
}

// pooledRead is a fuse.ReadResult holding data that lives in a pooled
// reply buffer until go-fuse has sent it.
type pooledRead struct {
	data []byte
	rb   *rpcclient.ReplyBuffer
	pool *readBufs
}

// Slices makes go-fuse write data straight from the buffer and call Done
// only afterwards. Without it (go-fuse's withSlice), a server without
// splice takes Bytes and calls Done before writing the reply, expecting
// Bytes to have copied: the buffer would go back to the pool too early.
func (r *pooledRead) Slices() ([][]byte, fuse.Status) { return [][]byte{r.data}, fuse.OK }

func (r *pooledRead) Bytes(buf []byte) ([]byte, fuse.Status) {
	return append(buf[:0], r.data...), fuse.OK // a copy: see Slices
}
func (r *pooledRead) Size() int { return len(r.data) }
func (r *pooledRead) Done()     { r.pool.put(r.rb) }

// writeCopies recycles the copies of uncommitted write data (file.go): a
// sequential write would otherwise allocate, fault in and free a fresh
// megabyte for every WRITE. Small writes are copied exactly.
type writeCopies struct{ pool sync.Pool }

// writeCopyMin is the write size from which copies come from the pool,
// with writeCopyCap bytes of room each (FUSE writes are at most 1 MiB).
const (
	writeCopyMin = 64 << 10
	writeCopyCap = 1 << 20
)

func (w *writeCopies) copy(data []byte) []byte {
	if len(data) < writeCopyMin || len(data) > writeCopyCap {
		return append([]byte(nil), data...)
	}
	b, _ := w.pool.Get().([]byte)
	if b == nil {
		b = make([]byte, 0, writeCopyCap)
	}
	return append(b[:0], data...)
}

// join returns the pieces of parts (size bytes in all) in one copy and
// recycles them.
func (w *writeCopies) join(parts [][]byte, size int) []byte {
	var b []byte
	if size >= writeCopyMin && size <= writeCopyCap {
		b, _ = w.pool.Get().([]byte)
		if b == nil {
			b = make([]byte, 0, writeCopyCap)
		}
	} else {
		b = make([]byte, 0, size)
	}
	b = b[:0]
	for _, p := range parts {
		b = append(b, p...)
		w.put(p)
	}
	return b
}

func (w *writeCopies) put(b []byte) {
	if cap(b) == writeCopyCap {
		w.pool.Put(b[:0])
	}
}
