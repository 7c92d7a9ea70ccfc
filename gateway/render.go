package gateway

import (
	"strconv"
	"strings"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// The admin API's objects (SPEC §4 "Objects") are the types of package
// api, which the typed client decodes too; this file fills them from the
// domain types.

// attemptFields are the attempt object's names in SPEC order, then the
// ones added since: the CSV header.
var attemptFields = []string{"at", "request_id", "remote_addr", "content_type", "body", "http_status", "message", "message_id", "credits", "send_status", "send_error", "warnings"}

// timeJSON renders a zero time as null.
func timeJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// renderWebhook shows the whole inbound URL only to roles that may act:
// the URL alone can send and spend credits, so support staff, who only
// read, see it masked (SPEC §4).
func (s *Server) renderWebhook(w wagate.Webhook, role wagate.Role) api.Webhook {
	return api.Webhook{URL: s.InboundURLFor(w.Token, role), Enabled: w.Enabled, CreatedAt: timeJSON(w.CreatedAt)}
}

func (s *Server) renderWorkspace(ws *wagate.Workspace, role wagate.Role) api.Workspace {
	accounts := make([]api.Account, 0, len(ws.Accounts))
	for _, a := range ws.Accounts {
		accounts = append(accounts, renderAccount(a))
	}
	return api.Workspace{
		ID:         ws.ID,
		Name:       ws.Name,
		Credits:    ws.Credits,
		Granted:    ws.Granted,
		LowCredits: ws.LowCredits,
		Webhook:    s.renderWebhook(ws.Webhook, role),
		Accounts:   accounts,
		CreatedAt:  timeJSON(ws.CreatedAt),
	}
}

func renderAccount(a *wagate.Account) api.Account {
	out := api.Account{Phone: a.Phone, Transport: a.Transport, Active: a.Active, ConnectedAt: timeJSON(a.ConnectedAt)}
	renderRules(&out, a.Rules)
	if a.Transport == wagate.TransportWhatsApp {
		l := a.Link
		if l.State == "" {
			l.State = wagate.LinkUnlinked // never linked yet
		}
		out.Link = &api.AccountLink{State: l.State, Since: timeJSON(l.Since), Error: l.Error, Until: timeJSON(l.Until)}
	}
	return out
}

func renderChat(c *wagate.Chat) api.Chat {
	return api.Chat{
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

func renderMessage(m *wagate.Message) api.Message {
	tries := make([]api.Try, 0, len(m.Tries))
	for _, t := range m.Tries {
		tries = append(tries, api.Try{At: timeJSON(t.At), Result: t.Result, Class: t.Class, Error: t.Error, ProviderID: t.ProviderID})
	}
	return api.Message{
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
		// Careful sending (SPEC §2).
		WaitingReason: m.WaitingReason,
		SendAt:        timeJSON(m.SendAt),
		Delivery:      m.Delivery,
		DeliveryAt:    timeJSON(m.DeliveryAt),
	}
}

func renderAttempt(a *wagate.Attempt) api.Attempt {
	return api.Attempt{
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
		Warnings:    warningsJSON(a.Warnings),
	}
}

// warningsJSON renders no warnings as [], never null.
func warningsJSON(w []string) []string {
	if w == nil {
		return []string{}
	}
	return w
}

// csvRow renders an attempt in attemptFields order.
func csvRow(a api.Attempt) []string {
	at := ""
	if a.At != nil {
		at = a.At.Format(time.RFC3339Nano)
	}
	return []string{
		at, csvText(a.RequestID), csvText(a.RemoteAddr), csvText(a.ContentType), csvText(a.Body),
		strconv.Itoa(a.HTTPStatus), csvText(a.Message), a.MessageID,
		strconv.FormatInt(a.Credits, 10), a.SendStatus, csvText(a.SendError),
		// One cell; each warning on its own line.
		csvText(strings.Join(a.Warnings, "\n")),
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
