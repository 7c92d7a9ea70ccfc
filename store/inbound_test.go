package store

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// TestAcceptRechecksTheInboundURL covers a request that read the workspace
// before its URL was regenerated or disabled and commits after: the change
// wins, at once.
func TestAcceptRechecksTheInboundURL(t *testing.T) {
	f := newFixture(t, 10)
	oldToken := f.ws.Webhook.Token

	a := f.request("before", 1)
	a.InboundToken = oldToken
	f.accept(a)

	_, err := f.db.RegenerateWebhook(f.ctx, f.ws.ID, "new-token-0123456789012345678901234567890", f.clock.Now())
	mustNoErr(t, err)
	stale := f.request("after regenerate", 1)
	stale.InboundToken = oldToken
	_, err = f.db.Accept(f.ctx, stale)
	wantCode(t, err, wagate.ENOTFOUND)
	if wagate.ErrorMessage(err) != "Webhook not found" {
		t.Errorf("message = %q, want SPEC's %q", wagate.ErrorMessage(err), "Webhook not found")
	}
	atts, err := f.db.ListAttempts(f.ctx, f.ws.ID, 10)
	mustNoErr(t, err)
	if len(atts) != 1 {
		t.Fatalf("%d attempts; a dead token must leave none beside the first request's", len(atts))
	}

	_, err = f.db.SetWebhookEnabled(f.ctx, f.ws.ID, false)
	mustNoErr(t, err)
	off := f.request("after disable", 1)
	off.InboundToken = "new-token-0123456789012345678901234567890"
	_, err = f.db.Accept(f.ctx, off)
	wantCode(t, err, wagate.EDISABLED)
	atts, err = f.db.ListAttempts(f.ctx, f.ws.ID, 1)
	mustNoErr(t, err)
	if len(atts) != 1 || atts[0].Code != wagate.EDISABLED {
		t.Fatalf("attempt of the disabled call = %+v", atts)
	}
	if got := f.balance(); got != 9 {
		t.Errorf("balance = %d, want 9: only the first request is charged", got)
	}
	checkConsistent(t, f.db)
}

// TestReplayRecordsTheAttempt: a known key commits its attempt with the
// first message and no credits; another body commits an EIDEMPOTENCY
// attempt; a new key writes nothing.
func TestReplayRecordsTheAttempt(t *testing.T) {
	f := newFixture(t, 10)
	a := f.request("once", 1)
	a.IdempotencyKey = "order-1"
	first := f.accept(a).Message

	hash := sha256.Sum256([]byte("once"))
	att := &wagate.Attempt{At: f.clock.Now(), RequestID: "replay-1", Body: "once"}
	m, err := f.db.Replay(f.ctx, f.ws.ID, "order-1", hash, att)
	mustNoErr(t, err)
	if m == nil || m.ID != first.ID || att.MessageID != first.ID {
		t.Fatalf("Replay = %+v (attempt message %q), want the first message %s", m, att.MessageID, first.ID)
	}
	atts, err := f.db.ListAttempts(f.ctx, f.ws.ID, 1)
	mustNoErr(t, err)
	if len(atts) != 1 || atts[0].RequestID != "replay-1" || atts[0].MessageID != first.ID || atts[0].Credits != 0 || atts[0].Code != "" {
		t.Fatalf("replay attempt = %+v", atts)
	}

	_, err = f.db.Replay(f.ctx, f.ws.ID, "order-1", sha256.Sum256([]byte("other")), &wagate.Attempt{RequestID: "reuse"})
	wantCode(t, err, wagate.EIDEMPOTENCY)
	atts, err = f.db.ListAttempts(f.ctx, f.ws.ID, 1)
	mustNoErr(t, err)
	if len(atts) != 1 || atts[0].RequestID != "reuse" || atts[0].Code != wagate.EIDEMPOTENCY {
		t.Fatalf("reuse attempt = %+v", atts)
	}

	before, err := f.db.ListAttempts(f.ctx, f.ws.ID, 100)
	mustNoErr(t, err)
	m, err = f.db.Replay(f.ctx, f.ws.ID, "order-2", hash, &wagate.Attempt{RequestID: "new"})
	if m != nil || err != nil {
		t.Fatalf("Replay of a new key = %v, %v; want nil, nil", m, err)
	}
	f.clock.Advance(IdempotencyWindow + time.Minute)
	if m, err := f.db.Replay(f.ctx, f.ws.ID, "order-1", hash, &wagate.Attempt{RequestID: "late"}); m != nil || err != nil {
		t.Fatalf("Replay after 24 h = %v, %v; want a new key", m, err)
	}
	after, err := f.db.ListAttempts(f.ctx, f.ws.ID, 100)
	mustNoErr(t, err)
	if len(after) != len(before) {
		t.Errorf("new keys wrote %d attempts; Accept records them", len(after)-len(before))
	}
	checkConsistent(t, f.db)
}

// TestOperatorTokenRotation: storing a new operator token revokes the old.
func TestOperatorTokenRotation(t *testing.T) {
	f := newFixture(t, 1)
	oldHash, newHash := wagate.HashToken("old-operator"), wagate.HashToken("new-operator")
	mustNoErr(t, f.db.CreateToken(f.ctx, &wagate.Token{Hash: oldHash, Role: wagate.RoleOperator}))
	mustNoErr(t, f.db.CreateToken(f.ctx, &wagate.Token{Hash: oldHash, Role: wagate.RoleOperator})) // every start
	if _, err := f.db.FindToken(f.ctx, oldHash); err != nil {
		t.Fatalf("operator token lost by re-registering it: %v", err)
	}
	mustNoErr(t, f.db.CreateToken(f.ctx, &wagate.Token{Hash: newHash, Role: wagate.RoleOperator}))
	_, err := f.db.FindToken(f.ctx, oldHash)
	wantCode(t, err, wagate.ENOTFOUND)
	if tok, err := f.db.FindToken(f.ctx, newHash); err != nil || tok.Role != wagate.RoleOperator {
		t.Fatalf("new operator token = %+v, %v", tok, err)
	}
	if tok, err := f.db.FindToken(f.ctx, wagate.HashToken(f.owner)); err != nil || tok.Role != wagate.RoleOwner {
		t.Fatalf("owner token touched by the rotation: %+v, %v", tok, err)
	}
}
