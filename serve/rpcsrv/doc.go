// Package rpcsrv is the ONC RPC server transport over byte streams (TCP,
// or any io.ReadWriteCloser such as stdio): RFC 5531 record marking (§11)
// and message dispatch (§9), with no knowledge of the programs it carries.
//
// Per connection one reader goroutine reads records and starts one
// goroutine per CALL, up to Server.MaxInFlight; beyond that it stops
// reading, so TCP flow control pushes back on the client. A slow call
// therefore never delays the others on its connection (NFS clients
// multiplex everything over one connection). Replies are serialised by a
// per-connection write mutex and written with one writev (header, record
// mark and the handler's buffers, no copy) under a write deadline, so a
// client that stops reading cannot pin workers forever. A read deadline
// covers each record from its first byte, so a peer that sends half a
// record and stalls is disconnected; calls are dispatched only once their
// record is complete, so it never holds a handler slot.
//
// Resource bounds (Server fields; all have defaults): record size,
// in-flight calls per connection and handlers running in total (the global
// bound makes calls wait while holding their connection's slots, so an
// exhausted server stops reading busy connections instead of queueing),
// unsent reply bytes per connection (a peer that pipelines calls without
// reading replies stops being read), connections in total and per peer
// address (refused by closing at once, logged with a rate limit), and idle,
// partial-record and write timeouts. A call that waits QueueTimeout for a
// handler slot is answered at once if its Handler can do so without running
// it (Overloader: NFSv4.1's NFS4ERR_DELAY on SEQUENCE), so clients back off.
//
// The transport answers by itself only what a program cannot: RPC_MISMATCH
// for rpcvers != 2, AUTH_ERROR/AUTH_BADCRED for a malformed AUTH_SYS
// credential and GARBAGE_ARGS for an undecodable call header. Malformed
// record marking (a record larger than MaxRecord) drops the connection, as
// the stream cannot be resynchronised. Everything else, including the NULL
// procedure and flavour policy (AUTH_REJECTEDCRED, AUTH_TOOWEAK), belongs to
// the Handler.
//
// NFSv4.1 sends callbacks over the client's own connection (RFC 8881
// §2.10.3.1): Conn.Call sends a CALL to the peer and the reader routes the
// matching REPLY (msg_type 1) back to it by xid.
package rpcsrv
