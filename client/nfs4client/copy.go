package nfs4client

import (
	"context"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// NFSv4.2 space management and server-side copy (RFC 7862): ALLOCATE
// (§15.1), DEALLOCATE (§15.4), COPY (§15.2, intra-server) and CLONE
// (§15.13). They exist in minor version 2 only: on a client set up with a
// lower minor version every call fails with ErrNeed42, which unwraps to
// nfs4.ErrNotSupp (EOPNOTSUPP for a FUSE layer).

// ErrNeed42 is returned by the 4.2-only calls when c.Minor < 2.
var ErrNeed42 error = need42Error{}

type need42Error struct{}

func (need42Error) Error() string { return "nfs4client: operation needs NFSv4.2" }
func (need42Error) Unwrap() error { return nfs4.ErrNotSupp }

// Allocate reserves storage for [off, off+length) of fh through stateid sid
// (ALLOCATE). The server may extend the file to cover the range, as Linux
// nfsd does (fallocate mode 0).
func (c *Client) Allocate(ctx context.Context, fh []byte, sid nfs4.StateID, off, length uint64) error {
	if c.Minor < 2 {
		return ErrNeed42
	}
	_, err := c.Do(ctx, PutFH(fh), op(nfs4.OpAllocate, &nfs4.AllocateArgs{StateID: sid, Offset: off, Length: length}))
	return err
}

// Deallocate punches a hole over [off, off+length) of fh: the range reads
// as zeros afterwards and the size does not change (DEALLOCATE).
func (c *Client) Deallocate(ctx context.Context, fh []byte, sid nfs4.StateID, off, length uint64) error {
	if c.Minor < 2 {
		return ErrNeed42
	}
	_, err := c.Do(ctx, PutFH(fh), op(nfs4.OpDeallocate, &nfs4.DeallocateArgs{StateID: sid, Offset: off, Length: length}))
	return err
}

// CopyRange names the two sides of a COPY or CLONE: source src (opened
// for reading, SrcSID) and destination dst (opened for writing, DstSID),
// both on this server.
type CopyRange struct {
	Src    []byte
	SrcSID nfs4.StateID
	Dst    []byte
	DstSID nfs4.StateID
	// SrcOff, DstOff and Count are the range; Count 0 means to the end of
	// the source.
	SrcOff, DstOff, Count uint64
}

func (r *CopyRange) ops(o nfs4.ArgOp) []nfs4.ArgOp {
	return []nfs4.ArgOp{PutFH(r.Src), saveFH(), PutFH(r.Dst), o}
}

// Copy sends one synchronous intra-server COPY (SAVED_FH source,
// CURRENT_FH destination). The server may copy less than asked
// (Response.Count), for instance stopping at its per-request cap or the
// end of the source: callers loop. Response.Committed UNSTABLE4 means a
// COMMIT of the destination under Response.WriteVerf is needed for
// durability. A server that went asynchronous anyway (a callback id) is
// reported as nfs4.ErrNotSupp: this client does not wait for CB_OFFLOAD.
func (c *Client) Copy(ctx context.Context, r *CopyRange) (*nfs4.WriteResponse, error) {
	if c.Minor < 2 {
		return nil, ErrNeed42
	}
	res, err := c.Do(ctx, r.ops(op(nfs4.OpCopy, &nfs4.CopyArgs{
		SrcStateID: r.SrcSID, DstStateID: r.DstSID,
		SrcOffset: r.SrcOff, DstOffset: r.DstOff, Count: r.Count,
		Consecutive: true, Synchronous: true,
	}))...)
	if err != nil {
		return nil, err
	}
	cr := result[*nfs4.CopyRes](res, 3)
	if cr.Response.CallbackID != nil {
		return nil, &StatusError{Op: nfs4.OpCopy, Status: nfs4.ErrNotSupp}
	}
	w := cr.Response
	return &w, nil
}

// Clone shares the source range's storage with the destination (CLONE):
// all or nothing, NFS4ERR_NOTSUPP where the server's storage cannot.
func (c *Client) Clone(ctx context.Context, r *CopyRange) error {
	if c.Minor < 2 {
		return ErrNeed42
	}
	_, err := c.Do(ctx, r.ops(op(nfs4.OpClone, &nfs4.CloneArgs{
		SrcStateID: r.SrcSID, DstStateID: r.DstSID,
		SrcOffset: r.SrcOff, DstOffset: r.DstOff, Count: r.Count,
	}))...)
	return err
}
