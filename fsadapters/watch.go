package fsadapters

import "errors"

// Change says what a process other than fs_serv did to a watched object.
type Change int

const (
	// ChangeModify: the data or attributes changed, or the object was
	// unlinked or renamed. Conflicts with every delegation.
	ChangeModify Change = iota + 1
	// ChangeAccess: the object was opened or read. Conflicts only with
	// write delegations (RFC 8881 §10.4: a write delegation promises that
	// no one else even reads the file).
	ChangeAccess
)

func (c Change) String() string {
	switch c {
	case ChangeModify:
		return "modify"
	case ChangeAccess:
		return "access"
	}
	return "unknown"
}

// ErrWatchUnavailable is wrapped by ChangeWatcher.Watch when the backend
// cannot watch anything at all (e.g. fanotify is unavailable), as opposed
// to failing for one object.
var ErrWatchUnavailable = errors.New("change notification unavailable")

// ErrWatchNotSupported is wrapped by ChangeWatcher.Watch when the backend
// can watch, but not this kind of object (e.g. a directory without
// fanotify FID reporting): only that object must not be delegated.
var ErrWatchNotSupported = errors.New("change notification not supported for this object")

// ChangeWatcher is implemented by backends whose objects can also be
// changed behind fs_serv's back (the dir backend: local processes on the
// server host). The server watches every file it delegates, so that such a
// change recalls the delegation as a conflicting client's request would
// (RFC 8881 §10.4.4 ff.) and the holder drops its caches.
type ChangeWatcher interface {
	// Watch calls onChange when a process other than fs_serv changes the
	// object fh (ChangeModify: data, attributes, unlink or rename of it)
	// and, when write is set, also when it opens or reads it
	// (ChangeAccess). onChange may be called several times, from another
	// goroutine, never with a backend lock held; it must not block for
	// long. cancel stops the watch; it is idempotent and onChange may still
	// be running or be called once more while cancel runs. The watch costs
	// kernel resources and should exist only while needed.
	//
	// For a directory (directory delegations, RFC 8881 §10.9), a
	// ChangeModify reports a change of its entries (a name created,
	// removed, renamed in or out) or of the directory itself (its
	// attributes, its removal or move); write is ignored. A backend that
	// cannot watch directories fails with ErrWatchNotSupported.
	Watch(fh FileHandle, write bool, onChange func(Change)) (cancel func(), err error)
}
