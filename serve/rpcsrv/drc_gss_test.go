package rpcsrv_test

import (
	"net"
	"testing"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// RPCSEC_GSS calls bypass the DRC: a cached reply would carry the
// verifier of the original seq_num (RFC 2203 §5.3.3.1).
func TestDRCBypassesRPCSECGSS(t *testing.T) {
	d := &rpcsrv.DRC{}
	h, addr := drcServer(t, d)
	c := rawDial(t, addr)
	for range 2 {
		var e xdr.Encoder
		e.Reserve(rpc.MarkLen)
		(&rpc.CallHeader{XID: 9, Prog: toyProg, Vers: 1, Proc: cntRun,
			Cred: rpc.Auth{Flavor: rpc.RPCSecGSS, Body: []byte("credbody")}}).Encode(&e)
		if _, err := rpc.WriteRecord(c.nc, net.Buffers{e.Buf}); err != nil {
			t.Fatal(err)
		}
		c.recv()
	}
	if n := h.runs.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (no replay from the cache)", n)
	}
	if st := d.Stats(); st.Hits != 0 || st.Entries != 0 {
		t.Fatalf("RPCSEC_GSS call cached: %+v", st)
	}
}
