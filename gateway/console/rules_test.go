package console_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// TestCarefulSendingShown: the accounts page shows an account's
// careful-sending rules, and a scheduled message's page says why it waits.
func TestCarefulSendingShown(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	ref := wagate.AccountRef{WorkspaceID: ws.ID, Phone: "+15105566777"}
	if _, err := e.db.UpdateAccount(t.Context(), ref, func(a *wagate.Account) error {
		a.Rules = wagate.SendRules{DailyLimit: 200, Warmup: wagate.Warmup{Start: 20, Growth: 1.3},
			QuietHours: wagate.QuietHours{Set: true, From: 21 * 60, To: 8 * 60}, SendInterval: 5 * time.Second, SendJitter: time.Second}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sendAt := t0.Add(time.Hour).Format(time.RFC3339)
	if st := e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"later","send_at":"`+sendAt+`"}`); st != http.StatusOK {
		t.Fatalf("send = %d", st)
	}
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	accounts := b.get(base + "accounts")
	mustContain(t, "accounts", accounts, "200 a day", "warm-up from 20, ×1.3 a day", "quiet 21:00-08:00", "every 5s ± 1s")
	list := b.get(base + "messages")
	i := strings.Index(list.body, `href="`+base+"messages/wa_backend:")
	if i < 0 {
		t.Fatalf("no message link in:\n%s", list.body)
	}
	link, _, _ := strings.Cut(list.body[i+len(`href="`):], `"`)
	mustContain(t, "message", b.get(link), "Waiting because", "scheduled (send_at)", "Next try", when(t0.Add(time.Hour)))

	// The queue says how many wait for which reason, per account.
	if st := e.send(ws.Inbound, `{"action":"send","phone":"+14155552672","text":"at night"}`); st != http.StatusOK {
		t.Fatalf("send = %d", st)
	}
	night, err := e.db.ListMessages(t.Context(), ws.ID, wagate.StatusQueued, 1)
	if err != nil || len(night) != 1 {
		t.Fatalf("ListMessages = %v, %v", night, err)
	}
	if err := e.db.Hold(t.Context(), night[0].ID, wagate.WaitingQuietHours, t0.Add(8*time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "queue", b.get(base), `<span class="waiting-quiet_hours">1 quiet hours</span> · <span class="waiting-scheduled">1 scheduled</span>`)
	mustContain(t, "account page", b.get(base+"accounts/"+ref.Phone), `id="queued">2 `, "1 quiet hours", "1 scheduled")
}

// when is the console's way of showing an instant.
func when(at time.Time) string { return at.UTC().Format("2006-01-02 15:04:05") + " UTC" }
