package fsadapters

import "errors"

// ErrCrossCopy is returned by Copier.CopyRange and Cloner.CloneRange when
// this pair of Files cannot be copied between by the backend (dst is
// another backend's File, or the storage refuses, e.g. copy_file_range's
// EXDEV). The server then copies with ReadAt/WriteAt (COPY) or answers
// NFS4ERR_NOTSUPP (CLONE).
var ErrCrossCopy = errors.New("backend cannot copy between these files")

// Copier is implemented by Files that can copy a range to another File of
// the same backend without the data passing through the caller (NFSv4.2
// COPY, RFC 7862 §15.2). The receiver is the source, opened for reading;
// dst is opened for writing.
type Copier interface {
	// CopyRange copies up to n bytes from the receiver at srcOff to dst at
	// dstOff and returns how many it copied. It may copy fewer (the caller
	// loops); 0 with a nil error means srcOff is at or past the source's
	// end. Copied data is as durable as an unstable WriteAt: Sync of dst
	// makes it stable. Same-file overlapping ranges are unix.EINVAL.
	CopyRange(dst File, srcOff, dstOff, n int64) (int64, error)
}

// Cloner is implemented by Files that can share a range's storage with
// another File of the same backend (NFSv4.2 CLONE, RFC 7862 §15.13: Linux
// FICLONERANGE, a reflink). n 0 means to the end of the source. Offsets
// and n must be aligned to the storage's clone block size (unix.EINVAL
// otherwise); a filesystem that cannot share blocks answers
// unix.EOPNOTSUPP.
type Cloner interface {
	CloneRange(dst File, srcOff, dstOff, n int64) error
}
