package krb5

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/ktutil.keytab was written by MIT ktutil:
//
//	addent -password -p nfs/localhost@FSBRIDGE.TEST -k 3 -e aes256-cts-hmac-sha1-96  (password "secret1")
//	addent -password -p nfs/localhost@FSBRIDGE.TEST -k 3 -e aes128-cts-hmac-sha1-96  (password "secret1")
//
// so its keys must equal our string-to-key with the default salt.
func TestParseKeytabKtutil(t *testing.T) {
	kt, err := LoadKeytab("testdata/ktutil.keytab")
	if err != nil {
		t.Fatal(err)
	}
	checkPasswordKeytab(t, kt, "secret1", 3)
}

func checkPasswordKeytab(t *testing.T, kt *Keytab, password string, kvno uint32) {
	t.Helper()
	if len(kt.Entries) != 2 {
		t.Fatalf("%d entries, want 2:\n%s", len(kt.Entries), kt)
	}
	for i, etype := range []int32{EtypeAES256CTSHMACSHA196, EtypeAES128CTSHMACSHA196} {
		e := kt.Entries[i]
		if e.Principal() != "nfs/localhost@FSBRIDGE.TEST" || e.NameType != 1 || e.KVNO != kvno || e.Etype != etype {
			t.Errorf("entry %d: %s nametype %d kvno %d etype %d", i, e.Principal(), e.NameType, e.KVNO, e.Etype)
		}
		want, _ := StringToKey(etype, password, "FSBRIDGE.TESTnfslocalhost", 0)
		if !bytes.Equal(e.Key, want) {
			t.Errorf("entry %d key %x, want string-to-key %x", i, e.Key, want)
		}
	}
}

// The same with a keytab made now by the installed ktutil, when present.
func TestParseKeytabLiveKtutil(t *testing.T) {
	ktutil, err := exec.LookPath("ktutil")
	if err != nil {
		t.Skip("missing ktutil (krb5-user)")
	}
	path := filepath.Join(t.TempDir(), "kt")
	script := "addent -password -p nfs/localhost@FSBRIDGE.TEST -k 7 -e aes256-cts-hmac-sha1-96\nlive-pw\n" +
		"addent -password -p nfs/localhost@FSBRIDGE.TEST -k 7 -e aes128-cts-hmac-sha1-96\nlive-pw\n" +
		"wkt " + path + "\nquit\n"
	cmd := exec.Command(ktutil)
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ktutil: %v\n%s", err, out)
	}
	kt, err := LoadKeytab(path)
	if err != nil {
		t.Fatal(err)
	}
	checkPasswordKeytab(t, kt, "live-pw", 7)
}

// A keytab written by kadmin.local ktadd in a real realm (also used by the
// interop test): two random keys for nfs/localhost.
func TestParseKeytabKadmin(t *testing.T) {
	kt, err := LoadKeytab("testdata/nfs.keytab")
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Entries) != 2 {
		t.Fatalf("entries:\n%s", kt)
	}
	for _, e := range kt.Entries {
		n, err := keyLength(e.Etype)
		if err != nil || len(e.Key) != n || e.Principal() != "nfs/localhost@FSBRIDGE.TEST" || e.KVNO == 0 {
			t.Errorf("bad entry %s kvno %d etype %d keylen %d", e.Principal(), e.KVNO, e.Etype, len(e.Key))
		}
	}
}

// Version 0x0501 is host (little-endian) order, counts the realm as a
// component and has no name type; a negative record length is a hole.
func TestParseKeytabV1AndHoles(t *testing.T) {
	le := binary.LittleEndian
	var rec []byte
	str := func(s string) {
		rec = le.AppendUint16(rec, uint16(len(s)))
		rec = append(rec, s...)
	}
	rec = le.AppendUint16(rec, 3) // realm + 2 components
	str("R.TEST")
	str("host")
	str("h.example")
	rec = le.AppendUint32(rec, 12345) // timestamp
	rec = append(rec, 4)              // kvno8
	rec = le.AppendUint16(rec, 17)
	str("0123456789abcdef")
	b := []byte{5, 1}
	b = le.AppendUint32(b, uint32(0xffffffff-5+1)) // hole of 5 bytes
	b = append(b, 0, 0, 0, 0, 0)
	b = le.AppendUint32(b, uint32(len(rec)))
	b = append(b, rec...)
	kt, err := ParseKeytab(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Entries) != 1 {
		t.Fatalf("entries: %d", len(kt.Entries))
	}
	e := kt.Entries[0]
	if e.Principal() != "host/h.example@R.TEST" || e.KVNO != 4 || e.Etype != 17 || string(e.Key) != "0123456789abcdef" || e.Timestamp != 12345 {
		t.Errorf("entry %+v", e)
	}
}

func TestParseKeytabMalformed(t *testing.T) {
	good, err := os.ReadFile("testdata/ktutil.keytab")
	if err != nil {
		t.Fatal(err)
	}
	// Every truncation except at a record boundary must fail, never panic.
	boundaries := map[int]bool{2: true}
	if kt, _ := ParseKeytab(good); kt != nil {
		off := 2
		for off < len(good) {
			off += 4 + int(binary.BigEndian.Uint32(good[off:]))
			boundaries[off] = true
		}
	}
	for n := 0; n < len(good); n++ {
		_, err := ParseKeytab(good[:n])
		if boundaries[n] != (err == nil) {
			t.Errorf("truncated to %d: err %v", n, err)
		}
	}
	for _, bad := range [][]byte{
		nil, {5}, {5, 3}, {4, 2, 0, 0, 0, 0},
		{5, 2, 0x7f, 0xff, 0xff, 0xff, 1, 2}, // record longer than file
		{5, 2, 0, 0, 0, 4, 0xff, 0xff, 0, 0}, // huge component count
		{5, 2, 0, 0, 0, 4, 0, 1, 0, 9},       // realm overruns record
	} {
		if _, err := ParseKeytab(bad); err == nil {
			t.Errorf("accepted % x", bad)
		}
	}
	// Corrupting any single length/count byte must not panic.
	for i := 2; i < len(good); i++ {
		b := append([]byte(nil), good...)
		b[i] ^= 0xff
		ParseKeytab(b)
	}
}

func FuzzParseKeytab(f *testing.F) {
	for _, p := range []string{"testdata/ktutil.keytab", "testdata/nfs.keytab"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kt, err := ParseKeytab(b)
		if err == nil {
			for _, e := range kt.Entries {
				_ = e.Principal()
			}
		}
	})
}
