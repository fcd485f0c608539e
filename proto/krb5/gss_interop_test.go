package krb5

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const systemPython = "/usr/bin/python3"

// requireMIT skips unless the MIT KDC tools and python3-gssapi are present.
func requireMIT(t *testing.T) {
	t.Helper()
	path := os.Getenv("PATH") + ":/usr/sbin:/sbin"
	var missing []string
	for _, tool := range []string{"kdb5_util", "kadmin.local", "krb5kdc", "kinit"} {
		found := false
		for _, d := range filepath.SplitList(path) {
			if fi, err := os.Stat(filepath.Join(d, tool)); err == nil && !fi.IsDir() {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, tool)
		}
	}
	if err := exec.Command(systemPython, "-c", "import gssapi").Run(); err != nil {
		missing = append(missing, systemPython+" gssapi module (python3-gssapi)")
	}
	if len(missing) > 0 {
		t.Skipf("missing %s", strings.Join(missing, ", "))
	}
}

// startRealm runs scripts/krb5-realm.sh in a temp dir and returns the dir and
// the environment it prints.
func startRealm(t *testing.T) (string, []string) {
	t.Helper()
	requireMIT(t)
	script, err := filepath.Abs("../../scripts/krb5-realm.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("bash", script, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Cleanup(func() { exec.Command("bash", script, "stop", dir).Run() })
	if err != nil {
		t.Fatalf("krb5-realm.sh: %v\n%s", err, stderr.String())
	}
	var env []string
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "export "); ok {
			env = append(env, v)
		}
	}
	if len(env) == 0 {
		t.Fatalf("krb5-realm.sh printed no environment: %q", out)
	}
	return dir, env
}

// pyInitiator is testdata/gss_initiator.py running as the MIT initiator.
type pyInitiator struct {
	in  io.WriteCloser
	out *bufio.Scanner
	cmd *exec.Cmd
}

func startInitiator(t *testing.T, env []string, extra ...string) (*pyInitiator, []byte) {
	t.Helper()
	cmd := exec.Command(systemPython, append([]string{"testdata/gss_initiator.py", "nfs@localhost"}, extra...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pyInitiator{in: in, out: bufio.NewScanner(out), cmd: cmd}
	p.out.Buffer(make([]byte, 1<<20), 1<<22)
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	f, err := p.read()
	if err != nil {
		t.Fatalf("initiator: %v", err)
	}
	return p, unhexArg(t, f[0])
}

func (p *pyInitiator) read() ([]string, error) {
	if !p.out.Scan() {
		return nil, fmt.Errorf("initiator exited: %v", p.out.Err())
	}
	l := p.out.Text()
	if rest, ok := strings.CutPrefix(l, "ERR"); ok {
		return nil, fmt.Errorf("initiator: %s", strings.TrimSpace(rest))
	}
	f := strings.Fields(l)
	if len(f) == 0 || f[0] != "OK" {
		return nil, fmt.Errorf("initiator said %q", l)
	}
	return f[1:], nil
}

func (p *pyInitiator) do(args ...string) ([]string, error) {
	if _, err := fmt.Fprintln(p.in, strings.Join(args, " ")); err != nil {
		return nil, err
	}
	return p.read()
}

func (p *pyInitiator) must(t *testing.T, args ...string) []string {
	t.Helper()
	f, err := p.do(args...)
	if err != nil {
		t.Fatalf("%s: %v", args[0], err)
	}
	return f
}

func hexArg(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return hex.EncodeToString(b)
}

func unhexArg(t *testing.T, s string) []byte {
	t.Helper()
	if s == "-" {
		return nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex from initiator: %v", err)
	}
	return b
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i%len(c)] ^= 0x01
	return c
}

// capture is the testdata/capture.json recorded from a real MIT initiator so
// that gss_test.go can replay it without a KDC.
type capture struct {
	Time    time.Time
	Token   string // initial context token
	MICMsg  string
	MIC     string
	WrapMsg string
	Wrap    string // conf=false
	Seal    string // conf=true
}

func TestInteropMIT(t *testing.T) {
	dir, env := startRealm(t)
	kt, err := LoadKeytab(filepath.Join(dir, "nfs.keytab"))
	if err != nil {
		t.Fatal(err)
	}
	py, tok := startInitiator(t, env)
	acc := &Acceptor{Keytab: kt}
	ctx, rep, err := acc.Accept(tok)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if ctx.Initiator != "root@FSBRIDGE.TEST" || ctx.Service != "nfs/localhost@FSBRIDGE.TEST" {
		t.Errorf("initiator %q service %q", ctx.Initiator, ctx.Service)
	}
	if ctx.Flags&FlagMutual == 0 || rep == nil {
		t.Fatalf("mutual auth not requested/answered: flags %#x rep %d bytes", ctx.Flags, len(rep))
	}
	if d := time.Until(ctx.Expiry); d < time.Hour || d > 11*time.Hour {
		t.Errorf("expiry %v away", d)
	}
	if f := py.must(t, "STEP", hexArg(rep)); f[0] != "1" {
		t.Fatalf("initiator context not complete after AP-REP: %v", f)
	}

	msgs := [][]byte{nil, []byte("hello, NFS"), make([]byte, 1000), make([]byte, 16), make([]byte, 33)}
	rand.Read(msgs[2])
	rec := capture{Time: time.Now().UTC(), Token: hex.EncodeToString(tok)}
	for i, m := range msgs {
		// Initiator MIC -> acceptor.
		mic := unhexArg(t, py.must(t, "MIC", hexArg(m))[0])
		if err := ctx.VerifyMIC(m, mic); err != nil {
			t.Errorf("msg %d: VerifyMIC: %v", i, err)
		}
		if err := ctx.VerifyMIC(append(append([]byte(nil), m...), 'x'), mic); err == nil {
			t.Errorf("msg %d: MIC verified for a different message", i)
		}
		if err := ctx.VerifyMIC(m, flip(mic, len(mic)-1)); err == nil {
			t.Errorf("msg %d: tampered MIC verified", i)
		}
		if i == 1 {
			rec.MICMsg, rec.MIC = hex.EncodeToString(m), hex.EncodeToString(mic)
		}
		// Acceptor MIC -> initiator.
		amic := ctx.GetMIC(m)
		if _, err := py.do("VERIFY", hexArg(m), hexArg(amic)); err != nil {
			t.Errorf("msg %d: initiator rejected our MIC: %v", i, err)
		}
		if _, err := py.do("VERIFY", hexArg(m), hexArg(flip(amic, 20))); err == nil {
			t.Errorf("msg %d: initiator accepted a tampered MIC", i)
		}
		for _, conf := range []bool{false, true} {
			cs := map[bool]string{false: "0", true: "1"}[conf]
			// Initiator Wrap -> acceptor.
			f := py.must(t, "WRAP", cs, hexArg(m))
			w := unhexArg(t, f[0])
			if f[1] != cs {
				t.Errorf("msg %d: initiator encrypted=%s, asked %s", i, f[1], cs)
			}
			got, gconf, err := ctx.Unwrap(w)
			if err != nil || !bytes.Equal(got, m) || gconf != conf {
				t.Errorf("msg %d conf %v: Unwrap = %x, %v, %v", i, conf, got, gconf, err)
			}
			if _, _, err := ctx.Unwrap(flip(w, len(w)-3)); err == nil {
				t.Errorf("msg %d conf %v: tampered Wrap unwrapped", i, conf)
			}
			if _, _, err := ctx.Unwrap(flip(w, 2)); err == nil {
				t.Errorf("msg %d conf %v: Wrap with altered flags unwrapped", i, conf)
			}
			if i == 1 {
				rec.WrapMsg = hex.EncodeToString(m)
				if conf {
					rec.Seal = hex.EncodeToString(w)
				} else {
					rec.Wrap = hex.EncodeToString(w)
				}
			}
			// Acceptor Wrap -> initiator.
			aw := ctx.Wrap(m, conf)
			f, err = py.do("UNWRAP", hexArg(aw))
			if err != nil {
				t.Errorf("msg %d conf %v: initiator rejected our Wrap: %v", i, conf, err)
			} else if g := unhexArg(t, f[0]); !bytes.Equal(g, m) || f[1] != cs {
				t.Errorf("msg %d conf %v: initiator unwrapped %x encrypted=%s", i, conf, g, f[1])
			}
			if _, err := py.do("UNWRAP", hexArg(flip(aw, len(aw)-1))); err == nil {
				t.Errorf("msg %d conf %v: initiator accepted a tampered Wrap", i, conf)
			}
		}
	}

	// Tokens made concurrently must all verify (atomic sequence numbers,
	// shared derived keys); run with -race.
	var wg sync.WaitGroup
	toks := make([][]byte, 16)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				toks[i] = ctx.GetMIC([]byte("concurrent"))
			} else {
				toks[i] = ctx.Wrap([]byte("concurrent"), i%4 == 1)
			}
		}()
	}
	wg.Wait()
	for i, tk := range toks {
		var err error
		if i%2 == 0 {
			_, err = py.do("VERIFY", hexArg([]byte("concurrent")), hexArg(tk))
		} else {
			_, err = py.do("UNWRAP", hexArg(tk))
		}
		if err != nil {
			t.Errorf("concurrent token %d rejected: %v", i, err)
		}
	}

	// A keytab with other keys for the same principal/kvno must fail.
	bad := &Keytab{}
	for _, e := range kt.Entries {
		e.Key = make([]byte, len(e.Key))
		rand.Read(e.Key)
		bad.Entries = append(bad.Entries, e)
	}
	if _, _, err := (&Acceptor{Keytab: bad}).Accept(tok); err == nil {
		t.Error("Accept succeeded with the wrong service keys")
	} else {
		t.Logf("wrong keytab: %v", err)
	}

	// Without mutual authentication there is no AP-REP and the initiator's
	// context is complete after its first token.
	py2, tok2 := startInitiator(t, env, "nomutual")
	ctx2, rep2, err := acc.Accept(tok2)
	if err != nil || rep2 != nil || ctx2.Flags&FlagMutual != 0 {
		t.Fatalf("no-mutual Accept: rep %d bytes flags %#x err %v", len(rep2), ctx2.Flags, err)
	}
	if f := py2.must(t, "COMPLETE"); f[0] != "1" {
		t.Fatal("no-mutual initiator context incomplete")
	}
	mic := unhexArg(t, py2.must(t, "MIC", hexArg([]byte("nm")))[0])
	if err := ctx2.VerifyMIC([]byte("nm"), mic); err != nil {
		t.Errorf("no-mutual VerifyMIC: %v", err)
	}
	if _, err := py2.do("UNWRAP", hexArg(ctx2.Wrap([]byte("nm"), true))); err != nil {
		t.Errorf("no-mutual: initiator rejected our Wrap: %v", err)
	}

	if os.Getenv("KRB5_UPDATE_TESTDATA") != "" {
		b, _ := json.MarshalIndent(rec, "", "  ")
		ktb, err := os.ReadFile(filepath.Join(dir, "nfs.keytab"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/capture.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/nfs.keytab", ktb, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
