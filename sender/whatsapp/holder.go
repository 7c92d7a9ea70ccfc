//go:build !nowhatsapp

package whatsapp

import (
	"context"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

var _ sender.SessionHolder = (*Manager)(nil)

// StartAccount starts the account's session for the sender (see
// sender.SessionHolder) and keeps wake: the Manager calls it each time the
// account is connected, so messages held by Unavailable go at once. An
// account already connected is woken now. An unlinked account starts no
// session and is no error: it waits until someone links it.
func (m *Manager) StartAccount(ctx context.Context, acct *wagate.Account, wake func()) error {
	ref := acct.Ref()
	m.mu.Lock()
	if m.wakes == nil {
		m.wakes = map[wagate.AccountRef]func(){}
	}
	m.wakes[ref] = wake
	m.mu.Unlock()
	m.Start(ctx, acct)
	if m.Status(ref).State == StateConnected {
		wake()
	}
	return nil
}

// StopAccount stops the account's session and forgets its wake function.
func (m *Manager) StopAccount(ref wagate.AccountRef) {
	m.mu.Lock()
	delete(m.wakes, ref)
	m.mu.Unlock()
	m.Stop(ref)
}

// wake tells the sender that the account can send again.
func (m *Manager) wake(ref wagate.AccountRef) {
	m.mu.Lock()
	w := m.wakes[ref]
	m.mu.Unlock()
	if w != nil {
		w()
	}
}
