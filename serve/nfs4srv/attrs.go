package nfs4srv

import (
	"bytes"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// supportedAttrs is what GETATTR/READDIR answer (RFC 7530 §5: every
// REQUIRED attribute, plus the RECOMMENDED ones a POSIX backend has);
// exports whose backend stores ACLs add acl (supportedIn, acl.go).
var supportedAttrs = func() nfs4.Bitmap {
	var b nfs4.Bitmap
	for _, n := range []int{
		nfs4.AttrSupportedAttrs, nfs4.AttrType, nfs4.AttrFHExpireType, nfs4.AttrChange,
		nfs4.AttrSize, nfs4.AttrLinkSupport, nfs4.AttrSymlinkSupport, nfs4.AttrNamedAttr,
		nfs4.AttrFSID, nfs4.AttrUniqueHandles, nfs4.AttrLeaseTime, nfs4.AttrRdAttrError,
		nfs4.AttrACLSupport, nfs4.AttrCanSetTime, nfs4.AttrCaseInsensitive,
		nfs4.AttrCasePreserving, nfs4.AttrChownRestricted, nfs4.AttrFileHandle,
		nfs4.AttrFileID, nfs4.AttrFilesAvail, nfs4.AttrFilesFree, nfs4.AttrFilesTotal,
		nfs4.AttrHomogeneous, nfs4.AttrMaxFileSize, nfs4.AttrMaxLink, nfs4.AttrMaxName,
		nfs4.AttrMaxRead, nfs4.AttrMaxWrite, nfs4.AttrMode, nfs4.AttrNoTrunc,
		nfs4.AttrNumLinks, nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrRawDev,
		nfs4.AttrSpaceAvail, nfs4.AttrSpaceFree, nfs4.AttrSpaceTotal, nfs4.AttrSpaceUsed,
		nfs4.AttrTimeAccess, nfs4.AttrTimeAccessSet, nfs4.AttrTimeCreate,
		nfs4.AttrTimeDelta, nfs4.AttrTimeMetadata, nfs4.AttrTimeModify,
		nfs4.AttrTimeModifySet, nfs4.AttrMountedOnFileID,
	} {
		b.Set(n)
	}
	return b
}()

// supportedAttrs41 adds the minor-version-1 attributes.
var supportedAttrs41 = func() nfs4.Bitmap {
	b := append(nfs4.Bitmap(nil), supportedAttrs...)
	b.Set(nfs4.AttrSuppAttrExclCreat)
	b.Set(nfs4.AttrFSLayoutTypes)
	return b
}()

// supportedAttrs42 adds xattr_support (RFC 8276 §8.2), a minor-version-2
// attribute: TRUE where the backend implements fsadapters.Xattrer.
var supportedAttrs42 = func() nfs4.Bitmap {
	b := append(nfs4.Bitmap(nil), supportedAttrs41...)
	b.Set(nfs4.AttrXattrSupport)
	return b
}()

// exclCreatAttrs may be sent with EXCLUSIVE4_1 creates (RFC 8881 §5.8.1.14):
// every settable attribute except the times, which carry the verifier on
// servers that store it there (we do not, but clients expect the rule).
var exclCreatAttrs = func() nfs4.Bitmap {
	var b nfs4.Bitmap
	for _, n := range []int{nfs4.AttrSize, nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrOwnerGroup} {
		b.Set(n)
	}
	return b
}()

// supported returns the supported_attrs bitmap for this compound's minor
// version.
func (c *compound) supported() nfs4.Bitmap {
	if c.minor >= 2 {
		return supportedAttrs42
	}
	if c.minor >= 1 {
		return supportedAttrs41
	}
	return supportedAttrs
}

func nfsTime(t time.Time) nfs4.Time {
	if t.IsZero() {
		return nfs4.Time{}
	}
	return nfs4.Time{Seconds: t.Unix(), NSeconds: uint32(t.Nanosecond())}
}

// fillAttrs sets a from the backend attributes of the object whose wire
// handle is fh in export ex. Filesystem-wide values come from StatFS only
// when want asks for one of them.
func (c *compound) fillAttrs(a *nfs4.Attrs, ex int, fh []byte, at *fsadapters.Attr, want nfs4.Bitmap) {
	e := c.table().get(ex)
	caps := &e.caps
	// mounted_on_fileid of an export root is the fileid of its pseudo
	// directory (RFC 7530 §5.8.2.19, RFC 8881 §5.8.2.23).
	mountedOn := at.FileID
	if e.mount != nil && bytes.Equal(fh[fhHeaderSize:], e.rootH) {
		mountedOn = e.mount.fileid
	}
	_, hasACL := fsadapters.ACLerOf(e.fs)
	supported := c.supported()
	if hasACL {
		supported = c.supportedIn(ex)
	}
	*a = nfs4.Attrs{
		Supported:       supported,
		Type:            uint32(at.Type),
		FHExpireType:    nfs4.FHPersistent,
		Change:          at.Change,
		Size:            at.Size,
		LinkSupport:     !caps.NoHardLinks,
		SymlinkSupport:  !caps.NoSymlinks,
		FSID:            nfs4.FSID{Major: caps.FSIDMajor, Minor: caps.FSIDMinor},
		UniqueHandles:   true,
		LeaseTime:       uint32(c.s.cfg.LeaseTime / time.Second),
		CanSetTime:      !caps.ReadOnly,
		CaseInsensitive: caps.CaseInsensitive,
		CasePreserving:  true,
		ChownRestricted: true,
		FileHandle:      fh,
		FileID:          at.FileID,
		Homogeneous:     true,
		MaxFileSize:     1<<63 - 1,
		MaxLink:         65000,
		MaxName:         255,
		MaxRead:         uint64(c.s.cfg.MaxIO),
		MaxWrite:        uint64(c.s.cfg.MaxIO),
		Mode:            at.Mode & 0o7777,
		NoTrunc:         true,
		NumLinks:        at.Nlink,
		UID:             at.UID,
		GID:             at.GID,
		RawDev:          nfs4.SpecData{SpecData1: at.RdevMajor, SpecData2: at.RdevMinor},
		SpaceUsed:       at.SpaceUsed,
		TimeAccess:      nfsTime(at.Atime),
		TimeCreate:      nfsTime(at.Btime),
		TimeDelta:       nfs4.Time{NSeconds: uint32(caps.TimeDelta.Nanoseconds())},
		TimeMetadata:    nfsTime(at.Ctime),
		TimeModify:      nfsTime(at.Mtime),
		MountedOnFileID: mountedOn,
	}
	if c.minor >= 1 {
		a.SuppAttrExclCreat = exclCreatAttrs
	}
	if hasACL {
		a.ACLSupport = aclSupport
		// The ACL costs a backend call: only when asked for. If it cannot
		// be read the reply leaves acl out rather than send a wrong one.
		// READDIR passes a nil want for its entries when it also asks
		// for filesystem-wide values (ops_dir.go): acl is then left out.
		if want == nil || want.Has(nfs4.AttrACL) && !c.getACLAttr(a, ex, fsadapters.FileHandle(fh[fhHeaderSize:]), at) {
			a.Supported = c.supported()
		}
	}
	if c.minor >= 2 {
		_, a.XattrSupport = e.fs.(fsadapters.Xattrer)
	}
	if want.Has(nfs4.AttrFilesAvail) || want.Has(nfs4.AttrFilesFree) || want.Has(nfs4.AttrFilesTotal) ||
		want.Has(nfs4.AttrSpaceAvail) || want.Has(nfs4.AttrSpaceFree) || want.Has(nfs4.AttrSpaceTotal) {
		if sf, err := e.fs.StatFS(c.ctx, fsadapters.FileHandle(fh[fhHeaderSize:])); err == nil {
			a.FilesAvail, a.FilesFree, a.FilesTotal = sf.AvailFiles, sf.FreeFiles, sf.TotalFiles
			a.SpaceAvail, a.SpaceFree, a.SpaceTotal = sf.AvailBytes, sf.FreeBytes, sf.TotalBytes
		}
	}
}
