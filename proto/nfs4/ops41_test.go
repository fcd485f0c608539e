package nfs4

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Shared harness for ops41_test.go, ops42_test.go and callback_test.go.

type coder41 interface {
	Encode(*xdr.Encoder)
	Decode(*xdr.Decoder)
}

type sample41 struct {
	name string
	v    coder41
}

func encode41(v coder41) []byte {
	var e xdr.Encoder
	v.Encode(&e)
	return e.Bytes()
}

// fresh41 returns a new zero value of v's dynamic type.
func fresh41(v coder41) coder41 {
	return reflect.New(reflect.TypeOf(v).Elem()).Interface().(coder41)
}

// norm41 sets empty slices to nil in place, so decoded values (which may
// hold empty non-nil slices aliasing the input) compare with literals.
func norm41(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			norm41(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				norm41(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			if v.CanSet() {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		for i := range v.Len() {
			norm41(v.Index(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			norm41(v.Index(i))
		}
	}
}

// roundTrip41 encodes s, decodes the bytes into a fresh value, checks that
// every byte was consumed, that the values are deep-equal and that the
// decoded value re-encodes to the same bytes. It returns the encoding.
func roundTrip41(t *testing.T, s sample41) []byte {
	t.Helper()
	b := encode41(s.v)
	if len(b)%4 != 0 {
		t.Errorf("%s: encoding is %d bytes, not a multiple of 4", s.name, len(b))
	}
	got := fresh41(s.v)
	d := xdr.NewDecoder(b)
	got.Decode(d)
	if err := d.Err(); err != nil {
		t.Errorf("%s: decode: %v", s.name, err)
		return b
	}
	if d.Remaining() != 0 {
		t.Errorf("%s: %d bytes left after decode", s.name, d.Remaining())
	}
	if b2 := encode41(got); !bytes.Equal(b, b2) {
		t.Errorf("%s: re-encode differs:\n got %x\nwant %x", s.name, b2, b)
	}
	norm41(reflect.ValueOf(got))
	want := fresh41(s.v)
	reflect.ValueOf(want).Elem().Set(reflect.ValueOf(s.v).Elem())
	norm41(reflect.ValueOf(want))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: round trip mismatch:\n got %+v\nwant %+v", s.name, got, want)
	}
	return b
}

// truncations41 decodes every proper prefix of s's encoding: each must fail
// (every field is needed), and none may panic.
func truncations41(t *testing.T, s sample41) {
	t.Helper()
	b := encode41(s.v)
	for i := range len(b) {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic decoding %d of %d bytes: %v", s.name, i, len(b), r)
				}
			}()
			d := xdr.NewDecoder(b[:i:i])
			fresh41(s.v).Decode(d)
			if d.Err() == nil {
				t.Errorf("%s: decoding %d of %d bytes did not fail", s.name, i, len(b))
			}
		}()
	}
}

// runSamples41 runs round trip and truncation on every sample and, for every
// Res type among them, also round-trips an error arm (status only).
func runSamples41(t *testing.T, samples []sample41) {
	t.Helper()
	seen := map[reflect.Type]bool{}
	for _, s := range samples {
		roundTrip41(t, s)
		truncations41(t, s)
		if r, ok := s.v.(Res); ok && !seen[reflect.TypeOf(r)] {
			seen[reflect.TypeOf(r)] = true
			errArm := fresh41(s.v)
			errArm.Decode(xdr.NewDecoder([]byte{0, 0, 0x27, 0x16})) // NFS4ERR_SERVERFAULT
			if errArm.(Res).GetStatus() != ErrServerFault {
				t.Errorf("%s: GetStatus = %v after decoding SERVERFAULT", s.name, errArm.(Res).GetStatus())
			}
			if b := roundTrip41(t, sample41{s.name + "/error-arm", errArm}); len(b) != 4 {
				t.Errorf("%s: error arm encodes to %d bytes, want 4", s.name, len(b))
			}
		}
	}
}

// checkCoverage41 fails unless every op's Args and Res types have a sample.
func checkCoverage41(t *testing.T, ops []Op, samples []sample41) {
	t.Helper()
	have := map[reflect.Type]bool{}
	for _, s := range samples {
		have[reflect.TypeOf(s.v)] = true
	}
	for _, op := range ops {
		a, r := NewArgs(op), NewRes(op)
		if a == nil || r == nil {
			t.Errorf("%v: not registered", op)
			continue
		}
		if !have[reflect.TypeOf(a)] {
			t.Errorf("%v: no sample of %T", op, a)
		}
		if !have[reflect.TypeOf(r)] {
			t.Errorf("%v: no sample of %T", op, r)
		}
	}
}

// decodeErr41 decodes b into v and returns the decoder error.
func decodeErr41(v coder41, b []byte) error {
	d := xdr.NewDecoder(b)
	v.Decode(d)
	return d.Err()
}

// words41 builds XDR input from 32-bit words.
func words41(w ...uint32) []byte {
	var e xdr.Encoder
	for _, x := range w {
		e.Uint32(x)
	}
	return e.Bytes()
}

var (
	sid41  = StateID{SeqID: 7, Other: [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}
	sess41 = SessionID{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	verf41 = Verifier{8, 7, 6, 5, 4, 3, 2, 1}
	krb5   = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	chan41 = ChannelAttrs{HeaderPadSize: 0, MaxRequestSize: 1 << 20, MaxResponseSize: 1 << 20,
		MaxResponseSizeCached: 4096, MaxOperations: 16, MaxRequests: 64}
	impl41 = &ImplID{Domain: []byte("kernel.org"), Name: []byte("Linux 6.8"), Date: Time{Seconds: 1700000000, NSeconds: 5}}
	spo41  = StateProtectOps{MustEnforce: Bitmap{1 << 5, 1 << 3}, MustAllow: Bitmap{1 << 8}}
)

var ops41 = []Op{OpExchangeID, OpCreateSession, OpDestroySession, OpBindConnToSession,
	OpBackchannelCtl, OpSequence, OpSecInfoNoName, OpTestStateID, OpFreeStateID,
	OpReclaimComplete, OpDestroyClientID, OpGetDirDelegation, OpWantDelegation, OpSetSSV,
	OpLayoutGet, OpLayoutCommit, OpLayoutReturn, OpGetDeviceInfo, OpGetDeviceList}

func samples41() []sample41 {
	secParms := []CallbackSecParms{
		{Flavor: AuthNone},
		{Flavor: AuthSys, Sys: AuthSysParms{Stamp: 9, MachineName: "client1", UID: 1000, GID: 100, GIDs: []uint32{4, 24, 27}}},
		{Flavor: RPCSecGSS, GSS: GSSCBHandles{Service: 2, HandleFromServer: []byte{1, 2, 3}, HandleFromClient: []byte{4, 5, 6, 7, 8}}},
	}
	return []sample41{
		{"EXCHANGE_ID args SP4_NONE", &ExchangeIDArgs{
			ClientOwner:  ClientOwner{Verifier: verf41, OwnerID: []byte("Linux NFSv4.2 client1")},
			Flags:        ExchGIDFlagSuppMovedRefer | ExchGIDFlagBindPrincStateID,
			StateProtect: StateProtectA{How: SP4None}, ClientImplID: impl41}},
		{"EXCHANGE_ID args SP4_MACH_CRED", &ExchangeIDArgs{
			ClientOwner:  ClientOwner{Verifier: verf41, OwnerID: []byte("abc")},
			StateProtect: StateProtectA{How: SP4MachCred, MachOps: spo41}}},
		{"EXCHANGE_ID args SP4_SSV", &ExchangeIDArgs{
			ClientOwner: ClientOwner{Verifier: verf41, OwnerID: []byte("abcd")},
			StateProtect: StateProtectA{How: SP4SSV, SSV: SSVSPParms{Ops: spo41,
				HashAlgs: [][]byte{krb5, {0x60, 0x86}}, EncrAlgs: [][]byte{{1, 2, 3, 4, 5}},
				Window: 16, NumGSSHandles: 2}},
			ClientImplID: impl41}},
		{"EXCHANGE_ID res SP4_NONE", &ExchangeIDRes{ClientID: 0x1122334455667788, SequenceID: 1,
			Flags: ExchGIDFlagUseNonPNFS | ExchGIDFlagConfirmedR, StateProtect: StateProtectR{How: SP4None},
			ServerOwner: ServerOwner{MinorID: 3, MajorID: []byte("fsbridge")}, ServerScope: []byte("scope"),
			ServerImplID: impl41}},
		{"EXCHANGE_ID res SP4_MACH_CRED", &ExchangeIDRes{ClientID: 1, StateProtect: StateProtectR{How: SP4MachCred, MachOps: spo41},
			ServerOwner: ServerOwner{MajorID: []byte("x")}, ServerScope: []byte("s")}},
		{"EXCHANGE_ID res SP4_SSV", &ExchangeIDRes{ClientID: 2, StateProtect: StateProtectR{How: SP4SSV, SSV: SSVProtInfo{
			Ops: spo41, HashAlg: 1, EncrAlg: 2, SSVLen: 32, Window: 8, Handles: [][]byte{{9, 9, 9}, {1}}}},
			ServerOwner: ServerOwner{MajorID: []byte("x")}, ServerScope: []byte("s")}},
		{"CREATE_SESSION args", &CreateSessionArgs{ClientID: 42, Sequence: 1,
			Flags:         CreateSessionFlagConnBackChan,
			ForeChanAttrs: chan41,
			BackChanAttrs: ChannelAttrs{MaxRequestSize: 4096, MaxResponseSize: 4096, MaxOperations: 2, MaxRequests: 1, RDMAIRD: []uint32{3}},
			CBProgram:     0x40000000, SecParms: secParms}},
		{"CREATE_SESSION res", &CreateSessionRes{SessionID: sess41, Sequence: 1, Flags: CreateSessionFlagConnBackChan,
			ForeChanAttrs: chan41, BackChanAttrs: chan41}},
		{"DESTROY_SESSION args", &DestroySessionArgs{SessionID: sess41}},
		{"DESTROY_SESSION res", &DestroySessionRes{StatusRes{Status: OK}}},
		{"BIND_CONN_TO_SESSION args", &BindConnToSessionArgs{SessionID: sess41, Dir: CDFCBackOrBoth, UseConnInRDMAMode: true}},
		{"BIND_CONN_TO_SESSION res", &BindConnToSessionRes{SessionID: sess41, Dir: CDFSBoth}},
		{"BACKCHANNEL_CTL args", &BackchannelCtlArgs{CBProgram: 0x40000001, SecParms: secParms[1:]}},
		{"BACKCHANNEL_CTL res", &BackchannelCtlRes{}},
		{"SEQUENCE args", &SequenceArgs{SessionID: sess41, SequenceID: 77, SlotID: 3, HighestSlotID: 9, CacheThis: true}},
		{"SEQUENCE res", &SequenceRes{SessionID: sess41, SequenceID: 77, SlotID: 3, HighestSlotID: 9,
			TargetHighestSlotID: 63, StatusFlags: SeqStatusCBPathDown | SeqStatusLeaseMoved}},
		{"SECINFO_NO_NAME args", &SecInfoNoNameArgs{Style: SecInfoStyleParent}},
		{"SECINFO_NO_NAME res", &SecInfoNoNameRes{SecInfoRes{Flavors: []SecInfo{
			{Flavor: RPCSecGSS, OID: krb5, QOP: 0, Service: 1}, {Flavor: AuthSys}}}}},
		{"TEST_STATEID args", &TestStateIDArgs{StateIDs: []StateID{sid41, AnonStateID, BypassStateID}}},
		{"TEST_STATEID res", &TestStateIDRes{StatusCodes: []Status{OK, ErrBadStateID, ErrOldStateID}}},
		{"FREE_STATEID args", &FreeStateIDArgs{StateID: sid41}},
		{"FREE_STATEID res", &FreeStateIDRes{StatusRes{Status: ErrLocksHeld}}},
		{"RECLAIM_COMPLETE args", &ReclaimCompleteArgs{OneFS: true}},
		{"RECLAIM_COMPLETE res", &ReclaimCompleteRes{}},
		{"DESTROY_CLIENTID args", &DestroyClientIDArgs{ClientID: 0xfeedface}},
		{"DESTROY_CLIENTID res", &DestroyClientIDRes{StatusRes{Status: ErrClientIDBusy}}},
		{"GET_DIR_DELEGATION args", &GetDirDelegationArgs{SignalDelegAvail: true, NotificationTypes: Bitmap{0x3e},
			ChildAttrDelay: Time{Seconds: 1}, DirAttrDelay: Time{NSeconds: 500}, ChildAttributes: Bitmap{0x18, 0x2},
			DirAttributes: Bitmap{0x8}}},
		{"GET_DIR_DELEGATION res GDD4_OK", &GetDirDelegationRes{NonFatal: GDD4OK, CookieVerf: verf41, StateID: sid41,
			Notification: Bitmap{0x6}, ChildAttributes: Bitmap{0x18}, DirAttributes: Bitmap{0, 0x100}}},
		{"GET_DIR_DELEGATION res GDD4_UNAVAIL", &GetDirDelegationRes{NonFatal: GDD4Unavail, WillSignalDelegAvail: true}},
		{"WANT_DELEGATION args CLAIM_FH", &WantDelegationArgs{Want: ShareAccessWantReadDeleg, Claim: DelegClaim{Claim: ClaimFH}}},
		{"WANT_DELEGATION args CLAIM_PREVIOUS", &WantDelegationArgs{Want: ShareAccessWantAnyDeleg,
			Claim: DelegClaim{Claim: ClaimPrevious, DelegateType: DelegateWrite}}},
		{"WANT_DELEGATION res read", &WantDelegationRes{Delegation: OpenDelegation{DelegationType: DelegateRead,
			StateID: sid41, Recall: true, Permissions: ACE{AccessMask: 0x1, Who: []byte("EVERYONE@")}}}},
		{"WANT_DELEGATION res none_ext", &WantDelegationRes{Delegation: OpenDelegation{DelegationType: DelegateNoneExt,
			Why: WNDContention, WillNotify: true}}},
		{"SET_SSV args", &SetSSVArgs{SSV: []byte("0123456789abcdef"), Digest: []byte{1, 2, 3}}},
		{"SET_SSV res", &SetSSVRes{Digest: []byte{4, 5, 6, 7, 8}}},
		{"LAYOUTGET args", &LayoutGetArgs{SignalLayoutAvail: true, LayoutType: 1, IOMode: 2, Offset: 4096,
			Length: 1 << 40, MinLength: 4096, StateID: sid41, MaxCount: 65536}},
		{"LAYOUTGET res", &LayoutGetRes{StatusRes{Status: ErrNotSupp}}},
		{"LAYOUTCOMMIT args bare", &LayoutCommitArgs{Offset: 1, Length: 2, StateID: sid41,
			LayoutUpdate: LayoutUpdate{Type: 1}}},
		{"LAYOUTCOMMIT args full", &LayoutCommitArgs{Offset: 1, Length: 2, Reclaim: true, StateID: sid41,
			HasNewOffset: true, LastWriteOffset: 99, TimeChanged: true, TimeModify: Time{Seconds: -1, NSeconds: 2},
			LayoutUpdate: LayoutUpdate{Type: 3, Body: []byte{1, 2, 3, 4, 5}}}},
		{"LAYOUTCOMMIT res", &LayoutCommitRes{StatusRes{Status: ErrNotSupp}}},
		{"LAYOUTRETURN args file", &LayoutReturnArgs{LayoutType: 1, IOMode: 3, ReturnType: LayoutReturnFile,
			Offset: 0, Length: ^uint64(0), StateID: sid41, Body: []byte{7}}},
		{"LAYOUTRETURN args all", &LayoutReturnArgs{Reclaim: true, LayoutType: 1, IOMode: 3, ReturnType: LayoutReturnAll}},
		{"LAYOUTRETURN res", &LayoutReturnRes{StatusRes{Status: ErrNotSupp}}},
		{"GETDEVICEINFO args", &GetDeviceInfoArgs{DeviceID: DeviceID{1, 2, 3}, LayoutType: 1, MaxCount: 4096, NotifyTypes: Bitmap{0x6}}},
		{"GETDEVICEINFO res", &GetDeviceInfoRes{StatusRes{Status: ErrNotSupp}}},
		{"GETDEVICELIST args", &GetDeviceListArgs{LayoutType: 1, MaxDevices: 10, Cookie: 5, CookieVerf: verf41}},
		{"GETDEVICELIST res", &GetDeviceListRes{StatusRes{Status: ErrNotSupp}}},
	}
}

func TestOps41RoundTrip(t *testing.T) { runSamples41(t, samples41()) }

func TestOps41Coverage(t *testing.T) { checkCoverage41(t, ops41, samples41()) }

// TestOps41BadInput checks that unknown union arms and over-long counts are
// decode errors (NFS4ERR_BADXDR at the server), not guesses or allocations.
func TestOps41BadInput(t *testing.T) {
	owner := append(verf41[:], words41(0)...) // client_owner4 with empty ownerid
	cases := []struct {
		name string
		v    coder41
		in   []byte
	}{
		{"state_protect4_a how=3", &ExchangeIDArgs{}, append(append([]byte{}, owner...), words41(0, 3, 0)...)},
		{"eia_client_impl_id<1> count 2", &ExchangeIDArgs{}, append(append([]byte{}, owner...), words41(0, 0, 2)...)},
		{"state_protect4_r how=9", &ExchangeIDRes{}, words41(0, 0, 1, 0, 0, 9)},
		{"callback_sec_parms4 flavor=5", &BackchannelCtlArgs{}, words41(1, 1, 5)},
		{"csa_sec_parms count huge", &BackchannelCtlArgs{}, words41(1, 0xffffffff)},
		{"ca_rdma_ird<1> count 2", &ChannelAttrs{}, words41(0, 0, 0, 0, 0, 0, 2, 1, 1)},
		{"machinename > 255", &AuthSysParms{}, append(words41(0, 256), make([]byte, 256)...)},
		{"ssp_hash_algs count 9", &SSVSPParms{}, words41(0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"ts_stateids beyond input", &TestStateIDArgs{}, words41(1000)},
		{"ts_stateids above max", &TestStateIDArgs{}, words41(MaxStateIDs + 1)},
		{"gddrnf4_status=2", &GetDirDelegationRes{}, words41(0, 2)},
		{"deleg_claim4 CLAIM_NULL", &WantDelegationArgs{}, words41(0, ClaimNull)},
		{"open_delegation4 type=7", &WantDelegationRes{}, words41(0, 7)},
		{"layoutreturn_type4=0", &LayoutReturnArgs{}, words41(0, 1, 1, 0)},
		{"bool 2", &SequenceArgs{}, append(sess41[:], words41(1, 2, 3, 2)...)},
		{"secinfo oid too long", &SecInfoNoNameRes{}, append(words41(0, 1, RPCSecGSS, 1000), make([]byte, 1008)...)},
	}
	for _, c := range cases {
		if err := decodeErr41(c.v, c.in); err == nil {
			t.Errorf("%s: decoded without error: %+v", c.name, c.v)
		}
	}
	var le *xdr.LengthError
	if err := decodeErr41(&TestStateIDArgs{}, words41(MaxStateIDs+1)); !errors.As(err, &le) {
		t.Errorf("over-max count: err = %v, want *xdr.LengthError", err)
	}
}

// TestSequenceWire pins SEQUENCE4args to the byte layout of RFC 8881 §18.46.1.
func TestSequenceWire(t *testing.T) {
	b := encode41(&SequenceArgs{SessionID: sess41, SequenceID: 0x01020304, SlotID: 5, HighestSlotID: 6, CacheThis: true})
	want := append(sess41[:], words41(0x01020304, 5, 6, 1)...)
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x want %x", b, want)
	}
}

func TestOps41Names(t *testing.T) {
	for _, op := range ops41 {
		if s := op.String(); s == fmt.Sprintf("OP_%d", uint32(op)) {
			t.Errorf("op %d has no name", uint32(op))
		}
	}
}

// TestMutations41 flips bytes of every 4.1/4.2/callback sample encoding and
// decodes the result: it may fail or succeed, but must not panic, and what
// it decodes must re-encode without panicking.
func TestMutations41(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	all := append(append(samples41(), samples42()...), samplesCB()...)
	for _, s := range all {
		b := encode41(s.v)
		if len(b) == 0 {
			continue
		}
		for range 200 {
			m := append([]byte(nil), b...)
			for range 1 + rng.IntN(3) {
				m[rng.IntN(len(m))] = byte(rng.Uint32())
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s: panic on %x: %v", s.name, m, r)
					}
				}()
				v := fresh41(s.v)
				d := xdr.NewDecoder(m)
				v.Decode(d)
				if d.Err() == nil {
					encode41(v)
				}
			}()
		}
	}
}
