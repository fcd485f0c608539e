// Package rpc is the ONC RPC version 2 wire format (RFC 5531) used by NFS:
// the record marking of the stream transport (§11), the call and reply
// message headers (§9) and the AUTH_NONE and AUTH_SYS credentials (§8.1,
// appendix A). It is transport-agnostic; serve/rpcsrv and client/rpcclient
// build the connection handling on top of it.
//
// Everything is encoded with proto/xdr and follows the same rules: decoders
// bound every length before slicing (opaque_auth bodies ≤ 400 bytes,
// machinename ≤ 255, gids ≤ 16, records ≤ a caller-given maximum), never
// panic on malformed input, and return sub-slices of the input (zero copy).
// Encoding a reply header into a reused buffer does not allocate.
//
// Credentials of flavours this package does not parse are kept as raw
// opaque bodies so a server can still answer AUTH_ERROR with the right
// auth_stat (AUTH_BADCRED for a malformed AUTH_SYS, AUTH_REJECTEDCRED or
// AUTH_TOOWEAK for a flavour it does not accept).
package rpc
