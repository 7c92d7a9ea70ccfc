package netguard

import (
	"context"
	"net/netip"
	"syscall"
)

// BlockedError is the error of a connection Control refused. Its text
// names the class of the address, never the address: a host name that
// resolves inside the server's network must not turn an error into a way
// to map that network. Callers find it with errors.As through the net and
// http errors that wrap it.
type BlockedError struct{ Class string }

func (e *BlockedError) Error() string {
	return "connection to " + Article(e.Class) + " " + e.Class + " address refused"
}

// Control returns a net.Dialer ControlContext hook that refuses every
// address Classify blocks. It runs on the resolved address of each
// connection just before connect(2), so every DNS answer and every
// redirect hop is checked and DNS rebinding has no window between the
// check and the connect: the file fetcher and the webhook deliverer both
// dial through it. allow, when not nil, is asked first and lets an
// address through (an --allow-private-… flag, or one test server).
func Control(allow func(netip.AddrPort) bool) func(ctx context.Context, network, address string, c syscall.RawConn) error {
	return func(_ context.Context, _, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &BlockedError{Class: Invalid}
		}
		if allow != nil && allow(ap) {
			return nil
		}
		if class, blocked := Classify(ap.Addr()); blocked {
			return &BlockedError{Class: class}
		}
		return nil
	}
}
