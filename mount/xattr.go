package mount

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Extended attributes through NFSv4.2 (RFC 8276 §8.4: GETXATTR, SETXATTR,
// LISTXATTRS, REMOVEXATTR). The protocol carries names without a
// namespace and servers keep them as user.* (Linux knfsd, fs_serv), so
// only the user namespace is mapped: "user.X" here is "X" on the wire.
//
// Other namespaces never reach the server: reading one finds nothing
// (ENODATA, so the kernel's security.capability probe on every write and
// ls's security.selinux / system.posix_acl_access probes cost no round
// trip), writing one is EOPNOTSUPP, and the list shows only user.*.
//
// Against a server without minor version 2 the handlers answer ENOSYS:
// the kernel then remembers that this mount has no xattrs (fuse's
// no_getxattr / no_setxattr / no_listxattr / no_removexattr) and reports
// EOPNOTSUPP to programs without asking again.

var (
	_ fs.NodeGetxattrer    = (*Node)(nil)
	_ fs.NodeSetxattrer    = (*Node)(nil)
	_ fs.NodeListxattrer   = (*Node)(nil)
	_ fs.NodeRemovexattrer = (*Node)(nil)
)

const userPrefix = "user."

// noXattrs reports whether the connection cannot carry xattr ops.
func (n *Node) noXattrs() bool { return n.fsys.C.Minor < 2 }

// wireName maps a kernel xattr name to the wire name; ok is false for
// names outside the user namespace.
func wireName(attr string) (string, bool) {
	name, ok := strings.CutPrefix(attr, userPrefix)
	return name, ok && name != ""
}

// Getxattr implements getxattr(2): a dest of length 0 asks for the size;
// a dest too small is ERANGE with the size.
func (n *Node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if n.noXattrs() {
		return 0, syscall.ENOSYS
	}
	name, ok := wireName(attr)
	if !ok {
		return 0, syscall.ENODATA
	}
	v, err := n.fsys.C.GetXattr(n.call(ctx), n.fh, name)
	if err != nil {
		return 0, ToErrno(err)
	}
	return fill(dest, v)
}

// fill copies v to dest as getxattr(2)/listxattr(2) do.
func fill(dest, v []byte) (uint32, syscall.Errno) {
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// Setxattr implements setxattr(2); XATTR_CREATE and XATTR_REPLACE map to
// SETXATTR4_CREATE and SETXATTR4_REPLACE.
func (n *Node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if n.noXattrs() {
		return syscall.ENOSYS
	}
	name, ok := wireName(attr)
	if !ok {
		return syscall.EOPNOTSUPP
	}
	var opt uint32
	switch flags {
	case 0:
		opt = nfs4.SetXattrEither
	case unix.XATTR_CREATE:
		opt = nfs4.SetXattrCreate
	case unix.XATTR_REPLACE:
		opt = nfs4.SetXattrReplace
	default:
		return syscall.EINVAL
	}
	_, err := n.fsys.C.SetXattr(n.call(ctx), n.fh, name, data, opt)
	return ToErrno(err)
}

// Removexattr implements removexattr(2).
func (n *Node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if n.noXattrs() {
		return syscall.ENOSYS
	}
	name, ok := wireName(attr)
	if !ok {
		return syscall.EOPNOTSUPP
	}
	_, err := n.fsys.C.RemoveXattr(n.call(ctx), n.fh, name)
	return ToErrno(err)
}

// Listxattr implements listxattr(2): "user.NAME\0" for every name the
// server lists (all LISTXATTRS pages), with listxattr's size rules.
func (n *Node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if n.noXattrs() {
		return 0, syscall.ENOSYS
	}
	names, err := n.fsys.C.ListXattrs(n.call(ctx), n.fh)
	if err != nil {
		return 0, ToErrno(err)
	}
	var b []byte
	for _, name := range names {
		if name == "" || strings.IndexByte(name, 0) >= 0 {
			continue // not representable in a listxattr(2) buffer
		}
		b = append(append(append(b, userPrefix...), name...), 0)
	}
	return fill(dest, b)
}

// SetupSession sets up c's session in minor version 2 (for xattrs) and,
// when the server answers NFS4ERR_MINOR_VERS_MISMATCH (RFC 8881 §16.2.3:
// a 4.1-only server), in minor version 1, where everything but xattrs
// works the same.
func SetupSession(ctx context.Context, c *nfs4client.Client) error {
	err := c.SetupSession(ctx, 2)
	if errors.Is(err, nfs4.ErrMinorVersMismatch) {
		err = c.SetupSession(ctx, 1)
	}
	return err
}
