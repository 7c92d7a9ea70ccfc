package store

import (
	"testing"

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
