package gateway

import (
	"strconv"
	"time"

	"github.com/wagate/wagate"
)

// The admin API's objects (SPEC §4 "Objects"). Conventions: snake_case
// names; every listed field is always present; absent strings are "",
// absent times null; times are UTC RFC 3339; chat ids are strings.

type workspaceJSON struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Credits   int64         `json:"credits"`
	Granted   int64         `json:"granted"`
	Webhook   webhookJSON   `json:"webhook"`
	Accounts  []accountJSON `json:"accounts"`
	CreatedAt *time.Time    `json:"created_at"`
}

type webhookJSON struct {
	URL       string     `json:"url"`
	Enabled   bool       `json:"enabled"`
	CreatedAt *time.Time `json:"created_at"`
}

// accountJSON never carries Settings: they may hold access tokens.
type accountJSON struct {
	Phone       string     `json:"phone"`
	Transport   string     `json:"transport"`
	Active      bool       `json:"active"`
	ConnectedAt *time.Time `json:"connected_at"`
}

type chatJSON struct {
	ID           string     `json:"id"`
	AccountPhone string     `json:"account_phone"`
	JID          string     `json:"jid"`
	Name         string     `json:"name"`
	Group        bool       `json:"group"`
	CreatedAt    *time.Time `json:"created_at"`
}

type messageJSON struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	AccountPhone string     `json:"account_phone"`
	ChatID       string     `json:"chat_id"`
	JID          string     `json:"jid"`
	Text         string     `json:"text"`
	FileURL      string     `json:"file_url"`
	FileName     string     `json:"file_name"`
	Credits      int64      `json:"credits"`
	Error        string     `json:"error"`
	Tries        []tryJSON  `json:"tries"`
	CreatedAt    *time.Time `json:"created_at"`
	SentAt       *time.Time `json:"sent_at"`
	// NextTryAt is when a queued message's retry is due (null: none).
	NextTryAt *time.Time `json:"next_try_at"`
	// WaitingFor is the id of an earlier message to the same recipient
	// whose retry this queued message waits behind ("" when none).
	WaitingFor string `json:"waiting_for"`
	// Delivery is the transport's last report after sending ("delivered",
	// "read", …; "" when it reports nothing).
	Delivery   string     `json:"delivery"`
	DeliveryAt *time.Time `json:"delivery_at"`
}

type tryJSON struct {
	At         *time.Time `json:"at"`
	Result     string     `json:"result"`
	Class      string     `json:"class"` // permanent, transient, rate_limited, interrupted, deferred; "" for a success
	Error      string     `json:"error"`
	ProviderID string     `json:"provider_id"`
}

// attemptJSON's field order is SPEC's; the CSV download uses the same
// names and order (attemptFields).
type attemptJSON struct {
	At          *time.Time `json:"at"`
	RequestID   string     `json:"request_id"`
	RemoteAddr  string     `json:"remote_addr"`
	ContentType string     `json:"content_type"`
	Body        string     `json:"body"`
	HTTPStatus  int        `json:"http_status"`
	Message     string     `json:"message"`
	MessageID   string     `json:"message_id"`
	Credits     int64      `json:"credits"`
	SendStatus  string     `json:"send_status"`
	SendError   string     `json:"send_error"`
}

// attemptFields are the attempt object's names in SPEC order: the CSV header.
var attemptFields = []string{"at", "request_id", "remote_addr", "content_type", "body", "http_status", "message", "message_id", "credits", "send_status", "send_error"}

type tokenJSON struct {
	Token       string `json:"token"`
	Role        string `json:"role"`
	WorkspaceID string `json:"workspace_id"`
}

// timeJSON renders a zero time as null.
func timeJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Server) renderWebhook(w wagate.Webhook) webhookJSON {
	return webhookJSON{URL: s.InboundURL(w.Token), Enabled: w.Enabled, CreatedAt: timeJSON(w.CreatedAt)}
}

func (s *Server) renderWorkspace(ws *wagate.Workspace) workspaceJSON {
	accounts := make([]accountJSON, 0, len(ws.Accounts))
	for _, a := range ws.Accounts {
		accounts = append(accounts, renderAccount(a))
	}
	return workspaceJSON{
		ID:        ws.ID,
		Name:      ws.Name,
		Credits:   ws.Credits,
		Granted:   ws.Granted,
		Webhook:   s.renderWebhook(ws.Webhook),
		Accounts:  accounts,
		CreatedAt: timeJSON(ws.CreatedAt),
	}
}

func renderAccount(a *wagate.Account) accountJSON {
	return accountJSON{Phone: a.Phone, Transport: a.Transport, Active: a.Active, ConnectedAt: timeJSON(a.ConnectedAt)}
}

func renderChat(c *wagate.Chat) chatJSON {
	return chatJSON{
		ID:           chatIDString(c.ID),
		AccountPhone: c.AccountPhone,
		JID:          c.JID,
		Name:         c.Name,
		Group:        c.Group,
		CreatedAt:    timeJSON(c.CreatedAt),
	}
}

func chatIDString(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

func renderMessage(m *wagate.Message) messageJSON {
	tries := make([]tryJSON, 0, len(m.Tries))
	for _, t := range m.Tries {
		tries = append(tries, tryJSON{At: timeJSON(t.At), Result: t.Result, Class: t.Class, Error: t.Error, ProviderID: t.ProviderID})
	}
	return messageJSON{
		ID:           m.ID,
		Status:       string(m.Status),
		AccountPhone: m.AccountPhone,
		ChatID:       chatIDString(m.ChatID),
		JID:          m.JID,
		Text:         m.Text,
		FileURL:      m.FileURL,
		FileName:     m.FileName,
		Credits:      m.Credits,
		Error:        m.Error,
		Tries:        tries,
		CreatedAt:    timeJSON(m.CreatedAt),
		SentAt:       timeJSON(m.SentAt),
		NextTryAt:    timeJSON(m.NextTryAt),
		WaitingFor:   m.WaitingFor,
		Delivery:     m.Delivery,
		DeliveryAt:   timeJSON(m.DeliveryAt),
	}
}

func renderAttempt(a *wagate.Attempt) attemptJSON {
	return attemptJSON{
		At:          timeJSON(a.At),
		RequestID:   a.RequestID,
		RemoteAddr:  a.RemoteAddr,
		ContentType: a.ContentType,
		Body:        a.Body,
		HTTPStatus:  StatusFor(a.Code),
		Message:     a.Message,
		MessageID:   a.MessageID,
		Credits:     a.Credits,
		SendStatus:  string(a.SendStatus),
		SendError:   a.SendError,
	}
}

// csvRow renders an attempt in attemptFields order.
func (a attemptJSON) csvRow() []string {
	at := ""
	if a.At != nil {
		at = a.At.Format(time.RFC3339Nano)
	}
	return []string{
		at, csvText(a.RequestID), csvText(a.RemoteAddr), csvText(a.ContentType), csvText(a.Body),
		strconv.Itoa(a.HTTPStatus), csvText(a.Message), a.MessageID,
		strconv.FormatInt(a.Credits, 10), a.SendStatus, csvText(a.SendError),
	}
}

// csvText defuses spreadsheet formulas: the CSV is opened by support staff
// in spreadsheet programs, and its text cells hold what any caller of the
// inbound URL sent. A cell starting with = + - @ (or a tab or CR) gets a
// leading apostrophe, as OWASP recommends; JSONL keeps the exact text.
func csvText(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
