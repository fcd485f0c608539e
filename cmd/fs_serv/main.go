// Command fs_serv exports a local directory, a disk or archive image (read
// only), or a RAM filesystem over NFSv4.0/4.1/4.2.
//
//	fs_serv [-p PORT] [--listen ADDR] [--stdio] [--mem | DIR | IMAGE]
//	fs_serv [--type NAME] [--partition N] IMAGE
//	fs_serv --list-partitions IMAGE
//
// IMAGE is a regular file or a block device holding one of the formats of
// fsadapters/image (ISO 9660, ext2/3/4, squashfs, EROFS, FAT, tar, zip),
// detected by content, or an MBR/GPT disk image of them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	_ "github.com/fsbridge/fsbridge/fsadapters/image/all" // every image format
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
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
	imgType := fl.String("type", "", "image format `NAME` of IMAGE (default: detected; one of "+formatNames()+")")
	partition := fl.Int("partition", 0, "serve partition `N` (1-based, as Linux numbers them) of a disk image")
	listParts := fl.Bool("list-partitions", false, "print the partition table of IMAGE and exit")
	limits := addLimitFlags(fl) // resource bounds: limits.go
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: fs_serv [-p PORT] [--listen ADDR] [--stdio] [--mem | DIR | [--type NAME] [--partition N] IMAGE]\n"+
			"       fs_serv --list-partitions IMAGE\n")
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

	var fs fsadapters.FS
	switch {
	case *useMem && fl.NArg() == 0:
		fs = mem.New()
	case !*useMem && fl.NArg() == 1:
		st, err := os.Stat(fl.Arg(0))
		if err != nil {
			return err
		}
		if st.IsDir() {
			if *imgType != "" || *partition != 0 {
				return errors.New("--type and --partition apply to an IMAGE file, not a directory")
			}
			d, err := dir.New(fl.Arg(0), dir.Options{})
			if err != nil {
				return err
			}
			fs = d
			break
		}
		if *partition < 0 {
			return errors.New("--partition N: N counts from 1")
		}
		img, err := image.OpenFile(fl.Arg(0), image.OpenOptions{Type: *imgType, Partition: *partition, Log: log})
		if err != nil {
			return imageErr(err)
		}
		defer img.Close()
		info := img.Info()
		log.Info("image", "path", img.Name(), "format", info.Format, "label", info.Label, "bytes", info.TotalBytes)
		fs = img
	default:
		fl.Usage()
		return errors.New("give exactly one of --mem, DIR or IMAGE")
	}

	nfs := nfs4srv.New(nfs4srv.Config{FS: fs, LeaseTime: *lease, Log: log})
	defer nfs.Close()
	// NewDRC: the duplicate request cache for non-idempotent 4.0 COMPOUNDs.
	srv := &rpcsrv.Server{Handler: nfs, DRC: nfs4srv.NewDRC(), Logf: func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }}
	limits.apply(srv, *lease, *stdio, log)

	if *stdio {
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
	log.Info("serving", "addr", l.Addr().String(), "export", exportName(fl, *useMem))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	}
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

func exportName(fl *flag.FlagSet, useMem bool) string {
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
