// Package e2e holds end-to-end tests: they start the real NFSv4 server
// (in process over loopback, or the fs_serv binary when a test must kill
// it) and drive it with client/nfs4client. It has no non-test code.
package e2e
