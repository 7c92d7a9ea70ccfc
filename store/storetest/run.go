package storetest

import (
	"testing"
)

// Backend is everything a complete backend implements: the union of the
// constraints of every part of the contract. Run asks for it, so a backend
// that lacks a service does not compile against the contract, and one that
// has them all runs every part.
type Backend interface {
	Store
	CarefulStore
	TemplateStore
	LinkStore
	RelinkStore
	LinkQueueStore
	RetentionStore
	EndpointStore
	OutboxStore
	OutboxQueueStore
	AccountEventStore
}

// Run runs the whole contract on one backend: every part, each a subtest
// named for what it covers ("queue", "careful sending", "outbox"…), so
// `go test -run 'TestContract/outbox'` runs one part alone. A backend calls
// Run and nothing else, and cannot forget a part; a new part joins here.
func Run[S Backend](t *testing.T, h Harness[S]) {
	RunStore(t, h)
	RunCareful(t, h)
	RunTemplates(t, h)
	RunLinks(t, h)
	RunRelink(t, h)
	RunRetention(t, h)
	RunLinksWithQueue(t, h)
	RunEndpoints(t, h)
	RunOutbox(t, h)
	RunOutboxQueue(t, h)
	RunAccountEvents(t, h)
}
