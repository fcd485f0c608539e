package state

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Handle keys. Every exported source (a directory or an image) has its own
// secret that its backend uses to MAC the file handles it mints, so a
// client cannot forge or tamper with a handle (issue 6; fsadapters/dir
// package doc). The key must outlive the server process — handles are
// persistent (RFC 8881 §4.2.3) — so it is kept in the state directory:
//
//	StateDir/handle-keys/<first 16 bytes of sha256(source), hex>
//
// holding 32 random bytes, mode 0600, created on first start. The
// directory is 0700: whoever reads a key can forge handles for its export.

const (
	handleKeysDir = "handle-keys"
	handleKeyLen  = 32
	// minHandleKeyLen is the shortest key file accepted (an adopted legacy
	// key may be shorter than handleKeyLen, never shorter than this).
	minHandleKeyLen = 16
	maxHandleKeyLen = 64
)

// HandleKey returns the handle key of source (an export's source path, as
// configured) from stateDir, creating it on first use. If no key exists yet
// and legacy is non-nil, legacy is stored instead of a fresh random key, so
// handles minted under a key kept elsewhere by an earlier version stay
// valid. Concurrent callers (two servers cannot share a state directory,
// but a test might call twice) agree on one key: the file is created with
// link(2), which fails if another caller got there first.
func HandleKey(stateDir, source string, legacy []byte) ([]byte, error) {
	if stateDir == "" {
		return nil, errors.New("state: no state directory for handle keys")
	}
	kd := filepath.Join(stateDir, handleKeysDir)
	if err := os.MkdirAll(kd, 0o700); err != nil {
		return nil, fmt.Errorf("state: handle keys: %w", err)
	}
	sum := sha256.Sum256([]byte(source))
	name := hex.EncodeToString(sum[:16])
	path := filepath.Join(kd, name)
	for try := 0; try < 2; try++ {
		key, err := readHandleKey(path)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		key = legacy
		if len(key) < minHandleKeyLen || len(key) > maxHandleKeyLen {
			key = make([]byte, handleKeyLen)
			rand.Read(key)
		}
		err = writeNewFile(kd, name, key)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("state: create handle key %s: %w", path, err)
		}
	}
	return nil, fmt.Errorf("state: handle key %s keeps changing", path)
}

func readHandleKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, maxHandleKeyLen+1)
	n, _ := f.Read(buf)
	if n < minHandleKeyLen || n > maxHandleKeyLen {
		return nil, fmt.Errorf("state: handle key %s has %d bytes (want %d–%d); move it away only if every client may see its handles go stale", path, n, minHandleKeyLen, maxHandleKeyLen)
	}
	return buf[:n], nil
}
