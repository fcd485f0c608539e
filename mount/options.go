package mount

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// Options are the mount settings (the -o options of mount_remote).
type Options struct {
	AttrTimeout  time.Duration // kernel attribute cache; default 1 s (attr_timeout=)
	EntryTimeout time.Duration // kernel name cache; default 1 s (entry_timeout=)
	ReadOnly     bool          // ro
	AllowOther   bool          // allow_other
	FsName       string        // fsname= (shown as the source); default HOST:PORT/path
	Subtype      string        // subtype= ("fuse.<subtype>"); default mount_remote
	Debug        bool          // log every FUSE request
	Machine      string        // AUTH_SYS machine name; default the host name
	// UID/GID, when SetUID/SetGID, replace every file's owner/group as
	// shown to programs (uid=, gid=, as sshfs without idmap); requests
	// still go with the caller's own identity.
	UID, GID       uint32
	SetUID, SetGID bool
	// DefaultPermissions lets the kernel check permissions from the
	// attributes (default_permissions) before asking the server.
	DefaultPermissions bool
	// ConnectTimeout bounds connecting and setting up the session
	// (connect_timeout=SEC); default 15 s.
	ConnectTimeout time.Duration
	// MountFlags are MS_* flags from options such as noatime, sync,
	// dirsync (flagOpts keeps their names for fusermount3).
	MountFlags uintptr
	flagOpts   []string
	// Extra are other -o options passed to the kernel as they are.
	Extra []string
	// NoDeleg: do not ask for delegations (nodeleg; see deleg.go).
	NoDeleg bool
	// NoWriteBehind: every write(2) waits for the server's answer to its
	// WRITE (nowritebehind; see writebehind.go).
	NoWriteBehind bool
	// GatherDelay is how long small contiguous writes wait to be
	// gathered into one WRITE when nothing waits for them (writebehind.go;
	// 0: gatherDelay). Not a mount option: tests set it.
	GatherDelay time.Duration
	// DelegWatermark: past this many delegations held, the last close
	// of a file returns its delegation with the CLOSE (deleg.go; 0:
	// delegWatermark). Not a mount option: tests set it.
	DelegWatermark int
	// Writeback: the kernel's writeback cache (writeback): write(2) fills
	// the page cache and the kernel sends WRITEs later, merged and several
	// at a time, and at the latest when the file is closed (close-to-open
	// still holds) or fsync'd. Off by default: data written but not yet
	// closed or synced is not visible to other clients for up to the
	// kernel's dirty expiry (as with the Linux NFS client), and a file open
	// for writing is also opened for reading (the kernel reads partial
	// pages), which a write-only file's permissions refuse.
	Writeback bool
	// TLS: RPC-with-TLS, RFC 9289 (tls, mtls, cert=, key=, ca=,
	// xprtsec=none|tls|mtls); see ConnectTLS.
	TLS rpcclient.TLSOptions
}

// fstabOnly are options meant for mount(8), fstab and helpers, not for
// the kernel: accepted and ignored.
var fstabOnly = map[string]bool{
	"defaults": true, "_netdev": true, "noauto": true, "auto": true, "user": true,
	"nouser": true, "users": true, "owner": true, "group": true, "nofail": true,
	"comment": true, "nobootwait": true,
}

// vfsFlags are the generic mount(8) options that are mount(2) flags, not
// mount data: the kernel rejects some of them (noatime…) as data.
var vfsFlags = map[string]struct {
	flag uintptr
	set  bool
}{
	"sync": {syscall.MS_SYNCHRONOUS, true}, "async": {syscall.MS_SYNCHRONOUS, false},
	"dirsync": {syscall.MS_DIRSYNC, true},
	"noatime": {syscall.MS_NOATIME, true}, "atime": {syscall.MS_NOATIME, false},
	"nodiratime": {syscall.MS_NODIRATIME, true}, "diratime": {syscall.MS_NODIRATIME, false},
	"relatime": {syscall.MS_RELATIME, true}, "norelatime": {syscall.MS_RELATIME, false},
	"strictatime": {syscall.MS_STRICTATIME, true}, "nostrictatime": {syscall.MS_STRICTATIME, false},
	"lazytime": {1 << 25, true}, "nolazytime": {1 << 25, false}, // MS_LAZYTIME
}

// DefaultTimeout is the attribute and entry cache time when none is set,
// like sshfs and the NFS client's acregmin.
const DefaultTimeout = time.Second

// machine is the AUTH_SYS machine name (Mount fills it in once, before
// any request, so it is only read concurrently).
func (o *Options) machine() string { return o.Machine }

// attrTimeout and entryTimeouts finish every attribute reply: the cache
// times and the uid=/gid= owner override (mapOwner).
func (o *Options) attrTimeout(out *fuse.AttrOut) {
	o.mapOwner(&out.Attr)
	out.SetTimeout(o.AttrTimeout)
}

func (o *Options) entryTimeouts(out *fuse.EntryOut) {
	o.mapOwner(&out.Attr)
	out.SetAttrTimeout(o.AttrTimeout)
	out.SetEntryTimeout(o.EntryTimeout)
}

// mapOwner applies uid= and gid=.
func (o *Options) mapOwner(a *fuse.Attr) {
	if o.SetUID {
		a.Uid = o.UID
	}
	if o.SetGID {
		a.Gid = o.GID
	}
}

// ParseOptions applies a comma-separated -o list to o.
func (o *Options) ParseOptions(list string) error {
	for _, opt := range strings.Split(list, ",") {
		if opt == "" {
			continue
		}
		k, v, hasV := strings.Cut(opt, "=")
		dur := func() (time.Duration, error) {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("option %s: want seconds, got %q", k, v)
			}
			return time.Duration(f * float64(time.Second)), nil
		}
		id := func() (uint32, error) {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return 0, fmt.Errorf("option %s: want a number, got %q", k, v)
			}
			return uint32(n), nil
		}
		if f, ok := vfsFlags[opt]; ok {
			if f.set {
				o.MountFlags |= f.flag
			} else {
				o.MountFlags &^= f.flag
			}
			o.flagOpts = append(o.flagOpts, opt)
			continue
		}
		if fstabOnly[k] || strings.HasPrefix(k, "x-") {
			continue
		}
		if ok, err := o.TLS.ParseOption(k, v); ok {
			if err != nil {
				return err
			}
			continue
		}
		var err error
		switch k {
		case "uid":
			o.UID, err = id()
			o.SetUID = err == nil
		case "gid":
			o.GID, err = id()
			o.SetGID = err == nil
		case "default_permissions":
			o.DefaultPermissions = true
		case "connect_timeout":
			o.ConnectTimeout, err = dur()
		case "attr_timeout":
			o.AttrTimeout, err = dur()
		case "entry_timeout":
			o.EntryTimeout, err = dur()
		case "ro":
			o.ReadOnly = true
		case "rw":
			o.ReadOnly = false
		case "allow_other":
			o.AllowOther = true
		case "fsname":
			o.FsName = v
		case "subtype":
			o.Subtype = v
		case "debug":
			o.Debug = true
		case "nodeleg":
			o.NoDeleg = true
		case "deleg":
			o.NoDeleg = false
		case "nowritebehind":
			o.NoWriteBehind = true
		case "writebehind":
			o.NoWriteBehind = false
		case "writeback":
			o.Writeback = true
		case "nowriteback":
			o.Writeback = false
		default:
			if hasV && v == "" {
				return fmt.Errorf("option %s: empty value", k)
			}
			o.Extra = append(o.Extra, opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Target is a parsed HOST:PORT[/path].
type Target struct {
	Addr string // host:port
	Path string // export path, "" for the root
}

// ParseTarget splits HOST:PORT[/path] ([v6addr]:PORT/path works too). The
// port defaults to 2049.
func ParseTarget(s string) (Target, error) {
	hostport, path := s, ""
	if i := strings.IndexByte(s, '/'); i >= 0 && !strings.HasPrefix(s, "[") || strings.Contains(s, "]/") {
		if j := strings.Index(s, "]/"); j >= 0 {
			i = j + 1
		}
		hostport, path = s[:i], s[i:]
	}
	if hostport == "" {
		return Target{}, fmt.Errorf("%q: want HOST:PORT[/path]", s)
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		hostport = net.JoinHostPort(strings.Trim(hostport, "[]"), "2049")
	}
	return Target{Addr: hostport, Path: strings.Trim(path, "/")}, nil
}

func (t Target) String() string { return t.Addr + "/" + t.Path }

// Connect dials t, sets up an NFSv4.2 (else 4.1) session, resolves the export path,
// negotiates rsize/wsize and starts lease renewal. Errors say which of
// these failed in words a user can act on.
func Connect(ctx context.Context, t Target, machine string) (*nfs4client.Client, []byte, error) {
	return ConnectTLS(ctx, t, machine, nil)
}

// ConnectTLS is Connect with RPC-with-TLS (RFC 9289) when tlsCfg is not
// nil (Options.TLS.Config gives it): the connection, and every one
// re-dialled later, is upgraded to TLS before any NFS call.
func ConnectTLS(ctx context.Context, t Target, machine string, tlsCfg *tls.Config) (*nfs4client.Client, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var c *nfs4client.Client
	var err error
	if tlsCfg != nil {
		c, err = nfs4client.DialTLS(ctx, t.Addr, tlsCfg)
	} else {
		c, err = nfs4client.Dial(ctx, t.Addr)
	}
	if err != nil {
		var oe *net.OpError
		switch {
		case errors.As(err, &oe) && errors.Is(err, syscall.ECONNREFUSED):
			return nil, nil, fmt.Errorf("cannot connect to %s: connection refused (is the server running?)", t.Addr)
		case errors.Is(err, rpcclient.ErrNoTLS):
			return nil, nil, fmt.Errorf("%s does not offer RPC-with-TLS (fs_serv needs --tls-cert and --tls-key)", t.Addr)
		}
		return nil, nil, fmt.Errorf("cannot connect to %s: %w", t.Addr, err)
	}
	if machine != "" {
		c.Cred = rpc.NewAuthSys(rpc.AuthSysParams{MachineName: machine})
	}
	fail := func(err error) (*nfs4client.Client, []byte, error) {
		c.Close()
		return nil, nil, err
	}
	// NULL first: a non-RPC peer, or one without NFSv4, is told apart
	// from a session problem.
	if _, err := c.RPC.Call(ctx, nfs4.Program, nfs4.Version, nfs4.ProcNull, c.Cred, nil); err != nil {
		var ae *rpc.AcceptedError
		switch {
		case errors.As(err, &ae):
			return fail(fmt.Errorf("%s is not an NFSv4 server: %v", t.Addr, err))
		case errors.Is(err, context.DeadlineExceeded):
			return fail(fmt.Errorf("%s did not answer an NFS NULL call (not an NFS server?)", t.Addr))
		default:
			return fail(fmt.Errorf("%s is not an NFSv4 server: no ONC RPC reply (%s)", t.Addr, oneLine(err)))
		}
	}
	if err := SetupSession(ctx, c); err != nil {
		var de *rpc.DeniedError
		if errors.As(err, &de) && de.AuthStat == rpc.AuthTooWeak && tlsCfg == nil {
			return fail(fmt.Errorf("%s serves only over TLS: mount with -o tls (or -o mtls,cert=,key=)", t.Addr))
		}
		return fail(fmt.Errorf("%s: NFSv4.1 session setup failed: %w", t.Addr, err))
	}
	root, err := c.LookupPath(ctx, t.Path)
	if err != nil {
		if errors.Is(err, nfs4.ErrNoEnt) {
			return fail(fmt.Errorf("%s: no such file or directory on the server", t))
		}
		return fail(fmt.Errorf("%s: looking up /%s: %w", t.Addr, t.Path, err))
	}
	a, err := c.GetAttr(ctx, root, nfs4client.BasicAttrs)
	if err != nil {
		return fail(fmt.Errorf("%s: /%s: %w", t.Addr, t.Path, err))
	}
	if a.Type != nfs4.NF4DIR {
		return fail(fmt.Errorf("%s: /%s is not a directory", t.Addr, t.Path))
	}
	lease, err := c.NegotiateIO(ctx, root)
	if err != nil {
		return fail(fmt.Errorf("%s: reading server limits: %w", t.Addr, err))
	}
	c.StartRenewal(lease)
	return c, root, nil
}

// oneLine is err's text with joined errors on one line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// CheckMountpoint gives a clear error for a missing, non-directory or
// already mounted mount point, and for a missing /dev/fuse.
func CheckMountpoint(dir string) error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("/dev/fuse is missing: load the fuse module (modprobe fuse) or run with --device /dev/fuse")
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", dir, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("mount point %s is not a directory", dir)
	}
	if mounted, _ := isMountpoint(dir); mounted {
		return fmt.Errorf("mount point %s is busy: something is already mounted there", dir)
	}
	return nil
}

func isMountpoint(dir string) (bool, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	abs, err := realpath(dir)
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMount(f[4]) == abs {
			return true, nil
		}
	}
	return false, nil
}

func realpath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		p = wd + "/" + p
	}
	return filepath.EvalSymlinks(p)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space…).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Mount mounts fsys at dir and returns the running server; call Wait on
// it, or Unmount.
func Mount(dir string, fsys *FS, source string) (*fuse.Server, error) {
	fsys.enableDelegations()    // unless nodeleg (deleg.go)
	fsys.enableDirDelegations() // (dirdeleg.go)
	o := &fsys.Opts
	if o.AttrTimeout == 0 && o.EntryTimeout == 0 {
		o.AttrTimeout, o.EntryTimeout = DefaultTimeout, DefaultTimeout
	}
	if o.FsName == "" {
		o.FsName = source
	}
	if o.Subtype == "" {
		o.Subtype = "mount_remote"
	}
	if o.Machine == "" {
		o.Machine, _ = os.Hostname()
	}
	direct := os.Geteuid() == 0
	mo := fuse.MountOptions{
		AllowOther:    o.AllowOther,
		FsName:        o.FsName,
		Name:          o.Subtype,
		MaxWrite:      fuse.MAX_KERNEL_WRITE,
		MaxReadAhead:  fuse.MAX_KERNEL_WRITE,
		Debug:         o.Debug,
		Options:       append([]string(nil), o.Extra...),
		DisableXAttrs: false, // user.* xattrs go to the server (xattr.go)
		// fcntl/flock locks go to the server (lock.go).
		EnableLocks: true,
		// FUSE_WRITEBACK_CACHE on request (the fs API has no option).
		ExtraCapabilities: writebackCap(o.Writeback),
		// Read data never comes from a local descriptor, so go-fuse's
		// splice path cannot apply; for 1 MiB replies its attempt (a pipe
		// grown past the 1 MiB limit) failed and logged on every read.
		DisableSplice: true,
		// Mount with mount(2) when we are root (strict: its error, e.g.
		// EINVAL for an option the kernel does not know, is the one to
		// report); fusermount3 otherwise.
		DirectMountStrict: direct,
	}
	if o.DefaultPermissions {
		mo.Options = append(mo.Options, "default_permissions")
	}
	kernelOpts := mo.Options
	if direct {
		// Flags go to mount(2) as flags (go-fuse still applies
		// nosuid/nodev/noexec and their opposites from Options).
		mo.DirectMountFlags = syscall.MS_NOSUID | syscall.MS_NODEV | o.MountFlags
		if o.ReadOnly {
			mo.DirectMountFlags |= syscall.MS_RDONLY
		}
	} else {
		mo.Options = withFlagNames(kernelOpts, o)
	}
	at, et := o.AttrTimeout, o.EntryTimeout
	srv, err := mountFS(dir, fsys, &fs.Options{MountOptions: mo, AttrTimeout: &at, EntryTimeout: &et})
	if err != nil && direct && errors.Is(err, syscall.EPERM) {
		// Root without CAP_SYS_ADMIN (a container): fusermount3 may
		// still be allowed to.
		mo.DirectMountStrict, mo.DirectMountFlags = false, 0
		mo.Options = withFlagNames(kernelOpts, o)
		srv, err = mountFS(dir, fsys, &fs.Options{MountOptions: mo, AttrTimeout: &at, EntryTimeout: &et})
	}
	return srv, err
}

func writebackCap(on bool) uint64 {
	if on {
		return fuse.CAP_WRITEBACK_CACHE
	}
	return 0
}

// withFlagNames is opts plus the mount flags by name, for fusermount3.
func withFlagNames(opts []string, o *Options) []string {
	r := append(append([]string(nil), opts...), o.flagOpts...)
	if o.ReadOnly {
		r = append(r, "ro")
	}
	return r
}

// mountFS is fs.Mount with the bridge wrapped by lockFlushFS, which needs
// the lock owner of FUSE_FLUSH that the fs API does not pass on.
func mountFS(dir string, fsys *FS, opts *fs.Options) (*fuse.Server, error) {
	raw := &lockFlushFS{RawFileSystem: fs.NewNodeFS(NewRoot(fsys), opts), fsys: fsys}
	srv, err := fuse.NewServer(raw, dir, &opts.MountOptions)
	if err != nil {
		return nil, err
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		return nil, err
	}
	setReadahead(dir, readaheadKB)
	return srv, nil
}

// readaheadKB is the kernel read-ahead window for the mount. The kernel
// caps a FUSE mount's window at the 128 KiB default whatever max_readahead
// the daemon offers, so a sequential read costs one 128 KiB READ round trip
// per 128 KiB; with 1 MiB the reads match rsize (docs/bench.md: cold
// sequential reads 1.4–1.7× faster).
const readaheadKB = 1024

// setReadahead raises the read-ahead of the mount at dir through its
// backing device info (/sys/class/bdi/MAJOR:MINOR/read_ahead_kb). Best
// effort: it needs root, and a failure only costs speed.
func setReadahead(dir string, kb int) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	os.WriteFile(p, []byte(strconv.Itoa(kb)), 0)
}
