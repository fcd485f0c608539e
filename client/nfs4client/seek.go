package nfs4client

import (
	"context"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Seek finds the first offset at or after off where fh has data (what =
// nfs4.ContentData) or a hole (nfs4.ContentHole) (SEEK, RFC 7862 §15.11).
// The end of the file counts as a hole; an offset past the last data or
// past the end is NFS4ERR_NXIO. eof says the answer reaches the end.
func (c *Client) Seek(ctx context.Context, fh []byte, sid nfs4.StateID, off uint64, what uint32) (offset uint64, eof bool, err error) {
	if c.Minor < 2 {
		return 0, false, ErrNeed42
	}
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpSeek, &nfs4.SeekArgs{StateID: sid, Offset: off, What: what}))
	if err != nil {
		return 0, false, err
	}
	r := result[*nfs4.SeekRes](res, 1)
	return r.Offset, r.EOF, nil
}
