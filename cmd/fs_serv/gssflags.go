package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/fsbridge/fsbridge/serve/nfs4srv"
	"github.com/fsbridge/fsbridge/serve/rpcgss"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// RPCSEC_GSS with Kerberos v5 (RFC 2203, RFC 7530 §3.2.1): --keytab holds
// the keys of nfs/HOST@REALM; exports opt in with sec=krb5, krb5i, krb5p.

const defaultKeytab = "/etc/krb5.keytab"

type gssFlags struct {
	keytab *string
	realm  *string
}

func addGSSFlags(fl *flag.FlagSet) *gssFlags {
	return &gssFlags{
		keytab: fl.String("keytab", "", "Kerberos keytab `FILE` with the nfs/HOST@REALM keys, enabling RPCSEC_GSS (sec=krb5, krb5i, krb5p)\n"+
			"(default: "+defaultKeytab+" if readable, else RPCSEC_GSS is off; \"none\": off)"),
		realm: fl.String("gss-realm", "", "map only principals of `REALM` to local users (others act as the anonymous user)"),
	}
}

// wrap returns next behind an RPCSEC_GSS handler, or next itself when GSS
// is off (RPCSEC_GSS calls then get AUTH_BADCRED from nfs4srv).
func (g *gssFlags) wrap(next rpcsrv.Handler, log *slog.Logger) (rpcsrv.Handler, error) {
	path, explicit := *g.keytab, *g.keytab != ""
	switch {
	case path == "none":
		return next, nil
	case !explicit:
		f, err := os.Open(defaultKeytab)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				log.Debug("RPCSEC_GSS off: default keytab unreadable", "keytab", defaultKeytab, "err", err)
			}
			return next, nil
		}
		f.Close()
		path = defaultKeytab
	}
	mech, err := rpcgss.NewKrb5(path)
	if err != nil {
		if !explicit {
			log.Warn("RPCSEC_GSS off: cannot load the default keytab", "keytab", path, "err", err)
			return next, nil
		}
		return nil, fmt.Errorf("--keytab: %w", err)
	}
	log.Info("RPCSEC_GSS on", "keytab", path, "realm", *g.realm)
	return rpcgss.New(next, rpcgss.Config{
		Mech: mech,
		Map:  rpcgss.UserMapper(*g.realm),
		Logf: func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) },
		// The DRC for RPCSEC_GSS calls, which the rpcsrv DRC skips: it
		// keeps results, which are rewrapped for each retransmission.
		Cacheable: nfs4srv.DRCCacheable,
	}), nil
}
