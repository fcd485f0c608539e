package state

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandleKey(t *testing.T) {
	sd := t.TempDir()
	k1, err := HandleKey(sd, "/srv/a", nil)
	if err != nil || len(k1) != handleKeyLen {
		t.Fatalf("first key: %x, %v", k1, err)
	}
	// Kept: the same source gets the same key (as after a restart),
	// another source another one.
	if k2, err := HandleKey(sd, "/srv/a", []byte("legacy-key-0123456789")); err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second call: %x, %v; want %x", k2, err, k1)
	}
	kb, err := HandleKey(sd, "/srv/b", nil)
	if err != nil || bytes.Equal(kb, k1) {
		t.Fatalf("other source: %x, %v", kb, err)
	}
	// A legacy key is adopted when there is none yet.
	legacy := []byte("legacy-key-0123456789")
	if kc, err := HandleKey(sd, "/srv/c", legacy); err != nil || !bytes.Equal(kc, legacy) {
		t.Fatalf("legacy: %x, %v", kc, err)
	}
	// The directory and the files are private; no temp files are left.
	kd := filepath.Join(sd, handleKeysDir)
	if st, err := os.Stat(kd); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("keys dir: %v %v", st.Mode(), err)
	}
	ents, _ := os.ReadDir(kd)
	if len(ents) != 3 {
		t.Fatalf("%d files in %s, want 3", len(ents), kd)
	}
	for _, e := range ents {
		st, _ := os.Stat(filepath.Join(kd, e.Name()))
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", e.Name(), st.Mode())
		}
	}
	// A damaged key file is an error, not a silent new key (which would
	// make every client's handles stale).
	for _, e := range ents {
		os.WriteFile(filepath.Join(kd, e.Name()), []byte("short"), 0o600)
	}
	if _, err := HandleKey(sd, "/srv/a", nil); err == nil || !strings.Contains(err.Error(), "has 5 bytes") {
		t.Fatalf("damaged key: %v", err)
	}
	if _, err := HandleKey("", "/srv/a", nil); err == nil {
		t.Fatal("no state dir: no error")
	}
}
