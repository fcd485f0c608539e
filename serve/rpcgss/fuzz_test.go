package rpcgss

import (
	"testing"

	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// FuzzHandler feeds arbitrary RPCSEC_GSS credentials, verifiers and
// arguments to a Handler that holds one established context (fake
// mechanism): whatever arrives, the answer is a reply or a silent drop,
// never a panic, and the wrapped handler only ever sees calls whose
// credential checked out.
func FuzzHandler(f *testing.F) {
	r := newRig(f, Config{})
	c := r.init("alice@EXAMPLE")
	for _, svc := range []Service{ServiceNone, ServiceIntegrity, ServicePrivacy} {
		cred := Cred{Proc: ProcData, Seq: 1, Service: svc, Handle: c.handle}
		var e xdr.Encoder
		cred.Encode(&e)
		f.Add(e.Buf, []byte{}, []byte("args"), uint32(1))
	}
	var e xdr.Encoder
	(&Cred{Proc: ProcInit, Service: ServiceNone}).Encode(&e)
	f.Add(e.Buf, []byte{}, []byte{0, 0, 0, 3, 'b', 'o', 'b', 0}, uint32(0))
	(&Cred{Proc: ProcDestroy, Service: ServiceNone, Handle: c.handle, Seq: 9}).Encode(&e)
	f.Add(e.Buf, []byte{1, 2}, []byte{}, uint32(0))
	f.Fuzz(func(t *testing.T, credBody, verfBody, args []byte, proc uint32) {
		before := r.next.n.Load()
		rep := r.serve(proc%4, rpc.Auth{Flavor: rpc.RPCSecGSS, Body: credBody},
			rpc.Auth{Flavor: rpc.RPCSecGSS, Body: verfBody}, args)
		if r.next.n.Load() != before && rep.Denied {
			t.Fatalf("the wrapped handler ran for a call answered %v", rep.AuthStat)
		}
	})
}
