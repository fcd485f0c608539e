// Command fs_serv exports a local directory, a disk or archive image (read
// only), or a RAM filesystem over NFSv4.0/4.1/4.2.
//
//	fs_serv [-p PORT] [--listen ADDR] [--stdio] [--mem | DIR | IMAGE]
//	fs_serv [--type NAME] [--partition N] IMAGE
//	fs_serv --list-partitions IMAGE
//	fs_serv [--config FILE] [--export PSEUDO=SOURCE[,OPTIONS]]...
//	fs_serv [--keytab FILE] [--gss-realm REALM] ...
//
// Several exports, joined under a pseudo filesystem, come from --config
// and --export (docs/exports.md); SIGHUP re-reads them.
//
// IMAGE is a regular file or a block device holding one of the formats of
// fsadapters/image (ISO 9660, ext2/3/4, squashfs, EROFS, FAT, tar, zip),
// detected by content, or an MBR/GPT disk image of them.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	_ "github.com/fsbridge/fsbridge/fsadapters/image/all" // every image format
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
	"github.com/fsbridge/fsbridge/serve/state"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fs_serv:", err)
		os.Exit(1)
	}
}

func run() error {
	fl := flag.NewFlagSet("fs_serv", flag.ContinueOnError)
	port := fl.Int("p", 12675, "TCP port to listen on")
	listen := fl.String("listen", "", "address to listen on (default: all addresses)")
	useMem := fl.Bool("mem", false, "export an empty in-memory filesystem instead of DIR")
	stdio := fl.Bool("stdio", false, "serve one client on standard input/output (for ssh tunnels)")
	lease := fl.Duration("lease", nfs4srv.DefaultLeaseTime, "NFSv4 lease time")
	debug := fl.Bool("d", false, "debug logging")
	noDeleg := fl.Bool("no-delegations", false, "grant no NFSv4 file delegations (clients then revalidate their caches)")
	stateDir := fl.String("state-dir", "", "keep client records in `DIR` so clients reclaim their opens and locks after a restart\n"+
		"(default: "+defaultStateRoot+"/<hash of the export path> if writable; \"none\": no recovery)")
	grace := fl.Duration("grace", 0, "grace period after a restart for clients to reclaim state (default: the lease time)")
	courtesy := fl.Duration("courtesy", state.DefaultCourtesyTime,
		"keep an expired client's opens and locks this long while nothing conflicts with them (0: expire with the lease)")
	imgType := fl.String("type", "", "image format `NAME` of IMAGE (default: detected; one of "+formatNames()+")")
	partition := fl.Int("partition", 0, "serve partition `N` (1-based, as Linux numbers them) of a disk image")
	listParts := fl.Bool("list-partitions", false, "print the partition table of IMAGE and exit")
	limits := addLimitFlags(fl)    // resource bounds: limits.go
	exportFl := addExportFlags(fl) // exports and policy: exports.go
	tlsFl := addTLSFlags(fl)       // RPC-with-TLS: tlsflags.go
	gssFl := addGSSFlags(fl)       // RPCSEC_GSS: gssflags.go
	// --metrics endpoint: metrics.go
	metricsFl := addMetricsFlags(fl)
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: fs_serv [-p PORT] [--listen ADDR] [--stdio] [--mem | DIR | [--type NAME] [--partition N] IMAGE]\n"+
			"       fs_serv --list-partitions IMAGE\n"+
			"       fs_serv [--config FILE] [--export PSEUDO=SOURCE[,OPTIONS]]...\n"+
			"Kerberos (RPCSEC_GSS): --keytab FILE [--gss-realm REALM] and exports with sec=krb5, krb5i or krb5p.\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	// Logs go to stderr: with --stdio, stdout carries the protocol.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *listParts {
		if fl.NArg() != 1 || *useMem {
			fl.Usage()
			return errors.New("--list-partitions needs exactly one IMAGE")
		}
		out, err := image.DescribeFile(fl.Arg(0))
		if err != nil {
			return imageErr(err)
		}
		fmt.Print(out)
		return nil
	}

	if *partition < 0 {
		return errors.New("--partition N: N counts from 1")
	}
	switch {
	case exportFl.multi():
		if *useMem || fl.NArg() != 0 || *imgType != "" || *partition != 0 {
			fl.Usage()
			return errors.New("--config/--export replace --mem, DIR and IMAGE (give type= and partition= as export options)")
		}
	case *useMem && fl.NArg() == 0, !*useMem && fl.NArg() == 1:
	default:
		fl.Usage()
		return errors.New("give exactly one of --mem, DIR or IMAGE")
	}

	// The state directory comes first: it holds the handle keys that the
	// backends need (serve/state/keys.go).
	stateKey := fl.Arg(0)
	if exportFl.multi() {
		stateKey = *exportFl.config + " " + exportFl.exports.String()
	}
	sdir, err := chooseStateDir(*stateDir, *useMem, stateKey, log)
	if err != nil {
		return err
	}

	loader := newExportLoader(exportFl, sdir, log)
	defer loader.close()
	var exportList []nfs4srv.ExportConfig
	if exportFl.multi() {
		exportList, err = loader.load()
	} else {
		var fs fsadapters.FS = mem.New()
		if !*useMem {
			if st, serr := os.Stat(fl.Arg(0)); serr == nil && st.IsDir() && (*imgType != "" || *partition != 0) {
				return errors.New("--type and --partition apply to an IMAGE file, not a directory")
			}
			src := fl.Arg(0)
			if src == "mem" {
				src = "./mem" // a directory or image named mem; the keyword is --mem here
			}
			fs, err = loader.backend(src, backendOpts{typ: *imgType, partition: *partition})
		}
		if err == nil {
			exportList, err = loader.single(fs)
		}
	}
	if err != nil {
		return err
	}

	nfs := nfs4srv.New(nfs4srv.Config{Exports: exportList, LeaseTime: *lease, Log: log, StateDir: sdir, GraceTime: *grace,
		CourtesyTime: *courtesy, NoDelegations: *noDeleg, Metrics: metricsFl.nfs()})
	defer nfs.Close()
	// NewDRC: the duplicate request cache for non-idempotent 4.0 COMPOUNDs.
	// RPCSEC_GSS calls bypass this DRC (rpcsrv/drc.go: their replies are
	// bound to a seq_num a retransmission does not reuse); rpcgss keeps
	// their results in its own (gssflags.go).
	handler, err := gssFl.wrap(nfs, log)
	if err != nil {
		return err
	}
	srv := &rpcsrv.Server{Handler: handler, DRC: nfs4srv.NewDRC(), Logf: func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }}
	limits.apply(srv, *lease, *stdio, log)
	if err := tlsFl.apply(srv, *stdio, log); err != nil {
		return err
	}
	if err := metricsFl.start(nfs, srv, log); err != nil {
		return err
	}
	idleStop := make(chan struct{})
	defer close(idleStop)
	go (&idleRelease{calls: func() uint64 { return srv.Stats().Calls }}).run(30*time.Second, idleStop)

	if *stdio {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		go func() {
			for range hup {
				loader.reload(nfs)
			}
		}()
		return srv.ServeConn(rpcsrv.StreamConn(stdioRWC{}))
	}

	addr := net.JoinHostPort(*listen, strconv.Itoa(*port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %d is already in use (choose another with -p)", *port)
		}
		if errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("listen on %s: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)", addr)
		}
		return err
	}
	log.Info("serving", "addr", l.Addr().String(), "export", exportName(fl, *useMem, exportFl))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	for {
		select {
		case err := <-errc:
			return err
		case s := <-sig:
			if s == syscall.SIGHUP {
				// New requests see the new exports; connections stay.
				loader.reload(nfs)
				continue
			}
			log.Info("shutting down", "signal", s.String())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(ctx)
		}
	}
}

// defaultStateRoot holds the default state directories, one per export.
const defaultStateRoot = "/var/lib/fsbridge"

// chooseStateDir picks the directory for client records (RFC 8881 §8.4.3):
// the explicit one (which must work), none for "none" and for --mem (its
// files do not survive a restart anyway), else one under defaultStateRoot
// named after the export's absolute path, skipped with a warning if it
// cannot be used (e.g. not running as root).
func chooseStateDir(flagVal string, useMem bool, export string, log *slog.Logger) (string, error) {
	switch {
	case flagVal == "none" || (flagVal == "" && useMem):
		return "", nil
	case flagVal != "":
		if err := probeStateDir(flagVal); err != nil {
			return "", fmt.Errorf("--state-dir: %w", err)
		}
		return flagVal, nil
	}
	abs, err := filepath.Abs(export)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(abs))
	d := filepath.Join(defaultStateRoot, hex.EncodeToString(sum[:8]))
	if err := probeStateDir(d); err != nil {
		log.Warn("no state directory: clients cannot reclaim opens and locks after a restart (use --state-dir)", "err", err)
		return "", nil
	}
	return d, nil
}

// probeStateDir checks that dir can be created, written and locked.
func probeStateDir(dir string) error {
	st, _, err := state.OpenStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	f, err := os.CreateTemp(dir, "probe*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// imageErr prefixes image errors with "IMG:" so that they are told apart
// from server errors.
func imageErr(err error) error { return fmt.Errorf("IMG: %w", err) }

func formatNames() string {
	var names []string
	for _, f := range image.Formats() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

func exportName(fl *flag.FlagSet, useMem bool, ef *exportFlags) string {
	if ef.multi() {
		return strings.TrimSpace(*ef.config + " " + ef.exports.String())
	}
	if useMem {
		return "(memory)"
	}
	return fl.Arg(0)
}

// stdioRWC joins standard input and output into one stream.
type stdioRWC struct{}

func (stdioRWC) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (stdioRWC) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (stdioRWC) Close() error {
	os.Stdin.Close()
	return os.Stdout.Close()
}
