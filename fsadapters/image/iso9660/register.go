package iso9660

import (
	"io"

	"github.com/fsbridge/fsbridge/fsadapters/image"
)

func init() {
	image.Register(image.Format{
		Name:  formatName,
		Probe: Probe,
		Open: func(r io.ReaderAt, size int64, opt image.Options) (image.Reader, error) {
			return Open(r, size, opt)
		},
	})
}
