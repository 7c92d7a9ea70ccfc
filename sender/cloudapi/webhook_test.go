package cloudapi

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

const appSecret = "0123456789abcdef0123456789abcdef"

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifySignature(t *testing.T) {
	body := readTestdata(t, "status_delivered.json")
	good := graphfake.Sign(appSecret, body)
	upper := "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256="))
	tampered := append(append([]byte{}, body...), ' ')
	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   bool
	}{
		{"good", appSecret, body, good, true},
		{"good, upper-case hex", appSecret, body, upper, true},
		{"body changed by a byte", appSecret, tampered, good, false},
		{"other secret", "another-secret", body, good, false},
		{"missing header", appSecret, body, "", false},
		{"no prefix", appSecret, body, strings.TrimPrefix(good, "sha256="), false},
		{"sha1 header", appSecret, body, "sha1=" + strings.TrimPrefix(good, "sha256=")[:40], false},
		{"not hex", appSecret, body, "sha256=" + strings.Repeat("zz", 32), false},
		{"truncated", appSecret, body, good[:len(good)-2], false},
		{"too long", appSecret, body, good + "00", false},
		{"empty secret verifies nothing", "", body, graphfake.Sign("", body), false},
	}
	for _, tt := range tests {
		if got := VerifySignature(tt.secret, tt.body, tt.header); got != tt.want {
			t.Errorf("%s: VerifySignature = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestVerifyChallenge(t *testing.T) {
	const want = "meatyhamhock-verify"
	tests := []struct {
		name, mode, token, challenge, wantToken string
		echo                                    string
		ok                                      bool
	}{
		{"handshake", "subscribe", want, "1158201444", want, "1158201444", true},
		{"wrong token", "subscribe", "guess", "1158201444", want, "", false},
		{"token prefix", "subscribe", want[:5], "1158201444", want, "", false},
		{"wrong mode", "unsubscribe", want, "1158201444", want, "", false},
		{"no mode", "", want, "1158201444", want, "", false},
		{"nothing configured", "subscribe", "", "1158201444", "", "", false},
		{"empty challenge", "subscribe", want, "", want, "", false},
		{"script in challenge", "subscribe", want, "<script>alert(1)</script>", want, "", false},
		{"huge challenge", "subscribe", want, strings.Repeat("1", 129), want, "", false},
	}
	for _, tt := range tests {
		echo, ok := VerifyChallenge(tt.mode, tt.token, tt.challenge, tt.wantToken)
		if echo != tt.echo || ok != tt.ok {
			t.Errorf("%s: VerifyChallenge = %q, %v; want %q, %v", tt.name, echo, ok, tt.echo, tt.ok)
		}
	}
}

const wamid1 = "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"

func TestParseStatusWebhook(t *testing.T) {
	tests := []struct {
		file string
		want []StatusUpdate
	}{
		{"status_sent.json", []StatusUpdate{{ProviderID: wamid1, Status: StatusSent, At: time.Unix(1750263773, 0).UTC(), RecipientID: "14155552671", PhoneNumberID: "106540352242922"}}},
		{"status_delivered.json", []StatusUpdate{{ProviderID: wamid1, Status: StatusDelivered, At: time.Unix(1750263775, 0).UTC(), RecipientID: "14155552671", PhoneNumberID: "106540352242922"}}},
		{"status_read.json", []StatusUpdate{{ProviderID: wamid1, Status: StatusRead, At: time.Unix(1750263890, 0).UTC(), RecipientID: "14155552671", PhoneNumberID: "106540352242922"}}},
		{"status_failed.json", []StatusUpdate{{
			ProviderID: "wamid.HBgLMTQxNTU1NTI2NzIVAgARGBJCNkY5NTBENEU3ODYxQTM3RUQA", Status: StatusFailed,
			At: time.Unix(1750264012, 0).UTC(), RecipientID: "14155552672",
			ErrorCode: 131026, ErrorTitle: "Message undeliverable", ErrorDetails: "Message Undeliverable.",
			PhoneNumberID: "106540352242922",
		}}},
		// Inbound messages, account-level errors, other fields and unknown
		// statuses are left out; duplicates and out-of-order updates are
		// kept in order, for Advance to judge.
		{"mixed_batch.json", []StatusUpdate{
			{ProviderID: wamid1, Status: StatusRead, At: time.Unix(1750263890, 0).UTC(), RecipientID: "14155552671", PhoneNumberID: "106540352242922"},
			{ProviderID: wamid1, Status: StatusDelivered, At: time.Unix(1750263775, 0).UTC(), RecipientID: "14155552671", PhoneNumberID: "106540352242922"},
			{ProviderID: wamid1, Status: StatusDelivered, At: time.Unix(1750263775, 0).UTC(), RecipientID: "14155552671", PhoneNumberID: "106540352242922"},
			{ProviderID: "wamid.HBgLMTQxNTU1NTI2NzMVAgARGBJBMTIzNDU2Nzg5MEFCQ0RFRgA=", Status: StatusSent, At: time.Unix(1750263801, 0).UTC(), RecipientID: "14155552673", PhoneNumberID: "106540352242923"},
		}},
		{"inbound_only.json", nil},
	}
	for _, tt := range tests {
		got, err := ParseStatusWebhook(readTestdata(t, tt.file))
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.file, got, tt.want)
		}
	}
}

func TestParseStatusWebhookOddInput(t *testing.T) {
	for _, body := range []string{``, `[]`, `{"object":"page","entry":[]}`, `not json`} {
		if _, err := ParseStatusWebhook([]byte(body)); err == nil {
			t.Errorf("ParseStatusWebhook(%q): no error", body)
		}
	}
	// A numeric timestamp (older payloads) and an entry without an id.
	got, err := ParseStatusWebhook([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
		"metadata":{"phone_number_id":"1"},
		"statuses":[{"id":"wamid.A","status":"delivered","timestamp":1750263775,"recipient_id":"1"},
		            {"status":"read","timestamp":"1750263776","recipient_id":"1"},
		            {"id":"wamid.B","status":"sent","timestamp":"soon","recipient_id":"1"}]}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].At.Equal(time.Unix(1750263775, 0)) || got[1].ProviderID != "wamid.B" || !got[1].At.IsZero() {
		t.Errorf("got %+v", got)
	}
}

// TestFakeWebhookParses: the fake's webhook builder, which end-to-end tests
// use, produces what the parser reads.
func TestFakeWebhookParses(t *testing.T) {
	when := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	body := graphfake.StatusWebhook("42", graphfake.Status{ID: "wamid.X", Status: "failed", At: when, RecipientID: "14155552671", ErrorCode: 131047, ErrorTitle: "Re-engagement message", ErrorDetails: "over 24 h"})
	got, err := ParseStatusWebhook(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []StatusUpdate{{ProviderID: "wamid.X", Status: "failed", At: when, RecipientID: "14155552671", ErrorCode: 131047, ErrorTitle: "Re-engagement message", ErrorDetails: "over 24 h", PhoneNumberID: "42"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	if !VerifySignature(appSecret, body, graphfake.Sign(appSecret, body)) {
		t.Error("the fake's signature does not verify")
	}
}

func TestAdvance(t *testing.T) {
	tests := []struct {
		current, next string
		want          bool
	}{
		{"", StatusSent, true},
		{"", StatusDelivered, true}, // "sent" lost or late
		{"", StatusRead, true},
		{"", StatusFailed, true},
		{StatusSent, StatusSent, false}, // duplicate
		{StatusSent, StatusDelivered, true},
		{StatusSent, StatusRead, true},
		{StatusSent, StatusFailed, true}, // late failure: refund
		{StatusDelivered, StatusSent, false},
		{StatusDelivered, StatusDelivered, false},
		{StatusDelivered, StatusRead, true},
		{StatusDelivered, StatusFailed, false}, // the person has it
		{StatusRead, StatusDelivered, false},
		{StatusRead, StatusFailed, false},
		{StatusFailed, StatusSent, false},
		{StatusFailed, StatusDelivered, false}, // never undo a refund
		{StatusFailed, StatusFailed, false},
		{"", "deleted", false},
		{StatusSent, "", false},
		{"weird", StatusRead, false},
	}
	for _, tt := range tests {
		if got := Advance(tt.current, tt.next); got != tt.want {
			t.Errorf("Advance(%q, %q) = %v, want %v", tt.current, tt.next, got, tt.want)
		}
	}
}

// TestAdvanceSequences applies updates as the gateway will, in the order
// they arrive, and checks where each message ends.
func TestAdvanceSequences(t *testing.T) {
	tests := []struct {
		arrivals []string
		final    string
		applied  int
	}{
		{[]string{"sent", "delivered", "read"}, "read", 3},
		{[]string{"read", "delivered", "sent"}, "read", 1}, // reversed
		{[]string{"sent", "sent", "delivered", "delivered"}, "delivered", 2},
		{[]string{"sent", "failed", "delivered"}, "failed", 2},
		{[]string{"delivered", "failed", "read"}, "read", 2},
		{[]string{"failed", "sent"}, "failed", 1},
	}
	for _, tt := range tests {
		cur, applied := "", 0
		for _, next := range tt.arrivals {
			if Advance(cur, next) {
				cur = next
				applied++
			}
		}
		if cur != tt.final || applied != tt.applied {
			t.Errorf("%v: ended %q after %d updates, want %q after %d", tt.arrivals, cur, applied, tt.final, tt.applied)
		}
	}
}

// A NUL (U+0000) in a webhook is kept out of the store, which PostgreSQL's
// text and jsonb could not hold: a status whose id or number has one is
// skipped as odd (it cannot be one of wagate's), and Meta's error texts
// keep the rest with U+FFFD in its place; a customer message of a number
// with one is skipped too. The rest of the batch is read as usual.
func TestParseWebhookNUL(t *testing.T) {
	got, err := ParseWebhook([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[
		{"field":"messages","value":{"metadata":{"phone_number_id":"1"},
		"statuses":[{"id":"wamid.\u0000A","status":"delivered","timestamp":"1750263775","recipient_id":"1"},
		            {"id":"wamid.B","status":"failed","timestamp":"1750263776","recipient_id":"1",
		             "errors":[{"code":131026,"title":"Message\u0000undeliverable","error_data":{"details":"x\u0000"}}]}],
		"messages":[{"from":"14155552671","timestamp":"1750263777"}]}},
		{"field":"messages","value":{"metadata":{"phone_number_id":"2\u0000"},
		"statuses":[{"id":"wamid.C","status":"sent","timestamp":"1750263778","recipient_id":"1"}],
		"messages":[{"from":"14155552672","timestamp":"1750263779"}]}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Statuses) != 1 || got.Statuses[0].ProviderID != "wamid.B" ||
		got.Statuses[0].ErrorTitle != "Message\uFFFDundeliverable" || got.Statuses[0].ErrorDetails != "x\uFFFD" {
		t.Errorf("statuses = %+v, want only wamid.B with U+FFFD for the NULs of its error", got.Statuses)
	}
	if len(got.Customers) != 1 || got.Customers[0].From != "14155552671" {
		t.Errorf("customers = %+v, want only the one of number 1", got.Customers)
	}
}
