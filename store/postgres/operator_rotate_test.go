package postgres

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres/pgtest"
)

func TestRotateOperatorToken(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	old, _ := wagate.NewToken(rand.Reader)
	if _, err := r.a.CreateOperatorTokenOnce(ctx, &wagate.Token{Hash: wagate.HashToken(old), Role: wagate.RoleOperator}); err != nil {
		t.Fatal(err)
	}
	owner, _ := wagate.NewToken(rand.Reader)
	if err := r.a.CreateToken(ctx, &wagate.Token{Hash: wagate.HashToken(owner), Role: wagate.RoleOwner, WorkspaceID: "ws"}); err != nil {
		t.Fatal(err)
	}
	var opKey, ownerKey [32]byte
	opKey[0], ownerKey[0] = 1, 2
	for key, hash := range map[[32]byte][32]byte{opKey: wagate.HashToken(old), ownerKey: wagate.HashToken(owner)} {
		if err := r.a.CreateSession(ctx, key, &wagate.Session{TokenHash: hash, CSRF: "c", ExpiresAt: r.clock.Now().Add(testTTL)}); err != nil {
			t.Fatal(err)
		}
	}

	fresh, _ := wagate.NewToken(rand.Reader)
	replaced, err := RotateOperatorToken(ctx, r.url, &wagate.Token{Hash: wagate.HashToken(fresh), Role: wagate.RoleOperator}, r.clock.Now())
	if err != nil || !replaced {
		t.Fatalf("RotateOperatorToken: replaced %v, %v; want true", replaced, err)
	}
	// Both replicas see it at once: neither caches admin tokens.
	for _, db := range []*DB{r.a, r.b} {
		if _, err := db.FindToken(ctx, wagate.HashToken(old)); wagate.ErrorCode(err) != wagate.ENOTFOUND {
			t.Errorf("%s: the old operator token: %v, want ENOTFOUND", db.Replica(), err)
		}
		if tok, err := db.FindToken(ctx, wagate.HashToken(fresh)); err != nil || tok.Role != wagate.RoleOperator {
			t.Errorf("%s: the new operator token: %v, %v", db.Replica(), tok, err)
		}
		if _, err := db.FindToken(ctx, wagate.HashToken(owner)); err != nil {
			t.Errorf("%s: a workspace token after the rotation: %v", db.Replica(), err)
		}
		if _, err := db.FindSession(ctx, opKey, r.clock.Now()); wagate.ErrorCode(err) != wagate.ENOTFOUND {
			t.Errorf("%s: the old operator's console session: %v, want ENOTFOUND (ended)", db.Replica(), err)
		}
		if _, err := db.FindSession(ctx, ownerKey, r.clock.Now()); err != nil {
			t.Errorf("%s: an owner's console session after the rotation: %v", db.Replica(), err)
		}
	}
	// A start keeps the rotated token.
	again, _ := wagate.NewToken(rand.Reader)
	if created, err := r.b.CreateOperatorTokenOnce(ctx, &wagate.Token{Hash: wagate.HashToken(again), Role: wagate.RoleOperator}); created || err != nil {
		t.Errorf("a start after the rotation: created %v, %v; want false", created, err)
	}
	if _, err := RotateOperatorToken(ctx, r.url, &wagate.Token{Hash: wagate.HashToken(again), Role: wagate.RoleOwner, WorkspaceID: "ws"}, r.clock.Now()); wagate.ErrorCode(err) != wagate.EINVALID {
		t.Errorf("an owner token: %v, want EINVALID", err)
	}
}

func TestRotateOperatorTokenNeedsTheSchema(t *testing.T) {
	empty := pgtest.Database(t)
	tok, _ := wagate.NewToken(rand.Reader)
	_, err := RotateOperatorToken(context.Background(), empty, &wagate.Token{Hash: wagate.HashToken(tok), Role: wagate.RoleOperator}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "start wagate serve --database-url on it first") {
		t.Errorf("RotateOperatorToken on an empty database: %v, want the fix named", err)
	}
}
