module github.com/fsbridge/fsbridge

go 1.26.8

require (
	github.com/rasky/go-xdr v0.0.0-20170124162913-1a41d1a06c93
	golang.org/x/sys v0.49.0
)

require (
	github.com/hanwen/go-fuse/v2 v2.12.1
	github.com/klauspost/compress v1.18.5
	github.com/pierrec/lz4/v4 v4.1.26
	github.com/ulikunitz/xz v0.5.15
)
