// Command mount_remote mounts an NFSv4.1 server's export through FUSE:
//
//	mount_remote [-o opts] [-f] [-d] HOST:PORT[/path] MOUNTPOINT
//	mount_remote [-o opts] [-f] [-d] -c CMD MOUNTPOINT
//
// With -c, CMD is run with /bin/sh -c and the protocol goes over its
// stdin/stdout (e.g. -c 'ssh host fs_serv --stdio /data').
// It returns once the mount is ready and keeps serving it in the
// background (-f: stay in the foreground; -d: foreground with a debug
// log of every FUSE request). It unmounts on SIGINT/SIGTERM and exits when
// unmounted with umount or fusermount3 -u. Options (-o, comma-separated):
// ro, allow_other, default_permissions, uid=N, gid=N (show every file as
// owned by N), fsname=, subtype=, attr_timeout=SEC, entry_timeout=SEC,
// connect_timeout=SEC, RPC-with-TLS (RFC 9289: tls; mtls,cert=FILE,key=FILE;
// ca=FILE to verify the server; xprtsec=none|tls|mtls as in nfs(5)),
// the mount(8) flags (noatime, sync, nosuid…); the
// fstab-only options (defaults, _netdev, noauto, nofail, user, users,
// x-*) are ignored; others go to the kernel as they are.
//
// Options may follow the operands, so mount.fuse3 (and the helper
// scripts/mount.fuse.mount_remote) can run `mount_remote SRC MNT -o opts`
// for `mount -t fuse.mount_remote SRC MNT` and fstab lines.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/mount"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// daemonEnv marks the re-executed background child; its value is the
// number of the descriptor on which it reports readiness.
const daemonEnv = "MOUNT_REMOTE_DAEMON_FD"

type optList []string

func (o *optList) String() string     { return strings.Join(*o, ",") }
func (o *optList) Set(s string) error { *o = append(*o, s); return nil }

func main() {
	log.SetFlags(0)
	log.SetPrefix("mount_remote: ")
	var opts optList
	fl := flag.NewFlagSet("mount_remote", flag.ContinueOnError)
	fl.Var(&opts, "o", "mount options, comma-separated (ro, allow_other, default_permissions, uid=, gid=, fsname=, subtype=, attr_timeout=, entry_timeout=, connect_timeout=, tls, mtls, cert=, key=, ca=)")
	fg := fl.Bool("f", false, "stay in the foreground")
	debug := fl.Bool("d", false, "debug: log FUSE requests (implies -f)")
	fl.StringVar(&tunnelCmd, "c", "", "run CMD and speak NFSv4 over its stdin/stdout (then MOUNTPOINT is the only operand)")
	fl.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mount_remote [-o opts] [-f] [-d] HOST:PORT[/path] MOUNTPOINT")
		fmt.Fprintln(os.Stderr, "       mount_remote [-o opts] [-f] [-d] -c CMD MOUNTPOINT")
		fl.PrintDefaults()
	}
	// Accept options after the operands too (mount(8) style).
	var pos []string
	args := os.Args[1:]
	for len(args) > 0 {
		if err := fl.Parse(args); err != nil {
			os.Exit(2)
		}
		args = fl.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	if tunnelCmd != "" {
		// The command stands in for HOST:PORT; the mount source shown
		// by mount(8) is the command line.
		pos = append([]string{"cmd:0"}, pos...)
	}
	if len(pos) != 2 {
		fl.Usage()
		os.Exit(2)
	}
	var o mount.Options
	if err := o.ParseOptions(opts.String()); err != nil {
		log.Fatal(err)
	}
	if *debug {
		o.Debug, *fg = true, true
	}
	target, err := mount.ParseTarget(pos[0])
	if err != nil {
		log.Fatal(err)
	}
	mnt := pos[1]

	if fdStr := os.Getenv(daemonEnv); fdStr != "" {
		os.Exit(child(target, mnt, o, os.NewFile(3, "ready")))
	}
	if *fg {
		os.Exit(run(target, mnt, o, nil))
	}
	os.Exit(parent())
}

// parent re-executes the program in a new session with a pipe on fd 3
// and waits for "ok" (the mount is ready) or an error message.
func parent() int {
	r, w, err := os.Pipe()
	if err != nil {
		log.Print(err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		log.Print(err)
		return 1
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		log.Print(err)
		return 1
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	if err := cmd.Start(); err != nil {
		log.Print(err)
		return 1
	}
	w.Close()
	msg, _ := bufio.NewReader(r).ReadString('\n')
	msg = strings.TrimSpace(msg)
	if msg == "ok" {
		cmd.Process.Release()
		return 0
	}
	cmd.Wait()
	if msg == "" {
		msg = "the background process exited before the mount was ready"
	}
	log.Print(strings.TrimPrefix(msg, "error: "))
	return 1
}

func child(t mount.Target, mnt string, o mount.Options, ready *os.File) int {
	// Log to nowhere unless the user asked for debugging (-d stays in
	// the foreground).
	log.SetOutput(io.Discard)
	return run(t, mnt, o, ready)
}

// run mounts and serves until unmounted. ready, if set, gets "ok\n" once
// the mount is up, or "error: …\n".
// memoryLimit is mount_remote's soft memory limit unless GOMEMLIMIT says
// otherwise: its live heap is small (the uncommitted write copies, a few
// READ buffers), but with the default GOGC alone the heap of a busy mount
// grows to twice that and more between collections.
const memoryLimit = 96 << 20

func run(t mount.Target, mnt string, o mount.Options, ready *os.File) int {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	report := func(err error) int {
		if ready != nil {
			// One line: the parent reads up to the first newline.
			fmt.Fprintf(ready, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
			ready.Close()
		}
		log.Print(err)
		return 1
	}
	if err := mount.CheckMountpoint(mnt); err != nil {
		return report(err)
	}
	connect, source, limit := mount.Connect, t.String(), 15*time.Second
	if o.TLS.Enabled { // RPC-with-TLS (RFC 9289): -o tls / -o mtls,cert=,key=,ca=
		if tunnelCmd != "" {
			return report(errors.New("-o tls does not apply to -c: the command's stream is the transport (use ssh's encryption)"))
		}
		host, _, _ := net.SplitHostPort(t.Addr)
		cfg, err := o.TLS.Config(host)
		if err != nil {
			return report(fmt.Errorf("-o %s: %w", o.TLS.String(), err))
		}
		connect = func(ctx context.Context, t mount.Target, machine string) (*nfs4client.Client, []byte, error) {
			return mount.ConnectTLS(ctx, t, machine, cfg)
		}
	}
	if tunnelCmd != "" {
		// A tunnel (ssh) takes longer to set up than a TCP connection.
		connect, source, limit = connectCmd, tunnelCmd, 30*time.Second
		t.Addr = fmt.Sprintf("command %q", tunnelCmd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(o.ConnectTimeout, limit))
	c, root, err := connect(ctx, t, o.Machine)
	cancel()
	if err != nil {
		return report(err)
	}
	fsys := &mount.FS{C: c, Root: root, Opts: o}
	srv, err := mount.Mount(mnt, fsys, source)
	if err != nil {
		c.Close()
		if errors.Is(err, syscall.EBUSY) {
			return report(fmt.Errorf("mount point %s is busy", mnt))
		}
		return report(fmt.Errorf("mounting %s on %s: %w", t, mnt, err))
	}
	if ready != nil {
		fmt.Fprintln(ready, "ok")
		ready.Close()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sig
		// Unmount; if something still uses the mount, detach it lazily
		// so the process can exit and the kernel cleans up later.
		if err := srv.Unmount(); err != nil {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	}()
	// A lost connection is re-dialled by the client on the next request
	// and a restarted server's state recovered (nfs4client/recover.go).
	c.Recovered = func(epoch uint64) {
		log.Printf("%s restarted: session and open files recovered (epoch %d)", t.Addr, epoch)
	}
	srv.Wait()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	c.Shutdown(sctx)
	return 0
}

// tunnelCmd is the -c command ("" when connecting over TCP).
var tunnelCmd string

// connectCmd is mount.Connect over a tunnel command instead of TCP: it
// starts tunnelCmd, sets up an NFSv4.1 session, checks the root is a
// directory, negotiates rsize/wsize and starts lease renewal.
func connectCmd(ctx context.Context, t mount.Target, machine string) (*nfs4client.Client, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := nfs4client.DialCommand(ctx, tunnelCmd)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot run %s: %w", t.Addr, err)
	}
	if machine != "" {
		c.Cred = rpc.NewAuthSys(rpc.AuthSysParams{MachineName: machine})
	}
	fail := func(err error) (*nfs4client.Client, []byte, error) {
		c.Close()
		return nil, nil, err
	}
	if err := mount.SetupSession(ctx, c); err != nil {
		return fail(fmt.Errorf("%s: no NFSv4.1 session (does it run fs_serv --stdio?): %w", t.Addr, err))
	}
	root, err := c.RootFH(ctx)
	if err != nil {
		return fail(fmt.Errorf("%s: looking up the root: %w", t.Addr, err))
	}
	a, err := c.GetAttr(ctx, root, nfs4client.BasicAttrs)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", t.Addr, err))
	}
	if a.Type != nfs4.NF4DIR {
		return fail(fmt.Errorf("%s: the export root is not a directory", t.Addr))
	}
	lease, err := c.NegotiateIO(ctx, root)
	if err != nil {
		return fail(fmt.Errorf("%s: reading server limits: %w", t.Addr, err))
	}
	c.StartRenewal(lease)
	return c, root, nil
}
