package nfs4

import "strconv"

// RPC program numbers (RFC 7530 §17, RFC 8881 §18.36 for the callback).
const (
	Program        = 100003
	Version        = 4
	CallbackVers1  = 1 // NFSv4.1 back-channel program version
	ProcNull       = 0
	ProcCompound   = 1
	CBProcNull     = 0
	CBProcCompound = 1
)

// Sizes from RFC 7530 §2.2 / RFC 8881 §3.2.
const (
	FHSize            = 128 // NFS4_FHSIZE
	VerifierSize      = 8   // NFS4_VERIFIER_SIZE
	OpaqueLimit       = 1024
	SessionIDSize     = 16   // NFS4_SESSIONID_SIZE
	OtherSize         = 12   // stateid4.other
	MaxOpsPerCompound = 1024 // our decoder's bound on argarray length
)

// Op is nfs_opnum4 (RFC 7530 §16, RFC 8881 §18, RFC 7862 §11.2, RFC 8276).
type Op uint32

const (
	OpAccess             Op = 3
	OpClose              Op = 4
	OpCommit             Op = 5
	OpCreate             Op = 6
	OpDelegPurge         Op = 7
	OpDelegReturn        Op = 8
	OpGetattr            Op = 9
	OpGetFH              Op = 10
	OpLink               Op = 11
	OpLock               Op = 12
	OpLockT              Op = 13
	OpLockU              Op = 14
	OpLookup             Op = 15
	OpLookupP            Op = 16
	OpNVerify            Op = 17
	OpOpen               Op = 18
	OpOpenAttr           Op = 19
	OpOpenConfirm        Op = 20
	OpOpenDowngrade      Op = 21
	OpPutFH              Op = 22
	OpPutPubFH           Op = 23
	OpPutRootFH          Op = 24
	OpRead               Op = 25
	OpReadDir            Op = 26
	OpReadLink           Op = 27
	OpRemove             Op = 28
	OpRename             Op = 29
	OpRenew              Op = 30
	OpRestoreFH          Op = 31
	OpSaveFH             Op = 32
	OpSecInfo            Op = 33
	OpSetattr            Op = 34
	OpSetClientID        Op = 35
	OpSetClientIDConfirm Op = 36
	OpVerify             Op = 37
	OpWrite              Op = 38
	OpReleaseLockOwner   Op = 39
	// minor version 1
	OpBackchannelCtl    Op = 40
	OpBindConnToSession Op = 41
	OpExchangeID        Op = 42
	OpCreateSession     Op = 43
	OpDestroySession    Op = 44
	OpFreeStateID       Op = 45
	OpGetDirDelegation  Op = 46
	OpGetDeviceInfo     Op = 47
	OpGetDeviceList     Op = 48
	OpLayoutCommit      Op = 49
	OpLayoutGet         Op = 50
	OpLayoutReturn      Op = 51
	OpSecInfoNoName     Op = 52
	OpSequence          Op = 53
	OpSetSSV            Op = 54
	OpTestStateID       Op = 55
	OpWantDelegation    Op = 56
	OpDestroyClientID   Op = 57
	OpReclaimComplete   Op = 58
	// minor version 2
	OpAllocate      Op = 59
	OpCopy          Op = 60
	OpCopyNotify    Op = 61
	OpDeallocate    Op = 62
	OpIOAdvise      Op = 63
	OpLayoutError   Op = 64
	OpLayoutStats   Op = 65
	OpOffloadCancel Op = 66
	OpOffloadStatus Op = 67
	OpReadPlus      Op = 68
	OpSeek          Op = 69
	OpWriteSame     Op = 70
	OpClone         Op = 71
	OpGetXattr      Op = 72
	OpSetXattr      Op = 73
	OpListXattrs    Op = 74
	OpRemoveXattr   Op = 75
	OpIllegal       Op = 10044
)

var opNames = map[Op]string{
	OpAccess: "ACCESS", OpClose: "CLOSE", OpCommit: "COMMIT", OpCreate: "CREATE",
	OpDelegPurge: "DELEGPURGE", OpDelegReturn: "DELEGRETURN", OpGetattr: "GETATTR",
	OpGetFH: "GETFH", OpLink: "LINK", OpLock: "LOCK", OpLockT: "LOCKT", OpLockU: "LOCKU",
	OpLookup: "LOOKUP", OpLookupP: "LOOKUPP", OpNVerify: "NVERIFY", OpOpen: "OPEN",
	OpOpenAttr: "OPENATTR", OpOpenConfirm: "OPEN_CONFIRM", OpOpenDowngrade: "OPEN_DOWNGRADE",
	OpPutFH: "PUTFH", OpPutPubFH: "PUTPUBFH", OpPutRootFH: "PUTROOTFH", OpRead: "READ",
	OpReadDir: "READDIR", OpReadLink: "READLINK", OpRemove: "REMOVE", OpRename: "RENAME",
	OpRenew: "RENEW", OpRestoreFH: "RESTOREFH", OpSaveFH: "SAVEFH", OpSecInfo: "SECINFO",
	OpSetattr: "SETATTR", OpSetClientID: "SETCLIENTID", OpSetClientIDConfirm: "SETCLIENTID_CONFIRM",
	OpVerify: "VERIFY", OpWrite: "WRITE", OpReleaseLockOwner: "RELEASE_LOCKOWNER",
	OpBackchannelCtl: "BACKCHANNEL_CTL", OpBindConnToSession: "BIND_CONN_TO_SESSION",
	OpExchangeID: "EXCHANGE_ID", OpCreateSession: "CREATE_SESSION", OpDestroySession: "DESTROY_SESSION",
	OpFreeStateID: "FREE_STATEID", OpGetDirDelegation: "GET_DIR_DELEGATION",
	OpGetDeviceInfo: "GETDEVICEINFO", OpGetDeviceList: "GETDEVICELIST", OpLayoutCommit: "LAYOUTCOMMIT",
	OpLayoutGet: "LAYOUTGET", OpLayoutReturn: "LAYOUTRETURN", OpSecInfoNoName: "SECINFO_NO_NAME",
	OpSequence: "SEQUENCE", OpSetSSV: "SET_SSV", OpTestStateID: "TEST_STATEID",
	OpWantDelegation: "WANT_DELEGATION", OpDestroyClientID: "DESTROY_CLIENTID",
	OpReclaimComplete: "RECLAIM_COMPLETE", OpAllocate: "ALLOCATE", OpCopy: "COPY",
	OpCopyNotify: "COPY_NOTIFY", OpDeallocate: "DEALLOCATE", OpIOAdvise: "IO_ADVISE",
	OpLayoutError: "LAYOUTERROR", OpLayoutStats: "LAYOUTSTATS", OpOffloadCancel: "OFFLOAD_CANCEL",
	OpOffloadStatus: "OFFLOAD_STATUS", OpReadPlus: "READ_PLUS", OpSeek: "SEEK",
	OpWriteSame: "WRITE_SAME", OpClone: "CLONE", OpGetXattr: "GETXATTR", OpSetXattr: "SETXATTR",
	OpListXattrs: "LISTXATTRS", OpRemoveXattr: "REMOVEXATTR", OpIllegal: "ILLEGAL",
}

func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return "OP_" + strconv.FormatUint(uint64(o), 10)
}

// CBOp is nfs_cb_opnum4 (RFC 7530 §16.x callbacks, RFC 8881 §20).
type CBOp uint32

const (
	CBOpGetattr            CBOp = 3
	CBOpRecall             CBOp = 4
	CBOpLayoutRecall       CBOp = 5
	CBOpNotify             CBOp = 6
	CBOpPushDeleg          CBOp = 7
	CBOpRecallAny          CBOp = 8
	CBOpRecallableObjAvail CBOp = 9
	CBOpRecallSlot         CBOp = 10
	CBOpSequence           CBOp = 11
	CBOpWantsCancelled     CBOp = 12
	CBOpNotifyLock         CBOp = 13
	CBOpNotifyDeviceID     CBOp = 14
	CBOpOffload            CBOp = 15
	CBOpIllegal            CBOp = 10044
)

// Status is nfsstat4.
type Status uint32

const (
	OK                       Status = 0
	ErrPerm                  Status = 1
	ErrNoEnt                 Status = 2
	ErrIO                    Status = 5
	ErrNXIO                  Status = 6
	ErrAccess                Status = 13
	ErrExist                 Status = 17
	ErrXDev                  Status = 18
	ErrNotDir                Status = 20
	ErrIsDir                 Status = 21
	ErrInval                 Status = 22
	ErrFBig                  Status = 27
	ErrNoSpc                 Status = 28
	ErrROFS                  Status = 30
	ErrMLink                 Status = 31
	ErrNameTooLong           Status = 63
	ErrNotEmpty              Status = 66
	ErrDQuot                 Status = 69
	ErrStale                 Status = 70
	ErrBadHandle             Status = 10001
	ErrBadCookie             Status = 10003
	ErrNotSupp               Status = 10004
	ErrTooSmall              Status = 10005
	ErrServerFault           Status = 10006
	ErrBadType               Status = 10007
	ErrDelay                 Status = 10008
	ErrSame                  Status = 10009
	ErrDenied                Status = 10010
	ErrExpired               Status = 10011
	ErrLocked                Status = 10012
	ErrGrace                 Status = 10013
	ErrFHExpired             Status = 10014
	ErrShareDenied           Status = 10015
	ErrWrongSec              Status = 10016
	ErrClidInUse             Status = 10017
	ErrResource              Status = 10018
	ErrMoved                 Status = 10019
	ErrNoFileHandle          Status = 10020
	ErrMinorVersMismatch     Status = 10021
	ErrStaleClientID         Status = 10022
	ErrStaleStateID          Status = 10023
	ErrOldStateID            Status = 10024
	ErrBadStateID            Status = 10025
	ErrBadSeqID              Status = 10026
	ErrNotSame               Status = 10027
	ErrLockRange             Status = 10028
	ErrSymlink               Status = 10029
	ErrRestoreFH             Status = 10030
	ErrLeaseMoved            Status = 10031
	ErrAttrNotSupp           Status = 10032
	ErrNoGrace               Status = 10033
	ErrReclaimBad            Status = 10034
	ErrReclaimConflict       Status = 10035
	ErrBadXDR                Status = 10036
	ErrLocksHeld             Status = 10037
	ErrOpenMode              Status = 10038
	ErrBadOwner              Status = 10039
	ErrBadChar               Status = 10040
	ErrBadName               Status = 10041
	ErrBadRange              Status = 10042
	ErrLockNotSupp           Status = 10043
	ErrOpIllegal             Status = 10044
	ErrDeadlock              Status = 10045
	ErrFileOpen              Status = 10046
	ErrAdminRevoked          Status = 10047
	ErrCBPathDown            Status = 10048
	ErrBadIOMode             Status = 10049
	ErrBadLayout             Status = 10050
	ErrBadSessionDigest      Status = 10051
	ErrBadSession            Status = 10052
	ErrBadSlot               Status = 10053
	ErrCompleteAlready       Status = 10054
	ErrConnNotBoundToSession Status = 10055
	ErrDelegAlreadyWanted    Status = 10056
	ErrBackChanBusy          Status = 10057
	ErrLayoutTryLater        Status = 10058
	ErrLayoutUnavailable     Status = 10059
	ErrNoMatchingLayout      Status = 10060
	ErrRecallConflict        Status = 10061
	ErrUnknownLayoutType     Status = 10062
	ErrSeqMisordered         Status = 10063
	ErrSequencePos           Status = 10064
	ErrReqTooBig             Status = 10065
	ErrRepTooBig             Status = 10066
	ErrRepTooBigToCache      Status = 10067
	ErrRetryUncachedRep      Status = 10068
	ErrUnsafeCompound        Status = 10069
	ErrTooManyOps            Status = 10070
	ErrOpNotInSession        Status = 10071
	ErrHashAlgUnsupp         Status = 10072
	ErrClientIDBusy          Status = 10074
	ErrPNFSIOHole            Status = 10075
	ErrSeqFalseRetry         Status = 10076
	ErrBadHighSlot           Status = 10077
	ErrDeadSession           Status = 10078
	ErrEncrAlgUnsupp         Status = 10079
	ErrPNFSNoLayout          Status = 10080
	ErrNotOnlyOp             Status = 10081
	ErrWrongCred             Status = 10082
	ErrWrongType             Status = 10083
	ErrDirDelegUnavail       Status = 10084
	ErrRejectDeleg           Status = 10085
	ErrReturnConflict        Status = 10086
	ErrDelegRevoked          Status = 10087
	ErrPartnerNotSupp        Status = 10088
	ErrPartnerNoAuth         Status = 10089
	ErrUnionNotSupp          Status = 10090
	ErrOffloadDenied         Status = 10091
	ErrWrongLFS              Status = 10092
	ErrBadLabel              Status = 10093
	ErrOffloadNoReqs         Status = 10094
	ErrNoXattr               Status = 10095
	ErrXattr2Big             Status = 10096
)

func (s Status) Error() string { return "NFS4ERR_" + strconv.FormatUint(uint64(s), 10) }

// Attribute numbers (RFC 7530 §5, RFC 8881 §5.8, RFC 7862 §12.2, RFC 8276).
const (
	AttrSupportedAttrs    = 0
	AttrType              = 1
	AttrFHExpireType      = 2
	AttrChange            = 3
	AttrSize              = 4
	AttrLinkSupport       = 5
	AttrSymlinkSupport    = 6
	AttrNamedAttr         = 7
	AttrFSID              = 8
	AttrUniqueHandles     = 9
	AttrLeaseTime         = 10
	AttrRdAttrError       = 11
	AttrACL               = 12
	AttrACLSupport        = 13
	AttrArchive           = 14
	AttrCanSetTime        = 15
	AttrCaseInsensitive   = 16
	AttrCasePreserving    = 17
	AttrChownRestricted   = 18
	AttrFileHandle        = 19
	AttrFileID            = 20
	AttrFilesAvail        = 21
	AttrFilesFree         = 22
	AttrFilesTotal        = 23
	AttrFSLocations       = 24
	AttrHidden            = 25
	AttrHomogeneous       = 26
	AttrMaxFileSize       = 27
	AttrMaxLink           = 28
	AttrMaxName           = 29
	AttrMaxRead           = 30
	AttrMaxWrite          = 31
	AttrMimeType          = 32
	AttrMode              = 33
	AttrNoTrunc           = 34
	AttrNumLinks          = 35
	AttrOwner             = 36
	AttrOwnerGroup        = 37
	AttrQuotaAvailHard    = 38
	AttrQuotaAvailSoft    = 39
	AttrQuotaUsed         = 40
	AttrRawDev            = 41
	AttrSpaceAvail        = 42
	AttrSpaceFree         = 43
	AttrSpaceTotal        = 44
	AttrSpaceUsed         = 45
	AttrSystem            = 46
	AttrTimeAccess        = 47
	AttrTimeAccessSet     = 48
	AttrTimeBackup        = 49
	AttrTimeCreate        = 50
	AttrTimeDelta         = 51
	AttrTimeMetadata      = 52
	AttrTimeModify        = 53
	AttrTimeModifySet     = 54
	AttrMountedOnFileID   = 55
	AttrDirNotifDelay     = 56
	AttrDirentNotifDelay  = 57
	AttrDACL              = 58
	AttrSACL              = 59
	AttrChangePolicy      = 60
	AttrFSStatus          = 61
	AttrFSLayoutTypes     = 62
	AttrLayoutHint        = 63
	AttrLayoutTypes       = 64
	AttrLayoutBlksize     = 65
	AttrLayoutAlignment   = 66
	AttrFSLocationsInfo   = 67
	AttrMDSThreshold      = 68
	AttrRetentionGet      = 69
	AttrRetentionSet      = 70
	AttrRetentEvtGet      = 71
	AttrRetentEvtSet      = 72
	AttrRetentionHold     = 73
	AttrModeSetMasked     = 74
	AttrSuppAttrExclCreat = 75
	AttrFSCharsetCap      = 76
	AttrCloneBlksize      = 77
	AttrSpaceFreed        = 78
	AttrChangeAttrType    = 79
	AttrSecLabel          = 80
	AttrModeUmask         = 81
	AttrXattrSupport      = 82
)

// nfs_ftype4
const (
	NF4REG       = 1
	NF4DIR       = 2
	NF4BLK       = 3
	NF4CHR       = 4
	NF4LNK       = 5
	NF4SOCK      = 6
	NF4FIFO      = 7
	NF4ATTRDIR   = 8
	NF4NAMEDATTR = 9
)

// ACCESS bits (RFC 7530 §16.1, RFC 8276 for the xattr bits).
const (
	AccessRead    = 0x01
	AccessLookup  = 0x02
	AccessModify  = 0x04
	AccessExtend  = 0x08
	AccessDelete  = 0x10
	AccessExecute = 0x20
	AccessXARead  = 0x40
	AccessXAWrite = 0x80
	AccessXAList  = 0x100
)

// stable_how4
const (
	Unstable4 = 0
	DataSync4 = 1
	FileSync4 = 2
)

// createmode4
const (
	Unchecked4   = 0
	Guarded4     = 1
	Exclusive4   = 2
	Exclusive4_1 = 3
)

// opentype4, open_claim_type4, share access/deny, open_delegation_type4
const (
	OpenNoCreate = 0
	OpenCreate   = 1

	ClaimNull         = 0
	ClaimPrevious     = 1
	ClaimDelegateCur  = 2
	ClaimDelegatePrev = 3
	ClaimFH           = 4
	ClaimDelegCurFH   = 5
	ClaimDelegPrevFH  = 6

	ShareAccessRead  = 1
	ShareAccessWrite = 2
	ShareAccessBoth  = 3
	ShareDenyNone    = 0
	ShareDenyRead    = 1
	ShareDenyWrite   = 2
	ShareDenyBoth    = 3
	// 4.1 want flags carried in share_access (RFC 8881 §18.16.3)
	ShareAccessWantDelegMask                 = 0xFF00
	ShareAccessWantNoPreference              = 0x0000
	ShareAccessWantReadDeleg                 = 0x0100
	ShareAccessWantWriteDeleg                = 0x0200
	ShareAccessWantAnyDeleg                  = 0x0300
	ShareAccessWantNoDeleg                   = 0x0400
	ShareAccessWantCancel                    = 0x0500
	ShareAccessWantSignalDelegWhenResrcAvail = 0x10000
	ShareAccessWantPushDelegWhenUncontended  = 0x20000

	DelegateNone    = 0
	DelegateRead    = 1
	DelegateWrite   = 2
	DelegateNoneExt = 3 // 4.1
)

// OPEN4 result flags
const (
	OpenResultConfirm          = 0x2
	OpenResultLockType         = 0x4
	OpenResultPreserveUnlinked = 0x8
	OpenResultMayNotifyLock    = 0x20
)

// nfs_lock_type4
const (
	ReadLT   = 1
	WriteLT  = 2
	ReadWLT  = 3
	WriteWLT = 4
)

// Security flavours (RFC 5531) as used by SECINFO.
const (
	AuthNone  = 0
	AuthSys   = 1
	RPCSecGSS = 6
)

// EXCHANGE_ID flags (RFC 8881 §18.35)
const (
	ExchGIDFlagSuppMovedRefer   = 0x00000001
	ExchGIDFlagSuppMovedMigr    = 0x00000002
	ExchGIDFlagBindPrincStateID = 0x00000100
	ExchGIDFlagUseNonPNFS       = 0x00010000
	ExchGIDFlagUsePNFSMDS       = 0x00020000
	ExchGIDFlagUsePNFSDS        = 0x00040000
	ExchGIDFlagMaskPNFS         = 0x00070000
	ExchGIDFlagUpdConfirmedRecA = 0x40000000
	ExchGIDFlagConfirmedR       = 0x80000000
)

// state_protect_how4
const (
	SP4None     = 0
	SP4MachCred = 1
	SP4SSV      = 2
)

// CREATE_SESSION flags
const (
	CreateSessionFlagPersist      = 0x1
	CreateSessionFlagConnBackChan = 0x2
	CreateSessionFlagConnRDMA     = 0x4
)

// channel_dir_from_client4 / from_server4 (BIND_CONN_TO_SESSION)
const (
	CDFCForeChan   = 1
	CDFCBackChan   = 2
	CDFCForeOrBoth = 3
	CDFCBackOrBoth = 7
	CDFSForeChan   = 1
	CDFSBackChan   = 2
	CDFSBoth       = 3
)

// SEQUENCE status flags (RFC 8881 §18.46.3)
const (
	SeqStatusCBPathDown              = 0x00000001
	SeqStatusCBGSSContextsExpiring   = 0x00000002
	SeqStatusCBGSSContextsExpired    = 0x00000004
	SeqStatusExpiredAllStateRevoked  = 0x00000008
	SeqStatusExpiredSomeStateRevoked = 0x00000010
	SeqStatusAdminStateRevoked       = 0x00000020
	SeqStatusRecallableStateRevoked  = 0x00000040
	SeqStatusLeaseMoved              = 0x00000080
	SeqStatusRestartReclaimNeeded    = 0x00000100
	SeqStatusCBPathDownSession       = 0x00000200
	SeqStatusBackchannelFault        = 0x00000400
	SeqStatusDevidChanged            = 0x00000800
	SeqStatusDevidDeleted            = 0x00001000
)

// data_content4 / SEEK
const (
	ContentData = 0
	ContentHole = 1
)

// time_how4 for settime4
const (
	SetToServerTime = 0
	SetToClientTime = 1
)

// fh_expire_type4
const (
	FHPersistent = 0x00
)
