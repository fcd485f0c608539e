package squashfs

import (
	"io"

	"github.com/fsbridge/fsbridge/fsadapters/image"
)

func init() {
	image.Register(image.Format{Name: formatName, Probe: Probe,
		Open: func(r io.ReaderAt, size int64, opt image.Options) (image.Reader, error) {
			fr, err := Open(r, size, opt)
			if err != nil {
				return nil, err
			}
			return fr, nil
		}})
}

var _ image.Reader = (*Reader)(nil)
