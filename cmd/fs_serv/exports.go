package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcgss"
	"github.com/fsbridge/fsbridge/serve/state"
)

// Exports (docs/exports.md): one from the command line (DIR, IMAGE or
// --mem, options with -o), or several from --config FILE and --export
// flags, re-read on SIGHUP.

type exportFlags struct {
	config     *string
	opts       *string
	rootSquash *bool
	exports    multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func addExportFlags(fl *flag.FlagSet) *exportFlags {
	ef := &exportFlags{
		config: fl.String("config", "", "read exports from `FILE` (docs/exports.md; re-read on SIGHUP)"),
		opts: fl.String("o", "", "export `OPTIONS` of DIR/IMAGE/--mem, comma-separated as in a config file\n"+
			"(ro, root_squash, all_squash, anonuid=N, anongid=N, sec=sys:none:krb5:krb5i:krb5p, client=CIDR;\n"+
			"default rw,no_root_squash,sec=sys:none)"),
		rootSquash: fl.Bool("root-squash", false, "map uid/gid 0 of DIR/IMAGE/--mem clients to anonuid/anongid (same as -o root_squash)"),
	}
	fl.Var(&ef.exports, "export", "add an export `PSEUDO=SOURCE[,OPTIONS]` (repeatable; SOURCE: a directory, an image or \"mem\")")
	return ef
}

// multi reports whether exports come from --config/--export rather than
// the positional argument.
func (ef *exportFlags) multi() bool { return *ef.config != "" || len(ef.exports) > 0 }

// exportLoader builds export lists and keeps their backends open: a
// backend stays for the life of the process so that a reload keeping an
// export, or bringing it back, reuses it (and its handles stay valid).
type exportLoader struct {
	flags    *exportFlags
	stateDir string // "": none; handle keys then fall back (handleKey)
	log      *slog.Logger
	backends map[string]fsadapters.FS
}

func newExportLoader(ef *exportFlags, stateDir string, log *slog.Logger) *exportLoader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &exportLoader{flags: ef, stateDir: stateDir, log: log, backends: map[string]fsadapters.FS{}}
}

// close closes every backend opened.
func (l *exportLoader) close() {
	for _, fs := range l.backends {
		if c, ok := fs.(io.Closer); ok {
			c.Close()
		}
	}
}

// single returns the export list for the positional DIR/IMAGE/--mem: one
// export at "/" that keeps the handles of earlier versions. Defaults suit
// a personal server: rw, no_root_squash, sec=sys:none.
func (l *exportLoader) single(fs fsadapters.FS) ([]nfs4srv.ExportConfig, error) {
	ec := nfs4srv.ExportConfig{Path: "/", FS: fs, Sec: []rpc.AuthFlavor{rpc.AuthSys, rpc.AuthNone}}
	if *l.flags.rootSquash {
		ec.Squash = nfs4srv.RootSquash
	}
	var bo backendOpts
	if err := parseExportOptions(*l.flags.opts, &ec, &bo); err != nil {
		return nil, fmt.Errorf("-o: %w", err)
	}
	if bo != (backendOpts{}) {
		return nil, errors.New("-o: type= and partition= belong to --type and --partition here")
	}
	return []nfs4srv.ExportConfig{ec}, nil
}

// load reads --config and --export and opens the backends they name.
func (l *exportLoader) load() ([]nfs4srv.ExportConfig, error) {
	var specs []exportSpec
	if f := *l.flags.config; f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		specs, err = parseConfig(string(data), f)
		if err != nil {
			return nil, err
		}
	}
	for _, e := range l.flags.exports {
		p, rest, ok := strings.Cut(e, "=")
		if !ok {
			return nil, fmt.Errorf("--export %q: want PSEUDO=SOURCE[,OPTIONS]", e)
		}
		src, opts, _ := strings.Cut(rest, ",")
		s, err := newSpec(p, src, opts)
		if err != nil {
			return nil, fmt.Errorf("--export %q: %w", e, err)
		}
		specs = append(specs, s)
	}
	if len(specs) == 0 {
		return nil, errors.New("no exports configured")
	}
	list := make([]nfs4srv.ExportConfig, len(specs))
	for i, s := range specs {
		fs, err := l.backend(s.source, s.bo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.where, err)
		}
		list[i] = s.ec
		list[i].FS = fs
	}
	if err := nfs4srv.CheckExports(list); err != nil {
		return nil, err
	}
	return list, nil
}

// backend opens (once) the filesystem of source.
func (l *exportLoader) backend(source string, bo backendOpts) (fsadapters.FS, error) {
	key := fmt.Sprintf("%s\x00%s\x00%d", source, bo.typ, bo.partition)
	if fs := l.backends[key]; fs != nil {
		return fs, nil
	}
	var fs fsadapters.FS
	if source == "mem" {
		fs = mem.New()
	} else {
		st, err := os.Stat(source)
		if err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(source)
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			if bo != (backendOpts{}) {
				return nil, errors.New("type= and partition= apply to an image file, not a directory")
			}
			// An earlier version kept the key in the root's xattr:
			// adopt it so that clients' handles stay valid.
			legacy, _ := dir.KeyXattr(source)
			hk, err := l.handleKey(abs, legacy)
			if err != nil {
				return nil, err
			}
			d, err := dir.New(source, dir.Options{HandleKey: hk})
			if err != nil {
				return nil, err
			}
			fs = d
		} else {
			hk, err := l.handleKey(abs, nil)
			if err != nil {
				return nil, err
			}
			img, err := image.OpenFile(source, image.OpenOptions{Type: bo.typ, Partition: bo.partition, Log: l.log, HandleKey: hk})
			if err != nil {
				return nil, imageErr(err)
			}
			info := img.Info()
			l.log.Info("image", "path", img.Name(), "format", info.Format, "label", info.Label, "bytes", info.TotalBytes)
			fs = img
		}
	}
	l.backends[key] = fs
	return fs, nil
}

// handleKey is the handle MAC key of the export source abs, kept in the
// state directory (serve/state/keys.go). Without a state directory it is
// nil: the dir backend then keeps its key in the export root's xattr, and
// image handles are checked against a public key (still confined to the
// image, but guessable).
func (l *exportLoader) handleKey(abs string, legacy []byte) ([]byte, error) {
	if l.stateDir == "" {
		return nil, nil
	}
	return state.HandleKey(l.stateDir, abs, legacy)
}

// backendOpts are the options that select a backend rather than a policy.
type backendOpts struct {
	typ       string
	partition int
}

type exportSpec struct {
	where  string // file:line or flag, for errors
	source string
	bo     backendOpts
	ec     nfs4srv.ExportConfig
}

// parseConfig reads an exports file: one export per line,
//
//	PSEUDO-PATH  SOURCE  [OPTIONS]
//
// with '#' comments and blank lines ignored.
func parseConfig(text, name string) ([]exportSpec, error) {
	var specs []exportSpec
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		where := fmt.Sprintf("%s:%d", name, n)
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("%s: want PSEUDO-PATH SOURCE [OPTIONS]", where)
		}
		opts := ""
		if len(f) == 3 {
			opts = f[2]
		}
		s, err := newSpec(f[0], f[1], opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		s.where = where
		specs = append(specs, s)
	}
	return specs, sc.Err()
}

// newSpec builds one multi-export entry. Defaults follow exports(5): rw
// (unless the backend is read-only), root_squash, sec=sys, any client.
func newSpec(pseudo, source, opts string) (exportSpec, error) {
	s := exportSpec{where: pseudo, source: source}
	if source != "mem" && !filepath.IsAbs(source) {
		return s, fmt.Errorf("source %q: give an absolute path (or \"mem\")", source)
	}
	s.ec = nfs4srv.ExportConfig{Path: pseudo, Source: source, Squash: nfs4srv.RootSquash,
		Sec: []rpc.AuthFlavor{rpc.AuthSys}}
	if err := parseExportOptions(opts, &s.ec, &s.bo); err != nil {
		return s, err
	}
	if s.bo.typ != "" || s.bo.partition != 0 {
		s.ec.Source = fmt.Sprintf("%s\x00%s\x00%d", source, s.bo.typ, s.bo.partition)
	}
	return s, nil
}

// parseExportOptions applies a comma-separated option list (exports(5)
// names) to ec and bo.
func parseExportOptions(opts string, ec *nfs4srv.ExportConfig, bo *backendOpts) error {
	if opts == "" {
		return nil
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, hasV := strings.Cut(o, "=")
		bad := func(err error) error { return fmt.Errorf("option %q: %v", o, err) }
		if !hasV {
			switch k {
			case "ro":
				ec.ReadOnly = true
			case "rw":
				ec.ReadOnly = false
			case "root_squash":
				ec.Squash = nfs4srv.RootSquash
			case "no_root_squash":
				ec.Squash = nfs4srv.NoSquash
			case "all_squash":
				ec.Squash = nfs4srv.AllSquash
			case "no_all_squash":
				if ec.Squash == nfs4srv.AllSquash {
					ec.Squash = nfs4srv.RootSquash
				}
			default:
				return bad(errors.New("unknown option"))
			}
			continue
		}
		switch k {
		case "anonuid", "anongid":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return bad(err)
			}
			if ec.Anon == nil {
				ec.Anon = &fsadapters.Cred{UID: 65534, GID: 65534}
			}
			if k == "anonuid" {
				ec.Anon.UID = uint32(n)
			} else {
				ec.Anon.GID = uint32(n)
			}
		case "sec":
			ec.Sec = nil
			for _, f := range strings.Split(v, ":") {
				switch f {
				case "sys":
					ec.Sec = append(ec.Sec, rpc.AuthSys)
				case "none":
					ec.Sec = append(ec.Sec, rpc.AuthNone)
				case "krb5":
					ec.Sec = append(ec.Sec, rpcgss.Krb5)
				case "krb5i":
					ec.Sec = append(ec.Sec, rpcgss.Krb5i)
				case "krb5p":
					ec.Sec = append(ec.Sec, rpcgss.Krb5p)
				default:
					return bad(errors.New("flavours are sys, none, krb5, krb5i and krb5p"))
				}
			}
		case "client", "clients":
			for _, c := range strings.Split(v, "+") {
				p, err := parseClient(c)
				if err != nil {
					return bad(err)
				}
				ec.Clients = append(ec.Clients, p)
			}
		case "type":
			bo.typ = v
		case "partition":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return bad(errors.New("partitions count from 1"))
			}
			bo.partition = n
		default:
			return bad(errors.New("unknown option"))
		}
	}
	return nil
}

// parseClient accepts CIDR notation or a single address.
func parseClient(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// reload re-reads the configuration and applies it; on error the running
// exports stay.
func (l *exportLoader) reload(nfs *nfs4srv.Server) {
	if !l.flags.multi() {
		l.log.Info("SIGHUP: nothing to reload (exports come from the command line)")
		return
	}
	list, err := l.load()
	if err == nil {
		err = nfs.SetExports(list)
	}
	if err != nil {
		l.log.Error("reload failed; keeping the current exports", "err", err)
		return
	}
	paths := make([]string, len(list))
	for i, e := range list {
		paths[i] = e.Path
	}
	l.log.Info("exports reloaded", "exports", strings.Join(paths, " "))
}
