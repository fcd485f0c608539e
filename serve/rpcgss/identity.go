package rpcgss

import (
	"context"
	"os/user"
	"strconv"
	"strings"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// Identity is who made an RPCSEC_GSS DATA call, as the wrapped handler
// sees it through FromContext.
type Identity struct {
	// Flavor is the pseudo-flavor of the request's service (Krb5, Krb5i,
	// Krb5p), for export policy.
	Flavor rpc.AuthFlavor
	// Principal is the initiator, "name@REALM" (or "service/host@REALM").
	Principal string
	// Cred is the local identity the principal maps to; meaningful only
	// when Mapped. An unmapped principal acts as the export's anonymous
	// identity, as AUTH_NONE does.
	Cred   fsadapters.Cred
	Mapped bool
}

type identityKey struct{}

// NewContext returns ctx carrying id (the Handler does this for DATA calls).
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity of an RPCSEC_GSS call.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok
}

// Mapper maps an initiator principal to a local identity; false: none
// (the anonymous identity applies).
type Mapper func(principal string) (fsadapters.Cred, bool)

// maxGroups bounds the supplementary groups taken from the group database
// (the most an fsadapters.Cred is expected to carry; Linux NGROUPS_MAX is
// far larger, but AUTH_SYS never carries more than 16).
const maxGroups = 256

// UserMapper maps "name@REALM" to the local user name: its uid, primary
// gid and supplementary groups from the user database (os/user: /etc/passwd
// and /etc/group). "root@REALM" thus becomes uid 0, to which the export's
// root squash applies as for AUTH_SYS. Principals with an instance
// ("nfs/host", "host/host", "user/admin") are machine or service
// credentials and map to nothing, as do unknown users and, if realm is not
// empty, principals of another realm.
func UserMapper(realm string) Mapper {
	return func(principal string) (fsadapters.Cred, bool) {
		name, r, ok := SplitPrincipal(principal)
		if !ok || strings.Contains(name, "/") || (realm != "" && r != realm) {
			return fsadapters.Cred{}, false
		}
		u, err := user.Lookup(name)
		if err != nil {
			return fsadapters.Cred{}, false
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			return fsadapters.Cred{}, false
		}
		c := fsadapters.Cred{UID: uint32(uid), GID: uint32(gid)}
		if gids, err := u.GroupIds(); err == nil {
			for _, g := range gids {
				n, err := strconv.ParseUint(g, 10, 32)
				if err != nil || uint32(n) == c.GID || len(c.Groups) >= maxGroups {
					continue
				}
				c.Groups = append(c.Groups, uint32(n))
			}
		}
		return c, true
	}
}

// SplitPrincipal splits "name@REALM" at its last unescaped '@' (RFC 1964
// §2.1.1 name syntax: '\' escapes).
func SplitPrincipal(p string) (name, realm string, ok bool) {
	at := -1
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '@':
			at = i
		}
	}
	if at <= 0 || at == len(p)-1 {
		return "", "", false
	}
	return p[:at], p[at+1:], true
}
