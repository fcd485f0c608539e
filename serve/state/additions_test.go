package state

import (
	"testing"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Methods added for the COMPOUND handlers (serve/nfs4srv ops_*.go).

func TestReclaimCompleteOnce(t *testing.T) {
	e := newEnv(t)
	cid, _ := e.client41(t, "c", "conn")
	wantErr(t, "first", e.m.ReclaimComplete(cid), nil)
	wantErr(t, "second", e.m.ReclaimComplete(cid), nfs4.ErrCompleteAlready)
	wantErr(t, "unknown", e.m.ReclaimComplete(cid+99), nfs4.ErrStaleClientID)
}

func TestConnBound(t *testing.T) {
	e := newEnv(t)
	_, sid := e.client41(t, "c", "conn")
	if !e.m.ConnBound(sid, "conn") || e.m.ConnBound(sid, "other") {
		t.Fatal("ConnBound wrong before close")
	}
	e.m.ConnClosed("conn")
	if e.m.ConnBound(sid, "conn") {
		t.Fatal("closed connection still bound")
	}
}

func TestFileHasOpensAndStrictSeqID(t *testing.T) {
	e := newEnv(t)
	cid := e.client40(t, "c", "p", 1)
	o, err := e.m.OpenOwner(cid, []byte("o"), 0)
	wantErr(t, "owner", err, nil)
	chk, _, err := e.m.CheckSeqID(o, 10)
	if err != nil || chk != SeqNew {
		t.Fatalf("first seqid: %v %v", chk, err)
	}
	r, err := e.m.Open(OpenArgs{Owner: o, FHKey: "f", Access: nfs4.ShareAccessRead})
	wantErr(t, "open", err, nil)
	e.m.SeqIDDone(o, 10, nfs4.OK, []byte{1})
	if !e.m.FileHasOpens("f") || e.m.FileHasOpens("g") {
		t.Fatal("FileHasOpens wrong")
	}
	// The owner is unconfirmed: a wrong seqid resets it for OPEN only.
	_, _, err = e.m.CheckSeqIDStrict(o, 50)
	wantErr(t, "strict", err, nfs4.ErrBadSeqID)
	if _, err := e.m.LookupStateID(r.StateID, 0); err != nfs4.ErrBadStateID {
		t.Fatalf("unconfirmed open visible: %v", err)
	}
	if !e.m.FileHasOpens("f") {
		t.Fatal("strict check dropped the unconfirmed open")
	}
	chk, _, err = e.m.CheckSeqID(o, 50)
	if err != nil || chk != SeqNew {
		t.Fatalf("OPEN seqid on unconfirmed owner: %v %v", chk, err)
	}
	if e.m.FileHasOpens("f") {
		t.Fatal("unconfirmed open survived the owner's restart")
	}
}
