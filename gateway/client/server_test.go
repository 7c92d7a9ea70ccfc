package client_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/store"
)

// server is a whole admin API (the real gateway on a real store in a
// temporary folder) behind an httptest server, and its operator token. No
// sender runs: messages stay queued.
type server struct {
	url      string
	operator string
}

func newServer(t *testing.T) *server {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "wagate.db"), store.Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	op, err := wagate.NewToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(context.Background(), &wagate.Token{Hash: wagate.HashToken(op), Role: wagate.RoleOperator, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	// The public URL must be known before the gateway is built: the
	// handler is set once the listener has its address.
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	gw := gateway.New(gateway.Config{PublicURL: ts.URL, Logger: zaptest.NewLogger(t)}, gateway.Services{
		Workspaces: db, Accounts: db, Chats: db, Messages: db, Attempts: db, Tokens: db,
	})
	h = gw.Handler()
	return &server{url: ts.URL, operator: op}
}
