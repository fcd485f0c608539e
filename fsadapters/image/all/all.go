// Package all registers every image format reader: import it for its side
// effects (fs_serv does).
//
//	import _ "github.com/fsbridge/fsbridge/fsadapters/image/all"
package all

import (
	_ "github.com/fsbridge/fsbridge/fsadapters/image/erofs"
	_ "github.com/fsbridge/fsbridge/fsadapters/image/ext4"
	_ "github.com/fsbridge/fsbridge/fsadapters/image/fat"
	_ "github.com/fsbridge/fsbridge/fsadapters/image/iso9660"
	_ "github.com/fsbridge/fsbridge/fsadapters/image/squashfs"
	_ "github.com/fsbridge/fsbridge/fsadapters/image/tar"
	_ "github.com/fsbridge/fsbridge/fsadapters/image/zip"
)
