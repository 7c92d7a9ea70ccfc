// Package wagate holds the domain of the wagate inbound WhatsApp-send
// gateway: workspaces, accounts, chats, messages and attempts, the error type
// every layer speaks, the parsing of phone numbers and JIDs, and the service
// interfaces that a storage backend implements.
//
// The rules both storage backends apply live here too, so a backend keeps
// only storage and the two cannot disagree: the message state machine
// (message_state.go: which status may go to which, the try each transition
// records, the refund-once checks), the accept's refusals (accept_check.go),
// the message and the attempt an accept stores (accept_message.go: queued
// now or scheduled), the Idempotency-Key's window and replays
// (idempotency.go), the other refusals (refusals.go), the events of
// message changes (message_event.go), why queued messages wait
// (waiting_count.go), the endpoint deliveries' transitions
// (delivery_state.go) and the relink sweep (relink.go). A backend reads
// its rows in its transaction, asks these, and writes what they say.
//
// Subpackages are one per concern and talk to each other in these terms:
// gateway (HTTP), sender (pacing and transports), quota (credit rules),
// store (bbolt). cmd/wagate ties them together.
package wagate
