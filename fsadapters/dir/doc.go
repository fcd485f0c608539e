// Package dir is the fsadapters.FS backend that exports a local directory
// tree (Linux only; fs_serv runs as root).
//
// # File handles
//
// A handle is the kernel's own: name_to_handle_at(2) gives a
// (handle_type, f_handle) pair that open_by_handle_at(2) turns back into the
// object, whatever its current name. It therefore survives renames, even
// across directories, and restarts of fs_serv. The wire form is
//
//	version (1 byte) | handle_type (4 bytes, big endian) | f_handle | MAC (8 bytes)
//
// where MAC is HMAC-SHA256 over the preceding bytes, truncated, under a
// per-export 32-byte key: Options.HandleKey (fs_serv keeps one per export
// in its state directory) or, without one, the root directory's xattr
// trusted.fsbridge.handlekey (created on first use). open_by_handle_at decodes any handle on the whole
// filesystem, so the backend must itself refuse objects outside the export:
//
//   - the MAC proves that this export minted the handle, i.e. that the
//     object was reached by a lookup beneath the root. This stops forged
//     or guessed handles and handles minted by another export of the same
//     filesystem (a wrong MAC is ErrBadHandle);
//   - directories have a single parent, so after open_by_handle_at the
//     backend walks ".." until it meets the root (accept) or the top of the
//     filesystem (ErrStale). This catches a directory moved out of the
//     export by a local process;
//   - non-directories may have several parents and the kernel cannot list
//     them, so beyond the MAC only st_dev is checked. Residual risk: a
//     file whose handle we minted and that is later moved (or hard-linked
//     and the export's link removed) outside the export by a local user
//     stays reachable through the old handle. NFS clients cannot cause
//     this themselves: every name operation is confined to the export.
//
// An object with no links left is stale (ErrStale), even while an fd still
// pins its inode.
//
// # fd cache
//
// Resolving a handle costs open_by_handle_at plus, for directories, the
// ".." walk, so resolved O_PATH fds are kept in an LRU keyed by the handle
// bytes (Options.CacheSize, default 4096). Entries are reference counted:
// eviction only marks an entry, and its fd is closed by the last user, so
// no syscall ever runs on a closed (possibly reused) descriptor number.
// Remove and Rename evict the victim's entry so the cache does not keep
// deleted inodes alive; objects removed locally are released when evicted.
// Cached directories are not re-verified on each use.
//
// # Why openat2
//
// Every name operation is relative to a directory fd and takes a single
// component (names with "/", NUL, "." or ".." are EINVAL). Lookups use
// openat2(2) with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|
// RESOLVE_NO_XDEV and O_PATH|O_NOFOLLOW: a symlink is returned as itself,
// never followed, so a symlink pointing outside the export cannot be used
// to escape it (clients resolve symlinks themselves, as NFS requires), and
// concurrent renames cannot redirect a lookup outside the tree. Creates
// use O_EXCL/O_NOFOLLOW or *at calls that never follow a final symlink.
// Mount points inside the export are not crossed (Lookup: EXDEV; ReadDir
// omits them), since their handles would belong to another filesystem.
//
// # EXCLUSIVE create
//
// CreateExclusive must be atomic and recognise retransmissions (RFC 8881
// §18.16.3). The file is built complete before it has a name: O_TMPFILE in
// the directory, the verifier stored in the xattr trusted.fsbridge.verf
// (user.fsbridge.verf if trusted xattrs are unavailable), owner and mode
// set, then linkat(AT_EMPTY_PATH) gives it its name. linkat fails with
// EEXIST if the name exists; then the existing file's verifier decides:
// equal means a retransmission (created=false), anything else EEXIST. No
// other client can ever observe a file without its verifier.
//
// # Permissions
//
// The process runs as root, so the kernel checks nothing on the callers'
// behalf: the backend enforces POSIX rules for the request's Cred with
// fsadapters.CheckAccess (search/write on directories, the sticky-bit rule,
// owner-only chmod/utimes, root-only chown, chgrp to one's own groups) and
// creates objects owned by Cred.UID and Cred.GID, or the directory's group
// in a setgid directory (new directories inherit setgid), as Linux does.
// chown clears setuid/setgid on non-directories (the kernel does this even
// for root). POSIX ACLs (acl.go) are evaluated too when the caller is
// neither root nor the owner, and a directory's default ACL limits the
// mode of new objects as the kernel's inheritance does. Not emulated: clearing setuid/setgid when a non-root caller
// writes or truncates (the kernel skips it for us because we hold
// CAP_FSETID), and fs.protected_hardlinks restrictions on Link.
//
// # ReadDir cookies
//
// Cookies are the filesystem's own getdents64 d_off values plus 3, because
// NFSv4 reserves 0, 1 and 2 (RFC 7530 §16.24.4); resuming lseeks to
// cookie-3. ext4's hash cookies stay valid across inserts and removals, so
// the verifier is a constant per directory (a hash of its handle).
//
// # Not implemented
//
// Filesystems without file handle support (name_to_handle_at EOPNOTSUPP)
// are refused by New; a path-based fallback would be needed for them.
package dir
