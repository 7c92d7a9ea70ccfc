package gateway

import "github.com/wagate/wagate"

// AccountWatcher is an optional interface of the Waker: it is told, after
// the change is committed, that an account was created, activated, paused
// or deleted, so that a transport holding a session per account (WhatsApp
// Web) connects or disconnects it at once rather than at the account's
// next send. sender.(*Sender) implements it. AccountChanged must not block.
type AccountWatcher interface {
	AccountChanged(ref wagate.AccountRef)
}

// accountChanged tells the Waker, when it watches accounts, that the
// account changed.
func (s *Server) accountChanged(ref wagate.AccountRef) {
	if w, ok := s.svc.Waker.(AccountWatcher); ok {
		w.AccountChanged(ref)
	}
}
