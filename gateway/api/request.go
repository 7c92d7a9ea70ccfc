package api

// The request bodies of the admin API. The server rejects unknown fields,
// so these are exactly what it reads. A pointer field is one the server
// requires: nil is "missing", which differs from false or 0.

// CreateWorkspace is the body of POST /api/v1/workspaces.
type CreateWorkspace struct {
	Name    string `json:"name"`
	Credits int64  `json:"credits"`
}

// AddCredits is the body of POST …/credits; a negative Amount takes away.
type AddCredits struct {
	Amount *int64 `json:"amount"`
}

// SetWebhook is the body of PATCH …/webhook.
type SetWebhook struct {
	Enabled *bool `json:"enabled"`
}

// CreateAccount is the body of POST …/accounts. An empty Transport is
// "dryrun".
type CreateAccount struct {
	Phone     string            `json:"phone"`
	Transport string            `json:"transport,omitempty"`
	Settings  map[string]string `json:"settings,omitempty"`
}

// SetAccount is the body of PATCH …/accounts/{phone}.
type SetAccount struct {
	Active *bool `json:"active"`
}

// CreateChat is the body of POST …/chats: JID or Phone, not both.
type CreateChat struct {
	AccountPhone string `json:"account_phone"`
	JID          string `json:"jid,omitempty"`
	Phone        string `json:"phone,omitempty"`
	Name         string `json:"name"`
}

// CreateToken is the body of POST …/tokens: Role "owner" or "support".
type CreateToken struct {
	Role string `json:"role"`
	Name string `json:"name,omitempty"`
}
