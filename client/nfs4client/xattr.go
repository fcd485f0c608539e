package nfs4client

import (
	"context"
	"errors"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Extended attributes, RFC 8276 §8.4 (GETXATTR, SETXATTR, LISTXATTRS,
// REMOVEXATTR). They exist in minor version 2 only: on a client set up with
// a lower minor version every call fails with ErrXattrMinor, which unwraps
// to nfs4.ErrNotSupp (EOPNOTSUPP for a FUSE layer). Names are as on the
// wire, without a namespace prefix.

// ErrXattrMinor is returned by the xattr calls when c.Minor < 2.
var ErrXattrMinor error = xattrMinorError{}

type xattrMinorError struct{}

func (xattrMinorError) Error() string { return "nfs4client: extended attributes need NFSv4.2" }
func (xattrMinorError) Unwrap() error { return nfs4.ErrNotSupp }

// listXattrsMax is the lxa_maxcount asked for per LISTXATTRS page (capped
// by the session's reply size).
const listXattrsMax = 64 << 10

// GetXattr returns the value of name on fh (NFS4ERR_NOXATTR if absent).
func (c *Client) GetXattr(ctx context.Context, fh []byte, name string) ([]byte, error) {
	if c.Minor < 2 {
		return nil, ErrXattrMinor
	}
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpGetXattr, &nfs4.GetXattrArgs{Name: []byte(name)}))
	if err != nil {
		return nil, err
	}
	v := result[*nfs4.GetXattrRes](res, 1).Value
	return append(make([]byte, 0, len(v)), v...), nil
}

// SetXattr sets name on fh to value; option is nfs4.SetXattrEither,
// SetXattrCreate (NFS4ERR_EXIST if present) or SetXattrReplace
// (NFS4ERR_NOXATTR if absent). It returns the object's change_info4.
func (c *Client) SetXattr(ctx context.Context, fh []byte, name string, value []byte, option uint32) (nfs4.ChangeInfo, error) {
	if c.Minor < 2 {
		return nfs4.ChangeInfo{}, ErrXattrMinor
	}
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpSetXattr, &nfs4.SetXattrArgs{Option: option, Name: []byte(name), Value: value}))
	if err != nil {
		return nfs4.ChangeInfo{}, err
	}
	return result[*nfs4.SetXattrRes](res, 1).CInfo, nil
}

// RemoveXattr removes name from fh (NFS4ERR_NOXATTR if absent) and returns
// the object's change_info4.
func (c *Client) RemoveXattr(ctx context.Context, fh []byte, name string) (nfs4.ChangeInfo, error) {
	if c.Minor < 2 {
		return nfs4.ChangeInfo{}, ErrXattrMinor
	}
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpRemoveXattr, &nfs4.RemoveXattrArgs{Name: []byte(name)}))
	if err != nil {
		return nfs4.ChangeInfo{}, err
	}
	return result[*nfs4.RemoveXattrRes](res, 1).CInfo, nil
}

// ListXattrsPage is one LISTXATTRS (RFC 8276 §8.4): names from cookie (0
// to start), at most maxCount bytes of reply; next resumes the listing.
func (c *Client) ListXattrsPage(ctx context.Context, fh []byte, cookie uint64, maxCount uint32) (names []string, next uint64, eof bool, err error) {
	if c.Minor < 2 {
		return nil, 0, false, ErrXattrMinor
	}
	res, err := c.Do(ctx, PutFH(fh), op(nfs4.OpListXattrs, &nfs4.ListXattrsArgs{Cookie: cookie, MaxCount: maxCount}))
	if err != nil {
		return nil, 0, false, err
	}
	r := result[*nfs4.ListXattrsRes](res, 1)
	names = make([]string, len(r.Names))
	for i, n := range r.Names {
		names[i] = string(n)
	}
	return names, r.Cookie, r.EOF, nil
}

// errListStuck is a LISTXATTRS page that neither ended nor moved on.
var errListStuck = errors.New("nfs4client: LISTXATTRS made no progress")

// ListXattrs returns every xattr name of fh, reading as many pages as the
// server needs.
func (c *Client) ListXattrs(ctx context.Context, fh []byte) ([]string, error) {
	maxCount := uint32(listXattrsMax)
	if s := c.session(); s != nil && s.MaxResponse > 2*ioSlack {
		maxCount = min(maxCount, s.MaxResponse-ioSlack)
	}
	var all []string
	var cookie uint64
	for {
		names, next, eof, err := c.ListXattrsPage(ctx, fh, cookie, maxCount)
		if err != nil {
			return nil, err
		}
		all = append(all, names...)
		if eof {
			return all, nil
		}
		if len(names) == 0 && next == cookie {
			return nil, errListStuck
		}
		cookie = next
	}
}
