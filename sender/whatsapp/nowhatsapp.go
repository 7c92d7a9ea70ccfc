//go:build nowhatsapp

package whatsapp

import "context"

// Built reports whether this binary contains the WhatsApp Web transport.
const Built = false

// Open answers ErrNotBuilt: this binary was built with -tags nowhatsapp.
func Open(ctx context.Context, cfg Config) (Service, error) { return nil, ErrNotBuilt }

// Client is nothing in this build: there is no WhatsApp client to fake.
type Client interface{}
