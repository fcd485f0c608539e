package nfs4srv

import (
	"encoding/binary"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Wire file handles wrap the backend's handle with a small header, so one
// server carries several exports without changing backends:
//
//	byte 0     format version (fhVersion)
//	byte 1..4  export id, big endian (exports.go: stable across reloads)
//	byte 5..   backend handle (fsadapters.FileHandle)
const (
	fhVersion    = 2
	fhHeaderSize = 5
	// maxBackendHandle is what a backend handle may use of NFS4_FHSIZE.
	maxBackendHandle = nfs4.FHSize - fhHeaderSize
)

// wireFH builds the handle a client sees for a backend handle of export ex.
func wireFH(ex int, h fsadapters.FileHandle) []byte {
	return appendWireFH(make([]byte, 0, fhHeaderSize+len(h)), ex, h)
}

// appendWireFH appends the wire handle for h in export ex to b.
func appendWireFH(b []byte, ex int, h fsadapters.FileHandle) []byte {
	b = append(b, fhVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(ex))
	return append(b, h...)
}

// parseFH splits a client handle into export id and backend handle,
// without validating the backend part.
func parseFH(b []byte) (ex int, h fsadapters.FileHandle, st nfs4.Status) {
	if len(b) <= fhHeaderSize || len(b) > nfs4.FHSize || b[0] != fhVersion {
		return 0, nil, nfs4.ErrBadHandle
	}
	return int(binary.BigEndian.Uint32(b[1:fhHeaderSize])), fsadapters.FileHandle(b[fhHeaderSize:]), nfs4.OK
}
