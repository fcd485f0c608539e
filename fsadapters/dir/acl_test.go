package dir

import (
	"errors"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

// aclFS returns a backend over a world-writable temporary directory, or
// skips if its filesystem has no POSIX ACLs.
func aclFS(t *testing.T) (*FS, fsadapters.FileHandle) {
	t.Helper()
	d := t.TempDir()
	os.Chmod(d, 0o777)
	fs := newTestFS(t, d)
	if !fs.ACLSupport() {
		t.Skip("filesystem of TempDir has no POSIX ACLs")
	}
	return fs, fs.Root()
}

var (
	other2000 = &fsadapters.Cred{UID: 2000, GID: 2000}
	other3000 = &fsadapters.Cred{UID: 3000, GID: 3000}
)

func openErr(fs *FS, cred *fsadapters.Cred, fh fsadapters.FileHandle, flags fsadapters.OpenFlags) error {
	f, err := fs.Open(ctx, cred, fh, flags)
	if err == nil {
		f.Close()
	}
	return err
}

func TestACLNamedUserAndMask(t *testing.T) {
	fs, dir := aclFS(t)
	fh := mustCreate(t, fs, dir, "f", user, 0o600)
	if err := openErr(fs, other2000, fh, fsadapters.OpenRead); !errors.Is(err, unix.EACCES) {
		t.Fatalf("before ACL: %v, want EACCES", err)
	}
	acl := &fsadapters.ACL{Access: []fsadapters.ACLEntry{
		{Tag: fsadapters.ACLOther, Perm: 0},
		{Tag: fsadapters.ACLUser, Perm: 6, ID: 2000},
		{Tag: fsadapters.ACLUserObj, Perm: 6},
		{Tag: fsadapters.ACLGroupObj, Perm: 0},
		{Tag: fsadapters.ACLMask, Perm: 4},
	}}
	if err := fs.SetACL(ctx, other2000, fh, acl); !errors.Is(err, unix.EPERM) {
		t.Fatalf("SetACL by non-owner = %v, want EPERM", err)
	}
	if err := fs.SetACL(ctx, user, fh, acl); err != nil {
		t.Fatalf("SetACL: %v", err)
	}
	a, _ := fs.GetAttr(ctx, fh)
	if a.Mode != 0o640 {
		t.Errorf("mode after SetACL = %o, want 640 (mask in the group bits)", a.Mode)
	}
	if err := openErr(fs, other2000, fh, fsadapters.OpenRead); err != nil {
		t.Errorf("named user read: %v", err)
	}
	// rw- entry, r-- mask: no write.
	if err := openErr(fs, other2000, fh, fsadapters.OpenWrite); !errors.Is(err, unix.EACCES) {
		t.Errorf("named user write through mask: %v, want EACCES", err)
	}
	if err := openErr(fs, other3000, fh, fsadapters.OpenRead); !errors.Is(err, unix.EACCES) {
		t.Errorf("other user read: %v, want EACCES", err)
	}
	if got, err := fs.Access(ctx, other2000, fh, &a, fsadapters.MayRead|fsadapters.MayWrite); err != nil || got != fsadapters.MayRead {
		t.Errorf("Access = %o, %v; want r", got, err)
	}
	got, err := fs.GetACL(ctx, user, fh)
	if err != nil || len(got.Access) != 5 || got.Access[1] != (fsadapters.ACLEntry{Tag: fsadapters.ACLUser, Perm: 6, ID: 2000}) || got.Default != nil {
		t.Errorf("GetACL = %+v, %v", got, err)
	}
	// chmod g-r: the kernel sets the mask to ---; the cached ACL must go.
	if _, err := fs.SetAttr(ctx, user, fh, &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if err := openErr(fs, other2000, fh, fsadapters.OpenRead); !errors.Is(err, unix.EACCES) {
		t.Errorf("after chmod 600 (mask ---): %v, want EACCES", err)
	}
	// A minimal ACL removes the extended one: the mode is all there is.
	if err := fs.SetACL(ctx, user, fh, &fsadapters.ACL{Access: fsadapters.MinimalACL(0o604)}); err != nil {
		t.Fatal(err)
	}
	if a, _ := fs.GetAttr(ctx, fh); a.Mode != 0o604 {
		t.Errorf("mode after minimal ACL = %o", a.Mode)
	}
	if _, err := unix.Getxattr(procPath(fs.rootFd)+"/f", fsadapters.XattrACLAccess, nil); !errors.Is(err, unix.ENODATA) {
		t.Errorf("xattr after minimal ACL: %v, want ENODATA", err)
	}
	// Invalid: named entry without a mask; default ACL on a file.
	bad := &fsadapters.ACL{Access: []fsadapters.ACLEntry{{Tag: fsadapters.ACLUserObj}, {Tag: fsadapters.ACLUser, ID: 5},
		{Tag: fsadapters.ACLGroupObj}, {Tag: fsadapters.ACLOther}}}
	if err := fs.SetACL(ctx, user, fh, bad); !errors.Is(err, unix.EINVAL) {
		t.Errorf("no mask: %v, want EINVAL", err)
	}
	if err := fs.SetACL(ctx, user, fh, &fsadapters.ACL{Access: fsadapters.MinimalACL(0o600), Default: fsadapters.MinimalACL(0o600)}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("default on file: %v, want EINVAL", err)
	}
}

func TestACLDefaultInherited(t *testing.T) {
	fs, dir := aclFS(t)
	d, _, err := fs.Mkdir(ctx, user, dir, "d", &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o777})
	if err != nil {
		t.Fatal(err)
	}
	def := []fsadapters.ACLEntry{
		{Tag: fsadapters.ACLUserObj, Perm: 7},
		{Tag: fsadapters.ACLUser, Perm: 7, ID: 2000},
		{Tag: fsadapters.ACLGroupObj, Perm: 5},
		{Tag: fsadapters.ACLMask, Perm: 5},
		{Tag: fsadapters.ACLOther, Perm: 0},
	}
	if err := fs.SetACL(ctx, user, d, &fsadapters.ACL{Access: fsadapters.MinimalACL(0o777), Default: def}); err != nil {
		t.Fatal(err)
	}
	if got, err := fs.GetACL(ctx, user, d); err != nil || !slices.Equal(got.Default, def) {
		t.Fatalf("GetACL(dir) = %+v, %v", got, err)
	}
	// 0666 limited by the default (mask r-x, other ---): 0640, not 0666.
	fh := mustCreate(t, fs, d, "f", user, 0o666)
	a, _ := fs.GetAttr(ctx, fh)
	if a.Mode != 0o640 {
		t.Errorf("inherited mode = %o, want 640", a.Mode)
	}
	acl, err := fs.GetACL(ctx, user, fh)
	if err != nil || !slices.Contains(acl.Access, fsadapters.ACLEntry{Tag: fsadapters.ACLUser, Perm: 7, ID: 2000}) ||
		!slices.Contains(acl.Access, fsadapters.ACLEntry{Tag: fsadapters.ACLMask, Perm: 4}) {
		t.Errorf("inherited ACL = %+v, %v", acl, err)
	}
	if err := openErr(fs, other2000, fh, fsadapters.OpenRead); err != nil {
		t.Errorf("inherited named user read: %v", err)
	}
	if err := openErr(fs, other2000, fh, fsadapters.OpenWrite); !errors.Is(err, unix.EACCES) {
		t.Errorf("inherited named user write (mask r--): %v, want EACCES", err)
	}
	if err := openErr(fs, other3000, fh, fsadapters.OpenRead); !errors.Is(err, unix.EACCES) {
		t.Errorf("other read (other ---): %v, want EACCES", err)
	}
	// EXCLUSIVE creates inherit the same way.
	xfh, _, _, err := fs.Create(ctx, user, d, "x", &fsadapters.CreateReq{Mode: fsadapters.CreateExclusive,
		Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o666}})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := fs.GetAttr(ctx, xfh); a.Mode != 0o640 {
		t.Errorf("exclusive inherited mode = %o, want 640", a.Mode)
	}
	// Removing the default ACL.
	if err := fs.SetACL(ctx, user, d, &fsadapters.ACL{Access: fsadapters.MinimalACL(0o777)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := fs.GetACL(ctx, user, d); got.Default != nil {
		t.Errorf("default after removal: %+v", got.Default)
	}
}

func TestACLNamedUserDirSearch(t *testing.T) {
	fs, dir := aclFS(t)
	d, _, err := fs.Mkdir(ctx, user, dir, "d", &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o700})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, fs, d, "f", user, 0o644)
	if _, _, err := fs.Lookup(ctx, other2000, d, "f"); !errors.Is(err, unix.EACCES) {
		t.Fatalf("lookup before ACL: %v", err)
	}
	if err := fs.SetACL(ctx, user, d, &fsadapters.ACL{Access: []fsadapters.ACLEntry{
		{Tag: fsadapters.ACLUserObj, Perm: 7}, {Tag: fsadapters.ACLUser, Perm: 5, ID: 2000},
		{Tag: fsadapters.ACLGroupObj, Perm: 0}, {Tag: fsadapters.ACLMask, Perm: 5}, {Tag: fsadapters.ACLOther, Perm: 0}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fs.Lookup(ctx, other2000, d, "f"); err != nil {
		t.Errorf("lookup by named user: %v", err)
	}
	if _, _, err := fs.ReadDir(ctx, other2000, d, 0, fsadapters.CookieVerf{}, func(*fsadapters.DirEntry) bool { return true }); err != nil {
		t.Errorf("readdir by named user: %v", err)
	}
	if _, _, err := fs.Lookup(ctx, other3000, d, "f"); !errors.Is(err, unix.EACCES) {
		t.Errorf("lookup by other: %v", err)
	}
}

// The owner and root never cause an ACL read; a non-owner reads once and
// then hits the cache until the file changes.
func TestACLCost(t *testing.T) {
	fs, dir := aclFS(t)
	fh := mustCreate(t, fs, dir, "f", user, 0o644)
	start := aclReads.Load()
	for i := 0; i < 3; i++ {
		if err := openErr(fs, user, fh, fsadapters.OpenRead); err != nil {
			t.Fatal(err)
		}
		if err := openErr(fs, root, fh, fsadapters.OpenRead|fsadapters.OpenWrite); err != nil {
			t.Fatal(err)
		}
		if _, _, err := fs.Lookup(ctx, root, dir, "f"); err != nil {
			t.Fatal(err)
		}
	}
	if n := aclReads.Load() - start; n != 0 {
		t.Errorf("owner/root path read the ACL %d times", n)
	}
	for i := 0; i < 3; i++ {
		if err := openErr(fs, other2000, fh, fsadapters.OpenRead); err != nil {
			t.Fatal(err)
		}
	}
	if n := aclReads.Load() - start; n != 1 {
		t.Errorf("non-owner opens read the ACL %d times, want 1 (cached)", n)
	}
}
