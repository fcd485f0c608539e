// Package image exports read-only filesystem images and archives (ISO9660,
// ext2/3/4, squashfs, EROFS, FAT, tar, zip) through the fsadapters.FS
// interface, with no loop device, kernel driver or root.
//
// The work is split in two layers:
//
//   - A format reader (one subpackage per format: image/iso9660,
//     image/fat, image/ext4, …) implements Reader: it names every object by
//     an Ino derived from the image itself (an inode number, or the byte
//     offset of a directory record), so inode numbers and therefore file
//     handles survive an fs_serv restart on the same image. A reader knows
//     nothing about NFS, handles, cookies or credentials.
//   - This package turns any Reader into an fsadapters.FS (New): handles,
//     READDIR cookies, permission checks, EROFS for every modifying call,
//     panic containment and the log line that names the image and offset
//     when the image is corrupt. It also detects formats by content
//     (Detect, Register) and opens partitions of MBR/GPT disk images.
//
// Readers must be safe for concurrent use: the server calls them from many
// goroutines at once. A corrupt image must never panic, hang or allocate
// without bound: every length read from the image is checked against the
// image size (or a format limit) before it is used.
package image

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// Ino names one object of an image. It must be stable for a given image
// (same bytes → same Ino) and unique within it; hard links share one Ino.
// Zero is never a valid Ino.
type Ino uint64

// Dirent is one directory entry as a reader lists it.
type Dirent struct {
	Name string
	Ino  Ino
	Type fsadapters.FileType
}

// Reader is a read-only view of one filesystem image. All methods are safe
// for concurrent use. Errors for a bad Ino (one the reader never returned,
// e.g. from a forged file handle) are fsadapters.ErrStale; damage in the
// image is reported as a *CorruptError.
type Reader interface {
	// Root is the Ino of the root directory.
	Root() Ino
	// Stat returns the attributes of ino. Attr.FileID is the Ino (or a
	// stable value derived from it); Attr.Nlink counts hard links where the
	// format records them (1 otherwise; 2 + subdirectories for directories
	// when the format does not store it).
	Stat(ino Ino) (fsadapters.Attr, error)
	// ReadDir returns every entry of directory ino except "." and "..", in
	// a stable order (the same order on every call for the same image).
	ReadDir(ino Ino) ([]Dirent, error)
	// Lookup finds name in directory ino; unix.ENOENT if absent. Readers
	// without an index may implement it with ReadDir.
	Lookup(dir Ino, name string) (Ino, error)
	// Parent returns the parent directory of directory ino (the root is its
	// own parent).
	Parent(dir Ino) (Ino, error)
	// Readlink returns the target of symlink ino.
	Readlink(ino Ino) (string, error)
	// Open returns random access to the content of regular file ino. ReadAt
	// follows io.ReaderAt (io.EOF at the end) and must be safe for
	// concurrent calls; a READ at any offset must not re-read the file from
	// its start (compressed formats cache decompressed blocks, bounded).
	Open(ino Ino) (io.ReaderAt, error)
	// Info describes the image as a whole.
	Info() Info
	// Close releases the reader. The image's io.ReaderAt is not closed.
	Close() error
}

// Info describes an image for StatFS and the log.
type Info struct {
	Format     string // "iso9660", "ext4", "squashfs", "erofs", "fat", "tar", "zip"
	Label      string // volume label, if the format has one
	TotalBytes uint64 // image size
	UsedBytes  uint64 // bytes in use (TotalBytes if unknown)
	Files      uint64 // number of objects, 0 if unknown
	MaxName    uint32 // longest name the format stores (255 if unsure)
	// TimeDelta is the finest timestamp granularity the format stores.
	TimeDelta         time.Duration
	CaseInsensitive   bool
	NoHardLinks       bool
	NoSymlinks        bool
	NoDevices         bool
	HasDataChecksums  bool // damaged file data is detected (zip CRC, …)
	HasMetaChecksums  bool // damaged metadata is detected (ext4 metadata_csum, …)
	SourceDescription string
}

// CorruptError reports damage found in an image: what was being read and
// at which byte offset of the image. The adapter turns it into EIO
// (NFS4ERR_IO) and logs it once with the image name.
type CorruptError struct {
	Format string // format reader that found it
	Off    int64  // byte offset in the image (-1 if unknown)
	What   string // what was being read: "directory record", "FAT entry", …
	Err    error  // underlying cause, may be nil
}

func (e *CorruptError) Error() string {
	s := fmt.Sprintf("%s: corrupt image: %s at offset %d", e.Format, e.What, e.Off)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Corrupt builds a *CorruptError.
func Corrupt(format string, off int64, what string, err error) error {
	return &CorruptError{Format: format, Off: off, What: what, Err: err}
}

// IsCorrupt reports whether err is (or wraps) a *CorruptError.
func IsCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce)
}

// Format is one image format a reader understands. Format packages
// register themselves from init (image/all imports every one of them).
type Format struct {
	Name string // as --type takes it: "iso9660", "ext4", …
	// Probe reports whether the image holds this format, from magic numbers
	// only (never the file name). It reads a few sectors at most.
	Probe func(r io.ReaderAt, size int64) bool
	// Open parses enough of the image to serve it (superblock, and for
	// formats without an on-disk index the whole directory tree).
	Open func(r io.ReaderAt, size int64, opt Options) (Reader, error)
}

// Options are passed to Format.Open.
type Options struct {
	Name string       // image path, for errors and logs
	Log  *slog.Logger // never nil when passed by this package
	// CacheBytes bounds caches of decompressed data (per image).
	CacheBytes int64
	// TempDir is where a reader may spill decompressed data it needs random
	// access to (tar.gz, deflated zip members), in unlinked files.
	TempDir string
}
