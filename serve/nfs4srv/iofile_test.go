package nfs4srv

import (
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
)

type countingFile struct {
	fsadapters.File
	closes int
}

func (f *countingFile) Close() error { f.closes++; return nil }

// CLOSE during an in-flight READ must not close the descriptor under it:
// the last user closes it.
func TestOpenFileCloseWaitsForUsers(t *testing.T) {
	cf := &countingFile{}
	of := &openFile{f: cf}
	if !of.acquire() || !of.acquire() {
		t.Fatal("acquire on an open file failed")
	}
	of.close()
	if cf.closes != 0 {
		t.Fatal("closed while two requests still use the file")
	}
	if of.acquire() {
		t.Fatal("acquire succeeded after close")
	}
	of.release()
	if cf.closes != 0 {
		t.Fatal("closed while one request still uses the file")
	}
	of.release()
	of.close()
	if cf.closes != 1 {
		t.Fatalf("file closed %d times, want 1", cf.closes)
	}
}
