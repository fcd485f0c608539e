package nfs4srv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/rpcgss"
)

// Exports and access policy (issue 6). Several exports are joined by a
// read-only pseudo filesystem (RFC 7530 §7, RFC 8881 §7): PUTROOTFH gives
// its root, LOOKUP walks its directories into the exports, and the fsid
// changes at each export's root. A single export at "/" is served without
// a pseudo filesystem (the historical `fs_serv DIR`).
//
// Every wire handle names its export by a 32-bit id derived from the
// export's pseudo path and source (fh.go), so a reload that keeps an export
// keeps its handles valid, and one that removes it makes them
// NFS4ERR_STALE.

// Squash selects which users an export maps to its anonymous identity
// (exports(5) root_squash / all_squash).
type Squash uint8

const (
	NoSquash   Squash = iota // identities pass unchanged
	RootSquash               // uid 0 and gid 0 become the anonymous ids
	AllSquash                // every user becomes the anonymous identity
)

// ExportConfig describes one export.
type ExportConfig struct {
	// Path is where the export appears in the pseudo filesystem: "/" (then
	// it must be the only export) or an absolute path such as "/data".
	// Exports may not nest: no export's path lies beneath another's.
	Path string
	FS   fsadapters.FS
	// Source names the backend (directory, image, "mem"). With Path it
	// fixes the export id in handles: changing either invalidates them.
	Source string
	// ReadOnly refuses every change with NFS4ERR_ROFS, whatever the
	// backend allows.
	ReadOnly bool
	// Clients are the networks allowed to use the export; empty: any.
	// Others get NFS4ERR_ACCESS and do not see it in the pseudo filesystem.
	Clients []netip.Prefix
	Squash  Squash
	// Anon is the identity of squashed users and of AUTH_NONE requests;
	// nil: 65534/65534 (nobody).
	Anon *fsadapters.Cred
	// Sec lists the RPC flavours allowed, in SECINFO order; others get
	// NFS4ERR_WRONGSEC. AUTH_SYS, AUTH_NONE and the Kerberos
	// pseudo-flavors rpcgss.Krb5/Krb5i/Krb5p (RPCSEC_GSS with service
	// none/integrity/privacy). nil: AUTH_SYS then AUTH_NONE.
	Sec []rpc.AuthFlavor
}

// pseudoID is the export id of the pseudo filesystem; legacyRootID that of
// an export at "/" without a Source (Config.FS), kept 0 so its handles are
// those of earlier versions' single export.
const (
	pseudoID     = 0xFFFFFFFF
	legacyRootID = 0
	fsidTag      = 0x6673627200000000 // "fsbr": derived fsids
)

// export is one entry of an export table. It is immutable: a reload builds
// new ones.
type export struct {
	id      int
	path    string
	fs      fsadapters.FS
	caps    fsadapters.Caps       // ReadOnly and FSID adjusted for the export
	root    []byte                // wire handle of the export root
	rootH   fsadapters.FileHandle // backend handle of the root
	mount   *pnode                // its directory in the pseudo fs; nil at "/"
	clients []netip.Prefix
	squash  Squash
	anon    fsadapters.Cred
	sec     []nfs4.SecInfo
	flavors []rpc.AuthFlavor
}

// exportTable is an immutable set of exports; the Server swaps whole tables
// (SetExports), and each COMPOUND uses the one current when it started.
type exportTable struct {
	byID map[int]*export
	root *export // the export at "/", or the pseudo filesystem
	list []*export
}

func (t *exportTable) get(id int) *export { return t.byID[id] }

// exportID derives the stable id of an export.
func exportID(p, source string) int {
	if p == "/" && source == "" {
		return legacyRootID
	}
	h := fnv.New32a()
	h.Write([]byte(p))
	h.Write([]byte{0})
	h.Write([]byte(source))
	id := h.Sum32()
	if id == legacyRootID || id == pseudoID {
		id ^= 1
	}
	return int(id)
}

// checkExportPath validates a pseudo path and returns its clean form.
func checkExportPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("export path %q: not absolute", p)
	}
	c := path.Clean(p)
	for _, el := range strings.Split(c, "/")[1:] {
		if c != "/" && (el == "" || len(el) > 255) {
			return "", fmt.Errorf("export path %q: bad component", p)
		}
	}
	return c, nil
}

// buildTable validates list and builds its table.
func buildTable(list []ExportConfig) (*exportTable, error) {
	t := &exportTable{byID: map[int]*export{}}
	paths := map[string]bool{}
	for i := range list {
		ec := &list[i]
		if ec.FS == nil {
			return nil, fmt.Errorf("export %q: no filesystem", ec.Path)
		}
		p, err := checkExportPath(ec.Path)
		if err != nil {
			return nil, err
		}
		if paths[p] {
			return nil, fmt.Errorf("export path %q given twice", p)
		}
		paths[p] = true
		if p == "/" && len(list) > 1 {
			return nil, errors.New("an export at \"/\" must be the only one (others would lie inside it)")
		}
		e := &export{id: exportID(p, ec.Source), path: p, fs: ec.FS, squash: ec.Squash,
			anon: fsadapters.Cred{UID: nobodyID, GID: nobodyID}}
		if _, dup := t.byID[e.id]; dup {
			return nil, fmt.Errorf("export %q: id collides with another export; rename it", p)
		}
		if ec.Anon != nil {
			e.anon = fsadapters.Cred{UID: ec.Anon.UID, GID: ec.Anon.GID}
		}
		for _, pf := range ec.Clients {
			if !pf.IsValid() {
				return nil, fmt.Errorf("export %q: invalid client network", p)
			}
			e.clients = append(e.clients, pf.Masked())
		}
		e.flavors = ec.Sec
		if e.flavors == nil {
			e.flavors = []rpc.AuthFlavor{rpc.AuthSys, rpc.AuthNone}
		}
		if len(e.flavors) == 0 {
			return nil, fmt.Errorf("export %q: no security flavour", p)
		}
		for _, f := range e.flavors {
			if !supportedFlavor(f) { // gss.go
				return nil, fmt.Errorf("export %q: unsupported security flavour %d (sys, none, krb5, krb5i, krb5p are)", p, f)
			}
			e.sec = append(e.sec, secInfoOf(f))
		}
		e.caps = ec.FS.Caps()
		e.caps.ReadOnly = e.caps.ReadOnly || ec.ReadOnly
		if p != "/" {
			// Distinct per export even when two share a backend
			// filesystem: the client sees each root as a mount point
			// (RFC 7530 §7.4 / RFC 8881 §7.4: fsid changes there).
			e.caps.FSIDMajor, e.caps.FSIDMinor = fsidTag|uint64(uint32(e.id)), 0
		}
		e.rootH = ec.FS.Root()
		if len(e.rootH) == 0 || len(e.rootH) > maxBackendHandle {
			return nil, fmt.Errorf("export %q: root handle of %d bytes", p, len(e.rootH))
		}
		e.root = wireFH(e.id, e.rootH)
		t.byID[e.id] = e
		t.list = append(t.list, e)
	}
	for _, e := range t.list {
		for _, o := range t.list {
			if o != e && e.path != "/" && strings.HasPrefix(o.path, e.path+"/") {
				return nil, fmt.Errorf("export %q lies inside export %q: exports may not nest", o.path, e.path)
			}
		}
	}
	if len(t.list) == 1 && t.list[0].path == "/" {
		t.root = t.list[0]
		return t, nil
	}
	pfs := newPseudoFS(t.list)
	pe := &export{id: pseudoID, path: "/", fs: pfs, caps: pfs.Caps(), rootH: pfs.Root(),
		anon:    fsadapters.Cred{UID: nobodyID, GID: nobodyID},
		flavors: pseudoFlavors(t.list)} // gss.go
	for _, f := range pe.flavors {
		pe.sec = append(pe.sec, secInfoOf(f))
	}
	pe.root = wireFH(pseudoID, pe.rootH)
	t.byID[pseudoID] = pe
	t.root = pe
	return t, nil
}

// SetExports replaces the export table. Requests that start afterwards
// see the new one; handles of exports kept (same Path and Source) stay
// valid, those of removed exports become NFS4ERR_STALE. A removed export's
// backend is not closed: open files of clients may still use it (their
// locks are released through it).
func (s *Server) SetExports(list []ExportConfig) error {
	t, err := buildTable(list)
	if err != nil {
		return err
	}
	s.exportsMu.Lock()
	defer s.exportsMu.Unlock()
	if old := s.table.Load(); old != nil {
		for id, e := range old.byID {
			if t.byID[id] == nil && id != pseudoID {
				if s.retired == nil {
					s.retired = map[int]*export{}
				}
				s.retired[id] = e
			}
		}
	}
	for id := range t.byID {
		delete(s.retired, id)
	}
	s.table.Store(t)
	return nil
}

// CheckExports validates list as SetExports would, without applying it.
func CheckExports(list []ExportConfig) error {
	_, err := buildTable(list)
	return err
}

// exportByID returns the export id, current or removed (for open files
// outliving a reload); nil if there never was one.
func (s *Server) exportByID(id int) *export {
	if e := s.table.Load().get(id); e != nil {
		return e
	}
	s.exportsMu.Lock()
	defer s.exportsMu.Unlock()
	return s.retired[id]
}

// policyState is a COMPOUND's view of the export table and of who is
// asking.
type policyState struct {
	tab     *exportTable
	policed bool // set for requests from the RPC layer (Compound)
	peer    netip.Addr
	flavor  rpc.AuthFlavor
	raw     fsadapters.Cred // the RPC identity before squashing
	// unmapped: an RPCSEC_GSS principal with no local user (gss.go);
	// it acts as the export's anonymous identity.
	unmapped bool
}

// peerKey carries the client address in the context handed to the pseudo
// filesystem, which lists only exports the client may use.
type peerKey struct{}

// setPeer records who sent the COMPOUND.
func (c *compound) setPeer(auth *rpc.Auth, conn any) {
	c.pol.policed = true
	c.pol.raw = c.cred
	c.pol.flavor = auth.Flavor
	if ra, ok := conn.(interface{ RemoteAddr() net.Addr }); ok {
		c.pol.peer = addrOf(ra.RemoteAddr())
	}
	if c.table().root.id == pseudoID {
		c.ctx = context.WithValue(c.ctx, peerKey{}, c.pol.peer)
	}
}

func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		return netip.Addr{}
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

// table returns the export table this COMPOUND uses.
func (c *compound) table() *exportTable {
	if c.pol.tab == nil {
		c.pol.tab = c.s.table.Load()
	}
	return c.pol.tab
}

// curExport returns the export of the current filehandle.
func (c *compound) curExport() *export { return c.table().get(c.cur.ex) }

// admits reports whether a client at addr may use the export.
func (e *export) admits(addr netip.Addr) bool {
	if len(e.clients) == 0 {
		return true
	}
	return addr.IsValid() && slices.ContainsFunc(e.clients, func(p netip.Prefix) bool { return p.Contains(addr) })
}

// credFor maps an RPC identity (AUTH_SYS, or a mapped RPCSEC_GSS
// principal) through the export's squash options (exports(5)); AUTH_NONE
// is always the anonymous identity.
func (e *export) credFor(raw fsadapters.Cred, flavor rpc.AuthFlavor) fsadapters.Cred {
	if (flavor != rpc.AuthSys && !rpcgss.IsPseudoFlavor(flavor)) || e.squash == AllSquash {
		return e.anon
	}
	if e.squash != RootSquash || (raw.UID != 0 && raw.GID != 0 && !slices.Contains(raw.Groups, 0)) {
		return raw
	}
	c := raw
	if c.UID == 0 {
		c.UID = e.anon.UID
	}
	if c.GID == 0 {
		c.GID = e.anon.GID
	}
	if slices.Contains(c.Groups, 0) {
		c.Groups = slices.Clone(c.Groups)
		for i, g := range c.Groups {
			if g == 0 {
				c.Groups[i] = e.anon.GID
			}
		}
	}
	return c
}

// secExempt are the ops that may run on a filehandle whose export does not
// accept the request's flavour: they let the client find out which one it
// does (RFC 8881 §2.6.3.1.1; LOOKUP and LOOKUPP check their target
// themselves).
func secExempt(op nfs4.Op) bool {
	switch op {
	case nfs4.OpSecInfo, nfs4.OpSecInfoNoName, nfs4.OpLookup, nfs4.OpLookupP, nfs4.OpSaveFH:
		return true
	}
	return false
}

// applyPolicy runs before every op that uses the current filehandle: a
// client outside the export's networks gets NFS4ERR_ACCESS, a disallowed
// flavour NFS4ERR_WRONGSEC (after PUTFH, RFC 8881 §2.6.3.1.1.2), and the
// op runs as the squashed identity.
func (c *compound) applyPolicy(op nfs4.Op) nfs4.Status {
	if !c.pol.policed {
		return nfs4.OK
	}
	e := c.curExport()
	if e == nil {
		return nfs4.ErrStale
	}
	if !e.admits(c.pol.peer) {
		return nfs4.ErrAccess
	}
	if !secExempt(op) {
		if st := c.secCheck(e); st != nfs4.OK {
			return st
		}
	}
	if c.pol.unmapped {
		c.cred = e.anon
	} else {
		c.cred = e.credFor(c.pol.raw, c.pol.flavor)
	}
	return nfs4.OK
}

// secCheck is NFS4ERR_WRONGSEC unless e accepts the request's flavour.
func (c *compound) secCheck(e *export) nfs4.Status {
	if c.pol.policed && !slices.Contains(e.flavors, c.pol.flavor) {
		return nfs4.ErrWrongSec
	}
	return nfs4.OK
}

// isExportRoot reports whether the current filehandle is the root of its
// export.
func (c *compound) isExportRoot(e *export) bool { return bytes.Equal(c.cur.h, e.rootH) }

// setCur makes (export, backend handle) the current filehandle.
func (c *compound) setCur(e *export, h fsadapters.FileHandle) {
	c.cur = fhRef{wire: wireFH(e.id, h), ex: e.id, h: h}
	c.clearCurSID()
}

// lookupCross is LOOKUP in the pseudo filesystem: a mount point leads to
// the root of its export (RFC 7530 §7.7, RFC 8881 §7.7), which must accept
// the request's flavour.
func (c *compound) lookupCross(name string) nfs4.Status {
	pe := c.curExport()
	h, _, err := pe.fs.Lookup(c.ctx, &c.cred, c.cur.h, name)
	if err != nil {
		return statusOf(err)
	}
	n := pe.fs.(*pseudoFS).node(h)
	if n != nil && n.export != nil {
		e := c.table().get(n.export.id)
		if st := c.secCheck(e); st != nfs4.OK {
			return st
		}
		c.setCur(e, e.rootH)
		return nfs4.OK
	}
	c.setCur(pe, h)
	return nfs4.OK
}

// lookupParentCross is LOOKUPP at an export root below the pseudo root:
// the parent is the pseudo directory holding the mount point. ok is false
// when the current filehandle is not such a root.
func (c *compound) lookupParentCross() (ok bool) {
	e := c.curExport()
	if e.mount == nil || !c.isExportRoot(e) {
		return false
	}
	pe := c.table().root
	c.setCur(pe, e.mount.parent.fh)
	return true
}

// secInfoFor answers SECINFO for the object name in the current directory
// (RFC 7530 §16.31, RFC 8881 §18.29): a pseudo mount point answers its
// export's flavours.
func (c *compound) secInfoFor(name string) ([]nfs4.SecInfo, nfs4.Status) {
	e := c.curExport()
	h, _, err := e.fs.Lookup(c.ctx, &c.cred, c.cur.h, name)
	if err != nil {
		return nil, statusOf(err)
	}
	if pfs, ok := e.fs.(*pseudoFS); ok {
		if n := pfs.node(h); n != nil && n.export != nil {
			return c.table().get(n.export.id).sec, nfs4.OK
		}
	}
	return e.sec, nfs4.OK
}

// secInfoParent answers SECINFO_NO_NAME with style PARENT.
func (c *compound) secInfoParent() ([]nfs4.SecInfo, nfs4.Status) {
	e := c.curExport()
	if e.mount != nil && c.isExportRoot(e) {
		return c.table().root.sec, nfs4.OK
	}
	if _, _, err := e.fs.LookupParent(c.ctx, &c.cred, c.cur.h); err != nil {
		return nil, statusOf(err)
	}
	return e.sec, nfs4.OK
}
