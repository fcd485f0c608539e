package nfs4client

import (
	"context"
	"io"
	"testing"
	"time"
)

func TestCmdConnEchoAndClose(t *testing.T) {
	cc, err := StartCommand(context.Background(), "cat")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	cc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(cc, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	// cat exits on EOF: a clean close, no kill.
	if err := cc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-cc.Exited():
	default:
		t.Fatal("child still running after Close")
	}
	if cc.ExitErr() != nil {
		t.Fatalf("exit: %v", cc.ExitErr())
	}
}

func TestCmdConnKillsStubbornChild(t *testing.T) {
	old := CloseGrace
	CloseGrace = 100 * time.Millisecond
	defer func() { CloseGrace = old }()
	// exec: the shell is replaced, so the kill reaches sleep itself.
	cc, err := StartCommand(context.Background(), "exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cc.Close(); err == nil {
		t.Fatal("Close of a child that ignores EOF: want an error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if _, err := cc.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

func TestCmdConnReadSeesChildExit(t *testing.T) {
	cc, err := StartCommand(context.Background(), "printf ab; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	b, err := io.ReadAll(cc)
	if string(b) != "ab" || err != nil {
		t.Fatalf("ReadAll: %q, %v", b, err)
	}
	<-cc.Exited()
	if cc.ExitErr() == nil {
		t.Fatal("exit 3 reported as success")
	}
}
