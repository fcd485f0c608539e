package state

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "st")
	s, prev, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(prev) != 0 {
		t.Fatalf("fresh directory: %d records", len(prev))
	}
	recs := []ClientRecord{{Name: "b\x00\xff client", Minor: 1, Epoch: 7}, {Name: "a", Minor: 0, Epoch: 9}}
	if err := s.save(1, 10, slices.Clone(recs)); err != nil {
		t.Fatal(err)
	}
	// An older generation never overwrites a newer one.
	if err := s.save(1, 10, nil); err != nil {
		t.Fatal(err)
	}
	// The directory is locked against a second server.
	if _, _, err := OpenStore(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second OpenStore: %v", err)
	}
	s.Close()
	if err := s.save(2, 10, nil); err != nil { // after Close: not written
		t.Fatal(err)
	}
	s2, prev, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	slices.SortFunc(recs, func(a, b ClientRecord) int { return strings.Compare(a.Name, b.Name) })
	if !slices.Equal(prev, recs) {
		t.Fatalf("loaded %+v, want %+v", prev, recs)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "lock" && e.Name() != recordsFile {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

func TestParseRecordsBad(t *testing.T) {
	for _, in := range []string{
		"garbage\n",
		"fsbridge-clients 2 1\n",
		"fsbridge-clients 1 1\n1 2\n",
		"fsbridge-clients 1 1\nx 2 61\n",
		"fsbridge-clients 1 1\n1 2 zz\n",
		"fsbridge-clients 1 1\n1 2 \n1 99999999999 61\n",
		"fsbridge-clients 1 1\n1 2 " + strings.Repeat("61", maxOwnerID+1) + "\n",
	} {
		if recs, err := parseRecords(strings.NewReader(in)); err == nil {
			t.Errorf("%.40q: parsed %+v, want an error", in, recs)
		}
	}
	// Too many records.
	var b strings.Builder
	b.WriteString("fsbridge-clients 1 1\n")
	for i := 0; i <= MaxClientRecords; i++ {
		fmt.Fprintf(&b, "1 1 %08x\n", i)
	}
	if _, err := parseRecords(strings.NewReader(b.String())); err == nil {
		t.Error("more than MaxClientRecords accepted")
	}
	// Empty file, duplicates collapsed.
	if recs, err := parseRecords(strings.NewReader("")); err != nil || len(recs) != 0 {
		t.Errorf("empty: %v %v", recs, err)
	}
	recs, err := parseRecords(strings.NewReader("fsbridge-clients 1 1\n1 2 61\n\n0 3 61\n"))
	if err != nil || len(recs) != 1 || recs[0] != (ClientRecord{Name: "a", Minor: 1, Epoch: 2}) {
		t.Errorf("duplicates: %+v %v", recs, err)
	}
}

// A server restarted within the same second gets a new epoch: the last one
// is kept in the state directory (its client IDs must not come back).
func TestEpochAboveStored(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	var epochs []uint32
	for range 3 {
		st, _, err := OpenStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		m := NewManager(Config{Clock: clock, Store: st})
		epochs = append(epochs, m.epoch)
		st.Close()
	}
	if epochs[1] <= epochs[0] || epochs[2] <= epochs[1] {
		t.Fatalf("epochs %v: not increasing", epochs)
	}
	// Across processes too: the process-wide counter is not what keeps
	// them apart.
	lastEpoch.Store(0)
	st, _, _ := OpenStore(dir)
	defer st.Close()
	if e := NewManager(Config{Clock: clock, Store: st}).epoch; e <= epochs[2] {
		t.Fatalf("after a \"restart\": epoch %d, last was %d", e, epochs[2])
	}
}
