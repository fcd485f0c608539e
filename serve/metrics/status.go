package metrics

import (
	"strconv"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// statusNames are the nfsstat4 names of RFC 7530 §13.1, RFC 8881 §15.1,
// RFC 7862 §11.1 and RFC 8276 §8.1, used as label values.
var statusNames = map[nfs4.Status]string{
	nfs4.OK: "NFS4_OK", nfs4.ErrPerm: "NFS4ERR_PERM", nfs4.ErrNoEnt: "NFS4ERR_NOENT", nfs4.ErrIO: "NFS4ERR_IO",
	nfs4.ErrNXIO: "NFS4ERR_NXIO", nfs4.ErrAccess: "NFS4ERR_ACCESS", nfs4.ErrExist: "NFS4ERR_EXIST",
	nfs4.ErrXDev: "NFS4ERR_XDEV", nfs4.ErrNotDir: "NFS4ERR_NOTDIR", nfs4.ErrIsDir: "NFS4ERR_ISDIR",
	nfs4.ErrInval: "NFS4ERR_INVAL", nfs4.ErrFBig: "NFS4ERR_FBIG", nfs4.ErrNoSpc: "NFS4ERR_NOSPC",
	nfs4.ErrROFS: "NFS4ERR_ROFS", nfs4.ErrMLink: "NFS4ERR_MLINK", nfs4.ErrNameTooLong: "NFS4ERR_NAMETOOLONG",
	nfs4.ErrNotEmpty: "NFS4ERR_NOTEMPTY", nfs4.ErrDQuot: "NFS4ERR_DQUOT", nfs4.ErrStale: "NFS4ERR_STALE",
	nfs4.ErrBadHandle: "NFS4ERR_BADHANDLE", nfs4.ErrBadCookie: "NFS4ERR_BAD_COOKIE",
	nfs4.ErrNotSupp: "NFS4ERR_NOTSUPP", nfs4.ErrTooSmall: "NFS4ERR_TOOSMALL",
	nfs4.ErrServerFault: "NFS4ERR_SERVERFAULT", nfs4.ErrBadType: "NFS4ERR_BADTYPE", nfs4.ErrDelay: "NFS4ERR_DELAY",
	nfs4.ErrSame: "NFS4ERR_SAME", nfs4.ErrDenied: "NFS4ERR_DENIED", nfs4.ErrExpired: "NFS4ERR_EXPIRED",
	nfs4.ErrLocked: "NFS4ERR_LOCKED", nfs4.ErrGrace: "NFS4ERR_GRACE", nfs4.ErrFHExpired: "NFS4ERR_FHEXPIRED",
	nfs4.ErrShareDenied: "NFS4ERR_SHARE_DENIED", nfs4.ErrWrongSec: "NFS4ERR_WRONGSEC",
	nfs4.ErrClidInUse: "NFS4ERR_CLID_INUSE", nfs4.ErrResource: "NFS4ERR_RESOURCE", nfs4.ErrMoved: "NFS4ERR_MOVED",
	nfs4.ErrNoFileHandle: "NFS4ERR_NOFILEHANDLE", nfs4.ErrMinorVersMismatch: "NFS4ERR_MINOR_VERS_MISMATCH",
	nfs4.ErrStaleClientID: "NFS4ERR_STALE_CLIENTID", nfs4.ErrStaleStateID: "NFS4ERR_STALE_STATEID",
	nfs4.ErrOldStateID: "NFS4ERR_OLD_STATEID", nfs4.ErrBadStateID: "NFS4ERR_BAD_STATEID",
	nfs4.ErrBadSeqID: "NFS4ERR_BAD_SEQID", nfs4.ErrNotSame: "NFS4ERR_NOT_SAME",
	nfs4.ErrLockRange: "NFS4ERR_LOCK_RANGE", nfs4.ErrSymlink: "NFS4ERR_SYMLINK",
	nfs4.ErrRestoreFH: "NFS4ERR_RESTOREFH", nfs4.ErrLeaseMoved: "NFS4ERR_LEASE_MOVED",
	nfs4.ErrAttrNotSupp: "NFS4ERR_ATTRNOTSUPP", nfs4.ErrNoGrace: "NFS4ERR_NO_GRACE",
	nfs4.ErrReclaimBad: "NFS4ERR_RECLAIM_BAD", nfs4.ErrReclaimConflict: "NFS4ERR_RECLAIM_CONFLICT",
	nfs4.ErrBadXDR: "NFS4ERR_BADXDR", nfs4.ErrLocksHeld: "NFS4ERR_LOCKS_HELD", nfs4.ErrOpenMode: "NFS4ERR_OPENMODE",
	nfs4.ErrBadOwner: "NFS4ERR_BADOWNER", nfs4.ErrBadChar: "NFS4ERR_BADCHAR", nfs4.ErrBadName: "NFS4ERR_BADNAME",
	nfs4.ErrBadRange: "NFS4ERR_BAD_RANGE", nfs4.ErrLockNotSupp: "NFS4ERR_LOCK_NOTSUPP",
	nfs4.ErrOpIllegal: "NFS4ERR_OP_ILLEGAL", nfs4.ErrDeadlock: "NFS4ERR_DEADLOCK",
	nfs4.ErrFileOpen: "NFS4ERR_FILE_OPEN", nfs4.ErrAdminRevoked: "NFS4ERR_ADMIN_REVOKED",
	nfs4.ErrCBPathDown: "NFS4ERR_CB_PATH_DOWN", nfs4.ErrBadIOMode: "NFS4ERR_BADIOMODE",
	nfs4.ErrBadLayout: "NFS4ERR_BADLAYOUT", nfs4.ErrBadSessionDigest: "NFS4ERR_BAD_SESSION_DIGEST",
	nfs4.ErrBadSession: "NFS4ERR_BADSESSION", nfs4.ErrBadSlot: "NFS4ERR_BADSLOT",
	nfs4.ErrCompleteAlready:       "NFS4ERR_COMPLETE_ALREADY",
	nfs4.ErrConnNotBoundToSession: "NFS4ERR_CONN_NOT_BOUND_TO_SESSION",
	nfs4.ErrDelegAlreadyWanted:    "NFS4ERR_DELEG_ALREADY_WANTED", nfs4.ErrBackChanBusy: "NFS4ERR_BACK_CHAN_BUSY",
	nfs4.ErrLayoutTryLater: "NFS4ERR_LAYOUTTRYLATER", nfs4.ErrLayoutUnavailable: "NFS4ERR_LAYOUTUNAVAILABLE",
	nfs4.ErrNoMatchingLayout: "NFS4ERR_NOMATCHING_LAYOUT", nfs4.ErrRecallConflict: "NFS4ERR_RECALLCONFLICT",
	nfs4.ErrUnknownLayoutType: "NFS4ERR_UNKNOWN_LAYOUTTYPE", nfs4.ErrSeqMisordered: "NFS4ERR_SEQ_MISORDERED",
	nfs4.ErrSequencePos: "NFS4ERR_SEQUENCE_POS", nfs4.ErrReqTooBig: "NFS4ERR_REQ_TOO_BIG",
	nfs4.ErrRepTooBig: "NFS4ERR_REP_TOO_BIG", nfs4.ErrRepTooBigToCache: "NFS4ERR_REP_TOO_BIG_TO_CACHE",
	nfs4.ErrRetryUncachedRep: "NFS4ERR_RETRY_UNCACHED_REP", nfs4.ErrUnsafeCompound: "NFS4ERR_UNSAFE_COMPOUND",
	nfs4.ErrTooManyOps: "NFS4ERR_TOO_MANY_OPS", nfs4.ErrOpNotInSession: "NFS4ERR_OP_NOT_IN_SESSION",
	nfs4.ErrHashAlgUnsupp: "NFS4ERR_HASH_ALG_UNSUPP", nfs4.ErrClientIDBusy: "NFS4ERR_CLIENTID_BUSY",
	nfs4.ErrPNFSIOHole: "NFS4ERR_PNFS_IO_HOLE", nfs4.ErrSeqFalseRetry: "NFS4ERR_SEQ_FALSE_RETRY",
	nfs4.ErrBadHighSlot: "NFS4ERR_BAD_HIGH_SLOT", nfs4.ErrDeadSession: "NFS4ERR_DEADSESSION",
	nfs4.ErrEncrAlgUnsupp: "NFS4ERR_ENCR_ALG_UNSUPP", nfs4.ErrPNFSNoLayout: "NFS4ERR_PNFS_NO_LAYOUT",
	nfs4.ErrNotOnlyOp: "NFS4ERR_NOT_ONLY_OP", nfs4.ErrWrongCred: "NFS4ERR_WRONG_CRED",
	nfs4.ErrWrongType: "NFS4ERR_WRONG_TYPE", nfs4.ErrDirDelegUnavail: "NFS4ERR_DIRDELEG_UNAVAIL",
	nfs4.ErrRejectDeleg: "NFS4ERR_REJECT_DELEG", nfs4.ErrReturnConflict: "NFS4ERR_RETURNCONFLICT",
	nfs4.ErrDelegRevoked: "NFS4ERR_DELEG_REVOKED", nfs4.ErrPartnerNotSupp: "NFS4ERR_PARTNER_NOTSUPP",
	nfs4.ErrPartnerNoAuth: "NFS4ERR_PARTNER_NO_AUTH", nfs4.ErrUnionNotSupp: "NFS4ERR_UNION_NOTSUPP",
	nfs4.ErrOffloadDenied: "NFS4ERR_OFFLOAD_DENIED", nfs4.ErrWrongLFS: "NFS4ERR_WRONG_LFS",
	nfs4.ErrBadLabel: "NFS4ERR_BADLABEL", nfs4.ErrOffloadNoReqs: "NFS4ERR_OFFLOAD_NO_REQS",
	nfs4.ErrNoXattr: "NFS4ERR_NOXATTR", nfs4.ErrXattr2Big: "NFS4ERR_XATTR2BIG",
}

// StatusName is the RFC name of st ("NFS4ERR_NOENT"), or "NFS4ERR_<n>"
// for a number without one.
func StatusName(st nfs4.Status) string {
	if n, ok := statusNames[st]; ok {
		return n
	}
	return "NFS4ERR_" + strconv.FormatUint(uint64(st), 10)
}

// Statuses are counted in a dense array: the numbers of RFC 7530 and
// RFC 8881 lie below 100 (errno-like) or in 10000..10099, so two small
// tables map them to slots; anything else shares slot 0 ("other").
const (
	lowStatuses  = 100
	highStatuses = 100
	highBase     = 10000
)

var (
	lowSlot    [lowStatuses]uint8  // status → slot (0: other)
	highSlot   [highStatuses]uint8 // status-highBase → slot
	slotStatus []nfs4.Status       // slot → status (slotStatus[0] unused)
)

func init() {
	slotStatus = []nfs4.Status{0}
	// OK has a slot too, so that index 0 means only "unknown".
	for st := range nfs4.Status(highBase + highStatuses) {
		if _, ok := statusNames[st]; !ok {
			continue
		}
		switch {
		case st < lowStatuses:
			lowSlot[st] = uint8(len(slotStatus))
		case st >= highBase:
			highSlot[st-highBase] = uint8(len(slotStatus))
		default:
			continue
		}
		slotStatus = append(slotStatus, st)
	}
	if len(slotStatus) > numStatusSlots {
		panic("metrics: numStatusSlots too small")
	}
}

// numStatusSlots bounds the status slots (there are 115 named statuses).
const numStatusSlots = 128

func statusSlot(st nfs4.Status) int {
	switch {
	case st < lowStatuses:
		return int(lowSlot[st])
	case st >= highBase && st < highBase+highStatuses:
		return int(highSlot[st-highBase])
	}
	return 0
}
