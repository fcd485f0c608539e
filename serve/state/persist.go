package state

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Client records on stable storage (RFC 8881 §8.4.3, RFC 7530 §9.6.3.4).
//
// A restarted server must let a client reclaim only if that client held
// state at the previous instance; otherwise a client that missed a grace
// period could reclaim, in a later one, a lock some other client held in
// between. So the server keeps, in StateDir/clients, one line per client
// that holds (or, during a grace period, may still reclaim) state:
//
//	fsbridge-clients 1 <epoch of the writing instance>
//	<minor version> <epoch first recorded> <client owner id, hex>
//
// The file is rewritten whole (temp file, fsync, rename, fsync of the
// directory) whenever the set changes, which is once per client lifetime
// at most twice. StateDir/lock is flock(2)ed so two servers never share it.

// ClientRecord is one persisted client.
type ClientRecord struct {
	Name  string // co_ownerid / nfs_client_id4.id
	Minor uint32 // 0: SETCLIENTID; 1 and up: EXCHANGE_ID
	Epoch uint32 // boot epoch of the instance that first recorded it
}

// Limits on the records file: it is read at start, so it is bounded.
const (
	MaxClientRecords = 16384
	maxOwnerID       = 1024 // NFS4_OPAQUE_LIMIT (RFC 7530 §2.1)
	recordsMagic     = "fsbridge-clients"
	recordsFile      = "clients"
)

// Store is the state directory of one server instance.
type Store struct {
	dir  string
	lock *os.File // flock(LOCK_EX) held while open

	mu      sync.Mutex // serialises writes
	written uint64     // generation last written
	// OnError, if set, hears about failed writes (the set stays dirty and
	// the next change retries).
	OnError func(error)
}

// OpenStore opens (creating it if needed) the state directory dir, locks
// it against other servers and returns the previous instance's records.
func OpenStore(dir string) (*Store, []ClientRecord, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	lf, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, fmt.Errorf("state directory %s is in use by another server", dir)
		}
		return nil, nil, err
	}
	s := &Store{dir: dir, lock: lf}
	recs, err := s.load()
	if err != nil {
		lf.Close()
		return nil, nil, err
	}
	return s, recs, nil
}

// epochFile holds the boot epoch of the last instance that used the
// directory (newEpoch keeps above it).
const epochFile = "epoch"

// lastEpoch returns the epoch recorded in the directory, 0 if none (or no
// Store).
func (s *Store) lastEpoch() uint32 {
	if s == nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(s.dir, epochFile))
	if err != nil || len(b) > 16 {
		return 0
	}
	e, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 0
	}
	return uint32(e)
}

// saveEpoch records e as the directory's last epoch.
func (s *Store) saveEpoch(e uint32) error {
	return writeAtomic(s.dir, epochFile, []byte(strconv.FormatUint(uint64(e), 10)+"\n"))
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the directory lock. Nothing is written: records stay as
// they are, exactly as after a crash, and later changes are not saved (the
// directory may belong to a new instance by then).
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

func (s *Store) load() ([]ClientRecord, error) {
	f, err := os.Open(filepath.Join(s.dir, recordsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := parseRecords(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return recs, nil
}

// parseRecords reads a records file, bounding every line and the count.
func parseRecords(r interface{ Read([]byte) (int, error) }) ([]ClientRecord, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 2*maxOwnerID+64)
	if !sc.Scan() {
		if sc.Err() != nil {
			return nil, sc.Err()
		}
		return nil, nil // empty file: nothing recorded
	}
	hdr := bytes.Fields(sc.Bytes())
	if len(hdr) != 3 || string(hdr[0]) != recordsMagic || string(hdr[1]) != "1" {
		return nil, errors.New("not a version 1 client records file")
	}
	var recs []ClientRecord
	seen := map[string]bool{}
	for sc.Scan() {
		fl := bytes.Fields(sc.Bytes())
		if len(fl) == 0 {
			continue
		}
		if len(fl) != 3 {
			return nil, fmt.Errorf("record %d: want 3 fields", len(recs)+1)
		}
		if len(recs) >= MaxClientRecords {
			return nil, errors.New("too many client records")
		}
		minor, err1 := strconv.ParseUint(string(fl[0]), 10, 32)
		epoch, err2 := strconv.ParseUint(string(fl[1]), 10, 32)
		if err1 != nil || err2 != nil || len(fl[2]) > 2*maxOwnerID {
			return nil, fmt.Errorf("record %d: bad field", len(recs)+1)
		}
		name, err := hex.DecodeString(string(fl[2]))
		if err != nil || len(name) == 0 {
			return nil, fmt.Errorf("record %d: bad owner id", len(recs)+1)
		}
		if seen[string(name)] {
			continue
		}
		seen[string(name)] = true
		recs = append(recs, ClientRecord{Name: string(name), Minor: uint32(minor), Epoch: uint32(epoch)})
	}
	return recs, sc.Err()
}

// save writes recs as generation gen, unless a later generation was
// already written (writers race outside the Manager's lock).
func (s *Store) save(gen uint64, epoch uint32, recs []ClientRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen <= s.written || s.lock == nil {
		return nil
	}
	slices.SortFunc(recs, func(a, b ClientRecord) int { return strings.Compare(a.Name, b.Name) })
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s 1 %d\n", recordsMagic, epoch)
	for _, r := range recs {
		fmt.Fprintf(&b, "%d %d %x\n", r.Minor, r.Epoch, r.Name)
	}
	if err := writeAtomic(s.dir, recordsFile, b.Bytes()); err != nil {
		if s.OnError != nil {
			s.OnError(err)
		}
		return err
	}
	s.written = gen
	return nil
}

// writeAtomic replaces dir/name with data: a crash leaves the old or the
// new file, never a torn one.
func writeAtomic(dir, name string, data []byte) error {
	return placeFile(dir, name, data, os.Rename)
}

// writeNewFile creates dir/name holding data, failing with os.ErrExist if
// it exists: a crash leaves no file or all of data, never a torn one.
func writeNewFile(dir, name string, data []byte) error {
	return placeFile(dir, name, data, os.Link)
}

// placeFile writes data to a synced temporary file in dir, puts it at
// dir/name with place (rename or link) and syncs the directory.
func placeFile(dir, name string, data []byte, place func(old, new string) error) error {
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := place(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
