package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Wire helpers: RPC records for NFSv4 calls, built by hand so that they
// can be broken on purpose.

// cred is the credential of every call: AUTH_SYS as nobody, so that a
// garbled call that happens to decode as a modifying op has no rights.
var cred = rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "hostile", UID: 65534, GID: 65534})

// callMsg returns a CALL message (no record mark) for NFSv4 proc with body.
func callMsg(xid, proc uint32, body []byte) []byte {
	e := xdr.Encoder{Buf: make([]byte, 0, 64+len(body))}
	h := rpc.CallHeader{XID: xid, Prog: nfs4.Program, Vers: nfs4.Version, Proc: proc, Cred: cred}
	h.Encode(&e)
	e.Buf = append(e.Buf, body...)
	return e.Buf
}

// record prepends a last-fragment record mark to msg.
func record(msg []byte) []byte {
	b := make([]byte, 4, 4+len(msg))
	binary.BigEndian.PutUint32(b, 1<<31|uint32(len(msg)))
	return append(b, msg...)
}

// compoundBody encodes COMPOUND4args.
func compoundBody(minor uint32, ops ...nfs4.ArgOp) []byte {
	var e xdr.Encoder
	(&nfs4.CompoundArgs{Tag: []byte("hostile"), MinorVersion: minor, Ops: ops}).Encode(&e)
	return e.Buf
}

var attrReq = nfs4.Bitmap{1<<nfs4.AttrType | 1<<nfs4.AttrChange | 1<<nfs4.AttrSize}

// getattrBody is PUTROOTFH + GETATTR (NFSv4.0: needs no client state).
func getattrBody() []byte {
	return compoundBody(0,
		nfs4.ArgOp{Op: nfs4.OpPutRootFH, Args: &nfs4.PutRootFHArgs{}},
		nfs4.ArgOp{Op: nfs4.OpGetattr, Args: &nfs4.GetattrArgs{AttrRequest: attrReq}})
}

// readOnlyBody is a longer read-only COMPOUND to garble.
func readOnlyBody(minor uint32) []byte {
	return compoundBody(minor,
		nfs4.ArgOp{Op: nfs4.OpPutRootFH, Args: &nfs4.PutRootFHArgs{}},
		nfs4.ArgOp{Op: nfs4.OpGetattr, Args: &nfs4.GetattrArgs{AttrRequest: attrReq}},
		nfs4.ArgOp{Op: nfs4.OpAccess, Args: &nfs4.AccessArgs{Access: nfs4.AccessRead}},
		nfs4.ArgOp{Op: nfs4.OpReadDir, Args: &nfs4.ReadDirArgs{DirCount: 4096, MaxCount: 8192, AttrRequest: attrReq}},
		nfs4.ArgOp{Op: nfs4.OpLookup, Args: &nfs4.LookupArgs{ObjName: []byte("no-such-name")}},
		nfs4.ArgOp{Op: nfs4.OpGetFH, Args: &nfs4.GetFHArgs{}})
}

// hugeOpcountBody claims nops operations but carries only a few.
func hugeOpcountBody(minor, nops uint32) []byte {
	var e xdr.Encoder
	e.Opaque([]byte("opcount"))
	e.Uint32(minor)
	e.Uint32(nops)
	for range 4 {
		e.Uint32(uint32(nfs4.OpPutRootFH))
	}
	return e.Buf
}

// compoundStatus returns the status of a COMPOUND4res body.
func compoundStatus(body []byte) (nfs4.Status, error) {
	if len(body) < 4 {
		return 0, errors.New("short COMPOUND4res")
	}
	return nfs4.Status(binary.BigEndian.Uint32(body)), nil
}

// readRecord reads one record (replies are small; bound them anyway).
func readRecord(r io.Reader) ([]byte, error) {
	return rpc.NewRecordReader(r, 4<<20).ReadRecord(nil)
}

// roundTrip sends one call on nc and waits for its reply (no other calls
// may be outstanding on nc).
func roundTrip(nc net.Conn, xid, proc uint32, body []byte, timeout time.Duration) (rpc.ReplyHeader, []byte, error) {
	nc.SetDeadline(time.Now().Add(timeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(record(callMsg(xid, proc, body))); err != nil {
		return rpc.ReplyHeader{}, nil, err
	}
	msg, err := readRecord(nc)
	if err != nil {
		return rpc.ReplyHeader{}, nil, err
	}
	h, res, err := rpc.DecodeReply(msg)
	if err == nil && h.XID != xid {
		err = fmt.Errorf("reply xid %#x, want %#x", h.XID, xid)
	}
	return h, res, err
}

// pipe is a connection with a reader goroutine that matches replies to
// calls by xid, for scenarios that keep many calls outstanding.
type pipe struct {
	nc      net.Conn
	mu      sync.Mutex
	waiting map[uint32]chan []byte
	closed  chan struct{}
	err     error
}

func newPipe(nc net.Conn) *pipe {
	p := &pipe{nc: nc, waiting: make(map[uint32]chan []byte), closed: make(chan struct{})}
	go p.readLoop()
	return p
}

func (p *pipe) readLoop() {
	br := bufio.NewReader(p.nc)
	rr := rpc.NewRecordReader(br, 4<<20)
	for {
		msg, err := rr.ReadRecord(nil)
		if err != nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			close(p.closed)
			return
		}
		xid, _, ok := rpc.PeekHeader(msg)
		if !ok {
			continue
		}
		p.mu.Lock()
		ch := p.waiting[xid]
		delete(p.waiting, xid)
		p.mu.Unlock()
		if ch != nil {
			ch <- msg
		}
	}
}

// call sends rec (a complete record whose message has the given xid) and
// waits for the reply; nil, err if none came within timeout.
func (p *pipe) call(ctx context.Context, xid uint32, rec []byte, timeout time.Duration) ([]byte, error) {
	ch := make(chan []byte, 1)
	p.mu.Lock()
	p.waiting[xid] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, xid)
		p.mu.Unlock()
	}()
	p.nc.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := p.nc.Write(rec); err != nil {
		return nil, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case msg := <-ch:
		return msg, nil
	case <-p.closed:
		return nil, fmt.Errorf("connection closed by server: %v", p.err)
	case <-t.C:
		return nil, errNoReply
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var errNoReply = errors.New("no reply")
