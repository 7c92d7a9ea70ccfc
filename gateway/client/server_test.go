package client_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/store"
)

// server is a whole admin API (the real gateway on a real store) behind an
// httptest server, and its operator token. No sender runs: messages stay
// queued.
type server struct {
	url      string
	operator string
	close    func() error
}

// startServer starts a server on a store in dir.
func startServer(dir string, log *zap.Logger) (*server, error) {
	db, err := store.Open(filepath.Join(dir, "wagate.db"), store.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	op, err := wagate.NewToken(rand.Reader)
	if err == nil {
		err = db.CreateToken(context.Background(), &wagate.Token{Hash: wagate.HashToken(op), Role: wagate.RoleOperator, CreatedAt: time.Now().UTC()})
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	// The public URL must be known before the gateway is built: the
	// handler is set once the listener has its address.
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	gw := gateway.New(gateway.Config{PublicURL: ts.URL, Logger: log}, gateway.Services{
		Workspaces: db, Accounts: db, Chats: db, Messages: db, Attempts: db, Tokens: db,
		Templates: db, Windows: db,
	})
	h = gw.Handler()
	return &server{url: ts.URL, operator: op, close: func() error { ts.Close(); return db.Close() }}, nil
}

func newServer(t *testing.T) *server {
	t.Helper()
	srv, err := startServer(t.TempDir(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return srv
}
