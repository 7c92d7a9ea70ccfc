package main

import (
	"testing"
	"time"
)

// TestSlowClientsCannotPinConnections checks the HTTP server of a started
// wagate has every timeout that keeps a slow client (Slowloris: headers a
// byte at a time, a body that never ends, an idle keep-alive) from holding
// a connection forever. net/http enforces them; what can regress is that
// wagate sets them, and to bounds that let a 64 KiB body in on a slow link.
func TestSlowClientsCannotPinConnections(t *testing.T) {
	in := start(t, testConfig(t.TempDir(), time.Second, 0))
	srv := in.app.http
	for _, tt := range []struct {
		name     string
		got, max time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, 30 * time.Second},
		{"ReadTimeout", srv.ReadTimeout, time.Minute},
		{"WriteTimeout", srv.WriteTimeout, 2 * time.Minute},
		{"IdleTimeout", srv.IdleTimeout, 5 * time.Minute},
	} {
		if tt.got <= 0 || tt.got > tt.max {
			t.Errorf("http.Server.%s = %s; want a bound in (0, %s]", tt.name, tt.got, tt.max)
		}
	}
	if srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d; want net/http's 1 MiB or less", srv.MaxHeaderBytes)
	}
}
