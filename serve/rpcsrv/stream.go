package rpcsrv

import (
	"io"
	"net"
	"time"
)

// StreamConn wraps an io.ReadWriteCloser (stdin/stdout, a pipe) as a
// net.Conn for ServeConn. Deadlines are passed on when rwc supports them
// (an *os.File on a pipe does) and are otherwise ignored; without them
// the record and write timeouts do not apply and Shutdown only ends the
// connection when its ctx expires.
func StreamConn(rwc io.ReadWriteCloser) net.Conn { return &streamConn{rwc} }

type streamConn struct{ io.ReadWriteCloser }

type streamAddr struct{}

func (streamAddr) Network() string { return "stream" }
func (streamAddr) String() string  { return "stream" }

func (s *streamConn) LocalAddr() net.Addr  { return streamAddr{} }
func (s *streamConn) RemoteAddr() net.Addr { return streamAddr{} }

func (s *streamConn) SetDeadline(t time.Time) error {
	if d, ok := s.ReadWriteCloser.(interface{ SetDeadline(time.Time) error }); ok {
		return d.SetDeadline(t)
	}
	return nil
}

func (s *streamConn) SetReadDeadline(t time.Time) error {
	if d, ok := s.ReadWriteCloser.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

func (s *streamConn) SetWriteDeadline(t time.Time) error {
	if d, ok := s.ReadWriteCloser.(interface{ SetWriteDeadline(time.Time) error }); ok {
		return d.SetWriteDeadline(t)
	}
	return nil
}
