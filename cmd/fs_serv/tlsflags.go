package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/fsbridge/fsbridge/client/rpcclient"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// tlsFlags configure RPC-with-TLS (RFC 9289, issue 6): clients that probe
// with AUTH_TLS continue in TLS 1.3 on the same connection.
type tlsFlags struct {
	cert, key, clientCA *string
	require             *bool
}

func addTLSFlags(fl *flag.FlagSet) *tlsFlags {
	return &tlsFlags{
		cert:     fl.String("tls-cert", "", "offer RPC-with-TLS (RFC 9289) with this certificate chain `file` (PEM; re-read when it changes)"),
		key:      fl.String("tls-key", "", "private key `file` (PEM) of --tls-cert"),
		clientCA: fl.String("tls-client-ca", "", "require TLS clients to present a certificate issued by a CA in this `file` (PEM): mutual TLS"),
		require:  fl.Bool("require-tls", false, "refuse every call but NULL from clients that have not started TLS (AUTH_TOOWEAK)"),
	}
}

// apply sets up srv's TLS. With --stdio the stream is the tunnel's
// (ssh encrypts it) and TLS flags are refused rather than half-applied.
func (f *tlsFlags) apply(srv *rpcsrv.Server, stdio bool, log *slog.Logger) error {
	if *f.cert == "" && *f.key == "" {
		if *f.clientCA != "" || *f.require {
			return errors.New("--tls-client-ca and --require-tls need --tls-cert and --tls-key")
		}
		return nil
	}
	if *f.cert == "" || *f.key == "" {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if stdio {
		return errors.New("--tls-* flags do not apply to --stdio (the tunnel encrypts)")
	}
	kp := &keyPair{certFile: *f.cert, keyFile: *f.key, log: log}
	if err := kp.load(); err != nil {
		return err
	}
	var pool *x509.CertPool
	if *f.clientCA != "" {
		p, err := rpcclient.LoadCertPool(*f.clientCA)
		if err != nil {
			return fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool = p
	}
	cfg := rpcsrv.NewTLSConfig(tls.Certificate{}, pool)
	cfg.Certificates = nil
	cfg.GetCertificate = kp.get
	srv.TLS, srv.RequireTLS = cfg, *f.require
	log.Info("RPC-with-TLS offered", "cert", *f.cert, "mutual", pool != nil, "required", *f.require)
	return nil
}

// keyPair is the server certificate, re-read when either file changes so
// that a renewed certificate is used without a restart (a file that fails
// to load keeps the previous pair in use).
type keyPair struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time
	checked time.Time
}

func (k *keyPair) stamps() ([2]time.Time, error) {
	var s [2]time.Time
	for i, f := range []string{k.certFile, k.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return s, err
		}
		s[i] = st.ModTime()
	}
	return s, nil
}

func (k *keyPair) load() error {
	s, err := k.stamps()
	if err != nil {
		return fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	k.mu.Lock()
	k.cert, k.stamp, k.checked = &c, s, time.Now()
	k.mu.Unlock()
	return nil
}

// get is tls.Config.GetCertificate: the files are looked at no more than
// once a second.
func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	cur, stale := k.cert, time.Since(k.checked) >= time.Second
	if stale {
		k.checked = time.Now()
	}
	stamp := k.stamp
	k.mu.Unlock()
	if stale {
		if s, err := k.stamps(); err == nil && s != stamp {
			if err := k.load(); err != nil {
				k.log.Warn("TLS certificate not reloaded", "err", err)
			} else {
				k.log.Info("TLS certificate reloaded", "cert", k.certFile)
				k.mu.Lock()
				cur = k.cert
				k.mu.Unlock()
			}
		}
	}
	return cur, nil
}
