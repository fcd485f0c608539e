package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fsbridge/fsbridge/internal/testbin"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"golang.org/x/sys/unix"
)

// Handle keys live in the state directory (issue 6): created on first
// start, kept across restarts (handles stay valid), a different key
// refuses the handles, and a key an earlier version kept in the export
// root's xattr is adopted.
func TestHandleKeysInStateDir(t *testing.T) {
	top := t.TempDir()
	exp := filepath.Join(top, "exp")
	if err := os.MkdirAll(filepath.Join(exp, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(exp, "d", "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	legacy := []byte("an earlier version's key: 32 b!!")
	if err := unix.Setxattr(exp, "trusted.fsbridge.handlekey", legacy, 0); err != nil {
		t.Skipf("trusted xattrs: %v", err)
	}
	tarball := filepath.Join(top, "img.tar")
	if out, err := exec.Command("tar", "-C", exp, "-cf", tarball, "d").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	sd1, sd2 := filepath.Join(top, "state1"), filepath.Join(top, "state2")

	// handleOf serves source with state dir sd and returns the handle of
	// d/f; check runs GETATTR on h against that server.
	serve := func(sd, source string) *testbin.Server {
		return testbin.StartFsServ(t, "-p", "0", "--listen", "127.0.0.1", "--state-dir", sd, "--grace", "0s", source)
	}
	handleOf := func(srv *testbin.Server) []byte {
		t.Helper()
		h, err := dial(t, srv.Addr, 1).LookupPath(ctxT(t), "d/f")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	getattr := func(srv *testbin.Server, h []byte) error {
		_, err := dial(t, srv.Addr, 1).GetAttr(ctxT(t), h, nil)
		return err
	}
	keyFiles := func(sd string) [][]byte {
		t.Helper()
		kd := filepath.Join(sd, "handle-keys")
		ents, err := os.ReadDir(kd)
		if err != nil {
			t.Fatal(err)
		}
		var keys [][]byte
		for _, e := range ents {
			p := filepath.Join(kd, e.Name())
			if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", p, st.Mode())
			}
			k, _ := os.ReadFile(p)
			keys = append(keys, k)
		}
		return keys
	}

	for _, tc := range []struct{ name, source string }{{"dir", exp}, {"image", tarball}} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(sd1)
			os.RemoveAll(sd2)
			srv := serve(sd1, tc.source)
			h := handleOf(srv)
			keys := keyFiles(sd1)
			if len(keys) != 1 {
				t.Fatalf("%d keys in the state dir, want 1", len(keys))
			}
			if tc.name == "dir" && !bytes.Equal(keys[0], legacy) {
				t.Errorf("the root xattr's key was not adopted")
			}
			srv.Kill()

			// Same state dir: the handle survives the restart.
			srv = serve(sd1, tc.source)
			if err := getattr(srv, h); err != nil {
				t.Errorf("after a restart: %v", err)
			}
			if k := keyFiles(sd1); len(k) != 1 || !bytes.Equal(k[0], keys[0]) {
				t.Errorf("the key changed across a restart")
			}
			srv.Kill()

			// Another key (no xattr to adopt): the handle is refused.
			unix.Removexattr(exp, "trusted.fsbridge.handlekey")
			defer unix.Setxattr(exp, "trusted.fsbridge.handlekey", legacy, 0)
			srv = serve(sd2, tc.source)
			wantSt(t, getattr(srv, h), nfs4.ErrBadHandle, nfs4.ErrStale)
			if k := keyFiles(sd2); len(k) != 1 || bytes.Equal(k[0], keys[0]) {
				t.Errorf("second state dir: keys %x", k)
			}
			// Its own handles work.
			if err := getattr(srv, handleOf(srv)); err != nil {
				t.Error(err)
			}
		})
	}
}
