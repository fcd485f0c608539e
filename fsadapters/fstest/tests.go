package fstest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/fsbridge/fsbridge/fsadapters"
	"golang.org/x/sys/unix"
)

func testRemoveFile(e *env) {
	e.create(root, e.root, "f", 0o644)
	if err := e.fs.Remove(e.ctx, root, e.root, "f"); err != nil {
		e.t.Fatalf("Remove(f): %v", err)
	}
	e.noEntry(e.root, "f")
	err := e.fs.Remove(e.ctx, root, e.root, "f")
	e.wantErr("Remove(f) again", err, unix.ENOENT)
	err = e.fs.Remove(e.ctx, root, e.root, "never")
	e.wantErr("Remove(never)", err, unix.ENOENT)
}

func testRenameSameDir(e *env) {
	fh := e.writeFile(e.root, "a", []byte("A"))
	if err := e.fs.Rename(e.ctx, root, e.root, "a", e.root, "b", false); err != nil {
		e.t.Fatalf("Rename(a, b): %v", err)
	}
	e.noEntry(e.root, "a")
	bfh, _ := e.lookup(root, e.root, "b")
	if !bytes.Equal(bfh, fh) {
		e.t.Errorf("Lookup(b) after rename: handle %x, want %x", bfh, fh)
	}
	if got := e.readAll(bfh, "b"); string(got) != "A" {
		e.t.Errorf("b after rename = %q", got)
	}
	err := e.fs.Rename(e.ctx, root, e.root, "missing", e.root, "c", false)
	e.wantErr("Rename(missing, c)", err, unix.ENOENT)
	// Renaming a name onto itself is a no-op.
	if err := e.fs.Rename(e.ctx, root, e.root, "b", e.root, "b", false); err != nil {
		e.t.Errorf("Rename(b, b): %v", err)
	}
	e.lookup(root, e.root, "b")
}

func testRenameAcrossDirs(e *env) {
	d1, _ := e.mkdir(root, e.root, "d1", 0o755)
	d2, _ := e.mkdir(root, e.root, "d2", 0o755)
	fh := e.writeFile(d1, "f", []byte("x"))
	sub, _ := e.mkdir(root, d1, "sub", 0o755)
	if err := e.fs.Rename(e.ctx, root, d1, "f", d2, "g", false); err != nil {
		e.t.Fatalf("Rename(d1/f, d2/g): %v", err)
	}
	if err := e.fs.Rename(e.ctx, root, d1, "sub", d2, "sub", false); err != nil {
		e.t.Fatalf("Rename(d1/sub, d2/sub): %v", err)
	}
	e.noEntry(d1, "f")
	e.noEntry(d1, "sub")
	gfh, _ := e.lookup(root, d2, "g")
	if !bytes.Equal(gfh, fh) {
		e.t.Errorf("Lookup(d2/g): handle changed by rename")
	}
	if a1, a2 := e.getattr(d1, "d1"), e.getattr(d2, "d2"); a1.Nlink != 2 || a2.Nlink != 3 {
		e.t.Errorf("after moving a subdir: nlink d1=%d d2=%d, want 2 3", a1.Nlink, a2.Nlink)
	}
	p, _, err := e.fs.LookupParent(e.ctx, root, sub)
	if err != nil || !bytes.Equal(p, d2) {
		e.t.Errorf("LookupParent(sub) after move: %x %v, want d2 %x", p, err, d2)
	}
}

func testRenameOverFile(e *env) {
	src := e.writeFile(e.root, "src", []byte("new"))
	dst := e.writeFile(e.root, "dst", []byte("old contents"))
	sa := e.getattr(src, "src")
	if err := e.fs.Rename(e.ctx, root, e.root, "src", e.root, "dst", false); err != nil {
		e.t.Fatalf("Rename(src, dst) over existing: %v", err)
	}
	e.noEntry(e.root, "src")
	fh, a := e.lookup(root, e.root, "dst")
	if !bytes.Equal(fh, src) || a.FileID != sa.FileID {
		e.t.Errorf("Lookup(dst) after replace: fileid %d, want source's %d", a.FileID, sa.FileID)
	}
	if got := e.readAll(src, "src handle"); string(got) != "new" {
		e.t.Errorf("read through source handle after replace: %q", got)
	}
	_, err := e.fs.GetAttr(e.ctx, dst)
	e.wantErr("GetAttr(replaced target)", err, fsadapters.ErrStale)
	if got := e.listAll(root, e.root); len(got) != 1 {
		e.t.Errorf("ReadDir after replacing rename: %d entries, want 1", len(got))
	}
}

func testRenameNoReplace(e *env) {
	e.writeFile(e.root, "a", []byte("a"))
	e.writeFile(e.root, "b", []byte("b"))
	err := e.fs.Rename(e.ctx, root, e.root, "a", e.root, "b", true)
	e.wantErr("Rename(a, b, noReplace)", err, unix.EEXIST)
	b, _ := e.lookup(root, e.root, "b")
	if got := e.readAll(b, "b"); string(got) != "b" {
		e.t.Errorf("b after refused rename = %q", got)
	}
	e.lookup(root, e.root, "a")
	if err := e.fs.Rename(e.ctx, root, e.root, "a", e.root, "c", true); err != nil {
		e.t.Errorf("Rename(a, c, noReplace) to a free name: %v", err)
	}
}

func testRenameDirErrors(e *env) {
	e.mkdir(root, e.root, "d", 0o755)
	full, _ := e.mkdir(root, e.root, "full", 0o755)
	e.create(root, full, "x", 0o644)
	e.create(root, e.root, "f", 0o644)
	err := e.fs.Rename(e.ctx, root, e.root, "d", e.root, "full", false)
	e.wantErr("Rename(d, full) dir over non-empty dir", err, unix.ENOTEMPTY, unix.EEXIST)
	err = e.fs.Rename(e.ctx, root, e.root, "f", e.root, "d", false)
	e.wantErr("Rename(f, d) file over dir", err, unix.EISDIR)
	err = e.fs.Rename(e.ctx, root, e.root, "d", e.root, "f", false)
	e.wantErr("Rename(d, f) dir over file", err, unix.ENOTDIR)
	err = e.fs.Rename(e.ctx, root, e.root, "full", full, "inner", false)
	e.wantErr("Rename(full, full/inner) into itself", err, unix.EINVAL)
	// Dir over an empty dir is allowed.
	e.mkdir(root, e.root, "empty", 0o755)
	if err := e.fs.Rename(e.ctx, root, e.root, "d", e.root, "empty", false); err != nil {
		e.t.Errorf("Rename(d, empty) dir over empty dir: %v", err)
	}
	if a := e.getattr(e.root, "root"); a.Nlink != 4 {
		e.t.Errorf("root nlink after dir-over-dir rename = %d, want 4 (full, empty)", a.Nlink)
	}
}

func testHandleAfterRename(e *env) {
	fh := e.writeFile(e.root, "a", []byte("payload"))
	f := e.open(root, fh, "a", fsadapters.OpenRead|fsadapters.OpenWrite)
	d, _ := e.mkdir(root, e.root, "d", 0o755)
	if err := e.fs.Rename(e.ctx, root, e.root, "a", d, "b", false); err != nil {
		e.t.Fatalf("Rename(a, d/b): %v", err)
	}
	if got, _ := e.readAt(f, "a (open before rename)", 100, 0); string(got) != "payload" {
		e.t.Errorf("read through File opened before rename: %q", got)
	}
	if err := e.fs.CheckHandle(e.ctx, fh); err != nil {
		e.t.Errorf("CheckHandle after rename: %v", err)
	}
	if got := e.readAll(fh, "old handle"); string(got) != "payload" {
		e.t.Errorf("read through old handle after rename: %q", got)
	}
	e.writeAt(f, "a (open before rename)", []byte("P"), 0)
	b, _ := e.lookup(root, d, "b")
	if got := e.readAll(b, "d/b"); string(got) != "Payload" {
		e.t.Errorf("d/b after write through old File: %q", got)
	}
}

func testStaleAfterRemove(e *env) {
	fh := e.writeFile(e.root, "f", []byte("bye"))
	if err := e.fs.Remove(e.ctx, root, e.root, "f"); err != nil {
		e.t.Fatalf("Remove(f): %v", err)
	}
	_, err := e.fs.GetAttr(e.ctx, fh)
	e.wantErr("GetAttr(removed f)", err, fsadapters.ErrStale)
	e.wantErr("CheckHandle(removed f)", e.fs.CheckHandle(e.ctx, fh), fsadapters.ErrStale)
	_, err = e.fs.Open(e.ctx, root, fh, fsadapters.OpenRead)
	e.wantErr("Open(removed f)", err, fsadapters.ErrStale)

	// A file still open when unlinked: reads through the File may keep
	// working (POSIX semantics) or fail, but must not return wrong data.
	// Once closed, the handle is stale.
	g := e.writeFile(e.root, "g", []byte("still here"))
	f, err := e.fs.Open(e.ctx, root, g, fsadapters.OpenRead)
	if err != nil {
		e.t.Fatalf("Open(g): %v", err)
	}
	if err := e.fs.Remove(e.ctx, root, e.root, "g"); err != nil {
		e.t.Fatalf("Remove(g): %v", err)
	}
	p := make([]byte, 64)
	if n, _, err := f.ReadAt(p, 0); err == nil && string(p[:n]) != "still here" {
		e.t.Errorf("ReadAt(unlinked open g) = %q", p[:n])
	}
	f.Close()
	_, err = e.fs.GetAttr(e.ctx, g)
	e.wantErr("GetAttr(g) after unlink and close", err, fsadapters.ErrStale)

	// A removed directory goes stale too.
	d, _ := e.mkdir(root, e.root, "d", 0o755)
	if err := e.fs.Remove(e.ctx, root, e.root, "d"); err != nil {
		e.t.Fatalf("Remove(d): %v", err)
	}
	_, err = e.fs.GetAttr(e.ctx, d)
	e.wantErr("GetAttr(removed dir d)", err, fsadapters.ErrStale)
}

func testLink(e *env) {
	if e.caps.NoHardLinks {
		e.t.Skip("Caps().NoHardLinks")
	}
	fh := e.writeFile(e.root, "f", []byte("linked"))
	d, _ := e.mkdir(root, e.root, "d", 0o755)
	if err := e.fs.Link(e.ctx, root, fh, d, "g"); err != nil {
		e.t.Fatalf("Link(f, d/g): %v", err)
	}
	fa := e.getattr(fh, "f")
	gfh, ga := e.lookup(root, d, "g")
	if fa.Nlink != 2 || ga.Nlink != 2 || fa.FileID != ga.FileID {
		e.t.Errorf("after Link: f nlink=%d id=%d, g nlink=%d id=%d", fa.Nlink, fa.FileID, ga.Nlink, ga.FileID)
	}
	if !bytes.Equal(gfh, fh) {
		e.t.Errorf("Lookup(d/g) of a hard link: handle %x, want %x", gfh, fh)
	}
	err := e.fs.Link(e.ctx, root, fh, d, "g")
	e.wantErr("Link(f, d/g) existing", err, unix.EEXIST)
	err = e.fs.Link(e.ctx, root, d, e.root, "dlink")
	e.wantErr("Link(dir)", err, unix.EPERM, unix.EISDIR)
	if err := e.fs.Remove(e.ctx, root, e.root, "f"); err != nil {
		e.t.Fatalf("Remove(f): %v", err)
	}
	if a := e.getattr(fh, "f after removing one link"); a.Nlink != 1 {
		e.t.Errorf("nlink after removing one of two links = %d", a.Nlink)
	}
	if got := e.readAll(gfh, "d/g"); string(got) != "linked" {
		e.t.Errorf("d/g after removing f = %q", got)
	}
}

func testSymlink(e *env) {
	if e.caps.NoSymlinks {
		e.t.Skip("Caps().NoSymlinks")
	}
	const target = "../some/where/else"
	sa := fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o777}
	closed, _ := e.mkdir(root, e.root, "closed", 0o755)
	_, _, err := e.fs.Symlink(e.ctx, user, closed, "l", target, &sa)
	e.wantErr("Symlink(closed/l) as uid 1000 in 0755 root dir", err, unix.EACCES)
	d, _ := e.mkdir(root, e.root, "d", 0o777)
	fh, a, err := e.fs.Symlink(e.ctx, user, d, "l", target, &sa)
	if err != nil {
		e.t.Fatalf("Symlink(d/l): %v", err)
	}
	if a.Type != fsadapters.TypeSymlink || a.Size != uint64(len(target)) || a.UID != user.UID {
		e.t.Errorf("Symlink(d/l): type=%v size=%d uid=%d", a.Type, a.Size, a.UID)
	}
	got, err := e.fs.Readlink(e.ctx, fh)
	if err != nil || got != target {
		e.t.Errorf("Readlink(d/l) = %q, %v", got, err)
	}
	_, la := e.lookup(root, d, "l")
	if la.Type != fsadapters.TypeSymlink {
		e.t.Errorf("Lookup(d/l).Type = %v", la.Type)
	}
	f, _ := e.create(root, d, "f", 0o644)
	_, err = e.fs.Readlink(e.ctx, f)
	e.wantErr("Readlink(regular file)", err, unix.EINVAL)
	_, _, err = e.fs.Symlink(e.ctx, root, d, "l", "x", &sa)
	e.wantErr("Symlink(d/l) existing", err, unix.EEXIST)
}

func testMknod(e *env) {
	if e.caps.NoDevices {
		e.t.Skip("Caps().NoDevices")
	}
	sa := modeAttrs(0o640)
	fh, a, err := e.fs.Mknod(e.ctx, root, e.root, "fifo", fsadapters.TypeFIFO, 0, 0, &sa)
	if err != nil {
		e.t.Fatalf("Mknod(fifo): %v", err)
	}
	if a.Type != fsadapters.TypeFIFO || a.Mode != 0o640 {
		e.t.Errorf("Mknod(fifo): type=%v mode=%#o", a.Type, a.Mode)
	}
	if g := e.getattr(fh, "fifo"); g.Type != fsadapters.TypeFIFO {
		e.t.Errorf("GetAttr(fifo).Type = %v", g.Type)
	}
	_, _, err = e.fs.Mknod(e.ctx, root, e.root, "fifo", fsadapters.TypeFIFO, 0, 0, &sa)
	e.wantErr("Mknod(fifo) existing", err, unix.EEXIST)
}

func testReadDirEmpty(e *env) {
	d, _ := e.mkdir(root, e.root, "d", 0o755)
	n := 0
	_, eof, err := e.fs.ReadDir(e.ctx, root, d, 0, fsadapters.CookieVerf{}, func(*fsadapters.DirEntry) bool { n++; return true })
	if err != nil || !eof || n != 0 {
		e.t.Errorf("ReadDir(empty d): %d entries eof=%v err=%v, want 0 true nil", n, eof, err)
	}
	f, _ := e.create(root, e.root, "f", 0o644)
	_, _, err = e.fs.ReadDir(e.ctx, root, f, 0, fsadapters.CookieVerf{}, func(*fsadapters.DirEntry) bool { return true })
	e.wantErr("ReadDir(regular file)", err, unix.ENOTDIR)
}

func testReadDirPaged(e *env) {
	const total = 1000
	d, _ := e.mkdir(root, e.root, "big", 0o755)
	for i := range total {
		name := fmt.Sprintf("entry-%04d", i)
		if i%100 == 0 {
			e.mkdir(root, d, name, 0o755)
		} else {
			e.create(root, d, name, 0o644)
		}
	}
	seen := map[string]fsadapters.DirEntry{}
	var cookie uint64
	var verf fsadapters.CookieVerf
	for calls := 0; ; calls++ {
		if calls > total {
			e.t.Fatalf("ReadDir: no eof after %d calls", calls)
		}
		page := 37 + calls%5 // accept this many, refuse the next
		accepted := 0
		refused := false
		nv, eof, err := e.fs.ReadDir(e.ctx, root, d, cookie, verf, func(de *fsadapters.DirEntry) bool {
			if accepted == page {
				refused = true
				return false
			}
			accepted++
			if de.Cookie <= 2 {
				e.t.Errorf("ReadDir: entry %q has reserved cookie %d", de.Name, de.Cookie)
			}
			if _, dup := seen[de.Name]; dup {
				e.t.Errorf("ReadDir: %q returned twice", de.Name)
			}
			seen[de.Name] = *de
			cookie = de.Cookie
			return true
		})
		if err != nil {
			e.t.Fatalf("ReadDir(big, cookie=%d) call %d: %v", cookie, calls, err)
		}
		if calls > 0 && nv != verf {
			e.t.Errorf("ReadDir: verifier changed from %x to %x in an unchanged directory", verf, nv)
		}
		verf = nv
		if refused && eof {
			e.t.Errorf("ReadDir: eof=true although fn refused an entry")
		}
		if eof {
			break
		}
		if !refused {
			e.t.Errorf("ReadDir: returned eof=false without fn refusing an entry (accepted %d)", accepted)
		}
		if e.t.Failed() {
			return
		}
	}
	if len(seen) != total {
		e.t.Fatalf("ReadDir(big) in pages: %d distinct entries, want %d", len(seen), total)
	}
	for i := 0; i < total; i += 7 {
		name := fmt.Sprintf("entry-%04d", i)
		de, ok := seen[name]
		if !ok {
			e.t.Errorf("ReadDir(big): %q missing", name)
			continue
		}
		fh, la := e.lookup(root, d, name)
		if !bytes.Equal(fh, de.Handle) {
			e.t.Errorf("ReadDir entry %q handle %x != Lookup handle %x", name, de.Handle, fh)
		}
		ga := e.getattr(de.Handle, name)
		for _, x := range []fsadapters.Attr{la, ga} {
			if de.Attr.FileID != x.FileID || de.Attr.Type != x.Type || de.Attr.Mode != x.Mode ||
				de.Attr.Nlink != x.Nlink || de.Attr.UID != x.UID || de.Attr.Size != x.Size {
				e.t.Errorf("ReadDir entry %q attr %+v differs from Lookup/GetAttr %+v", name, de.Attr, x)
			}
		}
	}
	// Removing and adding entries must not disturb a listing in progress:
	// resuming from a cookie still returns each surviving entry once.
	var first []fsadapters.DirEntry
	verf, _, err := e.fs.ReadDir(e.ctx, root, d, 0, fsadapters.CookieVerf{}, func(de *fsadapters.DirEntry) bool {
		if len(first) == 100 {
			return false
		}
		first = append(first, *de)
		return true
	})
	if err != nil {
		e.t.Fatalf("ReadDir(big) first page: %v", err)
	}
	if err := e.fs.Remove(e.ctx, root, d, first[50].Name); err != nil {
		e.t.Fatalf("Remove(%s): %v", first[50].Name, err)
	}
	e.create(root, d, "late-arrival", 0o644)
	rest := map[string]bool{}
	for _, de := range first {
		rest[de.Name] = true
	}
	nv, eof, err := e.fs.ReadDir(e.ctx, root, d, first[len(first)-1].Cookie, verf, func(de *fsadapters.DirEntry) bool {
		if rest[de.Name] {
			e.t.Errorf("ReadDir resumed after modification: %q repeated", de.Name)
		}
		rest[de.Name] = true
		return true
	})
	if errors.Is(err, fsadapters.ErrBadCookie) {
		return // the backend invalidates cookies on change and says so
	}
	_ = nv
	if err != nil || !eof {
		e.t.Fatalf("ReadDir resumed after modification: eof=%v err=%v", eof, err)
	}
	// Whether an entry added mid-listing shows up is unspecified (POSIX).
	delete(rest, first[50].Name)
	delete(rest, "late-arrival")
	if len(rest) != total-1 {
		e.t.Errorf("ReadDir resumed after modification: %d old entries in all, want %d", len(rest), total-1)
	}
}

func testReadDirBadCookie(e *env) {
	d, _ := e.mkdir(root, e.root, "d", 0o755)
	for i := range 5 {
		e.create(root, d, fmt.Sprintf("f%d", i), 0o644)
	}
	var c1 uint64
	verf, _, err := e.fs.ReadDir(e.ctx, root, d, 0, fsadapters.CookieVerf{}, func(de *fsadapters.DirEntry) bool {
		if c1 != 0 {
			return false
		}
		c1 = de.Cookie // accept exactly one entry
		return true
	})
	if err != nil {
		e.t.Fatalf("ReadDir(d): %v", err)
	}
	if verf != (fsadapters.CookieVerf{}) {
		bad := verf
		bad[0] ^= 0xff
		bad[7] ^= 0x5a
		_, _, err := e.fs.ReadDir(e.ctx, root, d, c1, bad, func(*fsadapters.DirEntry) bool { return true })
		e.wantErr("ReadDir with a wrong cookie verifier", err, fsadapters.ErrBadCookie)
	}
	// A cookie the backend never issued: an error, or an empty listing.
	for _, c := range []uint64{0x7ffffffffffffff0, 1<<64 - 5} {
		n := 0
		_, eof, err := e.fs.ReadDir(e.ctx, root, d, c, verf, func(*fsadapters.DirEntry) bool { n++; return true })
		if err == nil && (n != 0 || !eof) {
			e.t.Errorf("ReadDir with bogus cookie %#x: %d entries eof=%v, want an error or empty eof", c, n, eof)
		}
	}
}

func testLookupParent(e *env) {
	_, _, err := e.fs.LookupParent(e.ctx, root, e.root)
	e.wantErr("LookupParent(root)", err, unix.ENOENT)
	d, _ := e.mkdir(root, e.root, "d", 0o755)
	sub, _ := e.mkdir(root, d, "sub", 0o755)
	p, a, err := e.fs.LookupParent(e.ctx, root, d)
	if err != nil || !bytes.Equal(p, e.root) || a.Type != fsadapters.TypeDir {
		e.t.Errorf("LookupParent(d) = %x (type %v), %v; want root %x", p, a.Type, err, e.root)
	}
	p, _, err = e.fs.LookupParent(e.ctx, root, sub)
	if err != nil || !bytes.Equal(p, d) {
		e.t.Errorf("LookupParent(d/sub) = %x, %v; want d %x", p, err, d)
	}
	f, _ := e.create(root, d, "f", 0o644)
	_, _, err = e.fs.LookupParent(e.ctx, root, f)
	e.wantErr("LookupParent(file)", err, unix.ENOTDIR)
}

func testPermissions(e *env) {
	pub, _ := e.mkdir(root, e.root, "pub", 0o755)
	secret := e.writeFile(pub, "secret", []byte("s"))
	e.setattr(root, secret, "secret", fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o600})
	_, err := e.fs.Open(e.ctx, user, secret, fsadapters.OpenRead)
	e.wantErr("Open(secret 0600 root) read as uid 1000", err, unix.EACCES)
	readable := e.writeFile(pub, "readable", []byte("r"))
	f, err := e.fs.Open(e.ctx, user, readable, fsadapters.OpenRead)
	if err != nil {
		e.t.Errorf("Open(readable 0644 root) read as uid 1000: %v", err)
	} else {
		f.Close()
	}
	_, err = e.fs.Open(e.ctx, user, readable, fsadapters.OpenWrite)
	e.wantErr("Open(readable 0644 root) write as uid 1000", err, unix.EACCES)
	// Group bits apply to members of the file's group.
	e.setattr(root, secret, "secret", fsadapters.SetAttr{Valid: fsadapters.SetMode | fsadapters.SetGID, Mode: 0o640, GID: 500})
	member := &fsadapters.Cred{UID: 1000, GID: 1000, Groups: []uint32{500}}
	if f, err := e.fs.Open(e.ctx, member, secret, fsadapters.OpenRead); err != nil {
		e.t.Errorf("Open(secret 0640 gid 500) as member of 500: %v", err)
	} else {
		f.Close()
	}
	_, err = e.fs.Open(e.ctx, user, secret, fsadapters.OpenRead)
	e.wantErr("Open(secret 0640 gid 500) as non-member", err, unix.EACCES)
	_, err = e.fs.SetAttr(e.ctx, user, readable, &fsadapters.SetAttr{Valid: fsadapters.SetSize, Size: 0})
	e.wantErr("SetAttr(readable, size=0) as uid 1000", err, unix.EACCES)

	_, _, _, err = e.fs.Create(e.ctx, user, pub, "mine", &fsadapters.CreateReq{Mode: fsadapters.CreateGuarded, Attrs: modeAttrs(0o644)})
	e.wantErr("Create(pub/mine) as uid 1000 in 0755 root dir", err, unix.EACCES)
	sa := modeAttrs(0o755)
	_, _, err = e.fs.Mkdir(e.ctx, user, pub, "mine", &sa)
	e.wantErr("Mkdir(pub/mine) as uid 1000 in 0755 root dir", err, unix.EACCES)
	err = e.fs.Remove(e.ctx, user, pub, "readable")
	e.wantErr("Remove(pub/readable) as uid 1000", err, unix.EACCES)
	err = e.fs.Rename(e.ctx, user, pub, "readable", pub, "x", false)
	e.wantErr("Rename(pub/readable) as uid 1000", err, unix.EACCES)

	home, _ := e.mkdir(root, e.root, "home", 0o755)
	e.setattr(root, home, "home", fsadapters.SetAttr{Valid: fsadapters.SetUID | fsadapters.SetGID, UID: 1000, GID: 1000})
	fh, a := e.create(user, home, "mine", 0o600)
	if a.UID != 1000 {
		e.t.Errorf("Create(home/mine) as uid 1000: owner %d", a.UID)
	}
	wf := e.open(user, fh, "home/mine", fsadapters.OpenRead|fsadapters.OpenWrite)
	e.writeAt(wf, "home/mine", []byte("mine"), 0)
	if err := e.fs.Rename(e.ctx, user, home, "mine", home, "ours", false); err != nil {
		e.t.Errorf("Rename(home/mine) as owner of home: %v", err)
	}
	if err := e.fs.Remove(e.ctx, user, home, "ours"); err != nil {
		e.t.Errorf("Remove(home/ours) as owner of home: %v", err)
	}
	// Search permission is needed for Lookup.
	closed, _ := e.mkdir(root, e.root, "closed", 0o700)
	e.create(root, closed, "inside", 0o644)
	_, _, err = e.fs.Lookup(e.ctx, user, closed, "inside")
	e.wantErr("Lookup(closed/inside) as uid 1000 in 0700 root dir", err, unix.EACCES)
	_, _, err = e.fs.ReadDir(e.ctx, user, closed, 0, fsadapters.CookieVerf{}, func(*fsadapters.DirEntry) bool { return true })
	e.wantErr("ReadDir(closed) as uid 1000 in 0700 root dir", err, unix.EACCES)
	// Root bypasses the bits.
	e.setattr(root, secret, "secret", fsadapters.SetAttr{Valid: fsadapters.SetMode | fsadapters.SetUID, Mode: 0, UID: 1000})
	if f, err := e.fs.Open(e.ctx, root, secret, fsadapters.OpenRead|fsadapters.OpenWrite); err != nil {
		e.t.Errorf("Open(secret mode 0 uid 1000) read/write as root: %v", err)
	} else {
		f.Close()
	}
	_, err = e.fs.Open(e.ctx, user, secret, fsadapters.OpenRead)
	e.wantErr("Open(secret mode 0) read as its owner", err, unix.EACCES)
}

func testSetAttrPermissions(e *env) {
	home, _ := e.mkdir(root, e.root, "home", 0o777)
	fh, _ := e.create(user, home, "f", 0o644)
	rootf, _ := e.create(root, home, "rootf", 0o666)
	if a := e.setattr(user, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o600}); a.Mode != 0o600 {
		e.t.Errorf("chmod by owner: mode %#o", a.Mode)
	}
	_, err := e.fs.SetAttr(e.ctx, other, fh, &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o777})
	e.wantErr("chmod(f) by non-owner", err, unix.EPERM)
	_, err = e.fs.SetAttr(e.ctx, user, fh, &fsadapters.SetAttr{Valid: fsadapters.SetUID, UID: 2000})
	e.wantErr("chown(f) to another uid by owner", err, unix.EPERM)
	_, err = e.fs.SetAttr(e.ctx, user, fh, &fsadapters.SetAttr{Valid: fsadapters.SetGID, GID: 2000})
	e.wantErr("chgrp(f) to a group the owner is not in", err, unix.EPERM)
	_, err = e.fs.SetAttr(e.ctx, user, rootf, &fsadapters.SetAttr{Valid: fsadapters.SetMtime | fsadapters.SetAtime, Mtime: e.getattr(fh, "f").Mtime})
	e.wantErr("utimes(rootf) explicit times by non-owner", err, unix.EPERM)
	// "now" needs only write permission (rootf is 0666).
	if _, err := e.fs.SetAttr(e.ctx, user, rootf, &fsadapters.SetAttr{Valid: fsadapters.SetMtimeNow | fsadapters.SetAtimeNow}); err != nil {
		e.t.Errorf("utimes(rootf, now) by non-owner with write access: %v", err)
	}
	if _, err := e.fs.SetAttr(e.ctx, user, rootf, &fsadapters.SetAttr{Valid: fsadapters.SetSize, Size: 1}); err != nil {
		e.t.Errorf("truncate(rootf 0666) by non-owner: %v", err)
	}
	if a := e.getattr(fh, "f"); a.Mode != 0o600 || a.UID != 1000 {
		e.t.Errorf("f after refused changes: mode %#o uid %d", a.Mode, a.UID)
	}
}

func testSticky(e *env) {
	tmp, _ := e.mkdir(root, e.root, "tmp", 0o777)
	e.setattr(root, tmp, "tmp", fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o1777})
	e.create(user, tmp, "a", 0o644)
	e.create(user, tmp, "b", 0o644)
	e.create(other, tmp, "c", 0o644)
	err := e.fs.Remove(e.ctx, other, tmp, "a")
	e.wantErr("Remove(tmp/a) by another user in sticky dir", err, unix.EPERM, unix.EACCES)
	err = e.fs.Rename(e.ctx, other, tmp, "a", tmp, "z", false)
	e.wantErr("Rename(tmp/a) by another user in sticky dir", err, unix.EPERM, unix.EACCES)
	err = e.fs.Rename(e.ctx, other, tmp, "c", tmp, "b", false)
	e.wantErr("Rename(tmp/c over tmp/b) replacing another user's file in sticky dir", err, unix.EPERM, unix.EACCES)
	e.lookup(root, tmp, "a")
	e.lookup(root, tmp, "b")
	if err := e.fs.Remove(e.ctx, user, tmp, "a"); err != nil {
		e.t.Errorf("Remove(tmp/a) by its owner: %v", err)
	}
	if err := e.fs.Remove(e.ctx, root, tmp, "b"); err != nil {
		e.t.Errorf("Remove(tmp/b) by root: %v", err)
	}
	// The directory's owner may remove anything in it.
	own, _ := e.mkdir(root, e.root, "own", 0o777)
	e.setattr(root, own, "own", fsadapters.SetAttr{Valid: fsadapters.SetMode | fsadapters.SetUID, Mode: 0o1777, UID: other.UID})
	e.create(user, own, "x", 0o644)
	if err := e.fs.Remove(e.ctx, other, own, "x"); err != nil {
		e.t.Errorf("Remove(own/x) by the sticky dir's owner: %v", err)
	}
}

func testStatFS(e *env) {
	st, err := e.fs.StatFS(e.ctx, e.root)
	if err != nil {
		e.t.Fatalf("StatFS(root): %v", err)
	}
	if st.TotalBytes == 0 || st.FreeBytes > st.TotalBytes || st.AvailBytes > st.FreeBytes {
		e.t.Errorf("StatFS bytes: total %d free %d avail %d", st.TotalBytes, st.FreeBytes, st.AvailBytes)
	}
	if st.TotalFiles != 0 && (st.FreeFiles > st.TotalFiles || st.AvailFiles > st.FreeFiles) {
		e.t.Errorf("StatFS files: total %d free %d avail %d", st.TotalFiles, st.FreeFiles, st.AvailFiles)
	}
	if st.MaxName < 255 {
		e.t.Errorf("StatFS MaxName = %d, want >= 255", st.MaxName)
	}
	fh, _ := e.create(root, e.root, "f", 0o644)
	if _, err := e.fs.StatFS(e.ctx, fh); err != nil {
		e.t.Errorf("StatFS(file): %v", err)
	}
}

func testCheckHandle(e *env) {
	long := bytes.Repeat([]byte{0xab}, fsadapters.MaxHandleSize+1)
	for _, fh := range []fsadapters.FileHandle{nil, {}, {1}, {1, 2, 3}, long} {
		err := e.fs.CheckHandle(e.ctx, fh)
		e.wantErr(fmt.Sprintf("CheckHandle(%d garbage bytes)", len(fh)), err, fsadapters.ErrBadHandle)
		_, err = e.fs.GetAttr(e.ctx, fh)
		e.wantErr(fmt.Sprintf("GetAttr(%d garbage bytes)", len(fh)), err, fsadapters.ErrBadHandle)
	}
	// Right length, wrong content: bad or stale, never a crash or success.
	junk := bytes.Repeat([]byte{0xee}, len(e.root))
	if err := e.fs.CheckHandle(e.ctx, junk); !errors.Is(err, fsadapters.ErrBadHandle) && !errors.Is(err, fsadapters.ErrStale) {
		e.t.Errorf("CheckHandle(junk of root's length): %v, want ErrBadHandle or ErrStale", err)
	}
	_, _, err := e.fs.Lookup(e.ctx, root, fsadapters.FileHandle{9}, "x")
	e.wantErr("Lookup in a garbage dir handle", err, fsadapters.ErrBadHandle)
}

func testConcurrentWrites(e *env) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("w%d", i)
			fh, _, _, err := e.fs.Create(e.ctx, root, e.root, name, &fsadapters.CreateReq{Mode: fsadapters.CreateGuarded, Attrs: modeAttrs(0o644)})
			if err != nil {
				errs <- fmt.Errorf("Create(%s): %w", name, err)
				return
			}
			f, err := e.fs.Open(e.ctx, root, fh, fsadapters.OpenWrite|fsadapters.OpenRead)
			if err != nil {
				errs <- fmt.Errorf("Open(%s): %w", name, err)
				return
			}
			defer f.Close()
			buf := bytes.Repeat([]byte{byte('a' + i)}, 4096)
			for j := range 16 {
				if _, err := f.WriteAt(buf, int64(j*len(buf)), false); err != nil {
					errs <- fmt.Errorf("WriteAt(%s): %w", name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Error(err)
	}
	for i := range n {
		name := fmt.Sprintf("w%d", i)
		fh, _ := e.lookup(root, e.root, name)
		got := e.readAll(fh, name)
		if !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + i)}, 16*4096)) {
			e.t.Errorf("%s after concurrent writes: %d bytes, wrong content", name, len(got))
		}
	}
	if got := e.listAll(root, e.root); len(got) != n {
		e.t.Errorf("ReadDir after concurrent creates: %d entries, want %d", len(got), n)
	}
}

func testConcurrentExclusive(e *env) {
	const n = 8
	var wg sync.WaitGroup
	created := make(chan bool, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &fsadapters.CreateReq{Mode: fsadapters.CreateExclusive, Verf: fsadapters.CreateVerf{byte(i + 1)}, Attrs: modeAttrs(0o644)}
			_, _, c, err := e.fs.Create(e.ctx, root, e.root, "race", req)
			if err != nil && !errors.Is(err, unix.EEXIST) {
				errs <- fmt.Errorf("Create(race) EXCLUSIVE: %w", err)
			}
			created <- err == nil && c
		}()
	}
	wg.Wait()
	close(created)
	close(errs)
	for err := range errs {
		e.t.Error(err)
	}
	winners := 0
	for c := range created {
		if c {
			winners++
		}
	}
	if winners != 1 {
		e.t.Errorf("racing EXCLUSIVE creates of one name: %d got created=true, want exactly 1", winners)
	}
}
