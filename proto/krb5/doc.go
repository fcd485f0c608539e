// Package krb5 is a pure-Go Kerberos V5 GSS-API acceptor (RFC 4121) for
// RPCSEC_GSS (RFC 2203): it reads MIT keytabs, accepts the initiator's
// AP-REQ context token (RFC 4120 §3.2, RFC 2743 §3.1 framing), answers with an
// AP-REP for mutual authentication, and makes and checks MIC and Wrap tokens.
//
// Only the RFC 3961 simplified-profile AES enctypes of RFC 3962 are
// implemented (aes128/aes256-cts-hmac-sha1-96, etypes 17 and 18). The
// acceptor never asserts a subkey, so the context key is the initiator's
// authenticator subkey, else the ticket session key (RFC 4121 §2). There is
// no replay cache and no sequence enforcement: RPCSEC_GSS does its own.
//
// Tests: go test ./proto/krb5/ (the MIT interop test needs krb5-kdc,
// krb5-user and python3-gssapi; it runs scripts/krb5-realm.sh).
// KRB5_UPDATE_TESTDATA=1 re-records testdata/capture.json and nfs.keytab.
package krb5
