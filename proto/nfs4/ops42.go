package nfs4

// Minor version 2 operations (RFC 7862 §15) and extended attributes
// (RFC 8276 §8.4).

import "github.com/fsbridge/fsbridge/proto/xdr"

// Limits for the 4.2 decoders.
const (
	MaxNetLocs       = 16      // COPY ca_source_server<>, COPY_NOTIFY cnr_source_server<>
	MaxReadPlusSegs  = 1 << 16 // read_plus_res4.rpr_contents<>
	MaxDeviceErrors  = 1024    // LAYOUTERROR lea_errors<>
	MaxXattrNameLen  = 255     // xattrkey4 (RFC 8276 §8.3: component4, ≤ maxname)
	MaxXattrValueLen = 1 << 16 // xattrvalue4: Linux XATTR_SIZE_MAX
	MaxXattrNames    = 1 << 16 // LISTXATTRS lxr_names<>
)

// netloc_type4 (RFC 7862 §4.3).
const (
	NL4Name    = 1
	NL4URL     = 2
	NL4NetAddr = 3
)

// setxattr_option4 (RFC 8276 §8.4.2).
const (
	SetXattrEither  = 0
	SetXattrCreate  = 1
	SetXattrReplace = 2
)

// NetLoc is netloc4: Type NL4Name/NL4URL use Name (nl_name / nl_url),
// NL4NetAddr uses Addr.
type NetLoc struct {
	Type uint32
	Name []byte // utf8str_cis
	Addr NetAddr
}

func (n *NetLoc) Encode(e *xdr.Encoder) {
	e.Uint32(n.Type)
	switch n.Type {
	case NL4Name, NL4URL:
		e.Opaque(n.Name)
	case NL4NetAddr:
		n.Addr.Encode(e)
	}
}
func (n *NetLoc) Decode(d *xdr.Decoder) {
	n.Type = d.Uint32()
	switch n.Type {
	case NL4Name, NL4URL:
		n.Name = d.Opaque("netloc4", MaxPathLen)
	case NL4NetAddr:
		n.Addr.Decode(d)
	default:
		setBadArm(d, "netloc4", n.Type)
	}
}

// ---------------------------------------------------------------- ALLOCATE / DEALLOCATE (§15.1, §15.4)

// AllocateArgs is ALLOCATE4args.
type AllocateArgs struct {
	StateID StateID
	Offset  uint64
	Length  uint64
}

func (a *AllocateArgs) Encode(e *xdr.Encoder) {
	a.StateID.Encode(e)
	e.Uint64(a.Offset)
	e.Uint64(a.Length)
}
func (a *AllocateArgs) Decode(d *xdr.Decoder) {
	a.StateID.Decode(d)
	a.Offset = d.Uint64()
	a.Length = d.Uint64()
}

// AllocateRes is ALLOCATE4res.
type AllocateRes struct{ StatusRes }

// DeallocateArgs is DEALLOCATE4args (same fields as ALLOCATE).
type DeallocateArgs AllocateArgs

func (a *DeallocateArgs) Encode(e *xdr.Encoder) { (*AllocateArgs)(a).Encode(e) }
func (a *DeallocateArgs) Decode(d *xdr.Decoder) { (*AllocateArgs)(a).Decode(d) }

// DeallocateRes is DEALLOCATE4res.
type DeallocateRes struct{ StatusRes }

// ---------------------------------------------------------------- SEEK (§15.11)

// SeekArgs is SEEK4args; What is ContentData or ContentHole.
type SeekArgs struct {
	StateID StateID
	Offset  uint64
	What    uint32
}

func (a *SeekArgs) Encode(e *xdr.Encoder) {
	a.StateID.Encode(e)
	e.Uint64(a.Offset)
	e.Uint32(a.What)
}
func (a *SeekArgs) Decode(d *xdr.Decoder) {
	a.StateID.Decode(d)
	a.Offset = d.Uint64()
	a.What = d.Uint32()
}

// SeekRes is SEEK4res (resok seek_res4).
type SeekRes struct {
	Status Status
	EOF    bool
	Offset uint64
}

func (r *SeekRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Bool(r.EOF)
		e.Uint64(r.Offset)
	}
}
func (r *SeekRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.EOF = d.Bool()
		r.Offset = d.Uint64()
	}
}

// ---------------------------------------------------------------- COPY (§15.2)

// CopyArgs is COPY4args.
type CopyArgs struct {
	SrcStateID   StateID
	DstStateID   StateID
	SrcOffset    uint64
	DstOffset    uint64
	Count        uint64
	Consecutive  bool
	Synchronous  bool
	SourceServer []NetLoc // empty: intra-server copy
}

func (a *CopyArgs) Encode(e *xdr.Encoder) {
	a.SrcStateID.Encode(e)
	a.DstStateID.Encode(e)
	e.Uint64(a.SrcOffset)
	e.Uint64(a.DstOffset)
	e.Uint64(a.Count)
	e.Bool(a.Consecutive)
	e.Bool(a.Synchronous)
	xdrPutList(e, a.SourceServer)
}
func (a *CopyArgs) Decode(d *xdr.Decoder) {
	a.SrcStateID.Decode(d)
	a.DstStateID.Decode(d)
	a.SrcOffset = d.Uint64()
	a.DstOffset = d.Uint64()
	a.Count = d.Uint64()
	a.Consecutive = d.Bool()
	a.Synchronous = d.Bool()
	a.SourceServer = xdrList[NetLoc](d, "ca_source_server", MaxNetLocs, 8)
}

// WriteResponse is write_response4 (RFC 7862 §15.2.1).
type WriteResponse struct {
	CallbackID *StateID // wr_callback_id<1>: set for an asynchronous copy
	Count      uint64
	Committed  uint32 // stable_how4
	WriteVerf  Verifier
}

func (w *WriteResponse) Encode(e *xdr.Encoder) {
	if w.CallbackID != nil {
		e.Uint32(1)
		w.CallbackID.Encode(e)
	} else {
		e.Uint32(0)
	}
	e.Uint64(w.Count)
	e.Uint32(w.Committed)
	w.WriteVerf.Encode(e)
}
func (w *WriteResponse) Decode(d *xdr.Decoder) {
	w.CallbackID = nil
	if d.Length("wr_callback_id", 1, 16) == 1 {
		w.CallbackID = new(StateID)
		w.CallbackID.Decode(d)
	}
	w.Count = d.Uint64()
	w.Committed = d.Uint32()
	w.WriteVerf.Decode(d)
}

// CopyRequirements is copy_requirements4.
type CopyRequirements struct {
	Consecutive bool
	Synchronous bool
}

func (c *CopyRequirements) Encode(e *xdr.Encoder) {
	e.Bool(c.Consecutive)
	e.Bool(c.Synchronous)
}
func (c *CopyRequirements) Decode(d *xdr.Decoder) {
	c.Consecutive = d.Bool()
	c.Synchronous = d.Bool()
}

// CopyRes is COPY4res. Status OK carries Response and Requirements;
// ErrOffloadNoReqs carries Requirements only (COPY4res_denied,
// RFC 7862 §15.2.2).
type CopyRes struct {
	Status       Status
	Response     WriteResponse
	Requirements CopyRequirements
}

func (r *CopyRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	switch r.Status {
	case OK:
		r.Response.Encode(e)
		r.Requirements.Encode(e)
	case ErrOffloadNoReqs:
		r.Requirements.Encode(e)
	}
}
func (r *CopyRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	switch r.Status {
	case OK:
		r.Response.Decode(d)
		r.Requirements.Decode(d)
	case ErrOffloadNoReqs:
		r.Requirements.Decode(d)
	}
}

// ---------------------------------------------------------------- OFFLOAD_CANCEL / OFFLOAD_STATUS (§15.8, §15.9)

// OffloadCancelArgs is OFFLOAD_CANCEL4args.
type OffloadCancelArgs struct{ StateID StateID }

func (a *OffloadCancelArgs) Encode(e *xdr.Encoder) { a.StateID.Encode(e) }
func (a *OffloadCancelArgs) Decode(d *xdr.Decoder) { a.StateID.Decode(d) }

// OffloadCancelRes is OFFLOAD_CANCEL4res.
type OffloadCancelRes struct{ StatusRes }

// OffloadStatusArgs is OFFLOAD_STATUS4args.
type OffloadStatusArgs struct{ StateID StateID }

func (a *OffloadStatusArgs) Encode(e *xdr.Encoder) { a.StateID.Encode(e) }
func (a *OffloadStatusArgs) Decode(d *xdr.Decoder) { a.StateID.Decode(d) }

// OffloadStatusRes is OFFLOAD_STATUS4res; Complete (osr_complete<1>) is set
// once the copy has finished.
type OffloadStatusRes struct {
	Status   Status
	Count    uint64
	Complete *Status
}

func (r *OffloadStatusRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status != OK {
		return
	}
	e.Uint64(r.Count)
	if r.Complete != nil {
		e.Uint32(1)
		e.Uint32(uint32(*r.Complete))
	} else {
		e.Uint32(0)
	}
}
func (r *OffloadStatusRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status != OK {
		return
	}
	r.Count = d.Uint64()
	r.Complete = nil
	if d.Length("osr_complete", 1, 4) == 1 {
		s := Status(d.Uint32())
		r.Complete = &s
	}
}

// ---------------------------------------------------------------- CLONE (§15.13)

// CloneArgs is CLONE4args.
type CloneArgs struct {
	SrcStateID StateID
	DstStateID StateID
	SrcOffset  uint64
	DstOffset  uint64
	Count      uint64
}

func (a *CloneArgs) Encode(e *xdr.Encoder) {
	a.SrcStateID.Encode(e)
	a.DstStateID.Encode(e)
	e.Uint64(a.SrcOffset)
	e.Uint64(a.DstOffset)
	e.Uint64(a.Count)
}
func (a *CloneArgs) Decode(d *xdr.Decoder) {
	a.SrcStateID.Decode(d)
	a.DstStateID.Decode(d)
	a.SrcOffset = d.Uint64()
	a.DstOffset = d.Uint64()
	a.Count = d.Uint64()
}

// CloneRes is CLONE4res.
type CloneRes struct{ StatusRes }

// ---------------------------------------------------------------- READ_PLUS (§15.10)

// ReadPlusArgs is READ_PLUS4args.
type ReadPlusArgs struct {
	StateID StateID
	Offset  uint64
	Count   uint32
}

func (a *ReadPlusArgs) Encode(e *xdr.Encoder) {
	a.StateID.Encode(e)
	e.Uint64(a.Offset)
	e.Uint32(a.Count)
}
func (a *ReadPlusArgs) Decode(d *xdr.Decoder) {
	a.StateID.Decode(d)
	a.Offset = d.Uint64()
	a.Count = d.Uint32()
}

// ReadPlusContent is read_plus_content: Content ContentData carries Offset
// and Data (data4); ContentHole carries Offset and Length (data_info4); any
// other value is the XDR's void default arm.
type ReadPlusContent struct {
	Content uint32
	Offset  uint64
	Data    []byte // aliases the input on decode
	Length  uint64
}

func (c *ReadPlusContent) Encode(e *xdr.Encoder) {
	e.Uint32(c.Content)
	switch c.Content {
	case ContentData:
		e.Uint64(c.Offset)
		e.Opaque(c.Data)
	case ContentHole:
		e.Uint64(c.Offset)
		e.Uint64(c.Length)
	}
}
func (c *ReadPlusContent) Decode(d *xdr.Decoder) {
	c.Content = d.Uint32()
	switch c.Content {
	case ContentData:
		c.Offset = d.Uint64()
		c.Data = d.Opaque("d_data", MaxIOLen)
	case ContentHole:
		c.Offset = d.Uint64()
		c.Length = d.Uint64()
	default: // void (RFC 7862 §15.10.2)
	}
}

// ReadPlusRes is READ_PLUS4res. A server that does not implement READ_PLUS
// answers ErrNotSupp and the client falls back to READ (RFC 7862 §15.10.3).
type ReadPlusRes struct {
	Status   Status
	EOF      bool
	Contents []ReadPlusContent
}

func (r *ReadPlusRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Bool(r.EOF)
		xdrPutList(e, r.Contents)
	}
}
func (r *ReadPlusRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.EOF = d.Bool()
		r.Contents = xdrList[ReadPlusContent](d, "rpr_contents", MaxReadPlusSegs, 4)
	}
}

// ---------------------------------------------------------------- IO_ADVISE (§15.5)

// IOAdviseArgs is IO_ADVISE4args; Hints holds IO_ADVISE4_* bit numbers.
type IOAdviseArgs struct {
	StateID StateID
	Offset  uint64
	Count   uint64
	Hints   Bitmap
}

func (a *IOAdviseArgs) Encode(e *xdr.Encoder) {
	a.StateID.Encode(e)
	e.Uint64(a.Offset)
	e.Uint64(a.Count)
	a.Hints.Encode(e)
}
func (a *IOAdviseArgs) Decode(d *xdr.Decoder) {
	a.StateID.Decode(d)
	a.Offset = d.Uint64()
	a.Count = d.Uint64()
	a.Hints.Decode(d)
}

// IOAdviseRes is IO_ADVISE4res.
type IOAdviseRes struct {
	Status Status
	Hints  Bitmap
}

func (r *IOAdviseRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.Hints.Encode(e)
	}
}
func (r *IOAdviseRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.Hints.Decode(d)
	}
}

// ---------------------------------------------------------------- LAYOUTERROR / LAYOUTSTATS (§15.6, §15.7)
//
// pNFS only: decoded so the COMPOUND can be walked; answered NFS4ERR_NOTSUPP.

// DeviceError is device_error4.
type DeviceError struct {
	DeviceID DeviceID
	Status   Status
	OpNum    Op
}

func (de *DeviceError) Encode(e *xdr.Encoder) {
	de.DeviceID.Encode(e)
	e.Uint32(uint32(de.Status))
	e.Uint32(uint32(de.OpNum))
}
func (de *DeviceError) Decode(d *xdr.Decoder) {
	de.DeviceID.Decode(d)
	de.Status = Status(d.Uint32())
	de.OpNum = Op(d.Uint32())
}

// LayoutErrorArgs is LAYOUTERROR4args.
type LayoutErrorArgs struct {
	Offset  uint64
	Length  uint64
	StateID StateID
	Errors  []DeviceError
}

func (a *LayoutErrorArgs) Encode(e *xdr.Encoder) {
	e.Uint64(a.Offset)
	e.Uint64(a.Length)
	a.StateID.Encode(e)
	xdrPutList(e, a.Errors)
}
func (a *LayoutErrorArgs) Decode(d *xdr.Decoder) {
	a.Offset = d.Uint64()
	a.Length = d.Uint64()
	a.StateID.Decode(d)
	a.Errors = xdrList[DeviceError](d, "lea_errors", MaxDeviceErrors, DeviceIDSize+8)
}

// LayoutErrorRes is LAYOUTERROR4res.
type LayoutErrorRes struct{ StatusRes }

// IOInfo is io_info4.
type IOInfo struct {
	Count uint64
	Bytes uint64
}

func (i *IOInfo) Encode(e *xdr.Encoder) {
	e.Uint64(i.Count)
	e.Uint64(i.Bytes)
}
func (i *IOInfo) Decode(d *xdr.Decoder) {
	i.Count = d.Uint64()
	i.Bytes = d.Uint64()
}

// LayoutStatsArgs is LAYOUTSTATS4args.
type LayoutStatsArgs struct {
	Offset       uint64
	Length       uint64
	StateID      StateID
	Read         IOInfo
	Write        IOInfo
	DeviceID     DeviceID
	LayoutUpdate LayoutUpdate
}

func (a *LayoutStatsArgs) Encode(e *xdr.Encoder) {
	e.Uint64(a.Offset)
	e.Uint64(a.Length)
	a.StateID.Encode(e)
	a.Read.Encode(e)
	a.Write.Encode(e)
	a.DeviceID.Encode(e)
	a.LayoutUpdate.Encode(e)
}
func (a *LayoutStatsArgs) Decode(d *xdr.Decoder) {
	a.Offset = d.Uint64()
	a.Length = d.Uint64()
	a.StateID.Decode(d)
	a.Read.Decode(d)
	a.Write.Decode(d)
	a.DeviceID.Decode(d)
	a.LayoutUpdate.Decode(d)
}

// LayoutStatsRes is LAYOUTSTATS4res.
type LayoutStatsRes struct{ StatusRes }

// ---------------------------------------------------------------- WRITE_SAME (§15.12)

// AppDataBlock is app_data_block4.
type AppDataBlock struct {
	Offset        uint64
	BlockSize     uint64
	BlockCount    uint64
	RelOffBlockNo uint64
	BlockNum      uint32
	RelOffPattern uint64
	Pattern       []byte
}

func (a *AppDataBlock) Encode(e *xdr.Encoder) {
	e.Uint64(a.Offset)
	e.Uint64(a.BlockSize)
	e.Uint64(a.BlockCount)
	e.Uint64(a.RelOffBlockNo)
	e.Uint32(a.BlockNum)
	e.Uint64(a.RelOffPattern)
	e.Opaque(a.Pattern)
}
func (a *AppDataBlock) Decode(d *xdr.Decoder) {
	a.Offset = d.Uint64()
	a.BlockSize = d.Uint64()
	a.BlockCount = d.Uint64()
	a.RelOffBlockNo = d.Uint64()
	a.BlockNum = d.Uint32()
	a.RelOffPattern = d.Uint64()
	a.Pattern = d.Opaque("adb_pattern", MaxIOLen)
}

// WriteSameArgs is WRITE_SAME4args (decoded so it can be answered
// NFS4ERR_NOTSUPP).
type WriteSameArgs struct {
	StateID StateID
	Stable  uint32
	ADB     AppDataBlock
}

func (a *WriteSameArgs) Encode(e *xdr.Encoder) {
	a.StateID.Encode(e)
	e.Uint32(a.Stable)
	a.ADB.Encode(e)
}
func (a *WriteSameArgs) Decode(d *xdr.Decoder) {
	a.StateID.Decode(d)
	a.Stable = d.Uint32()
	a.ADB.Decode(d)
}

// WriteSameRes is WRITE_SAME4res (resok write_response4).
type WriteSameRes struct {
	Status   Status
	Response WriteResponse
}

func (r *WriteSameRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.Response.Encode(e)
	}
}
func (r *WriteSameRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.Response.Decode(d)
	}
}

// ---------------------------------------------------------------- COPY_NOTIFY (§15.3)

// CopyNotifyArgs is COPY_NOTIFY4args.
type CopyNotifyArgs struct {
	SrcStateID        StateID
	DestinationServer NetLoc
}

func (a *CopyNotifyArgs) Encode(e *xdr.Encoder) {
	a.SrcStateID.Encode(e)
	a.DestinationServer.Encode(e)
}
func (a *CopyNotifyArgs) Decode(d *xdr.Decoder) {
	a.SrcStateID.Decode(d)
	a.DestinationServer.Decode(d)
}

// CopyNotifyRes is COPY_NOTIFY4res.
type CopyNotifyRes struct {
	Status       Status
	LeaseTime    Time
	StateID      StateID
	SourceServer []NetLoc
}

func (r *CopyNotifyRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.LeaseTime.Encode(e)
		r.StateID.Encode(e)
		xdrPutList(e, r.SourceServer)
	}
}
func (r *CopyNotifyRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.LeaseTime.Decode(d)
		r.StateID.Decode(d)
		r.SourceServer = xdrList[NetLoc](d, "cnr_source_server", MaxNetLocs, 8)
	}
}

// ---------------------------------------------------------------- xattrs (RFC 8276 §8.4)

// GetXattrArgs is GETXATTR4args.
type GetXattrArgs struct{ Name []byte }

func (a *GetXattrArgs) Encode(e *xdr.Encoder) { e.Opaque(a.Name) }
func (a *GetXattrArgs) Decode(d *xdr.Decoder) { a.Name = d.Opaque("gxa_name", MaxXattrNameLen) }

// GetXattrRes is GETXATTR4res.
type GetXattrRes struct {
	Status Status
	Value  []byte // aliases the input on decode
}

func (r *GetXattrRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		e.Opaque(r.Value)
	}
}
func (r *GetXattrRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.Value = d.Opaque("gxr_value", MaxXattrValueLen)
	}
}

// SetXattrArgs is SETXATTR4args; Option is a SetXattr* value.
type SetXattrArgs struct {
	Option uint32
	Name   []byte // xattrkey4
	Value  []byte
}

func (a *SetXattrArgs) Encode(e *xdr.Encoder) {
	e.Uint32(a.Option)
	e.Opaque(a.Name)
	e.Opaque(a.Value)
}
func (a *SetXattrArgs) Decode(d *xdr.Decoder) {
	a.Option = d.Uint32()
	a.Name = d.Opaque("sxa_key", MaxXattrNameLen)
	a.Value = d.Opaque("sxa_value", MaxXattrValueLen)
}

// SetXattrRes is SETXATTR4res.
type SetXattrRes struct {
	Status Status
	CInfo  ChangeInfo
}

func (r *SetXattrRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.CInfo.Encode(e)
	}
}
func (r *SetXattrRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.CInfo.Decode(d)
	}
}

// ListXattrsArgs is LISTXATTRS4args.
type ListXattrsArgs struct {
	Cookie   uint64
	MaxCount uint32
}

func (a *ListXattrsArgs) Encode(e *xdr.Encoder) {
	e.Uint64(a.Cookie)
	e.Uint32(a.MaxCount)
}
func (a *ListXattrsArgs) Decode(d *xdr.Decoder) {
	a.Cookie = d.Uint64()
	a.MaxCount = d.Uint32()
}

// ListXattrsRes is LISTXATTRS4res.
type ListXattrsRes struct {
	Status Status
	Cookie uint64
	Names  [][]byte // xattrkey4<>
	EOF    bool
}

func (r *ListXattrsRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status != OK {
		return
	}
	e.Uint64(r.Cookie)
	putOpaqueList(e, r.Names)
	e.Bool(r.EOF)
}
func (r *ListXattrsRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status != OK {
		return
	}
	r.Cookie = d.Uint64()
	r.Names = opaqueList(d, "lxr_names", MaxXattrNames, MaxXattrNameLen)
	r.EOF = d.Bool()
}

// RemoveXattrArgs is REMOVEXATTR4args.
type RemoveXattrArgs struct{ Name []byte }

func (a *RemoveXattrArgs) Encode(e *xdr.Encoder) { e.Opaque(a.Name) }
func (a *RemoveXattrArgs) Decode(d *xdr.Decoder) { a.Name = d.Opaque("rxa_name", MaxXattrNameLen) }

// RemoveXattrRes is REMOVEXATTR4res.
type RemoveXattrRes struct {
	Status Status
	CInfo  ChangeInfo
}

func (r *RemoveXattrRes) Encode(e *xdr.Encoder) {
	e.Uint32(uint32(r.Status))
	if r.Status == OK {
		r.CInfo.Encode(e)
	}
}
func (r *RemoveXattrRes) Decode(d *xdr.Decoder) {
	r.Status = Status(d.Uint32())
	if r.Status == OK {
		r.CInfo.Decode(d)
	}
}

func (r *SeekRes) GetStatus() Status          { return r.Status }
func (r *CopyRes) GetStatus() Status          { return r.Status }
func (r *OffloadStatusRes) GetStatus() Status { return r.Status }
func (r *ReadPlusRes) GetStatus() Status      { return r.Status }
func (r *IOAdviseRes) GetStatus() Status      { return r.Status }
func (r *WriteSameRes) GetStatus() Status     { return r.Status }
func (r *CopyNotifyRes) GetStatus() Status    { return r.Status }
func (r *GetXattrRes) GetStatus() Status      { return r.Status }
func (r *SetXattrRes) GetStatus() Status      { return r.Status }
func (r *ListXattrsRes) GetStatus() Status    { return r.Status }
func (r *RemoveXattrRes) GetStatus() Status   { return r.Status }

func init() {
	register(OpAllocate, func() Args { return new(AllocateArgs) }, func() Res { return new(AllocateRes) })
	register(OpDeallocate, func() Args { return new(DeallocateArgs) }, func() Res { return new(DeallocateRes) })
	register(OpSeek, func() Args { return new(SeekArgs) }, func() Res { return new(SeekRes) })
	register(OpCopy, func() Args { return new(CopyArgs) }, func() Res { return new(CopyRes) })
	register(OpOffloadCancel, func() Args { return new(OffloadCancelArgs) }, func() Res { return new(OffloadCancelRes) })
	register(OpOffloadStatus, func() Args { return new(OffloadStatusArgs) }, func() Res { return new(OffloadStatusRes) })
	register(OpClone, func() Args { return new(CloneArgs) }, func() Res { return new(CloneRes) })
	register(OpReadPlus, func() Args { return new(ReadPlusArgs) }, func() Res { return new(ReadPlusRes) })
	register(OpIOAdvise, func() Args { return new(IOAdviseArgs) }, func() Res { return new(IOAdviseRes) })
	register(OpLayoutError, func() Args { return new(LayoutErrorArgs) }, func() Res { return new(LayoutErrorRes) })
	register(OpLayoutStats, func() Args { return new(LayoutStatsArgs) }, func() Res { return new(LayoutStatsRes) })
	register(OpWriteSame, func() Args { return new(WriteSameArgs) }, func() Res { return new(WriteSameRes) })
	register(OpCopyNotify, func() Args { return new(CopyNotifyArgs) }, func() Res { return new(CopyNotifyRes) })
	register(OpGetXattr, func() Args { return new(GetXattrArgs) }, func() Res { return new(GetXattrRes) })
	register(OpSetXattr, func() Args { return new(SetXattrArgs) }, func() Res { return new(SetXattrRes) })
	register(OpListXattrs, func() Args { return new(ListXattrsArgs) }, func() Res { return new(ListXattrsRes) })
	register(OpRemoveXattr, func() Args { return new(RemoveXattrArgs) }, func() Res { return new(RemoveXattrRes) })
}
