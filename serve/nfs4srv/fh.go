package nfs4srv

import (
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Wire file handles wrap the backend's handle with a small header, so one
// server can later carry several exports and handle MACs (issue 6) without
// changing backends:
//
//	byte 0    format version (fhVersion)
//	byte 1    export index
//	byte 2..  backend handle (fsadapters.FileHandle)
const (
	fhVersion    = 1
	fhHeaderSize = 2
	// maxBackendHandle is what a backend handle may use of NFS4_FHSIZE.
	maxBackendHandle = nfs4.FHSize - fhHeaderSize
)

// wireFH builds the handle a client sees for a backend handle of export ex.
func wireFH(ex int, h fsadapters.FileHandle) []byte {
	b := make([]byte, 0, fhHeaderSize+len(h))
	b = append(b, fhVersion, byte(ex))
	return append(b, h...)
}

// parseFH splits a client handle into export index and backend handle,
// without validating the backend part.
func parseFH(b []byte) (ex int, h fsadapters.FileHandle, st nfs4.Status) {
	if len(b) <= fhHeaderSize || len(b) > nfs4.FHSize || b[0] != fhVersion {
		return 0, nil, nfs4.ErrBadHandle
	}
	return int(b[1]), fsadapters.FileHandle(b[fhHeaderSize:]), nfs4.OK
}
