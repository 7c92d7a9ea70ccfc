package console

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

func TestSessionStore(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	st := newSessions(time.Hour)
	id, err := st.create(rand.Reader, t0, session{workspace: "ws_1", role: wagate.RoleSupport})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := st.get(id, t0.Add(time.Hour-time.Nanosecond))
	if !ok || s.workspace != "ws_1" || s.role != wagate.RoleSupport || len(s.csrf) != 43 || !s.expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("get = %+v, %v", s, ok)
	}
	for k := range st.m {
		if string(k[:]) == id {
			t.Error("the store is keyed by the raw session id; want its hash")
		}
	}
	if _, ok := st.get(id, t0.Add(time.Hour)); ok {
		t.Error("a session is still valid at its expiry")
	}
	if st.len() != 0 {
		t.Errorf("an expired session read is kept: %d stored", st.len())
	}
	if _, ok := st.get("", t0); ok {
		t.Error("the empty id found a session")
	}

	// Expired sessions are swept on the next sign-in.
	for i := 0; i < 3; i++ {
		if _, err := st.create(rand.Reader, t0, session{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.create(rand.Reader, t0.Add(2*time.Hour), session{}); err != nil {
		t.Fatal(err)
	}
	if st.len() != 1 {
		t.Errorf("%d sessions after a sign-in past the others' expiry, want 1", st.len())
	}
}

func TestSessionStoreIsBounded(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	st := newSessions(time.Hour)
	st.max = 5
	first, err := st.create(rand.Reader, t0, session{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < st.max; i++ {
		if _, err := st.create(rand.Reader, t0.Add(time.Duration(i)), session{}); err != nil {
			t.Fatal(err)
		}
	}
	last, err := st.create(rand.Reader, t0.Add(time.Minute), session{})
	if err != nil {
		t.Fatal(err)
	}
	if st.len() != st.max {
		t.Errorf("%d sessions stored, want the bound %d", st.len(), st.max)
	}
	if _, ok := st.get(first, t0.Add(time.Minute)); ok {
		t.Error("the session closest to expiry was kept past the bound")
	}
	if _, ok := st.get(last, t0.Add(time.Minute)); !ok {
		t.Error("the newest session was dropped")
	}
}
