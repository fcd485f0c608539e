package metrics

import (
	"sync/atomic"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// Op slots: every op number up to the last one defined (RFC 8276's
// REMOVEXATTR), then one for ILLEGAL and any other number.
const (
	lastOp      = nfs4.OpRemoveXattr
	illegalSlot = int(lastOp) + 1
	numOpSlots  = illegalSlot + 1
)

func opSlot(op nfs4.Op) int {
	if op <= lastOp {
		return int(op)
	}
	return illegalSlot
}

func slotOp(i int) nfs4.Op {
	if i == illegalSlot {
		return nfs4.OpIllegal
	}
	return nfs4.Op(i)
}

// RPC call slots: NFSv4's two procedures (RFC 7530 §16.1, §16.2), other
// procedures or versions of the NFS program, other programs.
const (
	rpcNull = iota
	rpcCompound
	rpcNFSOther
	rpcOtherProg
	numRPCSlots
)

var rpcLabels = [numRPCSlots][2]string{
	{"nfs", "NULL"}, {"nfs", "COMPOUND"}, {"nfs", "other"}, {"other", "other"},
}

// Reject is why a call was refused before reaching an NFS procedure.
type Reject uint8

const (
	RejectProgUnavail  Reject = iota // not the NFS program
	RejectProgMismatch               // NFS, but not version 4
	RejectProcUnavail                // no such procedure
	RejectAuth                       // credential flavour refused (AUTH_TOOWEAK, …)
	numRejects
)

var rejectLabels = [numRejects]string{"prog_unavail", "prog_mismatch", "proc_unavail", "auth"}

type opStats struct {
	lat  Histogram                     // its count is the op count
	errs [numStatusSlots]atomic.Uint64 // by statusSlot; the OK slot stays 0
}

// NFS counts the NFSv4 service's requests. All methods are safe on a nil
// *NFS (they do nothing), allocate nothing and take no lock: the server
// calls them for every operation.
type NFS struct {
	ops                   [numOpSlots]opStats
	compound              Histogram
	rpc                   [numRPCSlots]atomic.Uint64
	rejects               [numRejects]atomic.Uint64
	readBytes, writeBytes atomic.Uint64
}

// NewNFS returns zeroed NFS counters.
func NewNFS() *NFS { return &NFS{} }

// Op records one operation of a COMPOUND: its final status and how long
// it took (decoding its arguments, running it, encoding its result).
func (m *NFS) Op(op nfs4.Op, st nfs4.Status, d time.Duration) {
	if m == nil {
		return
	}
	o := &m.ops[opSlot(op)]
	o.lat.Observe(d)
	if st != nfs4.OK {
		o.errs[statusSlot(st)].Add(1)
	}
}

// Compound records the duration of one whole COMPOUND.
func (m *NFS) Compound(d time.Duration) {
	if m != nil {
		m.compound.Observe(d)
	}
}

// RPC counts one call by program and procedure.
func (m *NFS) RPC(prog, vers, proc uint32) {
	if m == nil {
		return
	}
	slot := rpcOtherProg
	switch {
	case prog != nfs4.Program:
	case vers == nfs4.Version && proc == nfs4.ProcNull:
		slot = rpcNull
	case vers == nfs4.Version && proc == nfs4.ProcCompound:
		slot = rpcCompound
	default:
		slot = rpcNFSOther
	}
	m.rpc[slot].Add(1)
}

// Rejected counts one call refused for reason r.
func (m *NFS) Rejected(r Reject) {
	if m != nil && r < numRejects {
		m.rejects[r].Add(1)
	}
}

// BytesRead counts file data returned by READ.
func (m *NFS) BytesRead(n int) {
	if m != nil && n > 0 {
		m.readBytes.Add(uint64(n))
	}
}

// BytesWritten counts file data accepted by WRITE.
func (m *NFS) BytesWritten(n int) {
	if m != nil && n > 0 {
		m.writeBytes.Add(uint64(n))
	}
}

// OpCount returns how many times op ran (for tests and status pages).
func (m *NFS) OpCount(op nfs4.Op) uint64 {
	if m == nil {
		return 0
	}
	return m.ops[opSlot(op)].lat.Count()
}

// OpErrors returns how many times op ended with status st.
func (m *NFS) OpErrors(op nfs4.Op, st nfs4.Status) uint64 {
	if m == nil || st == nfs4.OK {
		return 0
	}
	return m.ops[opSlot(op)].errs[statusSlot(st)].Load()
}

// Collect writes the NFS families. Ops that never ran are left out.
func (m *NFS) Collect(w *Writer) {
	if m == nil {
		return
	}
	var snaps [numOpSlots]HistogramSnapshot
	for i := range m.ops {
		m.ops[i].lat.Snapshot(&snaps[i])
	}

	w.Family("fsbridge_rpc_calls_total", TypeCounter, "RPC calls received, by program and procedure.")
	for i, l := range rpcLabels {
		w.Uint("fsbridge_rpc_calls_total", m.rpc[i].Load(), "program", l[0], "proc", l[1])
	}
	w.Family("fsbridge_rpc_rejected_total", TypeCounter, "RPC calls refused before reaching an NFS procedure, by reason.")
	for i, l := range rejectLabels {
		w.Uint("fsbridge_rpc_rejected_total", m.rejects[i].Load(), "reason", l)
	}

	w.Family("fsbridge_nfs_ops_total", TypeCounter, "NFSv4 operations executed, by operation.")
	for i := range snaps {
		if n := snaps[i].Total(); n > 0 {
			w.Uint("fsbridge_nfs_ops_total", n, "op", slotOp(i).String())
		}
	}
	w.Family("fsbridge_nfs_op_errors_total", TypeCounter, "NFSv4 operations that failed, by operation and status.")
	for i := range m.ops {
		if snaps[i].Total() == 0 {
			continue
		}
		op := slotOp(i).String()
		for s := range m.ops[i].errs {
			if n := m.ops[i].errs[s].Load(); n > 0 {
				name := "other"
				if s > 0 {
					name = StatusName(slotStatus[s])
				}
				w.Uint("fsbridge_nfs_op_errors_total", n, "op", op, "status", name)
			}
		}
	}
	w.Family("fsbridge_nfs_op_duration_seconds", TypeHistogram, "NFSv4 operation latency (decode, execute, encode), by operation.")
	for i := range snaps {
		if snaps[i].Total() > 0 {
			w.HistogramSnapshot("fsbridge_nfs_op_duration_seconds", &snaps[i], "op", slotOp(i).String())
		}
	}
	w.Family("fsbridge_nfs_compound_duration_seconds", TypeHistogram, "NFSv4 COMPOUND latency, from decoding to the encoded reply.")
	w.Histogram("fsbridge_nfs_compound_duration_seconds", &m.compound)

	w.Family("fsbridge_nfs_read_bytes_total", TypeCounter, "File data returned by READ.")
	w.Uint("fsbridge_nfs_read_bytes_total", m.readBytes.Load())
	w.Family("fsbridge_nfs_write_bytes_total", TypeCounter, "File data accepted by WRITE.")
	w.Uint("fsbridge_nfs_write_bytes_total", m.writeBytes.Load())
}
