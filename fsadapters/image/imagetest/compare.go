package imagetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
)

// WalkReader records every entry of an image through its Reader, in the
// same form as Walk, reading every regular file through Open/ReadAt in
// 128 KiB pieces.
func WalkReader(r image.Reader) (map[string]*Entry, error) {
	out := map[string]*Entry{}
	var walk func(p string, ino image.Ino) error
	walk = func(p string, ino image.Ino) error {
		a, err := r.Stat(ino)
		if err != nil {
			return fmt.Errorf("Stat(%q): %w", p, err)
		}
		e := &Entry{Path: p, Perm: fs.FileMode(a.Mode & 0o777), UID: a.UID, GID: a.GID, Nlink: a.Nlink,
			Ino: a.FileID, Mtime: a.Mtime, Rdev: uint64(a.RdevMajor)<<32 | uint64(a.RdevMinor)}
		if a.Mode&0o4000 != 0 {
			e.Perm |= fs.ModeSetuid
		}
		if a.Mode&0o2000 != 0 {
			e.Perm |= fs.ModeSetgid
		}
		if a.Mode&0o1000 != 0 {
			e.Perm |= fs.ModeSticky
		}
		out[p] = e
		switch a.Type {
		case fsadapters.TypeDir:
			e.Type = fs.ModeDir
			ents, err := r.ReadDir(ino)
			if err != nil {
				return fmt.Errorf("ReadDir(%q): %w", p, err)
			}
			for _, de := range ents {
				cp := path.Join(p, de.Name)
				got, err := r.Lookup(ino, de.Name)
				if err != nil || got != de.Ino {
					return fmt.Errorf("Lookup(%q) = %d, %v; ReadDir said %d", cp, got, err, de.Ino)
				}
				if err := walk(cp, de.Ino); err != nil {
					return err
				}
			}
		case fsadapters.TypeSymlink:
			e.Type = fs.ModeSymlink
			e.Size = int64(a.Size)
			if e.Link, err = r.Readlink(ino); err != nil {
				return fmt.Errorf("Readlink(%q): %w", p, err)
			}
		case fsadapters.TypeChar:
			e.Type = fs.ModeDevice | fs.ModeCharDevice
		case fsadapters.TypeBlock:
			e.Type = fs.ModeDevice
		case fsadapters.TypeFIFO:
			e.Type = fs.ModeNamedPipe
		case fsadapters.TypeSocket:
			e.Type = fs.ModeSocket
		case fsadapters.TypeRegular:
			e.Size = int64(a.Size)
			ra, err := r.Open(ino)
			if err != nil {
				return fmt.Errorf("Open(%q): %w", p, err)
			}
			h := sha256.New()
			buf := make([]byte, 128<<10)
			var off int64
			for {
				n, err := ra.ReadAt(buf, off)
				h.Write(buf[:n])
				off += int64(n)
				if err == io.EOF {
					break
				}
				if err != nil {
					return fmt.Errorf("ReadAt(%q, %d): %w", p, off, err)
				}
				if n == 0 {
					return fmt.Errorf("ReadAt(%q, %d): 0 bytes and no error", p, off)
				}
			}
			if off != e.Size {
				return fmt.Errorf("%q: read %d bytes, Stat says %d", p, off, e.Size)
			}
			e.SHA256 = hex.EncodeToString(h.Sum(nil))
		}
		return nil
	}
	return out, walk("", r.Root())
}

// Quirks says which differences a format cannot avoid. Each one is listed
// in the README per format; a field not named here must match exactly.
type Quirks struct {
	// Missing entries the format cannot store (path prefixes allowed with a
	// trailing "/").
	Missing []string
	// Extra entries the image has beyond the tree ("lost+found").
	Extra         []string
	NoOwners      bool          // uid/gid not stored (FAT, zip without ux)
	NoPerms       bool          // permission bits synthesized (FAT)
	DirPerms      bool          // directory permission bits not stored
	NoHardLinks   bool          // hard links stored as separate files (different Ino, nlink 1)
	NoNlink       bool          // nlink not stored / synthesized
	DirNlink      bool          // directory nlink differs (formats that do not count subdirectories)
	MtimeGranule  time.Duration // stored mtime precision (0 = exact)
	NoDirMtime    bool          // directory mtimes not stored
	NoSymlinkMeta bool          // symlink owner/mode/mtime not stored
	// NoRootMeta: the root directory's own mtime and nlink come from the
	// tool, not the tree (zip and FAT store no entry for the root;
	// mkfs.ext4 adds lost+found, which counts as a subdirectory).
	NoRootMeta bool
}

// Compare lists every difference between the reference walk and got
// (a WalkReader or a Walk of a mount), honouring q. Ino values are only
// compared for hard-link identity.
func Compare(ref, got map[string]*Entry, q Quirks) []string {
	var diffs []string
	skip := func(p string, list []string) bool {
		for _, m := range list {
			if p == m || (strings.HasSuffix(m, "/") && strings.HasPrefix(p, m)) {
				return true
			}
		}
		return false
	}
	var paths []string
	for p := range ref {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		want := ref[p]
		g := got[p]
		if g == nil {
			if !skip(p, q.Missing) {
				diffs = append(diffs, fmt.Sprintf("%s: missing", p))
			}
			continue
		}
		bad := func(what string, w, g any) {
			diffs = append(diffs, fmt.Sprintf("%s: %s = %v, want %v", p, what, g, w))
		}
		if want.Type != g.Type {
			bad("type", want.Type, g.Type)
			continue
		}
		isLink := want.Type == fs.ModeSymlink
		isDir := want.Type == fs.ModeDir
		if !q.NoPerms && !(isDir && q.DirPerms) && !isLink && want.Perm != g.Perm {
			bad("perm", want.Perm, g.Perm)
		}
		if !q.NoOwners && !(isLink && q.NoSymlinkMeta) && (want.UID != g.UID || want.GID != g.GID) {
			bad("owner", fmt.Sprintf("%d:%d", want.UID, want.GID), fmt.Sprintf("%d:%d", g.UID, g.GID))
		}
		if (want.Type == 0 || isLink) && want.Size != g.Size {
			bad("size", want.Size, g.Size)
		}
		if want.SHA256 != g.SHA256 {
			bad("sha256", want.SHA256, g.SHA256)
		}
		if want.Link != g.Link {
			bad("link target", want.Link, g.Link)
		}
		if want.Type&fs.ModeDevice != 0 && want.Rdev != g.Rdev {
			bad("rdev", want.Rdev, g.Rdev)
		}
		isRoot := p == ""
		nlinkOK := q.NoNlink || (isDir && q.DirNlink) || (q.NoHardLinks && want.Nlink > 1 && g.Nlink == 1) ||
			(isRoot && q.NoRootMeta)
		if !nlinkOK && want.Nlink != g.Nlink {
			bad("nlink", want.Nlink, g.Nlink)
		}
		if !(isDir && q.NoDirMtime) && !(isLink && q.NoSymlinkMeta) && !(isRoot && q.NoRootMeta) {
			w, gm := want.Mtime, g.Mtime
			if q.MtimeGranule > 0 {
				w = w.Truncate(q.MtimeGranule)
				gm = gm.Truncate(q.MtimeGranule)
			}
			if !w.Equal(gm) {
				bad("mtime", want.Mtime.UTC(), g.Mtime.UTC())
			}
		}
	}
	for p := range got {
		if ref[p] == nil && !skip(p, q.Extra) {
			diffs = append(diffs, fmt.Sprintf("%s: extra entry", p))
		}
	}
	// Hard links: names sharing an inode in the tree share one in got.
	if !q.NoHardLinks {
		if a, b := got[HardA], got[HardB]; a != nil && b != nil && a.Ino != b.Ino {
			diffs = append(diffs, fmt.Sprintf("%s and %s: different inodes %d, %d (hard link lost)", HardA, HardB, a.Ino, b.Ino))
		}
	}
	return diffs
}
