package state

import (
	"bytes"
	"sync"
	"testing"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

func TestCreateSession(t *testing.T) {
	e := newEnv(t)
	x, err := e.m.ExchangeID(ExchangeIDArgs{OwnerID: []byte("a"), Verifier: verf(1), Principal: "p"})
	wantErr(t, "EXCHANGE_ID", err, nil)
	args := CreateSessionArgs{ClientID: x.ClientID, Sequence: x.SequenceID, Principal: "p",
		Fore: ChannelAttrs{MaxRequests: 1000, MaxRequestSize: 1 << 30, MaxResponseSize: 4096,
			MaxResponseSizeCached: 1 << 30, MaxOperations: 1 << 20}}

	_, err = e.m.CreateSession(CreateSessionArgs{ClientID: x.ClientID, Sequence: x.SequenceID, Principal: "q"})
	wantErr(t, "wrong principal on unconfirmed", err, nfs4.ErrClidInUse)
	_, err = e.m.CreateSession(CreateSessionArgs{ClientID: x.ClientID, Sequence: x.SequenceID + 5, Principal: "p"})
	wantErr(t, "misordered", err, nfs4.ErrSeqMisordered)
	_, err = e.m.CreateSession(CreateSessionArgs{ClientID: x.ClientID + 1000, Sequence: x.SequenceID})
	wantErr(t, "unknown client", err, nfs4.ErrStaleClientID)

	r1, err := e.m.CreateSession(args)
	wantErr(t, "CREATE_SESSION", err, nil)
	f := r1.Fore
	if f.MaxRequests != DefaultMaxSlots || f.MaxRequestSize != DefaultMaxRequestSize ||
		f.MaxResponseSize != 4096 || f.MaxResponseSizeCached != DefaultMaxRespCached ||
		f.MaxOperations != DefaultMaxOps {
		t.Fatalf("fore attrs not negotiated: %+v", f)
	}
	r2, err := e.m.CreateSession(args)
	wantErr(t, "replay", err, nil)
	if r2.SessionID != r1.SessionID {
		t.Fatal("replayed CREATE_SESSION created a new session")
	}
	if len(e.m.sessions) != 1 {
		t.Fatalf("%d sessions", len(e.m.sessions))
	}
	args.Sequence++
	r3, err := e.m.CreateSession(args)
	wantErr(t, "second session", err, nil)
	if r3.SessionID == r1.SessionID {
		t.Fatal("session id reused")
	}
	args.Sequence--
	_, err = e.m.CreateSession(args)
	wantErr(t, "old sequence", err, nfs4.ErrSeqMisordered)

	// After confirmation, EXCHANGE_ID reports CONFIRMED_R and the next sequence.
	x2, err := e.m.ExchangeID(ExchangeIDArgs{OwnerID: []byte("a"), Verifier: verf(1), Principal: "p"})
	wantErr(t, "EXCHANGE_ID", err, nil)
	if x2.ClientID != x.ClientID || x2.Flags&nfs4.ExchGIDFlagConfirmedR == 0 || x2.SequenceID != x.SequenceID+2 {
		t.Fatalf("EXCHANGE_ID after confirm: %+v", x2)
	}
}

func TestSequenceSlots(t *testing.T) {
	e := newEnv(t)
	_, sess := e.client41(t, "a", nil)
	seq := func(slot, seqid uint32) (SequenceResult, error) {
		return e.m.Sequence(SequenceArgs{SessionID: sess, SlotID: slot, SeqID: seqid, HighestSlotID: slot})
	}
	// New request on slot 0.
	r, err := seq(0, 1)
	wantErr(t, "new", err, nil)
	if r.Slot == nil || r.Replay != nil || r.HighestSlotID != 7 || r.TargetHighestSlotID != 7 {
		t.Fatalf("new request result %+v", r)
	}
	// Retransmission while in progress.
	_, err = seq(0, 1)
	wantErr(t, "in progress", err, nfs4.ErrDelay)
	_, err = seq(0, 2)
	wantErr(t, "next while in progress", err, nfs4.ErrSeqMisordered)
	reply := []byte("cached reply")
	r.Slot.StoreReply(reply)
	// Retransmission after completion gets the cached bytes.
	r2, err := seq(0, 1)
	wantErr(t, "replay", err, nil)
	if r2.Slot != nil || !bytes.Equal(r2.Replay, reply) {
		t.Fatalf("replay result %+v", r2)
	}
	// Misordered: too far ahead, or behind.
	_, err = seq(0, 3)
	wantErr(t, "ahead", err, nfs4.ErrSeqMisordered)
	_, err = seq(0, 0)
	wantErr(t, "behind", err, nfs4.ErrSeqMisordered)
	// Uncached reply.
	r, err = seq(0, 2)
	wantErr(t, "new 2", err, nil)
	r.Slot.StoreReply(nil)
	_, err = seq(0, 2)
	wantErr(t, "uncached replay", err, nfs4.ErrRetryUncachedRep)
	// Fresh slot: seqid 1 is new, 0 is not a replay.
	_, err = seq(3, 0)
	wantErr(t, "fresh slot seqid 0", err, nfs4.ErrSeqMisordered)
	// Bad slot, bad session.
	_, err = seq(8, 1)
	wantErr(t, "badslot", err, nfs4.ErrBadSlot)
	_, err = e.m.Sequence(SequenceArgs{SessionID: SessionID{1}, SeqID: 1})
	wantErr(t, "badsession", err, nfs4.ErrBadSession)
}

func TestSequenceBackChannelFlags(t *testing.T) {
	e := newEnv(t)
	id, sess := func() (uint64, SessionID) {
		x, _ := e.m.ExchangeID(ExchangeIDArgs{OwnerID: []byte("a"), Verifier: verf(1), Principal: "p"})
		cs, err := e.m.CreateSession(CreateSessionArgs{ClientID: x.ClientID, Sequence: x.SequenceID,
			Principal: "p", Conn: "c1"})
		wantErr(t, "CREATE_SESSION", err, nil)
		if cs.Flags&nfs4.CreateSessionFlagConnBackChan != 0 {
			t.Fatal("back channel granted without being asked")
		}
		return x.ClientID, cs.SessionID
	}()
	r, err := e.m.Sequence(SequenceArgs{SessionID: sess, SeqID: 1, Conn: "c1"})
	wantErr(t, "SEQUENCE", err, nil)
	r.Slot.StoreReply(nil)
	want := uint32(nfs4.SeqStatusCBPathDown | nfs4.SeqStatusCBPathDownSession)
	if r.StatusFlags != want {
		t.Fatalf("flags %#x, want %#x", r.StatusFlags, want)
	}
	if _, ok := e.m.FindBackChannel(id); ok {
		t.Fatal("back channel found before binding")
	}
	dir, err := e.m.BindConnToSession(sess, nfs4.CDFCBackOrBoth, "c2")
	wantErr(t, "BIND_CONN_TO_SESSION", err, nil)
	if dir != nfs4.CDFSBoth {
		t.Fatalf("dir %d", dir)
	}
	wantErr(t, "BACKCHANNEL_CTL", e.m.BackchannelCtl(sess, 0x40000000, "sec"), nil)
	bc, ok := e.m.FindBackChannel(id)
	if !ok || bc.Conn != "c2" || bc.Program != 0x40000000 || bc.Sec != "sec" || bc.SessionID != sess {
		t.Fatalf("back channel %+v %v", bc, ok)
	}
	r, err = e.m.Sequence(SequenceArgs{SessionID: sess, SeqID: 2})
	wantErr(t, "SEQUENCE", err, nil)
	r.Slot.StoreReply(nil)
	if r.StatusFlags != 0 {
		t.Fatalf("flags %#x with back channel", r.StatusFlags)
	}
	e.m.ConnClosed("c2")
	if _, ok := e.m.FindBackChannel(id); ok {
		t.Fatal("closed connection still a back channel")
	}
	_, err = e.m.BindConnToSession(SessionID{9}, nfs4.CDFCForeChan, "c3")
	wantErr(t, "bind bad session", err, nfs4.ErrBadSession)
}

// TestConcurrent exercises the Manager from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	e := newEnv(t)
	id, sess := e.client41(t, "a", "conn")
	var wg sync.WaitGroup
	for slot := uint32(0); slot < 8; slot++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := e.m.OpenOwner(id, []byte{byte(slot)}, 1)
			if err != nil {
				t.Error(err)
				return
			}
			for i := uint32(1); i <= 50; i++ {
				r, err := e.m.Sequence(SequenceArgs{SessionID: sess, SlotID: slot, SeqID: i})
				if err != nil {
					t.Error(err)
					return
				}
				or, err := e.m.Open(OpenArgs{Owner: o, FHKey: "f", Access: nfs4.ShareAccessRead})
				if err != nil {
					t.Error(err)
				} else if _, err := e.m.Close(or.StateID, 1); err != nil {
					t.Error(err)
				}
				r.Slot.StoreReply([]byte{byte(i)})
				e.m.Reap(e.clk.Now())
			}
		}()
	}
	wg.Wait()
}
