// Package state is the NFSv4 server's state model: clients, sessions,
// owners, stateids, share reservations and byte-range locks (RFC 7530 §9,
// §16; RFC 8881 §2.10, §8, §9, §18). It has no wire code: the COMPOUND
// engine decodes an op, calls a Manager method with plain Go values, and
// maps the returned error — an nfs4.Status, or *LockDenied wrapping
// nfs4.ErrDenied — straight onto the reply.
//
// # The hierarchy
//
//	Manager (one per server boot: epoch, boot verifier, lease time, Clock)
//	 └─ Client       one per client ID; unconfirmed or confirmed
//	     ├─ Session  4.1 only: slot table (reply cache) + bound connections
//	     └─ Owner    open-owner or lock-owner (client ID + opaque name)
//	         └─ stateid → Open (per owner and file: share access/deny,
//	                      the engine's backend handle)
//	                    → lock state (per lock owner and file: byte ranges,
//	                      tied to the Open it was created under)
//	                    → Delegation (per client and file; deleg.go)
//
// Files are keyed by their file-handle bytes (FHKey, a string).
//
// # Clients and leases
//
// NFSv4.0 clients register with SETCLIENTID + SETCLIENTID_CONFIRM
// (SetClientID, SetClientIDConfirm), 4.1+ clients with EXCHANGE_ID +
// CREATE_SESSION (ExchangeID, CreateSession). Both follow the RFC case
// tables for reboots (new verifier), callback updates and principal
// collisions. Principals are strings: AuthSysPrincipal for AUTH_SYS.
//
// A client ID is boot epoch (32 bits) << 32 | counter; a stateid's "other"
// is epoch (4 bytes) + counter (8 bytes). So anything minted by an earlier
// Manager (server restart) is NFS4ERR_STALE_CLIENTID / STALE_STATEID.
//
// Every client has a lease. 4.0 renews by RENEW and implicitly by any op
// using its client ID or stateids; 4.1 renews by SEQUENCE. The server calls
// Reap(now) periodically: clients past their lease lose everything (a late
// client that renews before Reap keeps its state), unless
// Config.CourtesyTime keeps a silent client's state until another client's
// request conflicts with it (courtesy.go). Open handles of torn-down state
// reach the engine through Config.OnRelease so it can close backend files.
//
// # Restart recovery
//
// With a Store (OpenStore: a state directory) the Manager persists one
// record per client holding state (persist.go) and, if the previous
// instance left records, starts in a grace period in which those clients
// reclaim opens and locks (OpenArgs.Reclaim, LockArgs.Reclaim) and new
// opens and locks wait (CheckOpen, InGrace); see grace.go.
//
// # Sessions (4.1)
//
// Sequence implements the slot table: a new request gets a *Slot and the
// engine must end it with Slot.StoreReply(reply or nil); a retransmission
// gets the cached reply bytes (SequenceResult.Replay) to send verbatim.
// Connections are opaque comparable keys (any); CREATE_SESSION,
// SEQUENCE and BIND_CONN_TO_SESSION bind them, FindBackChannel finds a
// back-channel connection for callbacks, ConnClosed unbinds.
//
// # Owners and 4.0 sequencing
//
// 4.0 ops that change open/lock state carry an owner seqid. The engine
// calls CheckSeqID(owner, seqid): SeqNew → execute, then SeqIDDone with the
// status and encoded op reply; SeqReplay → send the returned reply; or an
// error (BAD_SEQID, DELAY while the owner is busy). StateOwner maps a
// stateid — even one already closed — to the owner whose seqid applies. 4.1
// ignores seqids (sessions give exactly-once semantics).
//
// # Opens, I/O and locks
//
// Open/OpenConfirm/OpenDowngrade/Close keep share reservations; SetOpenHandle
// attaches the backend file and RevertOpen undoes an Open whose backend
// open failed. CheckIO validates the stateid of READ/WRITE and returns the
// handle. Lock/LockT/LockU/ReleaseLockOwner keep POSIX-style ranges
// (split/merge, upgrade/downgrade) in memory; a LockHook may mirror them.
//
// # Delegations
//
// GrantDelegation applies the grant policy; a conflicting OPEN (inside
// Open), BreakDelegations (REMOVE, RENAME, LINK, SETATTR) or I/O with a
// special stateid (CheckIO) answers NFS4ERR_DELAY and queues a Recall for
// Config.OnRecall; ReturnDelegation is DELEGRETURN; RevokeRecalled revokes
// what was not returned a lease after its recall (4.1: the stateid stays,
// NFS4ERR_DELEG_REVOKED, until FREE_STATEID).
//
// # Concurrency
//
// One mutex guards the Manager; no method blocks on I/O. Hooks: OnRelease
// runs after the mutex is released, LockHook under it (must not block).
// *Owner and *Slot values are handles: use them only through Manager
// methods (and Slot.StoreReply).
package state
