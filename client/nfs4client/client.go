// Package nfs4client is the minimal NFSv4 protocol client: enough of
// NFSv4.0 (RFC 7530) and NFSv4.1/4.2 (RFC 8881, RFC 7862) to drive a server
// from tests and small tools. It is deliberately simple — one open-owner,
// no delegations, no back channel, no state recovery — and is not the
// full client (that is a later piece of work).
//
// Use:
//
//	c, err := nfs4client.Dial(ctx, "127.0.0.1:2049")
//	err = c.SetupSession(ctx, 1)   // 4.1: EXCHANGE_ID + CREATE_SESSION
//	// or c.SetupClientID(ctx)     // 4.0: SETCLIENTID + SETCLIENTID_CONFIRM
//	dir, err := c.LookupPath(ctx, "a/b")
//	f, err := c.Create(ctx, dir, "x", nfs4client.CreateHow{Mode: nfs4.Unchecked4})
//	_, err = c.Write(ctx, f.FH, f.StateID, 0, data, nfs4.FileSync4)
//	err = c.CloseFile(ctx, f)
//
// Compound is the raw form: it sends any ops (with SEQUENCE prepended once
// a 4.1 session exists) and returns the decoded COMPOUND4res. Do is the
// same with a non-OK status turned into a *StatusError. Credentials are
// AUTH_SYS uid 0 unless Cred is changed before use.
package nfs4client

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Client is one connection to an NFSv4 server. Its methods are safe for
// concurrent use; 4.0 open/close calls are serialized (one open-owner,
// one seqid), 4.1 calls run in parallel up to the slot count.
type Client struct {
	RPC  *rpcclient.Client
	Cred rpc.Auth // sent with every call; AUTH_SYS uid 0 by default

	// Minor is the minor version the convenience calls use: 0 until
	// SetupSession sets it.
	Minor uint32

	ClientID uint64 // from SETCLIENTID or EXCHANGE_ID
	Session  *Session

	ownerMu  sync.Mutex // 4.0: owner seqid order
	owner    []byte     // open-owner name
	ownerSeq uint32     // 4.0 open-owner seqid
}

// Dial connects to an NFSv4 server at addr (host:port, TCP).
func Dial(ctx context.Context, addr string) (*Client, error) {
	rc, err := rpcclient.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newClient(rc), nil
}

// New returns a Client speaking over rwc.
func New(rwc io.ReadWriteCloser) *Client { return newClient(rpcclient.NewClient(rwc)) }

func newClient(rc *rpcclient.Client) *Client {
	id := make([]byte, 8)
	rand.Read(id)
	return &Client{
		RPC:   rc,
		Cred:  rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "nfs4client"}),
		owner: fmt.Appendf(nil, "nfs4client-owner-%x", id),
	}
}

// Close closes the connection (it does not destroy server state).
func (c *Client) Close() error { return c.RPC.Close() }

// StatusError is a COMPOUND that failed at Op with Status.
type StatusError struct {
	Op     nfs4.Op
	Status nfs4.Status
}

func (e *StatusError) Error() string { return fmt.Sprintf("nfs4: %v: %v", e.Op, e.Status) }

// Unwrap lets errors.Is(err, nfs4.ErrNoEnt) and the like work.
func (e *StatusError) Unwrap() error { return e.Status }

// Send sends args exactly as given (no SEQUENCE added) and decodes the
// reply. Tests use it to retransmit a request byte for byte.
func (c *Client) Send(ctx context.Context, args *nfs4.CompoundArgs) (*nfs4.CompoundRes, error) {
	var e xdr.Encoder
	args.Encode(&e)
	body, err := c.RPC.Call(ctx, nfs4.Program, nfs4.Version, nfs4.ProcCompound, c.Cred, net.Buffers{e.Buf})
	if err != nil {
		return nil, err
	}
	res := new(nfs4.CompoundRes)
	d := xdr.NewDecoder(body)
	res.Decode(d)
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("nfs4client: decoding COMPOUND reply: %w", err)
	}
	return res, nil
}

// maxDelayRetries bounds the NFS4ERR_DELAY retries of one call.
const maxDelayRetries = 50

// Compound runs ops in minor version minor. With a 4.1 session set up and
// minor ≥ 1, a SEQUENCE on a free slot is prepended and its result removed
// from the reply (Results line up with ops). A reply whose status is
// NFS4ERR_DELAY is retried after a pause (RFC 8881 §15.1.1.3: the request
// was not executed). The result status may be an error; see Do.
func (c *Client) Compound(ctx context.Context, minor uint32, ops []nfs4.ArgOp) (*nfs4.CompoundRes, error) {
	for try := 0; ; try++ {
		res, err := c.compoundOnce(ctx, minor, ops)
		if err != nil || res.Status != nfs4.ErrDelay || try == maxDelayRetries {
			return res, err
		}
		select {
		case <-time.After(time.Duration(min(try+1, 10)) * 10 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *Client) compoundOnce(ctx context.Context, minor uint32, ops []nfs4.ArgOp) (*nfs4.CompoundRes, error) {
	s := c.Session
	if minor == 0 || s == nil {
		return c.Send(ctx, &nfs4.CompoundArgs{MinorVersion: minor, Ops: ops})
	}
	slot, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	seq := &nfs4.SequenceArgs{SessionID: s.ID, SequenceID: s.seqids[slot], SlotID: slot,
		HighestSlotID: uint32(len(s.seqids) - 1)}
	all := append([]nfs4.ArgOp{{Op: nfs4.OpSequence, Args: seq}}, ops...)
	res, err := c.Send(ctx, &nfs4.CompoundArgs{MinorVersion: minor, Ops: all})
	if err != nil {
		// Unknown whether the server saw it; the connection is likely
		// gone anyway. Assume it did, so the slot moves on.
		s.release(slot, true)
		return nil, err
	}
	if len(res.Results) == 0 || res.Results[0].Op != nfs4.OpSequence {
		s.release(slot, false)
		return res, nil // e.g. MINOR_VERS_MISMATCH: no results at all
	}
	// The slot's seqid advances only when SEQUENCE itself succeeded
	// (RFC 8881 §2.10.6.1).
	s.release(slot, res.Results[0].Res.GetStatus() == nfs4.OK)
	if res.Results[0].Res.GetStatus() == nfs4.OK {
		res.Results = res.Results[1:]
	}
	return res, nil
}

// Do runs ops in c.Minor and turns a failed status into a *StatusError
// naming the failing op. The results are returned either way.
func (c *Client) Do(ctx context.Context, ops ...nfs4.ArgOp) (*nfs4.CompoundRes, error) {
	res, err := c.Compound(ctx, c.Minor, ops)
	if err != nil {
		return nil, err
	}
	if res.Status != nfs4.OK {
		op := nfs4.OpIllegal
		if n := len(res.Results); n > 0 {
			op = res.Results[n-1].Op
		}
		return res, &StatusError{Op: op, Status: res.Status}
	}
	return res, nil
}

// Session is a 4.1 session with a simple slot table: a free list of slot
// ids and the next sequence id of each slot.
type Session struct {
	ID     nfs4.SessionID
	free   chan uint32
	mu     sync.Mutex
	seqids []uint32
}

func (s *Session) acquire(ctx context.Context) (uint32, error) {
	select {
	case slot := <-s.free:
		return slot, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (s *Session) release(slot uint32, used bool) {
	if used {
		s.mu.Lock()
		s.seqids[slot]++
		s.mu.Unlock()
	}
	s.free <- slot
}

// NextSlot returns a free slot id and its sequence id, taking the slot out
// of use until ReleaseSlot; for tests that build SEQUENCE by hand.
func (s *Session) NextSlot(ctx context.Context) (slot, seqid uint32, err error) {
	slot, err = s.acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slot, s.seqids[slot], nil
}

// ReleaseSlot returns a slot taken by NextSlot; used says whether a
// SEQUENCE with its seqid succeeded.
func (s *Session) ReleaseSlot(slot uint32, used bool) { s.release(slot, used) }

// Slots is the size of the slot table asked for in CREATE_SESSION.
const Slots = 16

// SetupSession registers a 4.1+ client (EXCHANGE_ID, RFC 8881 §18.35),
// creates a session (CREATE_SESSION, §18.36) and sends RECLAIM_COMPLETE
// (§18.51) so non-reclaim OPENs are allowed. minor is 1 or 2.
func (c *Client) SetupSession(ctx context.Context, minor uint32) error {
	var v nfs4.Verifier
	rand.Read(v[:])
	res, err := c.Compound(ctx, minor, []nfs4.ArgOp{{Op: nfs4.OpExchangeID, Args: &nfs4.ExchangeIDArgs{
		ClientOwner:  nfs4.ClientOwner{Verifier: v, OwnerID: append([]byte("nfs4client-"), c.owner...)},
		StateProtect: nfs4.StateProtectA{How: nfs4.SP4None},
	}}})
	if err := resErr(res, err); err != nil {
		return err
	}
	ex := res.Results[0].Res.(*nfs4.ExchangeIDRes)
	attrs := nfs4.ChannelAttrs{MaxRequestSize: 1<<20 + 1<<16, MaxResponseSize: 1<<20 + 1<<16,
		MaxResponseSizeCached: 1 << 16, MaxOperations: 64, MaxRequests: Slots}
	back := nfs4.ChannelAttrs{MaxRequestSize: 1 << 14, MaxResponseSize: 1 << 14,
		MaxResponseSizeCached: 0, MaxOperations: 8, MaxRequests: 1}
	res, err = c.Compound(ctx, minor, []nfs4.ArgOp{{Op: nfs4.OpCreateSession, Args: &nfs4.CreateSessionArgs{
		ClientID: ex.ClientID, Sequence: ex.SequenceID, ForeChanAttrs: attrs, BackChanAttrs: back,
		CBProgram: 0x40000000, SecParms: []nfs4.CallbackSecParms{{Flavor: nfs4.AuthNone}},
	}}})
	if err := resErr(res, err); err != nil {
		return err
	}
	cs := res.Results[0].Res.(*nfs4.CreateSessionRes)
	n := max(1, min(cs.ForeChanAttrs.MaxRequests, Slots))
	s := &Session{ID: cs.SessionID, free: make(chan uint32, n), seqids: make([]uint32, n)}
	for i := range n {
		s.free <- i
		s.seqids[i] = 1 // a new slot's first seqid is 1 (RFC 8881 §2.10.6.1)
	}
	c.ClientID, c.Session, c.Minor = ex.ClientID, s, minor
	res, err = c.Compound(ctx, minor, []nfs4.ArgOp{{Op: nfs4.OpReclaimComplete, Args: &nfs4.ReclaimCompleteArgs{}}})
	if err != nil {
		return err
	}
	switch res.Status {
	case nfs4.OK, nfs4.ErrCompleteAlready, nfs4.ErrNotSupp:
		return nil
	}
	return &StatusError{Op: nfs4.OpReclaimComplete, Status: res.Status}
}

// SetupClientID registers a 4.0 client: SETCLIENTID and
// SETCLIENTID_CONFIRM (RFC 7530 §16.33, §16.34), without a callback.
func (c *Client) SetupClientID(ctx context.Context) error {
	var v nfs4.Verifier
	rand.Read(v[:])
	res, err := c.Compound(ctx, 0, []nfs4.ArgOp{{Op: nfs4.OpSetClientID, Args: &nfs4.SetClientIDArgs{
		Verifier: v, ID: append([]byte("nfs4client-"), c.owner...),
		Callback: nfs4.CBClient{CBLocation: nfs4.NetAddr{NetID: []byte("tcp"), Addr: []byte("127.0.0.1.0.0")}},
	}}})
	if err := resErr(res, err); err != nil {
		return err
	}
	sc := res.Results[0].Res.(*nfs4.SetClientIDRes)
	res, err = c.Compound(ctx, 0, []nfs4.ArgOp{{Op: nfs4.OpSetClientIDConfirm, Args: &nfs4.SetClientIDConfirmArgs{
		ClientID: sc.ClientID, SetClientIDConfirm: sc.SetClientIDConfirm}}})
	if err := resErr(res, err); err != nil {
		return err
	}
	c.ClientID, c.Minor, c.ownerSeq = sc.ClientID, 0, 0
	return nil
}

func resErr(res *nfs4.CompoundRes, err error) error {
	if err != nil {
		return err
	}
	if res.Status != nfs4.OK {
		op := nfs4.OpIllegal
		if n := len(res.Results); n > 0 {
			op = res.Results[n-1].Op
		}
		return &StatusError{Op: op, Status: res.Status}
	}
	return nil
}

// ---------------------------------------------------------------- op helpers

// Op builders, for composing COMPOUNDs by hand.
func PutRootFH() nfs4.ArgOp { return nfs4.ArgOp{Op: nfs4.OpPutRootFH, Args: &nfs4.PutRootFHArgs{}} }
func PutFH(fh []byte) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpPutFH, Args: &nfs4.PutFHArgs{Object: fh}}
}
func GetFH() nfs4.ArgOp { return nfs4.ArgOp{Op: nfs4.OpGetFH, Args: &nfs4.GetFHArgs{}} }
func Lookup(name string) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpLookup, Args: &nfs4.LookupArgs{ObjName: []byte(name)}}
}
func GetAttrOp(want nfs4.Bitmap) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpGetattr, Args: &nfs4.GetattrArgs{AttrRequest: want}}
}

// BasicAttrs is the attribute set GetAttr asks for by default.
var BasicAttrs = bitmap(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFileID,
	nfs4.AttrMode, nfs4.AttrNumLinks)

func bitmap(attrs ...int) nfs4.Bitmap {
	var b nfs4.Bitmap
	for _, a := range attrs {
		b.Set(a)
	}
	return b
}

// result returns the i-th result as T (after a successful Do).
func result[T nfs4.Res](res *nfs4.CompoundRes, i int) T {
	return res.Results[i].Res.(T)
}

// RootFH returns the handle of the server's root.
func (c *Client) RootFH(ctx context.Context) ([]byte, error) {
	return c.LookupPath(ctx, "")
}

// LookupPath resolves a slash-separated path from the root and returns
// its handle.
func (c *Client) LookupPath(ctx context.Context, path string) ([]byte, error) {
	ops := []nfs4.ArgOp{PutRootFH()}
	for _, p := range strings.Split(path, "/") {
		if p != "" {
			ops = append(ops, Lookup(p))
		}
	}
	ops = append(ops, GetFH())
	res, err := c.Do(ctx, ops...)
	if err != nil {
		return nil, err
	}
	return result[*nfs4.GetFHRes](res, len(ops)-1).Object, nil
}

// GetAttr fetches attributes of fh (BasicAttrs when want is nil).
func (c *Client) GetAttr(ctx context.Context, fh []byte, want nfs4.Bitmap) (*nfs4.Attrs, error) {
	if want == nil {
		want = BasicAttrs
	}
	res, err := c.Do(ctx, PutFH(fh), GetAttrOp(want))
	if err != nil {
		return nil, err
	}
	f := result[*nfs4.GetattrRes](res, 1).ObjAttributes
	return nfs4.DecodeAttrs(&f)
}

// OpenFile is an open file: its handle and open stateid.
type OpenFile struct {
	FH      []byte
	StateID nfs4.StateID
	Res     *nfs4.OpenRes // the OPEN result (change info, flags, attrset)
}

// CreateHow selects the OPEN create mode (createhow4): Mode is
// nfs4.Unchecked4, Guarded4, Exclusive4 (4.0) or Exclusive4_1 (4.1);
// Verf is the exclusive verifier; Attrs the create attributes (mode…).
type CreateHow struct {
	Mode  uint32
	Verf  nfs4.Verifier
	Attrs *nfs4.Attrs // Present selects the attributes sent; nil: none
}

// Create opens dir/name read-write, creating it as how says (OPEN with
// OPEN4_CREATE, RFC 7530 §16.16, RFC 8881 §18.16).
func (c *Client) Create(ctx context.Context, dir []byte, name string, how CreateHow) (*OpenFile, error) {
	ch := nfs4.CreateHow{Mode: how.Mode, CreateVerf: how.Verf}
	if how.Attrs != nil {
		var e xdr.Encoder
		if err := nfs4.AppendAttrVals(&e, how.Attrs.Present, how.Attrs); err != nil {
			return nil, err
		}
		ch.CreateAttrs = nfs4.Fattr{Mask: how.Attrs.Present, Vals: e.Buf}
	} else if how.Mode != nfs4.Exclusive4 {
		ch.CreateAttrs = nfs4.Fattr{Mask: nfs4.Bitmap{}}
	}
	return c.open(ctx, dir, name, nfs4.ShareAccessBoth, nfs4.OpenFlag{OpenType: nfs4.OpenCreate, CreateHow: ch})
}

// Open opens an existing dir/name with share access (nfs4.ShareAccess*).
func (c *Client) Open(ctx context.Context, dir []byte, name string, access uint32) (*OpenFile, error) {
	return c.open(ctx, dir, name, access, nfs4.OpenFlag{OpenType: nfs4.OpenNoCreate})
}

func (c *Client) open(ctx context.Context, dir []byte, name string, access uint32, how nfs4.OpenFlag) (*OpenFile, error) {
	if c.Minor == 0 {
		c.ownerMu.Lock()
		defer c.ownerMu.Unlock()
	}
	args := &nfs4.OpenArgs{SeqID: c.ownerSeq, ShareAccess: access, ShareDeny: nfs4.ShareDenyNone,
		Owner:   nfs4.OpenOwner{ClientID: c.ClientID, Owner: c.owner},
		OpenHow: how, Claim: nfs4.OpenClaim{Claim: nfs4.ClaimNull, File: []byte(name)}}
	res, err := c.Do(ctx, PutFH(dir), nfs4.ArgOp{Op: nfs4.OpOpen, Args: args}, GetFH())
	c.bumpSeq(res)
	if err != nil {
		return nil, err
	}
	or := result[*nfs4.OpenRes](res, 1)
	f := &OpenFile{FH: result[*nfs4.GetFHRes](res, 2).Object, StateID: or.StateID, Res: or}
	if c.Minor == 0 && or.RFlags&nfs4.OpenResultConfirm != 0 {
		// 4.0: a new open-owner confirms its first open (RFC 7530 §16.18).
		res, err := c.Do(ctx, PutFH(f.FH), nfs4.ArgOp{Op: nfs4.OpOpenConfirm,
			Args: &nfs4.OpenConfirmArgs{OpenStateID: f.StateID, SeqID: c.ownerSeq}})
		c.bumpSeq(res)
		if err != nil {
			return nil, err
		}
		f.StateID = result[*nfs4.OpenConfirmRes](res, 1).StateID
	}
	return f, nil
}

// bumpSeq advances the 4.0 open-owner seqid after a seqid-mutating op got
// a reply that is not one of the errors that leave it unchanged (RFC 7530
// §9.1.7).
func (c *Client) bumpSeq(res *nfs4.CompoundRes) {
	if c.Minor != 0 || res == nil || len(res.Results) < 2 {
		return
	}
	switch res.Status {
	case nfs4.ErrStaleClientID, nfs4.ErrStaleStateID, nfs4.ErrBadStateID,
		nfs4.ErrBadSeqID, nfs4.ErrBadXDR, nfs4.ErrResource, nfs4.ErrNoFileHandle, nfs4.ErrMoved:
		return
	}
	c.ownerSeq++
}

// CloseFile closes an open (CLOSE, RFC 7530 §16.2).
func (c *Client) CloseFile(ctx context.Context, f *OpenFile) error {
	if c.Minor == 0 {
		c.ownerMu.Lock()
		defer c.ownerMu.Unlock()
	}
	res, err := c.Do(ctx, PutFH(f.FH), nfs4.ArgOp{Op: nfs4.OpClose,
		Args: &nfs4.CloseArgs{SeqID: c.ownerSeq, OpenStateID: f.StateID}})
	c.bumpSeq(res)
	return err
}

// Read reads up to count bytes of fh at off through stateid sid.
func (c *Client) Read(ctx context.Context, fh []byte, sid nfs4.StateID, off uint64, count uint32) (data []byte, eof bool, err error) {
	res, err := c.Do(ctx, PutFH(fh), nfs4.ArgOp{Op: nfs4.OpRead,
		Args: &nfs4.ReadArgs{StateID: sid, Offset: off, Count: count}})
	if err != nil {
		return nil, false, err
	}
	r := result[*nfs4.ReadRes](res, 1)
	return r.Data, r.EOF, nil
}

// ReadAll reads fh from offset 0 to EOF in chunks of chunk bytes.
func (c *Client) ReadAll(ctx context.Context, fh []byte, sid nfs4.StateID, chunk uint32) ([]byte, error) {
	var out []byte
	for {
		d, eof, err := c.Read(ctx, fh, sid, uint64(len(out)), chunk)
		if err != nil {
			return out, err
		}
		out = append(out, d...)
		if eof || len(d) == 0 {
			return out, nil
		}
	}
}

// Write writes data at off with stable_how stable (nfs4.Unstable4,
// DataSync4, FileSync4) and returns the WRITE result (count, committed,
// verifier).
func (c *Client) Write(ctx context.Context, fh []byte, sid nfs4.StateID, off uint64, data []byte, stable uint32) (*nfs4.WriteRes, error) {
	res, err := c.Do(ctx, PutFH(fh), nfs4.ArgOp{Op: nfs4.OpWrite,
		Args: &nfs4.WriteArgs{StateID: sid, Offset: off, Stable: stable, Data: data}})
	if err != nil {
		return nil, err
	}
	return result[*nfs4.WriteRes](res, 1), nil
}

// Commit commits fh's unstable writes in [off, off+count) and returns the
// write verifier.
func (c *Client) Commit(ctx context.Context, fh []byte, off uint64, count uint32) (nfs4.Verifier, error) {
	res, err := c.Do(ctx, PutFH(fh), nfs4.ArgOp{Op: nfs4.OpCommit,
		Args: &nfs4.CommitArgs{Offset: off, Count: count}})
	if err != nil {
		return nfs4.Verifier{}, err
	}
	return result[*nfs4.CommitRes](res, 1).WriteVerf, nil
}

// Mkdir creates directory dir/name and returns its handle.
func (c *Client) Mkdir(ctx context.Context, dir []byte, name string) ([]byte, error) {
	res, err := c.Do(ctx, PutFH(dir), nfs4.ArgOp{Op: nfs4.OpCreate, Args: &nfs4.CreateArgs{
		ObjType: nfs4.NF4DIR, ObjName: []byte(name), CreateAttrs: nfs4.Fattr{Mask: nfs4.Bitmap{}}}}, GetFH())
	if err != nil {
		return nil, err
	}
	return result[*nfs4.GetFHRes](res, 2).Object, nil
}

// Remove removes dir/name.
func (c *Client) Remove(ctx context.Context, dir []byte, name string) error {
	_, err := c.Do(ctx, PutFH(dir), nfs4.ArgOp{Op: nfs4.OpRemove, Args: &nfs4.RemoveArgs{Target: []byte(name)}})
	return err
}

// Rename renames srcDir/oldName to dstDir/newName (SAVEFH holds the source).
func (c *Client) Rename(ctx context.Context, srcDir []byte, oldName string, dstDir []byte, newName string) error {
	_, err := c.Do(ctx, PutFH(srcDir), nfs4.ArgOp{Op: nfs4.OpSaveFH, Args: &nfs4.SaveFHArgs{}},
		PutFH(dstDir), nfs4.ArgOp{Op: nfs4.OpRename, Args: &nfs4.RenameArgs{OldName: []byte(oldName), NewName: []byte(newName)}})
	return err
}

// ReadDir lists dir completely (following cookies) and returns the
// entries with the attributes in want (may be nil).
func (c *Client) ReadDir(ctx context.Context, dir []byte, want nfs4.Bitmap) ([]nfs4.DirEntry, error) {
	var all []nfs4.DirEntry
	var cookie uint64
	var verf nfs4.Verifier
	for {
		res, err := c.Do(ctx, PutFH(dir), nfs4.ArgOp{Op: nfs4.OpReadDir, Args: &nfs4.ReadDirArgs{
			Cookie: cookie, CookieVerf: verf, DirCount: 8192, MaxCount: 32768, AttrRequest: want}})
		if err != nil {
			return all, err
		}
		r := result[*nfs4.ReadDirRes](res, 1)
		all = append(all, r.Entries...)
		if r.EOF || len(r.Entries) == 0 {
			return all, nil
		}
		cookie, verf = r.Entries[len(r.Entries)-1].Cookie, r.CookieVerf
	}
}
