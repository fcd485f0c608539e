package dir

import (
	"context"
	"encoding/binary"
	"hash/fnv"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// cookieBias maps a getdents d_off (a non-negative loff_t: a 63-bit hash on
// ext4, small integers on tmpfs) to an NFS cookie and back. NFSv4 reserves
// cookies 0, 1 and 2 (RFC 7530 §16.24.4), so cookie = d_off + 3; it is
// exact and reversible because d_off ≤ MaxInt64.
const cookieBias = 3

// ReadDir implements fsadapters.FS. Cookies are the directory offsets the
// filesystem itself hands out, so their stability is the filesystem's (ext4
// hash cookies survive inserts and removals); the verifier is therefore a
// constant per directory, derived from its handle (inode + generation).
func (fs *FS) ReadDir(ctx context.Context, cred *fsadapters.Cred, dir fsadapters.FileHandle, cookie uint64, verf fsadapters.CookieVerf,
	fn func(*fsadapters.DirEntry) bool) (fsadapters.CookieVerf, bool, error) {
	r, da, err := fs.resolveDir(dir)
	if err != nil {
		return fsadapters.CookieVerf{}, false, err
	}
	defer fs.release(r)
	if err := fs.checkAccess(r.fd, &da, cred, fsadapters.MayRead); err != nil {
		return fsadapters.CookieVerf{}, false, err
	}
	var myVerf fsadapters.CookieVerf
	h := fnv.New64a()
	h.Write(dir)
	binary.BigEndian.PutUint64(myVerf[:], h.Sum64())
	// A zero verifier with a non-zero cookie is accepted: some clients
	// (and RFC 7530 §16.24.4's "SHOULD") leave it zero; the cookie itself
	// is still range-checked.
	if cookie != 0 && ((verf != myVerf && verf != fsadapters.CookieVerf{}) || cookie < cookieBias || cookie-cookieBias > fs.maxOff) {
		return myVerf, false, fsadapters.ErrBadCookie
	}

	fd, err := unix.Openat(r.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return myVerf, false, err
	}
	defer unix.Close(fd)
	if cookie != 0 {
		if _, err := unix.Seek(fd, int64(cookie-cookieBias), unix.SEEK_SET); err != nil {
			return myVerf, false, fsadapters.ErrBadCookie
		}
	}
	buf := make([]byte, 32<<10)
	for {
		if err := ctx.Err(); err != nil {
			return myVerf, false, err
		}
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return myVerf, false, err
		}
		if n == 0 {
			return myVerf, true, nil
		}
		for b := buf[:n]; len(b) > 0; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			if len(b) < 19 {
				return myVerf, false, unix.EIO
			}
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return myVerf, false, unix.EIO
			}
			off := binary.NativeEndian.Uint64(b[8:16])
			nameb := b[19:reclen]
			b = b[reclen:]
			for i, c := range nameb {
				if c == 0 {
					nameb = nameb[:i]
					break
				}
			}
			name := string(nameb)
			if name == "." || name == ".." {
				continue
			}
			e := fsadapters.DirEntry{Name: name, Cookie: off + cookieBias}
			var st unix.Statx_t
			if err := unix.Statx(fd, name, unix.AT_SYMLINK_NOFOLLOW, statxMask, &st); err != nil {
				continue // removed since getdents
			}
			if unix.Mkdev(st.Dev_major, st.Dev_minor) != fs.rootDev {
				continue // a mount point: not part of this export (see Lookup's RESOLVE_NO_XDEV)
			}
			kh, _, err := unix.NameToHandleAt(fd, name, 0)
			if err != nil {
				continue
			}
			e.Handle = fs.encode(kh)
			e.Attr = attrFromStatx(&st)
			if !fn(&e) {
				return myVerf, false, nil
			}
		}
	}
}
