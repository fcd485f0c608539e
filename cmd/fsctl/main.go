// Command fsctl is the userspace NFSv4.1 client as a tool: no mount, no
// root.
//
//	fsctl VERB ARGS                 (remote paths are HOST:PORT/path)
//	fsctl -c CMD VERB ARGS          (remote paths are /path; CMD's stdin/stdout carry the protocol)
//
// Verbs: ls [-l] PATH, cat PATH, get REMOTE LOCAL, put LOCAL REMOTE,
// stat PATH, mkdir PATH, rm PATH, mv OLD NEW. get and put draw a progress
// bar on stderr for large files when stdout or stderr is a terminal.
//
// RPC-with-TLS (RFC 9289): -tls, or -mtls -cert FILE -key FILE for a
// client certificate, -ca FILE to verify the server (default: the system's
// roots); the same as one -o list: -o tls / -o mtls,cert=,key=,ca=.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

const usage = `usage: fsctl [-c CMD] [-tls|-mtls -cert FILE -key FILE] [-ca FILE] [-o TLSOPTS] VERB ARGS
  ls [-l] REMOTE      list a directory (or one file)
  cat REMOTE          write a file to stdout
  get REMOTE LOCAL    copy a file from the server
  put LOCAL REMOTE    copy a file to the server
  stat REMOTE         show attributes
  mkdir REMOTE        make a directory
  rm REMOTE           remove a file or empty directory
  mv REMOTE REMOTE    rename
REMOTE is HOST:PORT/path, or /path with -c CMD (e.g. -c 'ssh host fs_serv --stdio /data').
-o takes tls, mtls, cert=FILE, key=FILE, ca=FILE, xprtsec=none|tls|mtls.
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fsctl:", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

// remote is a parsed REMOTE argument.
type remote struct {
	addr string // host:port; "" with -c
	path string // slash-separated, no leading slash, "" for the root
}

func (r remote) String() string { return r.addr + "/" + r.path }

func parseRemote(s string, tunnel bool) (remote, error) {
	if tunnel {
		return remote{path: cleanPath(s)}, nil
	}
	hostport, p := s, ""
	if i := strings.IndexByte(s, '/'); i >= 0 {
		if j := strings.Index(s, "]/"); strings.HasPrefix(s, "[") && j >= 0 {
			i = j + 1
		}
		hostport, p = s[:i], s[i:]
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return remote{}, usageError(fmt.Sprintf("%q: want HOST:PORT/path (or use -c CMD)", s))
	}
	return remote{addr: hostport, path: cleanPath(p)}, nil
}

func cleanPath(p string) string {
	return strings.Trim(path.Clean("/"+p), "/")
}

type session struct {
	c    *nfs4client.Client
	desc string // for error messages
}

// connect dials addr (or runs command) and sets up a 4.1 session.
func connect(ctx context.Context, addr, command string, tlsCfg *tls.Config) (*session, error) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var c *nfs4client.Client
	var err error
	desc := addr
	if command != "" {
		desc = "command " + fmt.Sprintf("%q", command)
		c, err = nfs4client.DialCommand(cctx, command)
	} else if tlsCfg != nil {
		c, err = nfs4client.DialTLS(cctx, addr, tlsCfg)
	} else {
		c, err = nfs4client.Dial(cctx, addr)
	}
	if err != nil {
		switch {
		case errors.Is(err, rpcclient.ErrNoTLS):
			return nil, fmt.Errorf("%s does not offer RPC-with-TLS (fs_serv needs --tls-cert and --tls-key)", desc)
		case errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("cannot connect to %s: connection refused (is fs_serv running?)", desc)
		case errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("cannot connect to %s: host unreachable (timed out)", desc)
		}
		return nil, fmt.Errorf("cannot connect to %s: %w", desc, err)
	}
	if err := c.SetupSession(cctx, 1); err != nil {
		c.Close()
		var de *rpc.DeniedError
		if errors.As(err, &de) && de.AuthStat == rpc.AuthTooWeak && tlsCfg == nil {
			return nil, fmt.Errorf("%s serves only over TLS: use -tls (or -mtls -cert FILE -key FILE)", desc)
		}
		if command != "" {
			return nil, fmt.Errorf("%s: no NFSv4.1 session (did the command start fs_serv --stdio?): %w", desc, err)
		}
		return nil, fmt.Errorf("%s: NFSv4.1 session setup failed (not an NFSv4.1 server?): %w", desc, err)
	}
	root, err := c.RootFH(cctx)
	if err == nil {
		_, err = c.NegotiateIO(cctx, root)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", desc, err)
	}
	return &session{c: c, desc: desc}, nil
}

func (s *session) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.c.Shutdown(ctx)
}

// pathErr turns an NFS status into words a user knows.
func pathErr(p string, err error) error {
	var msg string
	switch {
	case errors.Is(err, nfs4.ErrNoEnt):
		msg = "no such file or directory"
	case errors.Is(err, nfs4.ErrNotDir):
		msg = "not a directory"
	case errors.Is(err, nfs4.ErrIsDir):
		msg = "is a directory"
	case errors.Is(err, nfs4.ErrExist):
		msg = "file exists"
	case errors.Is(err, nfs4.ErrNotEmpty):
		msg = "directory not empty"
	case errors.Is(err, nfs4.ErrAccess), errors.Is(err, nfs4.ErrPerm):
		msg = "permission denied"
	default:
		return fmt.Errorf("/%s: %w", p, err)
	}
	return fmt.Errorf("/%s: %s", p, msg)
}

func (s *session) lookup(ctx context.Context, p string) ([]byte, *nfs4.Attrs, error) {
	fh, err := s.c.LookupPath(ctx, p)
	if err != nil {
		return nil, nil, pathErr(p, err)
	}
	a, err := s.c.GetAttr(ctx, fh, nfs4client.FileAttrs)
	if err != nil {
		return nil, nil, pathErr(p, err)
	}
	return fh, a, nil
}

// parent returns the handle of p's directory and p's last name.
func (s *session) parent(ctx context.Context, p string) ([]byte, string, error) {
	if p == "" {
		return nil, "", errors.New("/: not allowed on the root")
	}
	dir, name := path.Split(p)
	dir = strings.Trim(dir, "/")
	fh, a, err := s.lookup(ctx, dir)
	if err != nil {
		return nil, "", err
	}
	if a.Type != nfs4.NF4DIR {
		return nil, "", fmt.Errorf("/%s: not a directory", dir)
	}
	return fh, name, nil
}

func run(args []string) error {
	fl := flag.NewFlagSet("fsctl", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	command := fl.String("c", "", "run CMD and speak NFSv4 over its stdin/stdout")
	var topts rpcclient.TLSOptions
	tlsFlag := func(name, key, what string, isBool bool) {
		set := func(v string) error {
			_, err := topts.ParseOption(key, v)
			return err
		}
		if isBool {
			fl.BoolFunc(name, what, func(string) error { return set("") })
		} else {
			fl.Func(name, what, set)
		}
	}
	tlsFlag("tls", "tls", "use RPC-with-TLS (RFC 9289)", true)
	tlsFlag("mtls", "mtls", "use RPC-with-TLS with a client certificate (-cert, -key)", true)
	tlsFlag("cert", "cert", "client certificate `file` (PEM)", false)
	tlsFlag("key", "key", "client private key `file` (PEM)", false)
	tlsFlag("ca", "ca", "CA certificates `file` to verify the server with (PEM)", false)
	fl.Func("o", "TLS options: tls, mtls, cert=, key=, ca=, xprtsec=", func(list string) error {
		for _, opt := range strings.Split(list, ",") {
			k, v, _ := strings.Cut(opt, "=")
			if ok, err := topts.ParseOption(k, v); !ok {
				return fmt.Errorf("-o %s: unknown option", opt)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err := fl.Parse(args); err != nil {
		return usageError(err.Error())
	}
	args = fl.Args()
	if len(args) == 0 {
		return usageError("no verb")
	}
	verb, args := args[0], args[1:]
	long := false
	if verb == "ls" && len(args) > 0 && args[0] == "-l" {
		long, args = true, args[1:]
	}
	tunnel := *command != ""
	// Which arguments are remote, by verb.
	var nargs int
	var remoteIdx []int
	switch verb {
	case "ls", "cat", "stat", "mkdir", "rm":
		nargs, remoteIdx = 1, []int{0}
	case "get":
		nargs, remoteIdx = 2, []int{0}
	case "put":
		nargs, remoteIdx = 2, []int{1}
	case "mv":
		nargs, remoteIdx = 2, []int{0, 1}
	default:
		return usageError(fmt.Sprintf("unknown verb %q", verb))
	}
	if len(args) != nargs {
		return usageError(fmt.Sprintf("%s takes %d argument(s)", verb, nargs))
	}
	rem := make([]remote, len(args))
	for _, i := range remoteIdx {
		r, err := parseRemote(args[i], tunnel)
		if err != nil {
			return err
		}
		rem[i] = r
	}
	addr := rem[remoteIdx[0]].addr
	if verb == "mv" && rem[0].addr != rem[1].addr {
		return usageError("mv: both paths must be on the same server")
	}

	var tlsCfg *tls.Config
	if topts.Enabled {
		if tunnel {
			return usageError("TLS does not apply to -c: the command's stream is the transport")
		}
		host, _, _ := net.SplitHostPort(addr)
		var err error
		if tlsCfg, err = topts.Config(host); err != nil {
			return err
		}
	}
	ctx := context.Background()
	s, err := connect(ctx, addr, *command, tlsCfg)
	if err != nil {
		return err
	}
	defer s.close()
	switch verb {
	case "ls":
		return s.ls(ctx, rem[0].path, long, os.Stdout)
	case "cat":
		return s.get(ctx, rem[0].path, os.Stdout, false)
	case "stat":
		return s.stat(ctx, rem[0].path, os.Stdout)
	case "mkdir":
		dir, name, err := s.parent(ctx, rem[0].path)
		if err != nil {
			return err
		}
		if _, err := s.c.Mkdir(ctx, dir, name); err != nil {
			return pathErr(rem[0].path, err)
		}
		return nil
	case "rm":
		dir, name, err := s.parent(ctx, rem[0].path)
		if err != nil {
			return err
		}
		if err := s.c.Remove(ctx, dir, name); err != nil {
			return pathErr(rem[0].path, err)
		}
		return nil
	case "mv":
		sd, sn, err := s.parent(ctx, rem[0].path)
		if err != nil {
			return err
		}
		dd, dn, err := s.parent(ctx, rem[1].path)
		if err != nil {
			return err
		}
		if err := s.c.Rename(ctx, sd, sn, dd, dn); err != nil {
			return pathErr(rem[0].path, err)
		}
		return nil
	case "get":
		return s.getFile(ctx, rem[0].path, args[1])
	case "put":
		return s.putFile(ctx, args[0], rem[1].path)
	}
	return nil
}

// ---------------------------------------------------------------- ls, stat

type entry struct {
	name string
	a    *nfs4.Attrs
}

func (s *session) ls(ctx context.Context, p string, long bool, w io.Writer) error {
	fh, a, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	var ents []entry
	if a.Type != nfs4.NF4DIR {
		ents = []entry{{path.Base("/" + p), a}}
	} else {
		var cookie uint64
		var verf nfs4.Verifier
		for {
			res, err := s.c.ReadDirPage(ctx, fh, cookie, verf, nfs4client.FileAttrs)
			if err != nil {
				return pathErr(p, err)
			}
			for i := range res.Entries {
				e := &res.Entries[i]
				ea, err := nfs4.DecodeAttrs(&e.Attrs)
				if err != nil {
					return fmt.Errorf("/%s: bad entry %q: %w", p, e.Name, err)
				}
				ents = append(ents, entry{string(e.Name), ea})
			}
			if res.EOF || len(res.Entries) == 0 {
				break
			}
			cookie, verf = res.Entries[len(res.Entries)-1].Cookie, res.CookieVerf
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	for _, e := range ents {
		if !long {
			fmt.Fprintln(w, e.name)
			continue
		}
		mt := time.Unix(e.a.TimeModify.Seconds, int64(e.a.TimeModify.NSeconds))
		fmt.Fprintf(w, "%s %3d %-8s %-8s %10d %s %s\n", modeString(e.a), e.a.NumLinks,
			string(e.a.Owner), string(e.a.OwnerGroup), e.a.Size, mt.Format("2006-01-02 15:04"), e.name)
	}
	return nil
}

var typeNames = map[uint32]string{nfs4.NF4REG: "regular file", nfs4.NF4DIR: "directory",
	nfs4.NF4LNK: "symbolic link", nfs4.NF4BLK: "block device", nfs4.NF4CHR: "character device",
	nfs4.NF4SOCK: "socket", nfs4.NF4FIFO: "fifo"}

var typeChars = map[uint32]byte{nfs4.NF4REG: '-', nfs4.NF4DIR: 'd', nfs4.NF4LNK: 'l',
	nfs4.NF4BLK: 'b', nfs4.NF4CHR: 'c', nfs4.NF4SOCK: 's', nfs4.NF4FIFO: 'p'}

// modeString renders type and mode like ls -l.
func modeString(a *nfs4.Attrs) string {
	b := []byte("?rwxrwxrwx")
	if c, ok := typeChars[a.Type]; ok {
		b[0] = c
	}
	for i := 0; i < 9; i++ {
		if a.Mode&(1<<(8-i)) == 0 {
			b[1+i] = '-'
		}
	}
	set := func(bit uint32, i int, on, off byte) {
		if a.Mode&bit != 0 {
			if b[i] == 'x' {
				b[i] = on
			} else {
				b[i] = off
			}
		}
	}
	set(0o4000, 3, 's', 'S')
	set(0o2000, 6, 's', 'S')
	set(0o1000, 9, 't', 'T')
	return string(b)
}

func (s *session) stat(ctx context.Context, p string, w io.Writer) error {
	_, a, err := s.lookup(ctx, p)
	if err != nil {
		return err
	}
	t := typeNames[a.Type]
	if t == "" {
		t = fmt.Sprintf("type %d", a.Type)
	}
	ts := func(x nfs4.Time) string {
		return time.Unix(x.Seconds, int64(x.NSeconds)).Format("2006-01-02 15:04:05.000000000 -0700")
	}
	fmt.Fprintf(w, "  File: /%s\n", p)
	fmt.Fprintf(w, "  Type: %s\n", t)
	fmt.Fprintf(w, "  Size: %d\n", a.Size)
	fmt.Fprintf(w, "  Mode: %04o (%s)\n", a.Mode, modeString(a))
	fmt.Fprintf(w, " Links: %d\n", a.NumLinks)
	fmt.Fprintf(w, " Owner: %s\n", a.Owner)
	fmt.Fprintf(w, " Group: %s\n", a.OwnerGroup)
	fmt.Fprintf(w, "FileID: %d\n", a.FileID)
	fmt.Fprintf(w, "Access: %s\n", ts(a.TimeAccess))
	fmt.Fprintf(w, "Modify: %s\n", ts(a.TimeModify))
	fmt.Fprintf(w, "Change: %s\n", ts(a.TimeMetadata))
	return nil
}

// ---------------------------------------------------------------- get, put

// get copies remote p to w, with a progress bar if asked and useful.
func (s *session) get(ctx context.Context, p string, w io.Writer, progress bool) error {
	dir, name, err := s.parent(ctx, p)
	if err != nil {
		return err
	}
	f, err := s.c.Open(ctx, dir, name, nfs4.ShareAccessRead)
	if err != nil {
		return pathErr(p, err)
	}
	defer s.c.CloseFile(ctx, f)
	if f.Attrs.Type == nfs4.NF4DIR {
		return fmt.Errorf("/%s: is a directory", p)
	}
	bar := newBar(progress, "/"+p, int64(f.Attrs.Size))
	defer bar.finish()
	rs := s.c.RSize
	if rs == 0 {
		rs = 64 << 10
	}
	var off uint64
	for {
		d, eof, err := s.c.Read(ctx, f.FH, f.StateID, off, rs)
		if err != nil {
			return pathErr(p, err)
		}
		if _, err := w.Write(d); err != nil {
			return err
		}
		off += uint64(len(d))
		bar.set(int64(off))
		if eof || len(d) == 0 {
			return nil
		}
	}
}

func (s *session) getFile(ctx context.Context, p, local string) error {
	if st, err := os.Stat(local); err == nil && st.IsDir() {
		local = filepath.Join(local, path.Base("/"+p))
	}
	out, err := os.Create(local)
	if err != nil {
		return err
	}
	if err := s.get(ctx, p, out, true); err != nil {
		out.Close()
		os.Remove(local)
		return err
	}
	return out.Close()
}

func (s *session) putFile(ctx context.Context, local, p string) error {
	in, err := os.Open(local)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s: is a directory", local)
	}
	// PUT into an existing directory keeps the local name.
	if fh, err := s.c.LookupPath(ctx, p); err == nil {
		if a, err := s.c.GetAttr(ctx, fh, nil); err == nil && a.Type == nfs4.NF4DIR {
			p = strings.TrimPrefix(path.Join(p, filepath.Base(local)), "/")
		}
	}
	dir, name, err := s.parent(ctx, p)
	if err != nil {
		return err
	}
	// Size 0 in the create attributes truncates an existing file
	// (UNCHECKED4, RFC 8881 §18.16.3).
	ca := &nfs4.Attrs{Mode: uint32(st.Mode().Perm()), Size: 0}
	ca.Present.Set(nfs4.AttrMode)
	ca.Present.Set(nfs4.AttrSize)
	f, err := s.c.Create(ctx, dir, name, nfs4client.CreateHow{Mode: nfs4.Unchecked4, Attrs: ca,
		Access: nfs4.ShareAccessWrite})
	if err != nil {
		return pathErr(p, err)
	}
	bar := newBar(true, "/"+p, st.Size())
	defer bar.finish()
	ws := int(s.c.WSize)
	if ws == 0 {
		ws = 64 << 10
	}
	buf := make([]byte, ws)
	var off uint64
	committed := uint32(nfs4.FileSync4)
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			c, _, err := s.c.WriteAll(ctx, f.FH, f.StateID, off, buf[:n], nfs4.Unstable4)
			if err != nil {
				s.c.CloseFile(ctx, f)
				return pathErr(p, err)
			}
			committed = min(committed, c)
			off += uint64(n)
			bar.set(int64(off))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			s.c.CloseFile(ctx, f)
			return rerr
		}
	}
	// UNSTABLE writes reach stable storage only with COMMIT (RFC 8881
	// §18.3); without it a server restart could lose them.
	if committed != nfs4.FileSync4 {
		if _, err := s.c.Commit(ctx, f.FH, 0, 0); err != nil {
			s.c.CloseFile(ctx, f)
			return pathErr(p, err)
		}
	}
	if err := s.c.CloseFile(ctx, f); err != nil {
		return pathErr(p, err)
	}
	return nil
}
