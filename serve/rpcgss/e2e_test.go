package rpcgss_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcgss"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// TestKerberosEndToEnd runs a throwaway MIT realm (scripts/krb5-realm.sh),
// an in-process NFSv4 server behind rpcgss with the proto/krb5 acceptor,
// and an MIT initiator (python3-gssapi, testdata/gssclient.py) that
// creates a context and sends COMPOUNDs with each service.
func TestKerberosEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a KDC")
	}
	for _, tool := range []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				t.Skipf("MIT Kerberos tools absent (%s): install krb5-kdc krb5-admin-server krb5-user", tool)
			}
		}
	}
	py := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import gssapi").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Skip("no python3 with the gssapi module (python3-gssapi)")
	}
	dir := t.TempDir()
	script, _ := filepath.Abs("../../scripts/krb5-realm.sh")
	out, err := exec.Command(script, dir).Output()
	if err != nil {
		t.Fatalf("krb5-realm.sh: %v", err)
	}
	t.Cleanup(func() { exec.Command(script, "stop", dir).Run() })
	var env []string
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "export "); ok {
			env = append(env, v)
		}
	}

	mech, err := rpcgss.NewKrb5(filepath.Join(dir, "nfs.keytab"))
	if err != nil {
		t.Fatal(err)
	}
	nfs := nfs4srv.New(nfs4srv.Config{Exports: []nfs4srv.ExportConfig{{Path: "/", FS: mem.New(),
		Sec: []rpc.AuthFlavor{rpcgss.Krb5i, rpcgss.Krb5p}}}})
	defer nfs.Close()
	gss := rpcgss.New(nfs, rpcgss.Config{Mech: mech, Logf: t.Logf, Cacheable: nfs4srv.DRCCacheable})
	srv := &rpcsrv.Server{Handler: gss, DRC: nfs4srv.NewDRC(), Logf: t.Logf}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	_, port, _ := net.SplitHostPort(l.Addr().String())
	cmd := exec.Command(py, "testdata/gssclient.py", "127.0.0.1", port)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("gssclient.py: %v\n%s\n%s", err, res, stderr.String())
	}
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(res)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		got[k] = v
	}
	want := map[string]string{
		"init_major": "0", "complete": "True", "init_verf": "ok",
		"status_none":      "10016", // NFS4ERR_WRONGSEC: the export takes krb5i, krb5p
		"status_integrity": "0",
		"status_privacy":   "0",
		"replay":           "dropped",
		"destroy":          "accepted 0",
		"after_destroy":    "denied 13", // RPCSEC_GSS_CREDPROBLEM
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (output:\n%s)", k, got[k], v, res)
		}
	}
	deadline := time.Now().Add(time.Second)
	for gss.Contexts() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := gss.Contexts(); n != 0 {
		t.Errorf("%d contexts after DESTROY", n)
	}
}
