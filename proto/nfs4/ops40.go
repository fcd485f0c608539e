package nfs4

import (
	"errors"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Minor-version-0 operations (RFC 7530 §16), plus the 4.1 arms of unions
// they share (createhow4 EXCLUSIVE4_1, open_claim4 CLAIM_*FH,
// open_delegation4 OPEN_DELEGATE_NONE_EXT; RFC 8881 §18.16).

func init() {
	register(OpAccess, func() Args { return new(AccessArgs) }, func() Res { return new(AccessRes) })
	register(OpClose, func() Args { return new(CloseArgs) }, func() Res { return new(CloseRes) })
	register(OpCommit, func() Args { return new(CommitArgs) }, func() Res { return new(CommitRes) })
	register(OpCreate, func() Args { return new(CreateArgs) }, func() Res { return new(CreateRes) })
	register(OpDelegPurge, func() Args { return new(DelegPurgeArgs) }, func() Res { return new(DelegPurgeRes) })
	register(OpDelegReturn, func() Args { return new(DelegReturnArgs) }, func() Res { return new(DelegReturnRes) })
	register(OpGetattr, func() Args { return new(GetattrArgs) }, func() Res { return new(GetattrRes) })
	register(OpLink, func() Args { return new(LinkArgs) }, func() Res { return new(LinkRes) })
	register(OpLock, func() Args { return new(LockArgs) }, func() Res { return new(LockRes) })
	register(OpLockT, func() Args { return new(LockTArgs) }, func() Res { return new(LockTRes) })
	register(OpLockU, func() Args { return new(LockUArgs) }, func() Res { return new(LockURes) })
	register(OpLookup, func() Args { return new(LookupArgs) }, func() Res { return new(LookupRes) })
	register(OpLookupP, func() Args { return new(LookupPArgs) }, func() Res { return new(LookupPRes) })
	register(OpNVerify, func() Args { return new(NVerifyArgs) }, func() Res { return new(NVerifyRes) })
	register(OpOpen, func() Args { return new(OpenArgs) }, func() Res { return new(OpenRes) })
	register(OpOpenAttr, func() Args { return new(OpenAttrArgs) }, func() Res { return new(OpenAttrRes) })
	register(OpOpenConfirm, func() Args { return new(OpenConfirmArgs) }, func() Res { return new(OpenConfirmRes) })
	register(OpOpenDowngrade, func() Args { return new(OpenDowngradeArgs) }, func() Res { return new(OpenDowngradeRes) })
	register(OpPutPubFH, func() Args { return new(PutPubFHArgs) }, func() Res { return new(PutPubFHRes) })
	register(OpPutRootFH, func() Args { return new(PutRootFHArgs) }, func() Res { return new(PutRootFHRes) })
	register(OpRead, func() Args { return new(ReadArgs) }, func() Res { return new(ReadRes) })
	register(OpReadDir, func() Args { return new(ReadDirArgs) }, func() Res { return new(ReadDirRes) })
	register(OpReadLink, func() Args { return new(ReadLinkArgs) }, func() Res { return new(ReadLinkRes) })
	register(OpRemove, func() Args { return new(RemoveArgs) }, func() Res { return new(RemoveRes) })
	register(OpRename, func() Args { return new(RenameArgs) }, func() Res { return new(RenameRes) })
	register(OpRenew, func() Args { return new(RenewArgs) }, func() Res { return new(RenewRes) })
	register(OpRestoreFH, func() Args { return new(RestoreFHArgs) }, func() Res { return new(RestoreFHRes) })
	register(OpSaveFH, func() Args { return new(SaveFHArgs) }, func() Res { return new(SaveFHRes) })
	register(OpSecInfo, func() Args { return new(SecInfoArgs) }, func() Res { return new(SecInfoRes) })
	register(OpSetattr, func() Args { return new(SetattrArgs) }, func() Res { return new(SetattrRes) })
	register(OpSetClientID, func() Args { return new(SetClientIDArgs) }, func() Res { return new(SetClientIDRes) })
	register(OpSetClientIDConfirm, func() Args { return new(SetClientIDConfirmArgs) }, func() Res { return new(SetClientIDConfirmRes) })
	register(OpVerify, func() Args { return new(VerifyArgs) }, func() Res { return new(VerifyRes) })
	register(OpWrite, func() Args { return new(WriteArgs) }, func() Res { return new(WriteRes) })
	register(OpReleaseLockOwner, func() Args { return new(ReleaseLockOwnerArgs) }, func() Res { return new(ReleaseLockOwnerRes) })
	register(OpIllegal, func() Args { return new(IllegalArgs) }, func() Res { return new(IllegalRes) })
}

// ---------------------------------------------------------------- shared types

// component4 / utf8str values are kept as raw bytes aliasing the input; the
// server checks UTF-8 and "."/".." (RFC 7530 §12.7).
func decodeName(d *xdr.Decoder) []byte { return d.Opaque("component4", MaxNameLen) }

// StatusRes is the common body of ops whose result is only a status.
type StatusRes struct{ Status Status }

func (r *StatusRes) Encode(e *xdr.Encoder) { e.Uint32(uint32(r.Status)) }
func (r *StatusRes) Decode(d *xdr.Decoder) { r.Status = Status(d.Uint32()) }
func (r *StatusRes) GetStatus() Status     { return r.Status }

// VoidArgs is the body of ops without arguments.
type VoidArgs struct{}

func (*VoidArgs) Encode(*xdr.Encoder) {}
func (*VoidArgs) Decode(*xdr.Decoder) {}

// LockOwner is lock_owner4 (and, as OpenOwner, open_owner4): state_owner4.
type LockOwner struct {
	ClientID uint64
	Owner    []byte
}

// OpenOwner is open_owner4 (same wire form as lock_owner4).
type OpenOwner = LockOwner

func (o *LockOwner) Encode(e *xdr.Encoder) {
	e.Uint64(o.ClientID)
	e.Opaque(o.Owner)
}
func (o *LockOwner) Decode(d *xdr.Decoder) {
	o.ClientID = d.Uint64()
	o.Owner = d.Opaque("state_owner4", MaxOwnerLen)
}

// NetAddr is netaddr4 (RFC 5665 universal address; also clientaddr4 of
// RFC 7530 §3.3.9 and the NL4_NETADDR arm of 4.2's netloc4).
type NetAddr struct {
	NetID []byte // na_r_netid: "tcp", "tcp6", …
	Addr  []byte // na_r_addr: "h1.h2.h3.h4.p1.p2"
}

func (n *NetAddr) Encode(e *xdr.Encoder) {
	e.Opaque(n.NetID)
	e.Opaque(n.Addr)
}
func (n *NetAddr) Decode(d *xdr.Decoder) {
	n.NetID = d.Opaque("na_r_netid", OpaqueLimit)
	n.Addr = d.Opaque("na_r_addr", OpaqueLimit)
}

// ACE is nfsace4.
type ACE struct {
	Type       uint32
	Flag       uint32
	AccessMask uint32
	Who        []byte
}

func (a *ACE) Encode(e *xdr.Encoder) {
	e.Uint32(a.Type)
	e.Uint32(a.Flag)
	e.Uint32(a.AccessMask)
	e.Opaque(a.Who)
}
func (a *ACE) Decode(d *xdr.Decoder) {
	a.Type = d.Uint32()
	a.Flag = d.Uint32()
	a.AccessMask = d.Uint32()
	a.Who = d.Opaque("nfsace4.who", MaxOwnerLen)
}

// errUnion is set when a union discriminant has no arm and no default.
var errUnion = errors.New("nfs4: bad union discriminant")

// ---------------------------------------------------------------- ACCESS §16.1

type AccessArgs struct{ Access uint32 }

func (a *AccessArgs) Encode(e *xdr.Encoder) { e.Uint32(a.Access) }
func (a *AccessArgs) Decode(d *xdr.Decoder) { a.Access = d.Uint32() }

type AccessRes struct {
	Status    Status
	Supported uint32
	Access    uint32
}

func (r *AccessRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Uint32(r.Supported)
		e.Uint32(r.Access)
	}
}
func (r *AccessRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.Supported = d.Uint32()
		r.Access = d.Uint32()
	}
}
func (r *AccessRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- CLOSE §16.2

type CloseArgs struct {
	SeqID       uint32
	OpenStateID StateID
}

func (a *CloseArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.SeqID)
	a.OpenStateID.Encode(e)
}
func (a *CloseArgs) Decode(d *xdr.Decoder) {
	a.SeqID = d.Uint32()
	a.OpenStateID.Decode(d)
}

// StateIDRes is the result form shared by CLOSE, LOCKU, OPEN_CONFIRM and
// OPEN_DOWNGRADE: status, and a stateid on success.
type StateIDRes struct {
	Status  Status
	StateID StateID
}

func (r *StateIDRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.StateID.Encode(e)
	}
}
func (r *StateIDRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.StateID.Decode(d)
	}
}
func (r *StateIDRes) GetStatus() Status { return r.Status }

type CloseRes struct{ StateIDRes }

// ---------------------------------------------------------------- COMMIT §16.3

type CommitArgs struct {
	Offset uint64
	Count  uint32
}

func (a *CommitArgs) Encode(e *xdr.Encoder) {
	e.Uint64(a.Offset)
	e.Uint32(a.Count)
}
func (a *CommitArgs) Decode(d *xdr.Decoder) {
	a.Offset = d.Uint64()
	a.Count = d.Uint32()
}

type CommitRes struct {
	Status    Status
	WriteVerf Verifier
}

func (r *CommitRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.WriteVerf.Encode(e)
	}
}
func (r *CommitRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.WriteVerf.Decode(d)
	}
}
func (r *CommitRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- CREATE §16.4

// CreateArgs is CREATE4args. ObjType selects the createtype4 arm: NF4LNK
// carries LinkData, NF4BLK/NF4CHR carry DevData, every other type is void
// (the server rejects NF4REG with NFS4ERR_BADTYPE).
type CreateArgs struct {
	ObjType     uint32
	LinkData    []byte   // linktext4, NF4LNK
	DevData     SpecData // NF4BLK, NF4CHR
	ObjName     []byte
	CreateAttrs Fattr
}

func (a *CreateArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.ObjType)
	switch a.ObjType {
	case NF4LNK:
		e.Opaque(a.LinkData)
	case NF4BLK, NF4CHR:
		a.DevData.Encode(e)
	}
	e.Opaque(a.ObjName)
	a.CreateAttrs.Encode(e)
}
func (a *CreateArgs) Decode(d *xdr.Decoder) {
	a.ObjType = d.Uint32()
	switch a.ObjType {
	case NF4LNK:
		a.LinkData = d.Opaque("linktext4", MaxPathLen)
	case NF4BLK, NF4CHR:
		a.DevData.Decode(d)
	}
	a.ObjName = decodeName(d)
	a.CreateAttrs.Decode(d)
}

type CreateRes struct {
	Status  Status
	CInfo   ChangeInfo
	AttrSet Bitmap
}

func (r *CreateRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.CInfo.Encode(e)
		r.AttrSet.Encode(e)
	}
}
func (r *CreateRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.CInfo.Decode(d)
		r.AttrSet.Decode(d)
	}
}
func (r *CreateRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- DELEGPURGE §16.5, DELEGRETURN §16.6

type DelegPurgeArgs struct{ ClientID uint64 }

func (a *DelegPurgeArgs) Encode(e *xdr.Encoder) { e.Uint64(a.ClientID) }
func (a *DelegPurgeArgs) Decode(d *xdr.Decoder) { a.ClientID = d.Uint64() }

type DelegPurgeRes struct{ StatusRes }

type DelegReturnArgs struct{ DelegStateID StateID }

func (a *DelegReturnArgs) Encode(e *xdr.Encoder) { a.DelegStateID.Encode(e) }
func (a *DelegReturnArgs) Decode(d *xdr.Decoder) { a.DelegStateID.Decode(d) }

type DelegReturnRes struct{ StatusRes }

// ---------------------------------------------------------------- GETATTR §16.7

type GetattrArgs struct{ AttrRequest Bitmap }

func (a *GetattrArgs) Encode(e *xdr.Encoder) { a.AttrRequest.Encode(e) }
func (a *GetattrArgs) Decode(d *xdr.Decoder) { a.AttrRequest.Decode(d) }

// GetattrRes is GETATTR4res with the raw fattr4. The server writes the
// status and then calls EncodeAttrs directly instead of building this.
type GetattrRes struct {
	Status        Status
	ObjAttributes Fattr
}

func (r *GetattrRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.ObjAttributes.Encode(e)
	}
}
func (r *GetattrRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.ObjAttributes.Decode(d)
	}
}
func (r *GetattrRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- LINK §16.9

type LinkArgs struct{ NewName []byte }

func (a *LinkArgs) Encode(e *xdr.Encoder) { e.Opaque(a.NewName) }
func (a *LinkArgs) Decode(d *xdr.Decoder) { a.NewName = decodeName(d) }

// CInfoRes is the result form of LINK and REMOVE: status, change_info4.
type CInfoRes struct {
	Status Status
	CInfo  ChangeInfo
}

func (r *CInfoRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.CInfo.Encode(e)
	}
}
func (r *CInfoRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.CInfo.Decode(d)
	}
}
func (r *CInfoRes) GetStatus() Status { return r.Status }

type LinkRes struct{ CInfoRes }

// ---------------------------------------------------------------- LOCK §16.10, LOCKT §16.11, LOCKU §16.12

// Locker is locker4: NewLockOwner selects open_to_lock_owner4 (OpenSeqID,
// OpenStateID, LockSeqID, LockOwner) or exist_lock_owner4 (LockStateID,
// LockSeqID).
type Locker struct {
	NewLockOwner bool
	OpenSeqID    uint32
	OpenStateID  StateID
	LockStateID  StateID
	LockSeqID    uint32
	LockOwner    LockOwner
}

func (l *Locker) Encode(e *xdr.Encoder) {
	e.Bool(l.NewLockOwner)
	if l.NewLockOwner {
		e.Uint32(l.OpenSeqID)
		l.OpenStateID.Encode(e)
		e.Uint32(l.LockSeqID)
		l.LockOwner.Encode(e)
	} else {
		l.LockStateID.Encode(e)
		e.Uint32(l.LockSeqID)
	}
}
func (l *Locker) Decode(d *xdr.Decoder) {
	l.NewLockOwner = d.Bool()
	if l.NewLockOwner {
		l.OpenSeqID = d.Uint32()
		l.OpenStateID.Decode(d)
		l.LockSeqID = d.Uint32()
		l.LockOwner.Decode(d)
	} else {
		l.LockStateID.Decode(d)
		l.LockSeqID = d.Uint32()
	}
}

type LockArgs struct {
	LockType uint32
	Reclaim  bool
	Offset   uint64
	Length   uint64
	Locker   Locker
}

func (a *LockArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.LockType)
	e.Bool(a.Reclaim)
	e.Uint64(a.Offset)
	e.Uint64(a.Length)
	a.Locker.Encode(e)
}
func (a *LockArgs) Decode(d *xdr.Decoder) {
	a.LockType = d.Uint32()
	a.Reclaim = d.Bool()
	a.Offset = d.Uint64()
	a.Length = d.Uint64()
	a.Locker.Decode(d)
}

// LockDenied is LOCK4denied: the conflicting lock.
type LockDenied struct {
	Offset   uint64
	Length   uint64
	LockType uint32
	Owner    LockOwner
}

func (l *LockDenied) Encode(e *xdr.Encoder) {
	e.Uint64(l.Offset)
	e.Uint64(l.Length)
	e.Uint32(l.LockType)
	l.Owner.Encode(e)
}
func (l *LockDenied) Decode(d *xdr.Decoder) {
	l.Offset = d.Uint64()
	l.Length = d.Uint64()
	l.LockType = d.Uint32()
	l.Owner.Decode(d)
}

// LockRes is LOCK4res: the lock stateid on OK, LOCK4denied on
// NFS4ERR_DENIED (RFC 7530 §16.10.2).
type LockRes struct {
	Status      Status
	LockStateID StateID
	Denied      LockDenied
}

func (r *LockRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	switch r.Status {
	case OK:
		r.LockStateID.Encode(e)
	case ErrDenied:
		r.Denied.Encode(e)
	}
}
func (r *LockRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	switch r.Status {
	case OK:
		r.LockStateID.Decode(d)
	case ErrDenied:
		r.Denied.Decode(d)
	}
}
func (r *LockRes) GetStatus() Status { return r.Status }

type LockTArgs struct {
	LockType uint32
	Offset   uint64
	Length   uint64
	Owner    LockOwner
}

func (a *LockTArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.LockType)
	e.Uint64(a.Offset)
	e.Uint64(a.Length)
	a.Owner.Encode(e)
}
func (a *LockTArgs) Decode(d *xdr.Decoder) {
	a.LockType = d.Uint32()
	a.Offset = d.Uint64()
	a.Length = d.Uint64()
	a.Owner.Decode(d)
}

// LockTRes is LOCKT4res: LOCK4denied on NFS4ERR_DENIED (RFC 7530
// §16.11.2), void otherwise.
type LockTRes struct {
	Status Status
	Denied LockDenied
}

func (r *LockTRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == ErrDenied {
		r.Denied.Encode(e)
	}
}
func (r *LockTRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == ErrDenied {
		r.Denied.Decode(d)
	}
}
func (r *LockTRes) GetStatus() Status { return r.Status }

type LockUArgs struct {
	LockType    uint32
	SeqID       uint32
	LockStateID StateID
	Offset      uint64
	Length      uint64
}

func (a *LockUArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.LockType)
	e.Uint32(a.SeqID)
	a.LockStateID.Encode(e)
	e.Uint64(a.Offset)
	e.Uint64(a.Length)
}
func (a *LockUArgs) Decode(d *xdr.Decoder) {
	a.LockType = d.Uint32()
	a.SeqID = d.Uint32()
	a.LockStateID.Decode(d)
	a.Offset = d.Uint64()
	a.Length = d.Uint64()
}

type LockURes struct{ StateIDRes }

// ---------------------------------------------------------------- LOOKUP §16.13, LOOKUPP §16.14

type LookupArgs struct{ ObjName []byte }

func (a *LookupArgs) Encode(e *xdr.Encoder) { e.Opaque(a.ObjName) }
func (a *LookupArgs) Decode(d *xdr.Decoder) { a.ObjName = decodeName(d) }

type LookupRes struct{ StatusRes }

type LookupPArgs struct{ VoidArgs }
type LookupPRes struct{ StatusRes }

// ---------------------------------------------------------------- NVERIFY §16.15, VERIFY §16.35

type NVerifyArgs struct{ ObjAttributes Fattr }

func (a *NVerifyArgs) Encode(e *xdr.Encoder) { a.ObjAttributes.Encode(e) }
func (a *NVerifyArgs) Decode(d *xdr.Decoder) { a.ObjAttributes.Decode(d) }

type NVerifyRes struct{ StatusRes }

type VerifyArgs struct{ ObjAttributes Fattr }

func (a *VerifyArgs) Encode(e *xdr.Encoder) { a.ObjAttributes.Encode(e) }
func (a *VerifyArgs) Decode(d *xdr.Decoder) { a.ObjAttributes.Decode(d) }

type VerifyRes struct{ StatusRes }

// ---------------------------------------------------------------- OPEN §16.16

// CreateHow is createhow4: Mode Unchecked4/Guarded4 carry CreateAttrs,
// Exclusive4 carries CreateVerf, Exclusive4_1 (RFC 8881 §18.16.3,
// creatverfattr) carries both.
type CreateHow struct {
	Mode        uint32
	CreateAttrs Fattr
	CreateVerf  Verifier
}

func (c *CreateHow) Encode(e *xdr.Encoder) {
	e.Uint32(c.Mode)
	switch c.Mode {
	case Unchecked4, Guarded4:
		c.CreateAttrs.Encode(e)
	case Exclusive4:
		c.CreateVerf.Encode(e)
	case Exclusive4_1:
		c.CreateVerf.Encode(e)
		c.CreateAttrs.Encode(e)
	}
}
func (c *CreateHow) Decode(d *xdr.Decoder) {
	c.Mode = d.Uint32()
	switch c.Mode {
	case Unchecked4, Guarded4:
		c.CreateAttrs.Decode(d)
	case Exclusive4:
		c.CreateVerf.Decode(d)
	case Exclusive4_1:
		c.CreateVerf.Decode(d)
		c.CreateAttrs.Decode(d)
	default:
		d.SetErr(errUnion) // createhow4 has no default arm
	}
}

// OpenFlag is openflag4: OpenType OpenCreate carries CreateHow.
type OpenFlag struct {
	OpenType  uint32
	CreateHow CreateHow
}

func (o *OpenFlag) Encode(e *xdr.Encoder) {
	e.Uint32(o.OpenType)
	if o.OpenType == OpenCreate {
		o.CreateHow.Encode(e)
	}
}
func (o *OpenFlag) Decode(d *xdr.Decoder) {
	o.OpenType = d.Uint32()
	if o.OpenType == OpenCreate {
		o.CreateHow.Decode(d)
	}
}

// OpenClaim is open_claim4. Arms by Claim:
//   - ClaimNull, ClaimDelegatePrev: File (component4)
//   - ClaimPrevious: DelegateType
//   - ClaimDelegateCur: DelegateStateID and File (open_claim_delegate_cur4)
//   - ClaimDelegCurFH (4.1): DelegateStateID
//   - ClaimFH, ClaimDelegPrevFH (4.1): void
type OpenClaim struct {
	Claim           uint32
	File            []byte
	DelegateType    uint32
	DelegateStateID StateID
}

func (c *OpenClaim) Encode(e *xdr.Encoder) {
	e.Uint32(c.Claim)
	switch c.Claim {
	case ClaimNull, ClaimDelegatePrev:
		e.Opaque(c.File)
	case ClaimPrevious:
		e.Uint32(c.DelegateType)
	case ClaimDelegateCur:
		c.DelegateStateID.Encode(e)
		e.Opaque(c.File)
	case ClaimDelegCurFH:
		c.DelegateStateID.Encode(e)
	}
}
func (c *OpenClaim) Decode(d *xdr.Decoder) {
	c.Claim = d.Uint32()
	switch c.Claim {
	case ClaimNull, ClaimDelegatePrev:
		c.File = decodeName(d)
	case ClaimPrevious:
		c.DelegateType = d.Uint32()
	case ClaimDelegateCur:
		c.DelegateStateID.Decode(d)
		c.File = decodeName(d)
	case ClaimDelegCurFH:
		c.DelegateStateID.Decode(d)
	case ClaimFH, ClaimDelegPrevFH:
	default:
		d.SetErr(errUnion) // open_claim4 has no default arm
	}
}

type OpenArgs struct {
	SeqID       uint32
	ShareAccess uint32
	ShareDeny   uint32
	Owner       OpenOwner
	OpenHow     OpenFlag
	Claim       OpenClaim
}

func (a *OpenArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.SeqID)
	e.Uint32(a.ShareAccess)
	e.Uint32(a.ShareDeny)
	a.Owner.Encode(e)
	a.OpenHow.Encode(e)
	a.Claim.Encode(e)
}
func (a *OpenArgs) Decode(d *xdr.Decoder) {
	a.SeqID = d.Uint32()
	a.ShareAccess = d.Uint32()
	a.ShareDeny = d.Uint32()
	a.Owner.Decode(d)
	a.OpenHow.Decode(d)
	a.Claim.Decode(d)
}

// limit_by4
const (
	LimitSize   = 1
	LimitBlocks = 2
)

// SpaceLimit is nfs_space_limit4: LimitSize carries FileSize, LimitBlocks
// carries NumBlocks × BytesPerBlock (nfs_modified_limit4).
type SpaceLimit struct {
	LimitBy       uint32
	FileSize      uint64
	NumBlocks     uint32
	BytesPerBlock uint32
}

func (s *SpaceLimit) Encode(e *xdr.Encoder) {
	e.Uint32(s.LimitBy)
	switch s.LimitBy {
	case LimitSize:
		e.Uint64(s.FileSize)
	case LimitBlocks:
		e.Uint32(s.NumBlocks)
		e.Uint32(s.BytesPerBlock)
	}
}
func (s *SpaceLimit) Decode(d *xdr.Decoder) {
	s.LimitBy = d.Uint32()
	switch s.LimitBy {
	case LimitSize:
		s.FileSize = d.Uint64()
	case LimitBlocks:
		s.NumBlocks = d.Uint32()
		s.BytesPerBlock = d.Uint32()
	default:
		d.SetErr(errUnion)
	}
}

// why_no_delegation4 (RFC 8881 §18.16.3)
const (
	WNDNotWanted              = 0
	WNDContention             = 1
	WNDResource               = 2
	WNDNotSuppFtype           = 3
	WNDWriteDelegNotSuppFtype = 4
	WNDNotSuppUpgrade         = 5
	WNDNotSuppDowngrade       = 6
	WNDCancelled              = 7
	WNDIsDir                  = 8
)

// OpenDelegation is open_delegation4. Arms by DelegationType:
//   - DelegateNone: void
//   - DelegateRead: StateID, Recall, Permissions (open_read_delegation4)
//   - DelegateWrite: StateID, Recall, SpaceLimit, Permissions
//   - DelegateNoneExt (4.1): Why, and for WNDContention/WNDResource the
//     bool ServerWillPushDeleg / ServerWillSignalAvail (stored in WillNotify)
type OpenDelegation struct {
	DelegationType uint32
	StateID        StateID
	Recall         bool
	SpaceLimit     SpaceLimit
	Permissions    ACE
	Why            uint32
	WillNotify     bool
}

func (o *OpenDelegation) Encode(e *xdr.Encoder) {
	e.Uint32(o.DelegationType)
	switch o.DelegationType {
	case DelegateRead:
		o.StateID.Encode(e)
		e.Bool(o.Recall)
		o.Permissions.Encode(e)
	case DelegateWrite:
		o.StateID.Encode(e)
		e.Bool(o.Recall)
		o.SpaceLimit.Encode(e)
		o.Permissions.Encode(e)
	case DelegateNoneExt:
		e.Uint32(o.Why)
		if o.Why == WNDContention || o.Why == WNDResource {
			e.Bool(o.WillNotify)
		}
	}
}
func (o *OpenDelegation) Decode(d *xdr.Decoder) {
	o.DelegationType = d.Uint32()
	switch o.DelegationType {
	case DelegateNone:
	case DelegateRead:
		o.StateID.Decode(d)
		o.Recall = d.Bool()
		o.Permissions.Decode(d)
	case DelegateWrite:
		o.StateID.Decode(d)
		o.Recall = d.Bool()
		o.SpaceLimit.Decode(d)
		o.Permissions.Decode(d)
	case DelegateNoneExt:
		o.Why = d.Uint32()
		if o.Why == WNDContention || o.Why == WNDResource {
			o.WillNotify = d.Bool()
		}
	default:
		d.SetErr(errUnion)
	}
}

// OpenRes is OPEN4res; the OPEN4resok fields are valid when Status is OK.
type OpenRes struct {
	Status     Status
	StateID    StateID
	CInfo      ChangeInfo
	RFlags     uint32
	AttrSet    Bitmap
	Delegation OpenDelegation
}

func (r *OpenRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.StateID.Encode(e)
		r.CInfo.Encode(e)
		e.Uint32(r.RFlags)
		r.AttrSet.Encode(e)
		r.Delegation.Encode(e)
	}
}
func (r *OpenRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.StateID.Decode(d)
		r.CInfo.Decode(d)
		r.RFlags = d.Uint32()
		r.AttrSet.Decode(d)
		r.Delegation.Decode(d)
	}
}
func (r *OpenRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- OPENATTR §16.17, OPEN_CONFIRM §16.18, OPEN_DOWNGRADE §16.19

type OpenAttrArgs struct{ CreateDir bool }

func (a *OpenAttrArgs) Encode(e *xdr.Encoder) { e.Bool(a.CreateDir) }
func (a *OpenAttrArgs) Decode(d *xdr.Decoder) { a.CreateDir = d.Bool() }

type OpenAttrRes struct{ StatusRes }

type OpenConfirmArgs struct {
	OpenStateID StateID
	SeqID       uint32
}

func (a *OpenConfirmArgs) Encode(e *xdr.Encoder) {
	a.OpenStateID.Encode(e)
	e.Uint32(a.SeqID)
}
func (a *OpenConfirmArgs) Decode(d *xdr.Decoder) {
	a.OpenStateID.Decode(d)
	a.SeqID = d.Uint32()
}

type OpenConfirmRes struct{ StateIDRes }

type OpenDowngradeArgs struct {
	OpenStateID StateID
	SeqID       uint32
	ShareAccess uint32
	ShareDeny   uint32
}

func (a *OpenDowngradeArgs) Encode(e *xdr.Encoder) {
	a.OpenStateID.Encode(e)
	e.Uint32(a.SeqID)
	e.Uint32(a.ShareAccess)
	e.Uint32(a.ShareDeny)
}
func (a *OpenDowngradeArgs) Decode(d *xdr.Decoder) {
	a.OpenStateID.Decode(d)
	a.SeqID = d.Uint32()
	a.ShareAccess = d.Uint32()
	a.ShareDeny = d.Uint32()
}

type OpenDowngradeRes struct{ StateIDRes }

// ---------------------------------------------------------------- PUTPUBFH §16.21, PUTROOTFH §16.22

type PutPubFHArgs struct{ VoidArgs }
type PutPubFHRes struct{ StatusRes }
type PutRootFHArgs struct{ VoidArgs }
type PutRootFHRes struct{ StatusRes }

// ---------------------------------------------------------------- READ §16.23

type ReadArgs struct {
	StateID StateID
	Offset  uint64
	Count   uint32
}

func (a *ReadArgs) Encode(e *xdr.Encoder) {
	a.StateID.Encode(e)
	e.Uint64(a.Offset)
	e.Uint32(a.Count)
}
func (a *ReadArgs) Decode(d *xdr.Decoder) {
	a.StateID.Decode(d)
	a.Offset = d.Uint64()
	a.Count = d.Uint32()
}

// ReadRes is READ4res. Data aliases the input on decode.
//
// For a zero-copy reply (writev) the server calls EncodeHeader, which
// writes status, eof and the data length, and then sends three buffers:
// the encoder's bytes, Data, and ReadPad(len(Data)). Encode does the same
// in one buffer (copying Data).
type ReadRes struct {
	Status Status
	EOF    bool
	Data   []byte
}

// EncodeHeader writes everything of the reply up to (not including) the
// payload. When Status is not OK it writes the whole result.
func (r *ReadRes) EncodeHeader(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Bool(r.EOF)
		e.Uint32(uint32(len(r.Data)))
	}
}

// ReadPad returns the XDR padding that follows n payload bytes (a shared
// zero slice: do not write to it).
func ReadPad(n int) []byte { return readPad[:xdr.Padded(n)-n] }

var readPad [4]byte

func (r *ReadRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Bool(r.EOF)
		e.Opaque(r.Data)
	}
}
func (r *ReadRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.EOF = d.Bool()
		r.Data = d.Opaque("READ data", MaxIOLen)
	}
}
func (r *ReadRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- READDIR §16.24

type ReadDirArgs struct {
	Cookie      uint64
	CookieVerf  Verifier
	DirCount    uint32
	MaxCount    uint32
	AttrRequest Bitmap
}

func (a *ReadDirArgs) Encode(e *xdr.Encoder) {
	e.Uint64(a.Cookie)
	a.CookieVerf.Encode(e)
	e.Uint32(a.DirCount)
	e.Uint32(a.MaxCount)
	a.AttrRequest.Encode(e)
}
func (a *ReadDirArgs) Decode(d *xdr.Decoder) {
	a.Cookie = d.Uint64()
	a.CookieVerf.Decode(d)
	a.DirCount = d.Uint32()
	a.MaxCount = d.Uint32()
	a.AttrRequest.Decode(d)
}

// DirEntry is entry4 without its list link.
type DirEntry struct {
	Cookie uint64
	Name   []byte
	Attrs  Fattr
}

// ReadDirRes is READDIR4res with the entry list as a slice (client, tests).
// The server streams instead:
//
//	r.EncodeHeader(e)                 // status, cookieverf
//	for each entry {
//	    mark := e.Len()
//	    EncodeDirEntry(e, cookie, name, want, &attrs)
//	    if too big { e.Truncate(mark); break }
//	}
//	EncodeDirEnd(e, eof)
type ReadDirRes struct {
	Status     Status
	CookieVerf Verifier
	Entries    []DirEntry
	EOF        bool
}

// EncodeHeader writes the status and, when OK, the cookieverf; when not OK
// it is the whole result.
func (r *ReadDirRes) EncodeHeader(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.CookieVerf.Encode(e)
	}
}

// EncodeDirEntry appends one entry4 (preceded by its "value follows" TRUE)
// with the attributes of want that a supports (EncodeAttrs rules) and
// returns the number of bytes written.
func EncodeDirEntry(e *xdr.Encoder, cookie uint64, name []byte, want Bitmap, a *Attrs) int {
	b := e.Buf
	start := len(b)
	b = be.AppendUint64(be.AppendUint32(b, 1), cookie)
	b = appendOpaque(b, name)
	b = appendAttrs(b, want, a)
	e.Buf = b
	return len(b) - start
}

// DirEndSize is the size of what EncodeDirEnd writes (list end + eof), for
// the server's maxcount accounting.
const DirEndSize = 8

// EncodeDirEnd terminates the entry list and writes eof.
func EncodeDirEnd(e *xdr.Encoder, eof bool) {
	e.Uint32(0)
	e.Bool(eof)
}

func (r *ReadDirRes) Encode(e *xdr.Encoder) {
	r.EncodeHeader(e)
	if r.Status != OK {
		return
	}
	for i := range r.Entries {
		en := &r.Entries[i]
		e.Uint32(1)
		e.Uint64(en.Cookie)
		e.Opaque(en.Name)
		en.Attrs.Encode(e)
	}
	EncodeDirEnd(e, r.EOF)
}

// minEntrySize is the smallest encoded entry4 with its list link: link,
// cookie, name length, bitmap length, attrlist length.
const minEntrySize = 4 + 8 + 4 + 4 + 4

func (r *ReadDirRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status != OK {
		return
	}
	r.CookieVerf.Decode(d)
	r.Entries = nil
	for d.Err() == nil && d.Bool() {
		// Each entry consumes at least minEntrySize bytes, so the list
		// (and the slice) is bounded by the input.
		if d.Remaining() < minEntrySize-4 {
			d.SetErr(xdr.ErrShort)
			return
		}
		var en DirEntry
		en.Cookie = d.Uint64()
		en.Name = decodeName(d)
		en.Attrs.Decode(d)
		r.Entries = append(r.Entries, en)
	}
	r.EOF = d.Bool()
}
func (r *ReadDirRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- READLINK §16.25

type ReadLinkArgs struct{ VoidArgs }

type ReadLinkRes struct {
	Status Status
	Link   []byte
}

func (r *ReadLinkRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Opaque(r.Link)
	}
}
func (r *ReadLinkRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.Link = d.Opaque("linktext4", MaxPathLen)
	}
}
func (r *ReadLinkRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- REMOVE §16.26, RENAME §16.27

type RemoveArgs struct{ Target []byte }

func (a *RemoveArgs) Encode(e *xdr.Encoder) { e.Opaque(a.Target) }
func (a *RemoveArgs) Decode(d *xdr.Decoder) { a.Target = decodeName(d) }

type RemoveRes struct{ CInfoRes }

type RenameArgs struct {
	OldName []byte
	NewName []byte
}

func (a *RenameArgs) Encode(e *xdr.Encoder) {
	e.Opaque(a.OldName)
	e.Opaque(a.NewName)
}
func (a *RenameArgs) Decode(d *xdr.Decoder) {
	a.OldName = decodeName(d)
	a.NewName = decodeName(d)
}

type RenameRes struct {
	Status      Status
	SourceCInfo ChangeInfo
	TargetCInfo ChangeInfo
}

func (r *RenameRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.SourceCInfo.Encode(e)
		r.TargetCInfo.Encode(e)
	}
}
func (r *RenameRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.SourceCInfo.Decode(d)
		r.TargetCInfo.Decode(d)
	}
}
func (r *RenameRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- RENEW §16.28, RESTOREFH §16.29, SAVEFH §16.30

type RenewArgs struct{ ClientID uint64 }

func (a *RenewArgs) Encode(e *xdr.Encoder) { e.Uint64(a.ClientID) }
func (a *RenewArgs) Decode(d *xdr.Decoder) { a.ClientID = d.Uint64() }

type RenewRes struct{ StatusRes }

type RestoreFHArgs struct{ VoidArgs }
type RestoreFHRes struct{ StatusRes }
type SaveFHArgs struct{ VoidArgs }
type SaveFHRes struct{ StatusRes }

// ---------------------------------------------------------------- SECINFO §16.31

type SecInfoArgs struct{ Name []byte }

func (a *SecInfoArgs) Encode(e *xdr.Encoder) { e.Opaque(a.Name) }
func (a *SecInfoArgs) Decode(d *xdr.Decoder) { a.Name = decodeName(d) }

// SecInfo is secinfo4: for RPCSecGSS the rpcsec_gss_info fields (OID, QOP,
// Service) follow the flavor; other flavors are void.
type SecInfo struct {
	Flavor  uint32
	OID     []byte // sec_oid4
	QOP     uint32
	Service uint32 // rpc_gss_svc_t
}

// MaxOIDLen bounds sec_oid4 (DER OIDs for Kerberos are 9–11 bytes).
const MaxOIDLen = 64

func (s *SecInfo) Encode(e *xdr.Encoder) {
	e.Uint32(s.Flavor)
	if s.Flavor == RPCSecGSS {
		e.Opaque(s.OID)
		e.Uint32(s.QOP)
		e.Uint32(s.Service)
	}
}
func (s *SecInfo) Decode(d *xdr.Decoder) {
	s.Flavor = d.Uint32()
	if s.Flavor == RPCSecGSS {
		s.OID = d.Opaque("sec_oid4", MaxOIDLen)
		s.QOP = d.Uint32()
		s.Service = d.Uint32()
	}
}

// SecInfoRes is SECINFO4res (the same form as 4.1's SECINFO_NO_NAME4res).
type SecInfoRes struct {
	Status  Status
	Flavors []SecInfo
}

func (r *SecInfoRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Uint32(uint32(len(r.Flavors)))
		for i := range r.Flavors {
			r.Flavors[i].Encode(e)
		}
	}
}
func (r *SecInfoRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		n := d.Length("SECINFO4resok", MaxSecFlavors, 4)
		r.Flavors = make([]SecInfo, n)
		for i := range r.Flavors {
			r.Flavors[i].Decode(d)
		}
	}
}
func (r *SecInfoRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- SETATTR §16.32

type SetattrArgs struct {
	StateID       StateID
	ObjAttributes Fattr
}

func (a *SetattrArgs) Encode(e *xdr.Encoder) {
	a.StateID.Encode(e)
	a.ObjAttributes.Encode(e)
}
func (a *SetattrArgs) Decode(d *xdr.Decoder) {
	a.StateID.Decode(d)
	a.ObjAttributes.Decode(d)
}

// SetattrRes is SETATTR4res: attrsset is present whatever the status
// (RFC 7530 §16.32.2).
type SetattrRes struct {
	Status   Status
	AttrsSet Bitmap
}

func (r *SetattrRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	r.AttrsSet.Encode(e)
}
func (r *SetattrRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	r.AttrsSet.Decode(d)
}
func (r *SetattrRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- SETCLIENTID §16.33, SETCLIENTID_CONFIRM §16.34

// CBClient is cb_client4.
type CBClient struct {
	CBProgram  uint32
	CBLocation NetAddr
}

type SetClientIDArgs struct {
	Verifier      Verifier // nfs_client_id4.verifier
	ID            []byte   // nfs_client_id4.id
	Callback      CBClient
	CallbackIdent uint32
}

func (a *SetClientIDArgs) Encode(e *xdr.Encoder) {
	a.Verifier.Encode(e)
	e.Opaque(a.ID)
	e.Uint32(a.Callback.CBProgram)
	a.Callback.CBLocation.Encode(e)
	e.Uint32(a.CallbackIdent)
}
func (a *SetClientIDArgs) Decode(d *xdr.Decoder) {
	a.Verifier.Decode(d)
	a.ID = d.Opaque("nfs_client_id4", OpaqueLimit)
	a.Callback.CBProgram = d.Uint32()
	a.Callback.CBLocation.Decode(d)
	a.CallbackIdent = d.Uint32()
}

// SetClientIDRes is SETCLIENTID4res: ClientID and SetClientIDConfirm on
// OK, ClientUsing on NFS4ERR_CLID_INUSE (RFC 7530 §16.33.2).
type SetClientIDRes struct {
	Status             Status
	ClientID           uint64
	SetClientIDConfirm Verifier
	ClientUsing        NetAddr
}

func (r *SetClientIDRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	switch r.Status {
	case OK:
		e.Uint64(r.ClientID)
		r.SetClientIDConfirm.Encode(e)
	case ErrClidInUse:
		r.ClientUsing.Encode(e)
	}
}
func (r *SetClientIDRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	switch r.Status {
	case OK:
		r.ClientID = d.Uint64()
		r.SetClientIDConfirm.Decode(d)
	case ErrClidInUse:
		r.ClientUsing.Decode(d)
	}
}
func (r *SetClientIDRes) GetStatus() Status { return r.Status }

type SetClientIDConfirmArgs struct {
	ClientID           uint64
	SetClientIDConfirm Verifier
}

func (a *SetClientIDConfirmArgs) Encode(e *xdr.Encoder) {
	e.Uint64(a.ClientID)
	a.SetClientIDConfirm.Encode(e)
}
func (a *SetClientIDConfirmArgs) Decode(d *xdr.Decoder) {
	a.ClientID = d.Uint64()
	a.SetClientIDConfirm.Decode(d)
}

type SetClientIDConfirmRes struct{ StatusRes }

// ---------------------------------------------------------------- WRITE §16.36

// WriteArgs is WRITE4args; Data aliases the request buffer.
type WriteArgs struct {
	StateID StateID
	Offset  uint64
	Stable  uint32
	Data    []byte
}

func (a *WriteArgs) Encode(e *xdr.Encoder) {
	a.StateID.Encode(e)
	e.Uint64(a.Offset)
	e.Uint32(a.Stable)
	e.Opaque(a.Data)
}
func (a *WriteArgs) Decode(d *xdr.Decoder) {
	a.StateID.Decode(d)
	a.Offset = d.Uint64()
	a.Stable = d.Uint32()
	a.Data = d.Opaque("WRITE data", MaxIOLen)
}

type WriteRes struct {
	Status    Status
	Count     uint32
	Committed uint32
	WriteVerf Verifier
}

func (r *WriteRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Uint32(r.Count)
		e.Uint32(r.Committed)
		r.WriteVerf.Encode(e)
	}
}
func (r *WriteRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.Count = d.Uint32()
		r.Committed = d.Uint32()
		r.WriteVerf.Decode(d)
	}
}
func (r *WriteRes) GetStatus() Status { return r.Status }

// ---------------------------------------------------------------- RELEASE_LOCKOWNER §16.37, ILLEGAL §16.38

type ReleaseLockOwnerArgs struct{ LockOwner LockOwner }

func (a *ReleaseLockOwnerArgs) Encode(e *xdr.Encoder) { a.LockOwner.Encode(e) }
func (a *ReleaseLockOwnerArgs) Decode(d *xdr.Decoder) { a.LockOwner.Decode(d) }

type ReleaseLockOwnerRes struct{ StatusRes }

// IllegalArgs/IllegalRes are OP_ILLEGAL: the server answers any unknown op
// number with this result and NFS4ERR_OP_ILLEGAL (RFC 7530 §16.38).
type IllegalArgs struct{ VoidArgs }
type IllegalRes struct{ StatusRes }
