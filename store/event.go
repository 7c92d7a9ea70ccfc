package store

import (
	"encoding/base32"
	"time"
)

// idEncoding writes event and delivery ids: lower-case base32 without
// padding, so an id is safe in a URL path, a header and a file name.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// eventRecord is a stored wagate.Event. It is kept inside each delivery
// that carries it (outbox.go), so an event lives exactly as long as a
// delivery needs it and no reference counting is needed: an event goes to
// one or two endpoints in practice, and to EndpointLimit at most.
type eventRecord struct {
	ID           string         `json:"id"`
	WorkspaceID  string         `json:"ws"`
	Type         string         `json:"type"`
	At           time.Time      `json:"at"`
	AccountPhone string         `json:"account,omitempty"`
	Source       string         `json:"source,omitempty"`
	Message      *messageRecord `json:"message,omitempty"`
	Attempt      *attemptRecord `json:"attempt,omitempty"`
	Account      *accountRecord `json:"account_record,omitempty"`
	Credits      int64          `json:"credits,omitempty"`
}
