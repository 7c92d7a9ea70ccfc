package postgres

import (
	"context"
	"strings"
	"testing"
)

// Audit's checks of the events outbox and the account leases
// (audit_replicas.go): each case corrupts rows of a consistent world
// directly and expects the problem named, or, for what is normal (a
// replica that stopped mid-send), a note and no problem.

// auditReplicaWorld is a database with a workspace, its account, an
// endpoint subscribed to every event, one accepted message (so pending
// deliveries), and the account's lease held by this store: the state of a
// serving replica. It returns the store and the database's URL.
func auditReplicaWorld(t *testing.T) (*DB, string, *outboxWorld) {
	t.Helper()
	w := newOutboxWorld(t)
	db := w.open(Options{Replica: "r1"})
	w.setUp(db, 10)
	if _, err := w.accept(db, "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Lease(w.ctx); err != nil {
		t.Fatal(err)
	}
	return db, w.url, w
}

// auditedNotes runs AuditDatabaseNotes on url.
func auditedNotes(t *testing.T, url string) (problems, notes []string) {
	t.Helper()
	problems, notes, err := AuditDatabaseNotes(context.Background(), url)
	if err != nil {
		t.Fatalf("AuditDatabaseNotes: %v", err)
	}
	return problems, notes
}

func TestAuditOutboxAndLeases(t *testing.T) {
	// The lease rows are written with the world's clock (2025), the
	// audit compares with the database's: each case sets the times it
	// needs with now().
	live := `UPDATE account_leases SET expires_at = now() + interval '1 hour'`
	tests := []struct {
		name    string
		corrupt []string
		want    []string // parts of one problem; none: no problem
		every   string   // in every problem (default want[0]): nothing else is reported
		note    []string // parts of one note
	}{
		{name: "a serving replica's database is consistent", corrupt: []string{live}},
		{
			name:    "an enabled endpoint lost a subscription",
			corrupt: []string{live, `DELETE FROM endpoint_subs WHERE event = 'message.queued'`},
			want:    []string{"endpoint ep_replicas subscribes to message.queued", "does not say so"},
		},
		{
			name:    "a disabled endpoint keeps its subscriptions",
			corrupt: []string{live, `UPDATE endpoints SET enabled = false`},
			want:    []string{"endpoint ep_replicas is disabled", "still lists"},
		},
		{
			name:    "a subscription with another filter",
			corrupt: []string{live, `UPDATE endpoint_subs SET account_phone = '+19995550000' WHERE event = 'message.sent'`},
			want:    []string{"endpoint ep_replicas's subscription index lists message.sent with another filter"},
			every:   "message.sent",
		},
		{
			name:    "a pending delivery without its event",
			corrupt: []string{live, `UPDATE deliveries SET event = NULL WHERE status = 'pending'`},
			want:    []string{"pending delivery", "has no event, so it can never be delivered"},
		},
		{
			name:    "a delivery whose event is another",
			corrupt: []string{live, `UPDATE deliveries SET event_type = 'message.sent'`},
			want:    []string{"holds event", `of type "message.queued", but its row says`, `"message.sent"`},
		},
		{
			name:    "a delivery leased with no expiry",
			corrupt: []string{live, `UPDATE deliveries SET lease_owner = 'r9'`},
			want:    []string{"leased by replica r9 with no expiry", "no other replica would ever make it"},
		},
		{
			name:    "a delivery lease expiry without an owner",
			corrupt: []string{live, `UPDATE deliveries SET lease_expires = now()`},
			want:    []string{"has a lease expiry but no lease owner"},
		},
		{
			name: "a finished delivery still leased",
			corrupt: []string{live, `UPDATE deliveries SET status = 'succeeded', next_at = NULL, attempt = 1,
				lease_owner = 'r9', lease_expires = now() + interval '1 minute'`},
			want: []string{"is succeeded but still leased by replica r9"},
		},
		{
			name: "an endpoint history that was not trimmed",
			corrupt: []string{live, `INSERT INTO deliveries (workspace_id, endpoint_id, id, event_id, event_type, attempt, status, at)
				SELECT workspace_id, endpoint_id, 'dl_extra_' || n, '', '', 1, 'succeeded', now() FROM deliveries, generate_series(1, 200) AS n
				WHERE status = 'pending' LIMIT 200`},
			want: []string{"finished deliveries beside", "more than its history of", "not trimmed"},
		},
		{
			name:    "an account lease held at epoch 0",
			corrupt: []string{live, `UPDATE account_leases SET epoch = 0`},
			want:    []string{"held by replica r1 at epoch 0", "cannot tell its holders apart"},
		},
		{
			name:    "an account lease held with no expiry",
			corrupt: []string{`UPDATE account_leases SET expires_at = NULL`},
			want:    []string{"held by replica r1 with no expiry", "no other ever takes the account over"},
		},
		{
			name:    "an account's pace far in the future",
			corrupt: []string{live, `UPDATE account_leases SET last_send_at = now() + interval '3 hours'`},
			want:    []string{"last send is recorded at", "ahead of the database's clock", "sends nothing until then"},
		},
		{
			name:    "a free lease row of a deleted account is normal",
			corrupt: []string{live, `INSERT INTO account_leases (workspace_id, phone, epoch) SELECT id, '+19995550001', 4 FROM workspaces`},
		},
		{
			name:    "a message in sending under a live lease is normal: its replica is sending it",
			corrupt: []string{live, `UPDATE messages SET status = 'sending', queue_pos = queue_pos`},
		},
		{
			name:    "a message in sending whose replica stopped is a note, not damage",
			corrupt: []string{`UPDATE account_leases SET expires_at = now() - interval '1 minute'`, `UPDATE messages SET status = 'sending'`},
			note:    []string{"is in sending with no live lease", "replica r1 stopped mid-send", "to be recovered at takeover"},
		},
		{
			name:    "a message in sending with no lease row at all is a note",
			corrupt: []string{`DELETE FROM account_leases`, `UPDATE messages SET status = 'sending'`},
			note:    []string{"is in sending with no live lease", "its replica stopped mid-send", "to be recovered at takeover"},
		},
		{
			name:    "a delivery whose replica's lease expired is a note",
			corrupt: []string{live, `UPDATE deliveries SET lease_owner = 'r9', lease_expires = now() - interval '1 minute' WHERE event_type = 'message.queued'`},
			note:    []string{"1 pending deliveries are leased by replicas whose lease has expired"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, url, w := auditReplicaWorld(t)
			for _, q := range tt.corrupt {
				if _, err := db.pool.Exec(w.ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			problems, notes := auditedNotes(t, url)
			if tt.want == nil && len(problems) > 0 {
				t.Errorf("problems %q, want none", problems)
			}
			if tt.want != nil {
				wantProblem(t, problems, tt.want...)
				every := tt.every
				if every == "" {
					every = tt.want[0]
				}
				for _, p := range problems {
					if !strings.Contains(p, every) {
						t.Errorf("problem %q, want only problems naming %q", p, every)
					}
				}
			}
			if tt.note == nil && len(notes) > 0 {
				t.Errorf("notes %q, want none", notes)
			}
			if tt.note != nil {
				found := false
				for _, n := range notes {
					ok := true
					for _, part := range tt.note {
						ok = ok && strings.Contains(n, part)
					}
					found = found || ok
				}
				if !found {
					t.Errorf("notes %q, want one naming %q", notes, tt.note)
				}
			}
			// DB.Audit runs the same checks, without the notes.
			if got, err := db.Audit(w.ctx); err != nil || len(got) != len(problems) {
				t.Errorf("DB.Audit = %q, %v; want the problems of AuditDatabase", got, err)
			}
		})
	}
}
