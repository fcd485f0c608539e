package nfs4

// NFSv4 ACL constants (RFC 7530 §6.2.1, RFC 8881 §6.2.1): acetype4,
// aceflag4, acemask4 and the aclsupport bits. The acl attribute (12) is a
// counted array of nfsace4 (ACE, ops40.go).

// acetype4 (RFC 7530 §6.2.1.1).
const (
	ACE4AccessAllowed = 0
	ACE4AccessDenied  = 1
	ACE4SystemAudit   = 2
	ACE4SystemAlarm   = 3
)

// aceflag4 (RFC 7530 §6.2.1.4; ACE4_INHERITED_ACE is RFC 8881 §6.2.1.4).
const (
	ACE4FileInherit        = 0x00000001
	ACE4DirectoryInherit   = 0x00000002
	ACE4NoPropagateInherit = 0x00000004
	ACE4InheritOnly        = 0x00000008
	ACE4SuccessfulAccess   = 0x00000010
	ACE4FailedAccess       = 0x00000020
	ACE4IdentifierGroup    = 0x00000040
	ACE4Inherited          = 0x00000080
)

// acemask4 (RFC 7530 §6.2.1.3). Some bits have a second name for
// directories: LIST_DIRECTORY = READ_DATA, ADD_FILE = WRITE_DATA,
// ADD_SUBDIRECTORY = APPEND_DATA.
const (
	ACE4ReadData           = 0x00000001
	ACE4WriteData          = 0x00000002
	ACE4AppendData         = 0x00000004
	ACE4ReadNamedAttrs     = 0x00000008
	ACE4WriteNamedAttrs    = 0x00000010
	ACE4Execute            = 0x00000020
	ACE4DeleteChild        = 0x00000040
	ACE4ReadAttributes     = 0x00000080
	ACE4WriteAttributes    = 0x00000100
	ACE4WriteRetention     = 0x00000200
	ACE4WriteRetentionHold = 0x00000400
	ACE4Delete             = 0x00010000
	ACE4ReadACL            = 0x00020000
	ACE4WriteACL           = 0x00040000
	ACE4WriteOwner         = 0x00080000
	ACE4Synchronize        = 0x00100000
)

// aclsupport bits (RFC 7530 §6.2.1.2).
const (
	ACL4SupportAllow = 0x00000001
	ACL4SupportDeny  = 0x00000002
	ACL4SupportAudit = 0x00000004
	ACL4SupportAlarm = 0x00000008
)

// Special who values (RFC 7530 §6.2.1.5).
const (
	WhoOwner    = "OWNER@"
	WhoGroup    = "GROUP@"
	WhoEveryone = "EVERYONE@"
)

// MaxACEs bounds a decoded acl attribute. Each nfsace4 takes at least 16
// bytes, so the bound also keeps a lying count from allocating more than
// the message could hold. knfsd allows about a page's worth (NFS4_ACL_MAX).
const MaxACEs = 1024

func appendACL(b []byte, acl []ACE) []byte {
	b = be.AppendUint32(b, uint32(len(acl)))
	for i := range acl {
		a := &acl[i]
		b = be.AppendUint32(b, a.Type)
		b = be.AppendUint32(b, a.Flag)
		b = be.AppendUint32(b, a.AccessMask)
		b = appendOpaque(b, a.Who)
	}
	return b
}
