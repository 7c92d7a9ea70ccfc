package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestControlRefusesInternalAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	d := &net.Dialer{ControlContext: Control(nil)}
	_, err = d.DialContext(context.Background(), "tcp", ln.Addr().String())
	var be *BlockedError
	if !errors.As(err, &be) || be.Class != Loopback {
		t.Fatalf("dial loopback: %v; want a *BlockedError of class loopback", err)
	}
	if msg := be.Error(); msg != "connection to a loopback address refused" {
		t.Errorf("error text %q", msg)
	}

	allowed := &net.Dialer{ControlContext: Control(func(ap netip.AddrPort) bool { return ap.Addr().IsLoopback() })}
	c, err := allowed.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial loopback with allow: %v", err)
	}
	c.Close()
}
