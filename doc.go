// Package wagate holds the domain of the wagate inbound WhatsApp-send
// gateway: workspaces, accounts, chats, messages and attempts, the error type
// every layer speaks, the parsing of phone numbers and JIDs, and the service
// interfaces that a storage backend implements.
//
// Subpackages are one per concern and talk to each other in these terms:
// gateway (HTTP), sender (pacing and transports), quota (credit rules),
// store (bbolt). cmd/wagate ties them together.
package wagate
