package image

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OpenOptions configure OpenFile.
type OpenOptions struct {
	Type       string       // force a format (--type); "" detects by content
	Partition  int          // 1-based partition of a disk image (--partition); 0 = auto
	Log        *slog.Logger // nil: slog.Default()
	CacheBytes int64        // bound of decompressed-data caches; 0 = 32 MiB
	TempDir    string       // for readers that spill data; "" = os.TempDir()
	HandleKey  []byte       // secret for handle MACs (FS.SetHandleKey); nil = a fixed public key
}

// DefaultCacheBytes is the default per-image cache of decompressed data.
const DefaultCacheBytes = 32 << 20

// ErrNotImageFile is returned by OpenFile for a path that is neither a
// regular file nor a block device.
var ErrNotImageFile = errors.New("not a regular file or block device")

// OpenFile opens an image file or block device read-only and serves it.
// The format is detected at offset 0 first (an ISO hybrid image also
// carries an MBR: the filesystem wins); failing that, the partition table
// is read: o.Partition picks a partition, otherwise the only partition
// holding a known format is used, and several are an error listing them.
// o.Type forces a format.
func OpenFile(path string, o OpenOptions) (*FS, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	f, size, err := openImage(path)
	if err != nil {
		return nil, err
	}
	fs, err := openOn(f, size, path, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	fs.closer = f
	return fs, nil
}

// openImage opens path read-only and returns its size: st_size for a
// regular file, BLKGETSIZE64 for a block device.
func openImage(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, 0, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return f, st.Size, nil
	case unix.S_IFBLK:
		var size uint64
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
			f.Close()
			return nil, 0, fmt.Errorf("%s: BLKGETSIZE64: %w", path, e)
		}
		if size > 1<<62 {
			f.Close()
			return nil, 0, fmt.Errorf("%s: implausible device size %d", path, size)
		}
		return f, int64(size), nil
	}
	f.Close()
	return nil, 0, fmt.Errorf("%w: %s", ErrNotImageFile, path)
}

func openOn(img io.ReaderAt, size int64, path string, o OpenOptions) (*FS, error) {
	var forced Format
	if o.Type != "" {
		var ok bool
		if forced, ok = Lookup(o.Type); !ok {
			return nil, fmt.Errorf("unknown image format %q (known: %s)", o.Type, knownNames())
		}
	}
	open := func(f Format, r io.ReaderAt, size int64, name string) (*FS, error) {
		rd, err := safeOpen(f, r, size, Options{Name: name, Log: o.Log, CacheBytes: o.CacheBytes, TempDir: o.TempDir})
		if err != nil {
			return nil, fmt.Errorf("%s: cannot open as %s: %w", name, f.Name, err)
		}
		fs := newFS(rd, name, o.Log, imageSeed(r, size))
		if o.HandleKey != nil {
			fs.SetHandleKey(o.HandleKey)
		}
		return fs, nil
	}
	if o.Partition > 0 {
		ps, err := ReadPartitions(img, size)
		if err != nil && len(ps) == 0 {
			return nil, fmt.Errorf("%s: --partition %d: %w", path, o.Partition, err)
		}
		if err != nil {
			o.Log.Warn("damaged partition table; using the partitions found", "image", path, "err", err.Error())
		}
		for _, p := range ps {
			if p.Index != o.Partition {
				continue
			}
			sec := io.NewSectionReader(img, p.Start, p.Size)
			name := fmt.Sprintf("%s (partition %d)", path, p.Index)
			f := forced
			if f.Name == "" {
				if f, err = Detect(sec, p.Size); err != nil {
					return nil, fmt.Errorf("partition %d: %w", p.Index, err)
				}
			}
			return open(f, sec, p.Size, name)
		}
		return nil, fmt.Errorf("%s: no partition %d; the image has:\n%s", path, o.Partition, FormatPartitions(ps, detectName(img)))
	}
	if forced.Name != "" {
		return open(forced, img, size, path)
	}
	f, detErr := Detect(img, size)
	if detErr == nil {
		return open(f, img, size, path)
	}
	ps, err := ReadPartitions(img, size)
	if len(ps) == 0 {
		if err != nil && !errors.Is(err, ErrNoPartitionTable) {
			return nil, fmt.Errorf("%w; %v", detErr, err)
		}
		return nil, detErr
	}
	if err != nil {
		o.Log.Warn("damaged partition table; using the partitions found", "image", path, "err", err.Error())
	}
	formatOf := detectName(img)
	var usable []Partition
	for _, p := range ps {
		if formatOf(p) != "" {
			usable = append(usable, p)
		}
	}
	switch len(usable) {
	case 0:
		return nil, fmt.Errorf("%w in any of the %d partitions (known: %s):\n%s", ErrUnknownFormat, len(ps), knownNames(),
			FormatPartitions(ps, formatOf))
	case 1:
		p := usable[0]
		o.Log.Info("serving the only partition with a known format", "image", path, "partition", p.Index, "format", formatOf(p))
		f, _ := Lookup(formatOf(p))
		return open(f, io.NewSectionReader(img, p.Start, p.Size), p.Size, fmt.Sprintf("%s (partition %d)", path, p.Index))
	}
	return nil, fmt.Errorf("image has %d partitions; choose one with --partition N:\n%s", len(ps), FormatPartitions(ps, formatOf))
}

// detectName returns, for a partition of img, the name of its format ("" if
// none is known).
func detectName(img io.ReaderAt) func(Partition) string {
	return func(p Partition) string {
		f, err := Detect(io.NewSectionReader(img, p.Start, p.Size), p.Size)
		if err != nil {
			return ""
		}
		return f.Name
	}
}

// DescribeFile is --list-partitions: the format at offset 0 (if any) and
// the partition table with the format of each partition.
func DescribeFile(path string) (string, error) {
	f, size, err := openImage(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d bytes\n", path, size)
	if fm, err := Detect(f, size); err == nil {
		fmt.Fprintf(&b, "format at offset 0: %s (served without --partition)\n", fm.Name)
	}
	ps, err := ReadPartitions(f, size)
	switch {
	case errors.Is(err, ErrNoPartitionTable):
		b.WriteString("no partition table\n")
		return b.String(), nil
	case err != nil:
		fmt.Fprintf(&b, "partition table: %v\n", err)
	}
	switch {
	case len(ps) > 0:
		b.WriteString(FormatPartitions(ps, detectName(f)))
	case err == nil:
		b.WriteString("partition table with no partitions\n")
	}
	return b.String(), nil
}

func safeOpen(f Format, r io.ReaderAt, size int64, opt Options) (rd Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			rd, err = nil, fmt.Errorf("%s reader panicked: %v", f.Name, p)
		}
	}()
	rd, err = f.Open(r, size, opt)
	if err == nil && rd == nil {
		err = fmt.Errorf("%s reader returned no reader", f.Name)
	}
	return rd, err
}

// imageSeed is the image-bytes part of the handle fingerprint: the size and
// the first and last 64 KiB (boot sector, superblocks, ISO volume
// descriptors at 32 KiB, a zip's central directory end). The same image
// gives the same seed after a restart; another image almost surely not.
func imageSeed(r io.ReaderAt, size int64) []byte {
	const span = 64 << 10
	h := sha256.New()
	var sz [8]byte
	binary.BigEndian.PutUint64(sz[:], uint64(size))
	h.Write(sz[:])
	buf := make([]byte, span)
	n, _ := r.ReadAt(buf[:min(span, size)], 0)
	h.Write(buf[:n])
	if size > span {
		tail := max(size-span, span)
		n, _ = r.ReadAt(buf[:size-tail], tail)
		h.Write(buf[:n])
	}
	return h.Sum(nil)
}
