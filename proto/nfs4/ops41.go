package nfs4

// Minor version 1 operations (RFC 8881 §18.33–§18.51).

import (
	"fmt"
	"github.com/fsbridge/fsbridge/proto/rpc"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Limits used only by the 4.1/4.2/callback decoders (see doc.go for the rest).
const (
	MaxSSVEncrAlgs  = 8       // ssp_encr_algs<>
	MaxGSSHandles   = 16      // ssv_prot_info4.spi_handles<>
	MaxGSSHandleLen = 1024    // gsshandle4_t
	MaxSSVLen       = 1024    // SET_SSV ssa_ssv / digests
	MaxLayoutBody   = 1 << 16 // layoutupdate4.lou_body, layoutreturn_file4.lrf_body
	DeviceIDSize    = 16      // NFS4_DEVICEID4_SIZE
)

// secinfo_style4 (RFC 8881 §18.45.1).
const (
	SecInfoStyleCurrentFH = 0
	SecInfoStyleParent    = 1
)

// gddrnf4_status (RFC 8881 §18.39.2).
const (
	GDD4OK      = 0
	GDD4Unavail = 1
)

// layoutreturn_type4 (RFC 8881 §18.44.1).
const (
	LayoutReturnFile = 1
	LayoutReturnFSID = 2
	LayoutReturnAll  = 3
)

// setBadArm records an unknown union discriminant as a decode error; such
// input is NFS4ERR_BADXDR to the server (RFC 8881 §15.1.1.1).
func setBadArm(d *xdr.Decoder, what string, v uint32) {
	d.SetErr(fmt.Errorf("nfs4: %s: unknown discriminant %d", what, v))
}

// listElem is a wire type whose pointer has Encode/Decode (list helpers).
type listElem[T any] interface {
	*T
	Encode(*xdr.Encoder)
	Decode(*xdr.Decoder)
}

// xdrList decodes a counted array of at most max elements, each taking at
// least minElem bytes, so allocation is bounded by the input. Empty arrays
// decode as nil.
func xdrList[T any, P listElem[T]](d *xdr.Decoder, what string, max uint32, minElem int) []T {
	n := d.Length(what, max, minElem)
	if n == 0 || d.Err() != nil {
		return nil
	}
	v := make([]T, n)
	for i := range v {
		P(&v[i]).Decode(d)
	}
	return v
}

// xdrPutList encodes a counted array.
func xdrPutList[T any, P listElem[T]](e *xdr.Encoder, v []T) {
	e.Uint32(uint32(len(v)))
	for i := range v {
		P(&v[i]).Encode(e)
	}
}

// opaqueList decodes opaque<max> elements in an array of at most maxN.
func opaqueList(d *xdr.Decoder, what string, maxN, maxLen uint32) [][]byte {
	n := d.Length(what, maxN, 4)
	if n == 0 || d.Err() != nil {
		return nil
	}
	v := make([][]byte, n)
	for i := range v {
		v[i] = d.Opaque(what, maxLen)
	}
	return v
}

func putOpaqueList(e *xdr.Encoder, v [][]byte) {
	e.Uint32(uint32(len(v)))
	for _, b := range v {
		e.Opaque(b)
	}
}

// SessionID is sessionid4.
type SessionID [SessionIDSize]byte

func (s *SessionID) Encode(e *xdr.Encoder) { e.FixedOpaque(s[:]) }
func (s *SessionID) Decode(d *xdr.Decoder) { d.FixedOpaqueInto(s[:]) }

// DeviceID is deviceid4.
type DeviceID [DeviceIDSize]byte

func (s *DeviceID) Encode(e *xdr.Encoder) { e.FixedOpaque(s[:]) }
func (s *DeviceID) Decode(d *xdr.Decoder) { d.FixedOpaqueInto(s[:]) }

// ---------------------------------------------------------------- EXCHANGE_ID (§18.35)

// ClientOwner is client_owner4.
type ClientOwner struct {
	Verifier Verifier
	OwnerID  []byte
}

func (c *ClientOwner) Encode(e *xdr.Encoder) {
	c.Verifier.Encode(e)
	e.Opaque(c.OwnerID)
}
func (c *ClientOwner) Decode(d *xdr.Decoder) {
	c.Verifier.Decode(d)
	c.OwnerID = d.Opaque("co_ownerid", OpaqueLimit)
}

// ServerOwner is server_owner4.
type ServerOwner struct {
	MinorID uint64
	MajorID []byte
}

func (s *ServerOwner) Encode(e *xdr.Encoder) {
	e.Uint64(s.MinorID)
	e.Opaque(s.MajorID)
}
func (s *ServerOwner) Decode(d *xdr.Decoder) {
	s.MinorID = d.Uint64()
	s.MajorID = d.Opaque("so_major_id", OpaqueLimit)
}

// ImplID is nfs_impl_id4.
type ImplID struct {
	Domain []byte // utf8str_cis
	Name   []byte // utf8str_cs
	Date   Time
}

func (i *ImplID) Encode(e *xdr.Encoder) {
	e.Opaque(i.Domain)
	e.Opaque(i.Name)
	i.Date.Encode(e)
}
func (i *ImplID) Decode(d *xdr.Decoder) {
	i.Domain = d.Opaque("nii_domain", OpaqueLimit)
	i.Name = d.Opaque("nii_name", OpaqueLimit)
	i.Date.Decode(d)
}

// encodeImplID / decodeImplID handle nfs_impl_id4 x<1>: a count of 0 or 1.
func encodeImplID(e *xdr.Encoder, i *ImplID) {
	if i == nil {
		e.Uint32(0)
		return
	}
	e.Uint32(1)
	i.Encode(e)
}
func decodeImplID(d *xdr.Decoder, what string) *ImplID {
	if d.Length(what, MaxImplIDs, 4) == 0 {
		return nil
	}
	i := new(ImplID)
	i.Decode(d)
	return i
}

// StateProtectOps is state_protect_ops4.
type StateProtectOps struct {
	MustEnforce Bitmap
	MustAllow   Bitmap
}

func (s *StateProtectOps) Encode(e *xdr.Encoder) {
	s.MustEnforce.Encode(e)
	s.MustAllow.Encode(e)
}
func (s *StateProtectOps) Decode(d *xdr.Decoder) {
	s.MustEnforce.Decode(d)
	s.MustAllow.Decode(d)
}

// SSVSPParms is ssv_sp_parms4.
type SSVSPParms struct {
	Ops           StateProtectOps
	HashAlgs      [][]byte // sec_oid4<>
	EncrAlgs      [][]byte // sec_oid4<>
	Window        uint32
	NumGSSHandles uint32
}

func (s *SSVSPParms) Encode(e *xdr.Encoder) {
	s.Ops.Encode(e)
	putOpaqueList(e, s.HashAlgs)
	putOpaqueList(e, s.EncrAlgs)
	e.Uint32(s.Window)
	e.Uint32(s.NumGSSHandles)
}
func (s *SSVSPParms) Decode(d *xdr.Decoder) {
	s.Ops.Decode(d)
	s.HashAlgs = opaqueList(d, "ssp_hash_algs", MaxSSVHashAlgs, MaxOIDLen)
	s.EncrAlgs = opaqueList(d, "ssp_encr_algs", MaxSSVEncrAlgs, MaxOIDLen)
	s.Window = d.Uint32()
	s.NumGSSHandles = d.Uint32()
}

// StateProtectA is state_protect4_a. How selects the arm (SP4None,
// SP4MachCred → MachOps, SP4SSV → SSV).
type StateProtectA struct {
	How     uint32
	MachOps StateProtectOps
	SSV     SSVSPParms
}

func (s *StateProtectA) Encode(e *xdr.Encoder) {
	e.Uint32(s.How)
	switch s.How {
	case SP4MachCred:
		s.MachOps.Encode(e)
	case SP4SSV:
		s.SSV.Encode(e)
	}
}
func (s *StateProtectA) Decode(d *xdr.Decoder) {
	s.How = d.Uint32()
	switch s.How {
	case SP4None:
	case SP4MachCred:
		s.MachOps.Decode(d)
	case SP4SSV:
		s.SSV.Decode(d)
	default:
		setBadArm(d, "state_protect4_a", s.How)
	}
}

// SSVProtInfo is ssv_prot_info4.
type SSVProtInfo struct {
	Ops     StateProtectOps
	HashAlg uint32
	EncrAlg uint32
	SSVLen  uint32
	Window  uint32
	Handles [][]byte // gsshandle4_t<>
}

func (s *SSVProtInfo) Encode(e *xdr.Encoder) {
	s.Ops.Encode(e)
	e.Uint32(s.HashAlg)
	e.Uint32(s.EncrAlg)
	e.Uint32(s.SSVLen)
	e.Uint32(s.Window)
	putOpaqueList(e, s.Handles)
}
func (s *SSVProtInfo) Decode(d *xdr.Decoder) {
	s.Ops.Decode(d)
	s.HashAlg = d.Uint32()
	s.EncrAlg = d.Uint32()
	s.SSVLen = d.Uint32()
	s.Window = d.Uint32()
	s.Handles = opaqueList(d, "spi_handles", MaxGSSHandles, MaxGSSHandleLen)
}

// StateProtectR is state_protect4_r.
type StateProtectR struct {
	How     uint32
	MachOps StateProtectOps
	SSV     SSVProtInfo
}

func (s *StateProtectR) Encode(e *xdr.Encoder) {
	e.Uint32(s.How)
	switch s.How {
	case SP4MachCred:
		s.MachOps.Encode(e)
	case SP4SSV:
		s.SSV.Encode(e)
	}
}
func (s *StateProtectR) Decode(d *xdr.Decoder) {
	s.How = d.Uint32()
	switch s.How {
	case SP4None:
	case SP4MachCred:
		s.MachOps.Decode(d)
	case SP4SSV:
		s.SSV.Decode(d)
	default:
		setBadArm(d, "state_protect4_r", s.How)
	}
}

// ExchangeIDArgs is EXCHANGE_ID4args (RFC 8881 §18.35.1).
type ExchangeIDArgs struct {
	ClientOwner  ClientOwner
	Flags        uint32
	StateProtect StateProtectA
	ClientImplID *ImplID // nfs_impl_id4<1>
}

func (a *ExchangeIDArgs) Encode(e *xdr.Encoder) {
	a.ClientOwner.Encode(e)
	e.Uint32(a.Flags)
	a.StateProtect.Encode(e)
	encodeImplID(e, a.ClientImplID)
}
func (a *ExchangeIDArgs) Decode(d *xdr.Decoder) {
	a.ClientOwner.Decode(d)
	a.Flags = d.Uint32()
	a.StateProtect.Decode(d)
	a.ClientImplID = decodeImplID(d, "eia_client_impl_id")
}

// ExchangeIDRes is EXCHANGE_ID4res; the fields after Status are the resok.
type ExchangeIDRes struct {
	Status       Status
	ClientID     uint64
	SequenceID   uint32
	Flags        uint32
	StateProtect StateProtectR
	ServerOwner  ServerOwner
	ServerScope  []byte
	ServerImplID *ImplID // nfs_impl_id4<1>
}

func (r *ExchangeIDRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status != OK {
		return
	}
	e.Uint64(r.ClientID)
	e.Uint32(r.SequenceID)
	e.Uint32(r.Flags)
	r.StateProtect.Encode(e)
	r.ServerOwner.Encode(e)
	e.Opaque(r.ServerScope)
	encodeImplID(e, r.ServerImplID)
}
func (r *ExchangeIDRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status != OK {
		return
	}
	r.ClientID = d.Uint64()
	r.SequenceID = d.Uint32()
	r.Flags = d.Uint32()
	r.StateProtect.Decode(d)
	r.ServerOwner.Decode(d)
	r.ServerScope = d.Opaque("eir_server_scope", MaxServerScope)
	r.ServerImplID = decodeImplID(d, "eir_server_impl_id")
}

// ---------------------------------------------------------------- CREATE_SESSION (§18.36)

// ChannelAttrs is channel_attrs4.
type ChannelAttrs struct {
	HeaderPadSize         uint32
	MaxRequestSize        uint32
	MaxResponseSize       uint32
	MaxResponseSizeCached uint32
	MaxOperations         uint32
	MaxRequests           uint32
	RDMAIRD               []uint32 // ca_rdma_ird<1>
}

func (c *ChannelAttrs) Encode(e *xdr.Encoder) {
	e.Uint32(c.HeaderPadSize)
	e.Uint32(c.MaxRequestSize)
	e.Uint32(c.MaxResponseSize)
	e.Uint32(c.MaxResponseSizeCached)
	e.Uint32(c.MaxOperations)
	e.Uint32(c.MaxRequests)
	e.Uint32s(c.RDMAIRD)
}
func (c *ChannelAttrs) Decode(d *xdr.Decoder) {
	c.HeaderPadSize = d.Uint32()
	c.MaxRequestSize = d.Uint32()
	c.MaxResponseSize = d.Uint32()
	c.MaxResponseSizeCached = d.Uint32()
	c.MaxOperations = d.Uint32()
	c.MaxRequests = d.Uint32()
	c.RDMAIRD = d.Uint32s("ca_rdma_ird", 1)
	if len(c.RDMAIRD) == 0 {
		c.RDMAIRD = nil
	}
}

// AuthSysParms is authsys_parms (RFC 5531 appendix A) in callback_sec_parms4:
// the same type, limits and codec as the RPC layer's credential.
type AuthSysParms = rpc.AuthSysParams

// GSSCBHandles is gss_cb_handles4.
type GSSCBHandles struct {
	Service          uint32 // rpc_gss_svc_t
	HandleFromServer []byte
	HandleFromClient []byte
}

func (g *GSSCBHandles) Encode(e *xdr.Encoder) {
	e.Uint32(g.Service)
	e.Opaque(g.HandleFromServer)
	e.Opaque(g.HandleFromClient)
}
func (g *GSSCBHandles) Decode(d *xdr.Decoder) {
	g.Service = d.Uint32()
	g.HandleFromServer = d.Opaque("gcbp_handle_from_server", MaxGSSHandleLen)
	g.HandleFromClient = d.Opaque("gcbp_handle_from_client", MaxGSSHandleLen)
}

// CallbackSecParms is callback_sec_parms4: Flavor selects AuthNone (void),
// AuthSys → Sys, RPCSecGSS → GSS.
type CallbackSecParms struct {
	Flavor uint32
	Sys    AuthSysParms
	GSS    GSSCBHandles
}

func (c *CallbackSecParms) Encode(e *xdr.Encoder) {
	e.Uint32(c.Flavor)
	switch c.Flavor {
	case AuthSys:
		c.Sys.Encode(e)
	case RPCSecGSS:
		c.GSS.Encode(e)
	}
}
func (c *CallbackSecParms) Decode(d *xdr.Decoder) {
	c.Flavor = d.Uint32()
	switch c.Flavor {
	case AuthNone:
	case AuthSys:
		c.Sys.Decode(d)
	case RPCSecGSS:
		c.GSS.Decode(d)
	default:
		setBadArm(d, "callback_sec_parms4", c.Flavor)
	}
}

// CreateSessionArgs is CREATE_SESSION4args (RFC 8881 §18.36.1).
type CreateSessionArgs struct {
	ClientID      uint64
	Sequence      uint32
	Flags         uint32
	ForeChanAttrs ChannelAttrs
	BackChanAttrs ChannelAttrs
	CBProgram     uint32
	SecParms      []CallbackSecParms
}

func (a *CreateSessionArgs) Encode(e *xdr.Encoder) {
	e.Uint64(a.ClientID)
	e.Uint32(a.Sequence)
	e.Uint32(a.Flags)
	a.ForeChanAttrs.Encode(e)
	a.BackChanAttrs.Encode(e)
	e.Uint32(a.CBProgram)
	xdrPutList(e, a.SecParms)
}
func (a *CreateSessionArgs) Decode(d *xdr.Decoder) {
	a.ClientID = d.Uint64()
	a.Sequence = d.Uint32()
	a.Flags = d.Uint32()
	a.ForeChanAttrs.Decode(d)
	a.BackChanAttrs.Decode(d)
	a.CBProgram = d.Uint32()
	a.SecParms = xdrList[CallbackSecParms](d, "csa_sec_parms", MaxCallbackSecs, 4)
}

// CreateSessionRes is CREATE_SESSION4res.
type CreateSessionRes struct {
	Status        Status
	SessionID     SessionID
	Sequence      uint32
	Flags         uint32
	ForeChanAttrs ChannelAttrs
	BackChanAttrs ChannelAttrs
}

func (r *CreateSessionRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status != OK {
		return
	}
	r.SessionID.Encode(e)
	e.Uint32(r.Sequence)
	e.Uint32(r.Flags)
	r.ForeChanAttrs.Encode(e)
	r.BackChanAttrs.Encode(e)
}
func (r *CreateSessionRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status != OK {
		return
	}
	r.SessionID.Decode(d)
	r.Sequence = d.Uint32()
	r.Flags = d.Uint32()
	r.ForeChanAttrs.Decode(d)
	r.BackChanAttrs.Decode(d)
}

// ---------------------------------------------------------------- DESTROY_SESSION (§18.37)

// DestroySessionArgs is DESTROY_SESSION4args.
type DestroySessionArgs struct{ SessionID SessionID }

func (a *DestroySessionArgs) Encode(e *xdr.Encoder) { a.SessionID.Encode(e) }
func (a *DestroySessionArgs) Decode(d *xdr.Decoder) { a.SessionID.Decode(d) }

// DestroySessionRes is DESTROY_SESSION4res.
type DestroySessionRes struct{ StatusRes }

// ---------------------------------------------------------------- BIND_CONN_TO_SESSION (§18.34)

// BindConnToSessionArgs is BIND_CONN_TO_SESSION4args; Dir is a CDFC* value.
type BindConnToSessionArgs struct {
	SessionID         SessionID
	Dir               uint32
	UseConnInRDMAMode bool
}

func (a *BindConnToSessionArgs) Encode(e *xdr.Encoder) {
	a.SessionID.Encode(e)
	e.Uint32(a.Dir)
	e.Bool(a.UseConnInRDMAMode)
}
func (a *BindConnToSessionArgs) Decode(d *xdr.Decoder) {
	a.SessionID.Decode(d)
	a.Dir = d.Uint32()
	a.UseConnInRDMAMode = d.Bool()
}

// BindConnToSessionRes is BIND_CONN_TO_SESSION4res; Dir is a CDFS* value.
type BindConnToSessionRes struct {
	Status            Status
	SessionID         SessionID
	Dir               uint32
	UseConnInRDMAMode bool
}

func (r *BindConnToSessionRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status != OK {
		return
	}
	r.SessionID.Encode(e)
	e.Uint32(r.Dir)
	e.Bool(r.UseConnInRDMAMode)
}
func (r *BindConnToSessionRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status != OK {
		return
	}
	r.SessionID.Decode(d)
	r.Dir = d.Uint32()
	r.UseConnInRDMAMode = d.Bool()
}

// ---------------------------------------------------------------- BACKCHANNEL_CTL (§18.33)

// BackchannelCtlArgs is BACKCHANNEL_CTL4args.
type BackchannelCtlArgs struct {
	CBProgram uint32
	SecParms  []CallbackSecParms
}

func (a *BackchannelCtlArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.CBProgram)
	xdrPutList(e, a.SecParms)
}
func (a *BackchannelCtlArgs) Decode(d *xdr.Decoder) {
	a.CBProgram = d.Uint32()
	a.SecParms = xdrList[CallbackSecParms](d, "bca_sec_parms", MaxCallbackSecs, 4)
}

// BackchannelCtlRes is BACKCHANNEL_CTL4res.
type BackchannelCtlRes struct{ StatusRes }

// ---------------------------------------------------------------- SEQUENCE (§18.46)

// SequenceArgs is SEQUENCE4args.
type SequenceArgs struct {
	SessionID     SessionID
	SequenceID    uint32
	SlotID        uint32
	HighestSlotID uint32
	CacheThis     bool
}

func (a *SequenceArgs) Encode(e *xdr.Encoder) {
	a.SessionID.Encode(e)
	e.Uint32(a.SequenceID)
	e.Uint32(a.SlotID)
	e.Uint32(a.HighestSlotID)
	e.Bool(a.CacheThis)
}
func (a *SequenceArgs) Decode(d *xdr.Decoder) {
	a.SessionID.Decode(d)
	a.SequenceID = d.Uint32()
	a.SlotID = d.Uint32()
	a.HighestSlotID = d.Uint32()
	a.CacheThis = d.Bool()
}

// SequenceRes is SEQUENCE4res; StatusFlags holds SeqStatus* bits.
type SequenceRes struct {
	Status              Status
	SessionID           SessionID
	SequenceID          uint32
	SlotID              uint32
	HighestSlotID       uint32
	TargetHighestSlotID uint32
	StatusFlags         uint32
}

func (r *SequenceRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status != OK {
		return
	}
	r.SessionID.Encode(e)
	e.Uint32(r.SequenceID)
	e.Uint32(r.SlotID)
	e.Uint32(r.HighestSlotID)
	e.Uint32(r.TargetHighestSlotID)
	e.Uint32(r.StatusFlags)
}
func (r *SequenceRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status != OK {
		return
	}
	r.SessionID.Decode(d)
	r.SequenceID = d.Uint32()
	r.SlotID = d.Uint32()
	r.HighestSlotID = d.Uint32()
	r.TargetHighestSlotID = d.Uint32()
	r.StatusFlags = d.Uint32()
}

// ---------------------------------------------------------------- SECINFO_NO_NAME (§18.45)

// SecInfoNoNameArgs is SECINFO_NO_NAME4args: a secinfo_style4.
type SecInfoNoNameArgs struct{ Style uint32 }

func (a *SecInfoNoNameArgs) Encode(e *xdr.Encoder) { e.Uint32(a.Style) }
func (a *SecInfoNoNameArgs) Decode(d *xdr.Decoder) { a.Style = d.Uint32() }

// SecInfoNoNameRes is SECINFO_NO_NAME4res, which RFC 8881 §18.45.2 defines
// as SECINFO4res.
type SecInfoNoNameRes struct{ SecInfoRes }

// ---------------------------------------------------------------- TEST_STATEID (§18.48)

// TestStateIDArgs is TEST_STATEID4args.
type TestStateIDArgs struct{ StateIDs []StateID }

func (a *TestStateIDArgs) Encode(e *xdr.Encoder) { xdrPutList(e, a.StateIDs) }
func (a *TestStateIDArgs) Decode(d *xdr.Decoder) {
	a.StateIDs = xdrList[StateID](d, "ts_stateids", MaxStateIDs, 16)
}

// TestStateIDRes is TEST_STATEID4res: one status per stateid tested.
type TestStateIDRes struct {
	Status      Status
	StatusCodes []Status
}

func (r *TestStateIDRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status != OK {
		return
	}
	e.Uint32(uint32(len(r.StatusCodes)))
	for _, s := range r.StatusCodes {
		e.Uint32(uint32(s))
	}
}
func (r *TestStateIDRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status != OK {
		return
	}
	n := d.Length("tsr_status_codes", MaxStateIDs, 4)
	if n == 0 || d.Err() != nil {
		return
	}
	r.StatusCodes = make([]Status, n)
	for i := range r.StatusCodes {
		r.StatusCodes[i] = Status(d.Uint32())
	}
}

// ---------------------------------------------------------------- FREE_STATEID (§18.38)

// FreeStateIDArgs is FREE_STATEID4args.
type FreeStateIDArgs struct{ StateID StateID }

func (a *FreeStateIDArgs) Encode(e *xdr.Encoder) { a.StateID.Encode(e) }
func (a *FreeStateIDArgs) Decode(d *xdr.Decoder) { a.StateID.Decode(d) }

// FreeStateIDRes is FREE_STATEID4res.
type FreeStateIDRes struct{ StatusRes }

// ---------------------------------------------------------------- RECLAIM_COMPLETE (§18.51)

// ReclaimCompleteArgs is RECLAIM_COMPLETE4args.
type ReclaimCompleteArgs struct{ OneFS bool }

func (a *ReclaimCompleteArgs) Encode(e *xdr.Encoder) { e.Bool(a.OneFS) }
func (a *ReclaimCompleteArgs) Decode(d *xdr.Decoder) { a.OneFS = d.Bool() }

// ReclaimCompleteRes is RECLAIM_COMPLETE4res.
type ReclaimCompleteRes struct{ StatusRes }

// ---------------------------------------------------------------- DESTROY_CLIENTID (§18.50)

// DestroyClientIDArgs is DESTROY_CLIENTID4args.
type DestroyClientIDArgs struct{ ClientID uint64 }

func (a *DestroyClientIDArgs) Encode(e *xdr.Encoder) { e.Uint64(a.ClientID) }
func (a *DestroyClientIDArgs) Decode(d *xdr.Decoder) { a.ClientID = d.Uint64() }

// DestroyClientIDRes is DESTROY_CLIENTID4res.
type DestroyClientIDRes struct{ StatusRes }

// ---------------------------------------------------------------- GET_DIR_DELEGATION (§18.39)

// GetDirDelegationArgs is GET_DIR_DELEGATION4args.
type GetDirDelegationArgs struct {
	SignalDelegAvail  bool
	NotificationTypes Bitmap
	ChildAttrDelay    Time // attr_notice4
	DirAttrDelay      Time // attr_notice4
	ChildAttributes   Bitmap
	DirAttributes     Bitmap
}

func (a *GetDirDelegationArgs) Encode(e *xdr.Encoder) {
	e.Bool(a.SignalDelegAvail)
	a.NotificationTypes.Encode(e)
	a.ChildAttrDelay.Encode(e)
	a.DirAttrDelay.Encode(e)
	a.ChildAttributes.Encode(e)
	a.DirAttributes.Encode(e)
}
func (a *GetDirDelegationArgs) Decode(d *xdr.Decoder) {
	a.SignalDelegAvail = d.Bool()
	a.NotificationTypes.Decode(d)
	a.ChildAttrDelay.Decode(d)
	a.DirAttrDelay.Decode(d)
	a.ChildAttributes.Decode(d)
	a.DirAttributes.Decode(d)
}

// GetDirDelegationRes is GET_DIR_DELEGATION4res. When Status is OK,
// NonFatal selects GDD4OK (the resok fields) or GDD4Unavail
// (WillSignalDelegAvail).
type GetDirDelegationRes struct {
	Status               Status
	NonFatal             uint32 // gddrnf4_status
	CookieVerf           Verifier
	StateID              StateID
	Notification         Bitmap
	ChildAttributes      Bitmap
	DirAttributes        Bitmap
	WillSignalDelegAvail bool
}

func (r *GetDirDelegationRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status != OK {
		return
	}
	e.Uint32(r.NonFatal)
	switch r.NonFatal {
	case GDD4OK:
		r.CookieVerf.Encode(e)
		r.StateID.Encode(e)
		r.Notification.Encode(e)
		r.ChildAttributes.Encode(e)
		r.DirAttributes.Encode(e)
	case GDD4Unavail:
		e.Bool(r.WillSignalDelegAvail)
	}
}
func (r *GetDirDelegationRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status != OK {
		return
	}
	r.NonFatal = d.Uint32()
	switch r.NonFatal {
	case GDD4OK:
		r.CookieVerf.Decode(d)
		r.StateID.Decode(d)
		r.Notification.Decode(d)
		r.ChildAttributes.Decode(d)
		r.DirAttributes.Decode(d)
	case GDD4Unavail:
		r.WillSignalDelegAvail = d.Bool()
	default:
		setBadArm(d, "GET_DIR_DELEGATION4res_non_fatal", r.NonFatal)
	}
}

// ---------------------------------------------------------------- WANT_DELEGATION (§18.49)

// DelegClaim is deleg_claim4: Claim is ClaimFH, ClaimDelegPrevFH (void) or
// ClaimPrevious (DelegateType).
type DelegClaim struct {
	Claim        uint32
	DelegateType uint32
}

func (c *DelegClaim) Encode(e *xdr.Encoder) {
	e.Uint32(c.Claim)
	if c.Claim == ClaimPrevious {
		e.Uint32(c.DelegateType)
	}
}
func (c *DelegClaim) Decode(d *xdr.Decoder) {
	c.Claim = d.Uint32()
	switch c.Claim {
	case ClaimFH, ClaimDelegPrevFH:
	case ClaimPrevious:
		c.DelegateType = d.Uint32()
	default:
		setBadArm(d, "deleg_claim4", c.Claim)
	}
}

// WantDelegationArgs is WANT_DELEGATION4args; Want holds the
// ShareAccessWant* bits.
type WantDelegationArgs struct {
	Want  uint32
	Claim DelegClaim
}

func (a *WantDelegationArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.Want)
	a.Claim.Encode(e)
}
func (a *WantDelegationArgs) Decode(d *xdr.Decoder) {
	a.Want = d.Uint32()
	a.Claim.Decode(d)
}

// WantDelegationRes is WANT_DELEGATION4res: resok is OPEN's open_delegation4.
type WantDelegationRes struct {
	Status     Status
	Delegation OpenDelegation
}

func (r *WantDelegationRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.Delegation.Encode(e)
	}
}
func (r *WantDelegationRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.Delegation.Decode(d)
	}
}

// ---------------------------------------------------------------- SET_SSV (§18.47)

// SetSSVArgs is SET_SSV4args.
type SetSSVArgs struct {
	SSV    []byte
	Digest []byte
}

func (a *SetSSVArgs) Encode(e *xdr.Encoder) {
	e.Opaque(a.SSV)
	e.Opaque(a.Digest)
}
func (a *SetSSVArgs) Decode(d *xdr.Decoder) {
	a.SSV = d.Opaque("ssa_ssv", MaxSSVLen)
	a.Digest = d.Opaque("ssa_digest", MaxSSVLen)
}

// SetSSVRes is SET_SSV4res.
type SetSSVRes struct {
	Status Status
	Digest []byte
}

func (r *SetSSVRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Opaque(r.Digest)
	}
}
func (r *SetSSVRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.Digest = d.Opaque("ssr_digest", MaxSSVLen)
	}
}

// ---------------------------------------------------------------- pNFS ops (§18.40–§18.44)
//
// We are not a pNFS server: these args are decoded only so a COMPOUND can be
// walked past them and the op answered with NFS4ERR_NOTSUPP. Their results
// therefore hold only a Status (an OK result is never produced).

// LayoutGetArgs is LAYOUTGET4args (§18.43.1).
type LayoutGetArgs struct {
	SignalLayoutAvail bool
	LayoutType        uint32
	IOMode            uint32
	Offset            uint64
	Length            uint64
	MinLength         uint64
	StateID           StateID
	MaxCount          uint32
}

func (a *LayoutGetArgs) Encode(e *xdr.Encoder) {
	e.Bool(a.SignalLayoutAvail)
	e.Uint32(a.LayoutType)
	e.Uint32(a.IOMode)
	e.Uint64(a.Offset)
	e.Uint64(a.Length)
	e.Uint64(a.MinLength)
	a.StateID.Encode(e)
	e.Uint32(a.MaxCount)
}
func (a *LayoutGetArgs) Decode(d *xdr.Decoder) {
	a.SignalLayoutAvail = d.Bool()
	a.LayoutType = d.Uint32()
	a.IOMode = d.Uint32()
	a.Offset = d.Uint64()
	a.Length = d.Uint64()
	a.MinLength = d.Uint64()
	a.StateID.Decode(d)
	a.MaxCount = d.Uint32()
}

// LayoutGetRes is LAYOUTGET4res (error arms only).
type LayoutGetRes struct{ StatusRes }

// LayoutUpdate is layoutupdate4.
type LayoutUpdate struct {
	Type uint32
	Body []byte
}

func (l *LayoutUpdate) Encode(e *xdr.Encoder) {
	e.Uint32(l.Type)
	e.Opaque(l.Body)
}
func (l *LayoutUpdate) Decode(d *xdr.Decoder) {
	l.Type = d.Uint32()
	l.Body = d.Opaque("lou_body", MaxLayoutBody)
}

// LayoutCommitArgs is LAYOUTCOMMIT4args (§18.42.1). The newoffset4 and
// newtime4 unions are flattened into a bool plus value.
type LayoutCommitArgs struct {
	Offset          uint64
	Length          uint64
	Reclaim         bool
	StateID         StateID
	HasNewOffset    bool
	LastWriteOffset uint64
	TimeChanged     bool
	TimeModify      Time
	LayoutUpdate    LayoutUpdate
}

func (a *LayoutCommitArgs) Encode(e *xdr.Encoder) {
	e.Uint64(a.Offset)
	e.Uint64(a.Length)
	e.Bool(a.Reclaim)
	a.StateID.Encode(e)
	e.Bool(a.HasNewOffset)
	if a.HasNewOffset {
		e.Uint64(a.LastWriteOffset)
	}
	e.Bool(a.TimeChanged)
	if a.TimeChanged {
		a.TimeModify.Encode(e)
	}
	a.LayoutUpdate.Encode(e)
}
func (a *LayoutCommitArgs) Decode(d *xdr.Decoder) {
	a.Offset = d.Uint64()
	a.Length = d.Uint64()
	a.Reclaim = d.Bool()
	a.StateID.Decode(d)
	if a.HasNewOffset = d.Bool(); a.HasNewOffset {
		a.LastWriteOffset = d.Uint64()
	}
	if a.TimeChanged = d.Bool(); a.TimeChanged {
		a.TimeModify.Decode(d)
	}
	a.LayoutUpdate.Decode(d)
}

// LayoutCommitRes is LAYOUTCOMMIT4res (error arms only).
type LayoutCommitRes struct{ StatusRes }

// LayoutReturnArgs is LAYOUTRETURN4args (§18.44.1); the layoutreturn_file4
// fields are present only when ReturnType is LayoutReturnFile.
type LayoutReturnArgs struct {
	Reclaim    bool
	LayoutType uint32
	IOMode     uint32
	ReturnType uint32
	Offset     uint64
	Length     uint64
	StateID    StateID
	Body       []byte
}

func (a *LayoutReturnArgs) Encode(e *xdr.Encoder) {
	e.Bool(a.Reclaim)
	e.Uint32(a.LayoutType)
	e.Uint32(a.IOMode)
	e.Uint32(a.ReturnType)
	if a.ReturnType == LayoutReturnFile {
		e.Uint64(a.Offset)
		e.Uint64(a.Length)
		a.StateID.Encode(e)
		e.Opaque(a.Body)
	}
}
func (a *LayoutReturnArgs) Decode(d *xdr.Decoder) {
	a.Reclaim = d.Bool()
	a.LayoutType = d.Uint32()
	a.IOMode = d.Uint32()
	a.ReturnType = d.Uint32()
	switch a.ReturnType {
	case LayoutReturnFile:
		a.Offset = d.Uint64()
		a.Length = d.Uint64()
		a.StateID.Decode(d)
		a.Body = d.Opaque("lrf_body", MaxLayoutBody)
	case LayoutReturnFSID, LayoutReturnAll:
	default:
		setBadArm(d, "layoutreturn4", a.ReturnType)
	}
}

// LayoutReturnRes is LAYOUTRETURN4res (error arms only).
type LayoutReturnRes struct{ StatusRes }

// GetDeviceInfoArgs is GETDEVICEINFO4args (§18.40.1).
type GetDeviceInfoArgs struct {
	DeviceID    DeviceID
	LayoutType  uint32
	MaxCount    uint32
	NotifyTypes Bitmap
}

func (a *GetDeviceInfoArgs) Encode(e *xdr.Encoder) {
	a.DeviceID.Encode(e)
	e.Uint32(a.LayoutType)
	e.Uint32(a.MaxCount)
	a.NotifyTypes.Encode(e)
}
func (a *GetDeviceInfoArgs) Decode(d *xdr.Decoder) {
	a.DeviceID.Decode(d)
	a.LayoutType = d.Uint32()
	a.MaxCount = d.Uint32()
	a.NotifyTypes.Decode(d)
}

// GetDeviceInfoRes is GETDEVICEINFO4res (error arms only; the
// NFS4ERR_TOOSMALL mincount arm is never produced).
type GetDeviceInfoRes struct{ StatusRes }

// GetDeviceListArgs is GETDEVICELIST4args (§18.41.1).
type GetDeviceListArgs struct {
	LayoutType uint32
	MaxDevices uint32
	Cookie     uint64
	CookieVerf Verifier
}

func (a *GetDeviceListArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.LayoutType)
	e.Uint32(a.MaxDevices)
	e.Uint64(a.Cookie)
	a.CookieVerf.Encode(e)
}
func (a *GetDeviceListArgs) Decode(d *xdr.Decoder) {
	a.LayoutType = d.Uint32()
	a.MaxDevices = d.Uint32()
	a.Cookie = d.Uint64()
	a.CookieVerf.Decode(d)
}

// GetDeviceListRes is GETDEVICELIST4res (error arms only).
type GetDeviceListRes struct{ StatusRes }

func (r *ExchangeIDRes) GetStatus() Status        { return r.Status }
func (r *CreateSessionRes) GetStatus() Status     { return r.Status }
func (r *BindConnToSessionRes) GetStatus() Status { return r.Status }
func (r *SequenceRes) GetStatus() Status          { return r.Status }
func (r *TestStateIDRes) GetStatus() Status       { return r.Status }
func (r *GetDirDelegationRes) GetStatus() Status  { return r.Status }
func (r *WantDelegationRes) GetStatus() Status    { return r.Status }
func (r *SetSSVRes) GetStatus() Status            { return r.Status }

func init() {
	register(OpExchangeID, func() Args { return new(ExchangeIDArgs) }, func() Res { return new(ExchangeIDRes) })
	register(OpCreateSession, func() Args { return new(CreateSessionArgs) }, func() Res { return new(CreateSessionRes) })
	register(OpDestroySession, func() Args { return new(DestroySessionArgs) }, func() Res { return new(DestroySessionRes) })
	register(OpBindConnToSession, func() Args { return new(BindConnToSessionArgs) }, func() Res { return new(BindConnToSessionRes) })
	register(OpBackchannelCtl, func() Args { return new(BackchannelCtlArgs) }, func() Res { return new(BackchannelCtlRes) })
	register(OpSequence, func() Args { return new(SequenceArgs) }, func() Res { return new(SequenceRes) })
	register(OpSecInfoNoName, func() Args { return new(SecInfoNoNameArgs) }, func() Res { return new(SecInfoNoNameRes) })
	register(OpTestStateID, func() Args { return new(TestStateIDArgs) }, func() Res { return new(TestStateIDRes) })
	register(OpFreeStateID, func() Args { return new(FreeStateIDArgs) }, func() Res { return new(FreeStateIDRes) })
	register(OpReclaimComplete, func() Args { return new(ReclaimCompleteArgs) }, func() Res { return new(ReclaimCompleteRes) })
	register(OpDestroyClientID, func() Args { return new(DestroyClientIDArgs) }, func() Res { return new(DestroyClientIDRes) })
	register(OpGetDirDelegation, func() Args { return new(GetDirDelegationArgs) }, func() Res { return new(GetDirDelegationRes) })
	register(OpWantDelegation, func() Args { return new(WantDelegationArgs) }, func() Res { return new(WantDelegationRes) })
	register(OpSetSSV, func() Args { return new(SetSSVArgs) }, func() Res { return new(SetSSVRes) })
	register(OpLayoutGet, func() Args { return new(LayoutGetArgs) }, func() Res { return new(LayoutGetRes) })
	register(OpLayoutCommit, func() Args { return new(LayoutCommitArgs) }, func() Res { return new(LayoutCommitRes) })
	register(OpLayoutReturn, func() Args { return new(LayoutReturnArgs) }, func() Res { return new(LayoutReturnRes) })
	register(OpGetDeviceInfo, func() Args { return new(GetDeviceInfoArgs) }, func() Res { return new(GetDeviceInfoRes) })
	register(OpGetDeviceList, func() Args { return new(GetDeviceListArgs) }, func() Res { return new(GetDeviceListRes) })
}
