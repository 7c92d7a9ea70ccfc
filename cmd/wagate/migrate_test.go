package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
	"github.com/wagate/wagate/store/postgres"
)

// migrateClock is the stores' clock: whole seconds, which both backends
// keep exactly (PostgreSQL keeps microseconds).
type migrateClock struct{ t time.Time }

func (c *migrateClock) Now() time.Time { return c.t }
func (c *migrateClock) advance()       { c.t = c.t.Add(time.Second) }

// `wagate migrate` copies a bbolt store holding every kind of record into
// an empty PostgreSQL database: read back through the same domain
// interfaces, the database returns what the store did, the queues give
// their messages in the same order, idempotency keys replay without a
// charge, and the database passes AuditDatabase. A second migration into
// the now non-empty database is refused naming --to, a linked WhatsApp Web
// account is refused unless --relink-whatsapp, and the URL's password is
// never printed. The test starts its own PostgreSQL and fails, never
// skips, without one.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	url := newPGDatabase(t)
	// trust authentication ignores the password: it is there to be hidden.
	url = strings.Replace(url, "postgres://postgres@", "postgres://postgres:s3cret@", 1)

	dir := t.TempDir()
	clock := &migrateClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	src, err := store.Open(filepath.Join(dir, storeFile), store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := fillStore(t, ctx, src, clock)
	want := readBack(t, ctx, src, f)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{}
	migrate := func(args ...string) (int, string) {
		t.Helper()
		var out, errOut strings.Builder
		code := run(append([]string{"migrate"}, args...), &out, &errOut, func(k string) string { return env[k] })
		all := out.String() + errOut.String()
		if strings.Contains(all, "s3cret") {
			t.Errorf("the output shows the URL's password:\n%s", all)
		}
		return code, all
	}
	if code, out := migrate("--from", dir); code != 2 || !strings.Contains(out, "--to") {
		t.Errorf("migrate without --to: exit %d, want 2 naming --to\n%s", code, out)
	}
	code, out := migrate("--from", dir, "--to", url)
	if code != 1 || !strings.Contains(out, "linked to a device") || !strings.Contains(out, f.waPhone) || !strings.Contains(out, "--relink-whatsapp") {
		t.Fatalf("migrate with a linked WhatsApp Web account: exit %d, want 1 naming the account and --relink-whatsapp\n%s", code, out)
	}
	code, out = migrate("--from", dir, "--to", url, "--relink-whatsapp")
	if code != 0 || !strings.Contains(out, "is consistent") || !strings.Contains(out, "wagate account link") {
		t.Fatalf("migrate: exit %d, want 0\n%s", code, out)
	}
	t.Log(out)

	problems, err := postgres.AuditDatabase(ctx, url)
	if err != nil || len(problems) > 0 {
		t.Fatalf("AuditDatabase of the copy: %v %q", err, problems)
	}
	dst, err := postgres.Open(ctx, url, postgres.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	// The linked account arrives unlinked, saying why: its keys stayed
	// behind. Set back as it was, it must then read as in the store.
	waRef := wagate.AccountRef{WorkspaceID: f.ws, Phone: f.waPhone}
	if a, err := dst.FindAccount(ctx, waRef); err != nil || a.Link.State != wagate.LinkUnlinked || !strings.Contains(a.Link.Error, "link it again") {
		t.Errorf("the linked WhatsApp Web account arrived as %+v (%v), want unlinked saying to link it again", a, err)
	}
	if err := dst.SetAccountLink(ctx, waRef, want["account "+f.waPhone].(*wagate.Account).Link); err != nil {
		t.Fatal(err)
	}
	got := readBack(t, ctx, dst, f)
	for _, k := range sortedKeys(want) {
		w, g := want[k], got[k]
		if sw, sg := show(t, w), show(t, g); sw != sg {
			t.Errorf("%s differs after the migration:\n bbolt:    %s\n postgres: %s", k, sw, sg)
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s is in the database, not in the store", k)
		}
	}

	// An idempotency key replays on the copy: no second message, no charge.
	res, err := dst.Accept(ctx, f.replay)
	if err != nil || !res.Replayed || res.Message.ID != f.replayID {
		t.Errorf("replay of an Idempotency-Key on the copy: %+v, %v; want the first message %s", res, err, f.replayID)
	}
	if ws, _ := dst.FindWorkspace(ctx, f.ws); ws == nil || ws.Credits != want["workspace "+f.ws].(*wagate.Workspace).Credits {
		t.Errorf("the replay charged: workspace %+v", ws)
	}

	// A second migration into the database (named by WAGATE_DATABASE_URL
	// this time) is refused, and changes nothing.
	env["WAGATE_DATABASE_URL"] = url
	code, out = migrate("--from", dir, "--relink-whatsapp")
	if code != 1 || !strings.Contains(out, "--to must name an EMPTY database") || !strings.Contains(out, "nothing was copied") {
		t.Errorf("migrate into a non-empty database: exit %d, want 1 naming --to\n%s", code, out)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM workspaces`).Scan(&n); err != nil || n != 2 {
		t.Errorf("after the refused migration the database has %d workspaces (%v), want the 2 copied", n, err)
	}
}

// filled names what fillStore made, for the reads and the replay.
type filled struct {
	ws, ws2   string
	phone     string // a cloudapi account
	waPhone   string // a linked whatsapp account
	tokens    [][32]byte
	session   [32]byte
	sessionAt time.Time // when the session is live
	replay    *wagate.Accept
	replayID  string
	chatKey   wagate.ChatKey
	endpoints []wagate.EndpointRef
}

func newMigrateWorkspace(t *testing.T, ctx context.Context, s wagate.WorkspaceService, credits int64) string {
	t.Helper()
	id, _ := wagate.NewWorkspaceID(rand.Reader)
	inbound, _ := wagate.NewToken(rand.Reader)
	owner, _ := wagate.NewToken(rand.Reader)
	if err := s.CreateWorkspace(ctx, &wagate.Workspace{ID: id, Name: "Acme " + id, Credits: credits, Webhook: wagate.Webhook{Token: inbound, Enabled: true}},
		&wagate.Token{Hash: wagate.HashToken(owner), WorkspaceID: id, Role: wagate.RoleOwner, Name: "first", Prefix: owner[:wagate.TokenPrefixLen]}); err != nil {
		t.Fatal(err)
	}
	return id
}

// fillStore writes every kind of record through the domain interfaces:
// workspaces with a threshold and pruned credits, tokens of every role, a
// console session, accounts with settings, rules and a link, chats,
// templates and synced provider templates, messages queued, scheduled,
// held, retrying, sending, sent (with a provider id and a delivery
// report), failed and cancelled, an idempotency key and a batch's, the
// attempt rings, the send history and a chat window.
func fillStore(t *testing.T, ctx context.Context, s *store.DB, clock *migrateClock) filled {
	t.Helper()
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	f := filled{phone: "+14155550101", waPhone: "+14155550102"}
	f.ws = newMigrateWorkspace(t, ctx, s, 1000)
	clock.advance()
	f.ws2 = newMigrateWorkspace(t, ctx, s, 50)
	_, err := s.SetLowCredits(ctx, f.ws, 100)
	must(err, "SetLowCredits")
	for _, role := range []wagate.Role{wagate.RoleSupport, wagate.RoleOperator} {
		tok, _ := wagate.NewToken(rand.Reader)
		wt := &wagate.Token{Hash: wagate.HashToken(tok), Role: role, Name: string(role), Prefix: tok[:wagate.TokenPrefixLen], CreatedAt: clock.Now()}
		if role != wagate.RoleOperator {
			wt.WorkspaceID = f.ws
		}
		must(s.CreateToken(ctx, wt), "CreateToken")
		f.tokens = append(f.tokens, wt.Hash)
		must(s.RecordTokenUse(ctx, wt.Hash, clock.Now()), "RecordTokenUse")
	}
	f.session, f.sessionAt = sha256.Sum256([]byte("session")), clock.Now()
	must(s.CreateSession(ctx, f.session, &wagate.Session{TokenHash: f.tokens[0], WorkspaceID: f.ws, Role: wagate.RoleSupport,
		CSRF: "csrf", CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour)}), "CreateSession")

	must(s.CreateAccount(ctx, &wagate.Account{WorkspaceID: f.ws, Phone: f.phone, Transport: wagate.TransportCloudAPI, Active: true,
		Settings: map[string]string{"phone_number_id": "1055"}, ConnectedAt: clock.Now(),
		Rules: wagate.SendRules{DailyLimit: 50, QuietHours: wagate.QuietHours{Set: true, From: 22, To: 7}, TimeZone: "Europe/Berlin", SendInterval: 2 * time.Second}}), "CreateAccount")
	must(s.CreateAccount(ctx, &wagate.Account{WorkspaceID: f.ws, Phone: f.waPhone, Transport: wagate.TransportWhatsApp, Active: true, ConnectedAt: clock.Now()}), "CreateAccount whatsapp")
	must(s.SetAccountLink(ctx, wagate.AccountRef{WorkspaceID: f.ws, Phone: f.waPhone}, wagate.AccountLink{State: "connected", Since: clock.Now()}), "SetAccountLink")
	must(s.CreateAccount(ctx, &wagate.Account{WorkspaceID: f.ws2, Phone: f.phone, Transport: wagate.TransportCloudAPI, Active: true, ConnectedAt: clock.Now()}), "CreateAccount ws2")
	must(s.CreateChat(ctx, &wagate.Chat{WorkspaceID: f.ws, AccountPhone: f.phone, JID: "4915100000000@s.whatsapp.net", Name: "Ana", CreatedAt: clock.Now()}), "CreateChat")
	must(s.CreateTemplate(ctx, &wagate.Template{WorkspaceID: f.ws, Name: "order_shipped", Text: "Hi {{name}}", FileURL: "https://files.example/a.pdf", FileName: "a.pdf",
		CloudAPI: &wagate.TemplateCloudAPI{AccountPhone: f.phone, Name: "order_shipped", Language: "en_US", Parameters: []string{"name"}}, CreatedAt: clock.Now(), UpdatedAt: clock.Now()}, 0), "CreateTemplate")
	must(s.SetAccountTemplates(ctx, &wagate.AccountTemplates{Account: wagate.AccountRef{WorkspaceID: f.ws, Phone: f.phone}, SyncedAt: clock.Now(),
		Templates: []wagate.ProviderTemplate{{Name: "order_shipped", Language: "en_US", Status: wagate.ProviderTemplateApproved, Category: "UTILITY", BodyParameters: []string{"1"}}}}), "SetAccountTemplates")
	// Endpoints before the messages, so their events fill the outbox.
	for i, enabled := range []bool{true, false} {
		e := &wagate.Endpoint{WorkspaceID: f.ws, ID: fmt.Sprintf("ep_test%06d", i+1), Name: "crm", Enabled: enabled, URL: "https://crm.example/hook",
			Method: "PUT", Events: []string{wagate.EventMessageQueued, wagate.EventMessageSent, wagate.EventMessageFailed},
			Filter: wagate.EndpointFilter{AccountPhone: f.phone}, Query: []wagate.Field{{Key: "a", Value: "1"}}, Headers: []wagate.Field{{Key: "X-A", Value: "b"}},
			Auth: wagate.EndpointAuth{Type: "bearer", Token: "tok"}, Body: wagate.EndpointBody{Type: "fields", Fields: []wagate.Field{{Key: "id", Value: "{{message.id}}"}}},
			CreatedAt: clock.Now(), Secret: fmt.Sprintf("whsec_%d", i), PreviousSecret: "whsec_old", PreviousUntil: clock.Now().Add(time.Hour)}
		if !enabled {
			e.DisabledReason, e.FailingSince = "gone (410)", clock.Now()
		}
		must(s.CreateEndpoint(ctx, e), "CreateEndpoint")
		f.endpoints = append(f.endpoints, wagate.EndpointRef{WorkspaceID: f.ws, ID: e.ID})
	}
	must(s.RecordDelivery(ctx, &wagate.EndpointDelivery{WorkspaceID: f.ws, EndpointID: f.endpoints[0].ID, Event: "test", Attempt: 1, Status: wagate.DeliverySucceeded,
		Request:  wagate.DeliveryRequest{Method: "PUT", URL: "https://crm.example/hook", Headers: []wagate.Field{{Key: "X-A", Value: "b"}}, Body: "{}"},
		Response: wagate.DeliveryResponse{Status: 200, Body: "ok"}, Duration: time.Millisecond, At: clock.Now()}), "RecordDelivery")
	f.chatKey = wagate.ChatKey{Transport: wagate.TransportCloudAPI, Sender: "1055", Customer: "4915100000000"}
	must(s.RecordCustomerMessage(ctx, f.chatKey, clock.Now()), "RecordCustomerMessage")

	ids := wagate.NewMessageIDs(rand.Reader)
	n := 0
	send := func(ws, jid string, opt func(*wagate.Accept)) *wagate.Message {
		t.Helper()
		clock.advance()
		n++
		id, err := ids.Next(clock.Now())
		must(err, "message id")
		body := fmt.Sprintf(`{"jid":%q,"n":%d}`, jid, n)
		a := &wagate.Accept{WorkspaceID: ws, BodyHash: sha256.Sum256([]byte(body)),
			Message: &wagate.Message{ID: id, AccountPhone: f.phone, JID: jid, Text: fmt.Sprintf("hello %d", n), Credits: 2, CreatedAt: clock.Now()},
			Attempt: &wagate.Attempt{At: clock.Now(), RequestID: fmt.Sprintf("req-%d", n), ContentType: "application/json", Body: body, Warnings: []string{"w"}}}
		if opt != nil {
			opt(a)
		}
		res, err := s.Accept(ctx, a)
		must(err, "Accept")
		if a.IdempotencyKey != "" {
			f.replay = a
		}
		return res.Message
	}
	jid := func(i int) string { return fmt.Sprintf("49151000000%02d@s.whatsapp.net", i) }
	sent := send(f.ws, jid(1), func(a *wagate.Accept) {
		a.Message.TemplateName = "order_shipped"
		a.Message.Template = &wagate.TemplateSend{Name: "order_shipped", Language: "en_US", Parameters: []wagate.TemplateParameter{{Value: "Ana"}}}
	})
	failed := send(f.ws, jid(2), nil)
	retrying := send(f.ws, jid(3), nil)
	sending := send(f.ws, jid(4), nil)
	held := send(f.ws, jid(5), nil)
	cancelled := send(f.ws, jid(6), nil)
	keyed := send(f.ws, jid(7), func(a *wagate.Accept) { a.IdempotencyKey = "order-7" })
	f.replayID = keyed.ID
	send(f.ws, jid(8), func(a *wagate.Accept) { a.Message.SendAt = clock.Now().Add(48 * time.Hour) })
	send(f.ws, jid(9), nil)
	pruned := send(f.ws2, jid(10), nil)
	send(f.ws2, jid(11), nil)

	// Retention of ws2's sent message, before any other is final.
	clock.advance()
	must(s.MarkSending(ctx, pruned.ID, clock.Now()), "MarkSending ws2")
	must(s.MarkSent(ctx, pruned.ID, wagate.Try{At: clock.Now(), Result: wagate.TryResultSent, ProviderID: "wamid.2"}), "MarkSent ws2")
	clock.advance()
	if n, err := s.PruneMessages(ctx, clock.Now()); err != nil || n != 1 {
		t.Fatalf("PruneMessages: %d, %v; want the one sent message of ws2", n, err)
	}
	for _, id := range []string{sent.ID, failed.ID, retrying.ID, sending.ID} {
		must(s.MarkSending(ctx, id, clock.Now()), "MarkSending")
	}
	must(s.MarkSent(ctx, sent.ID, wagate.Try{At: clock.Now(), Result: wagate.TryResultSent, ProviderID: "wamid.1"}), "MarkSent")
	_, _, err = s.ApplyDelivery(ctx, wagate.DeliveryUpdate{ProviderID: "wamid.1", Status: "delivered", At: clock.Now()}, func(string, string) bool { return true })
	must(err, "ApplyDelivery")
	must(s.MarkFailed(ctx, failed.ID, wagate.Try{At: clock.Now(), Result: wagate.TryResultFailed, Class: wagate.TryClassPermanent, Error: "bad number"}), "MarkFailed")
	must(s.Retry(ctx, retrying.ID, wagate.Try{At: clock.Now(), Result: wagate.TryResultRetry, Class: wagate.TryClassTransient, Error: "timeout"}, clock.Now().Add(time.Minute)), "Retry")
	must(s.Hold(ctx, held.ID, wagate.WaitingDailyLimit, clock.Now().Add(time.Hour)), "Hold")
	_, err = s.CancelMessage(ctx, f.ws, cancelled.ID, wagate.SourceAPI, clock.Now())
	must(err, "CancelMessage")
	must(s.RecordAttempt(ctx, f.ws, &wagate.Attempt{At: clock.Now(), RequestID: "req-bad", Code: "invalid", Message: "field jid"}), "RecordAttempt")

	// A batch with a key, and retention of ws2's sent message.
	clock.advance()
	batchID, err := ids.Next(clock.Now())
	must(err, "message id")
	_, err = s.AcceptBatch(ctx, &wagate.AcceptBatch{WorkspaceID: f.ws, IdempotencyKey: "batch-1", BodyHash: sha256.Sum256([]byte("batch")),
		Items: []*wagate.Accept{{WorkspaceID: f.ws, Message: &wagate.Message{ID: batchID, AccountPhone: f.phone, JID: jid(12), Text: "batch", Credits: 2, CreatedAt: clock.Now()},
			Attempt: &wagate.Attempt{At: clock.Now(), RequestID: "req-batch"}}},
		Refused: []error{nil}})
	must(err, "AcceptBatch")
	return f
}

// storeReads is what readBack reads, on either backend.
type storeReads interface {
	Backend
	SendHistory(ctx context.Context, ref wagate.AccountRef, since time.Time) ([]time.Time, time.Time, error)
	Audit(ctx context.Context) ([]string, error)
}

// readBack reads everything fillStore wrote, keyed by what it is.
func readBack(t *testing.T, ctx context.Context, s storeReads, f filled) map[string]any {
	t.Helper()
	out := map[string]any{}
	add := func(key string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		out[key] = v
	}
	wss, err := s.ListWorkspaces(ctx)
	add("workspace list", len(wss), err)
	for i, ws := range wss {
		out[fmt.Sprintf("workspace #%d", i)] = ws.ID
	}
	for _, id := range []string{f.ws, f.ws2} {
		ws, err := s.FindWorkspace(ctx, id)
		add("workspace "+id, ws, err)
		toks, err := s.ListTokens(ctx, id)
		add("tokens of "+id, toks, err)
		accts, err := s.ListAccounts(ctx, id)
		for _, a := range accts {
			out["account "+a.Phone+" of "+id] = a
		}
		add("accounts of "+id, len(accts), err)
		chats, err := s.ListChats(ctx, id, "")
		add("chats of "+id, chats, err)
		// The list in its order; each message in full (a bbolt list
		// leaves out the template).
		msgs, err := s.ListMessages(ctx, id, "", 100)
		var list []string
		for _, m := range msgs {
			list = append(list, m.ID+" "+string(m.Status))
		}
		add("messages of "+id, list, err)
		for _, m := range msgs {
			full, err := s.FindMessage(ctx, id, m.ID)
			add("message "+m.ID, full, err)
		}
		atts, err := s.ListAttempts(ctx, id, 100)
		add("attempts of "+id, atts, err)
		tpls, err := s.ListTemplates(ctx, id)
		add("templates of "+id, tpls, err)
		ref := wagate.AccountRef{WorkspaceID: id, Phone: f.phone}
		sends, first, err := s.SendHistory(ctx, ref, time.Time{})
		add("sends of "+id, sends, err)
		out["first send of "+id] = first
		// The queue far in the future: everything due, in order.
		next, due, err := s.Next(ctx, ref, time.Now().Add(1000*time.Hour), 100)
		var order []string
		for _, m := range next {
			order = append(order, m.ID)
		}
		add("queue of "+id, order, err)
		out["queue due of "+id] = due
	}
	wa, err := s.FindAccount(ctx, wagate.AccountRef{WorkspaceID: f.ws, Phone: f.waPhone})
	add("account "+f.waPhone, wa, err)
	at, err := s.FindAccountTemplates(ctx, wagate.AccountRef{WorkspaceID: f.ws, Phone: f.phone})
	add("account templates", at, err)
	for i, h := range f.tokens {
		tok, err := s.FindToken(ctx, h)
		add(fmt.Sprintf("token %d", i), tok, err)
	}
	sess, err := s.FindSession(ctx, f.session, f.sessionAt)
	add("session", sess, err)
	last, ok, err := s.LastCustomerMessage(ctx, f.chatKey)
	add("chat window", fmt.Sprint(last.UTC(), ok), err)
	for _, ref := range f.endpoints {
		e, err := s.FindEndpoint(ctx, ref)
		add("endpoint "+ref.ID, e, err)
		ds, _, err := s.ListDeliveries(ctx, ref, 100, "")
		add("deliveries of "+ref.ID, ds, err)
	}
	// The events the pending deliveries carry, as the deliverer gets them
	// (last: it leases them).
	defer func() {
		due, _, err := s.NextDeliveries(ctx, f.endpoints[0], time.Now().Add(1000*time.Hour), 100)
		var events []*wagate.Event
		for _, d := range due {
			events = append(events, d.Event)
		}
		add("events due", events, err)
		if len(events) == 0 {
			t.Errorf("no event is due at %s", f.endpoints[0].ID)
		}
	}()
	eps, err := s.ListEndpoints(ctx, f.ws)
	add("endpoints", eps, err)
	pending, err := s.PendingEndpoints(ctx)
	add("pending endpoints", pending, err)
	depth, err := s.QueuedTotal(ctx)
	add("queued total", depth, err)
	problems, err := s.Audit(ctx)
	if err != nil || len(problems) > 0 {
		t.Fatalf("Audit: %v %q", err, problems)
	}
	return out
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// show is v as JSON with every time in UTC: the backends give the same
// instants in different locations.
func show(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	b, err = json.Marshal(inUTC(tree))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func inUTC(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["Settings"]; ok && s == nil {
			x["Settings"] = map[string]any{} // bbolt reads no settings as nil
		}
		for k, e := range x {
			x[k] = inUTC(e)
		}
	case []any:
		for i, e := range x {
			x[i] = inUTC(e)
		}
	case string:
		if tm, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return tm.UTC().Format(time.RFC3339Nano)
		}
	}
	return v
}
