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

// SetAccount is the body of PATCH …/accounts/{phone}: every field is
// optional and a field left out keeps its value. The careful-sending rules
// (SPEC §2) are off at their zero values: daily_limit 0, warmup.start 0,
// quiet_hours "", send_interval "0s". Durations are Go duration strings
// ("5s", "1m30s", "500ms").
type SetAccount struct {
	Active       *bool       `json:"active,omitempty"`
	DailyLimit   *int        `json:"daily_limit,omitempty"`
	Warmup       *WarmupRule `json:"warmup,omitempty"`
	QuietHours   *string     `json:"quiet_hours,omitempty"`
	TimeZone     *string     `json:"time_zone,omitempty"`
	SendInterval *string     `json:"send_interval,omitempty"`
	SendJitter   *string     `json:"send_jitter,omitempty"`
}

// WarmupRule is an account's warm-up: Start sends on the day of its first
// send, times Growth each day after (1.3 = +30 %), up to daily_limit.
type WarmupRule struct {
	Start  int     `json:"start"`
	Growth float64 `json:"growth"`
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
