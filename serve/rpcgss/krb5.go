package rpcgss

import (
	"time"

	"github.com/fsbridge/fsbridge/proto/krb5"
)

// Krb5Mechanism adapts a Kerberos v5 acceptor (proto/krb5) to Mechanism.
type Krb5Mechanism struct{ Acceptor *krb5.Acceptor }

// NewKrb5 loads a keytab and returns the mechanism accepting contexts for
// the service principals in it (nfs/HOST@REALM).
func NewKrb5(keytab string) (*Krb5Mechanism, error) {
	kt, err := krb5.LoadKeytab(keytab)
	if err != nil {
		return nil, err
	}
	return &Krb5Mechanism{Acceptor: &krb5.Acceptor{Keytab: kt}}, nil
}

func (m *Krb5Mechanism) Accept(token []byte) (Context, []byte, error) {
	c, out, err := m.Acceptor.Accept(token)
	if err != nil {
		return nil, out, err
	}
	return krb5Ctx{c}, out, nil
}

// krb5Ctx gives *krb5.Context the Context methods for its fields (its
// per-message methods are safe for concurrent use).
type krb5Ctx struct{ *krb5.Context }

func (c krb5Ctx) Initiator() string { return c.Context.Initiator }
func (c krb5Ctx) Expiry() time.Time { return c.Context.Expiry }
