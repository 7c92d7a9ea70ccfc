package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// TestSendHistory: MarkSent records each send; sends older than 24 h are
// pruned; the first send ever stays.
func TestSendHistory(t *testing.T) {
	f := newFixture(t, 100)
	start := f.clock.Now()
	for i := range 3 {
		id := f.send(fmt.Sprint(i))
		mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
		mustNoErr(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: f.clock.Now()}))
		f.clock.Advance(10 * time.Hour)
	}
	// Sends at 0 h, 10 h, 20 h; now is 30 h: the first is pruned on the next send.
	sends, first, err := f.db.SendHistory(f.ctx, f.ref(), f.clock.Now().Add(-24*time.Hour))
	mustNoErr(t, err)
	if len(sends) != 2 || !first.Equal(start) {
		t.Fatalf("history = %v, first %s; want the 10 h and 20 h sends, first at %s", sends, first, start)
	}
	id := f.send("x")
	mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
	mustNoErr(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: f.clock.Now()}))
	n := 0
	mustNoErr(t, f.db.bolt.View(func(tx *bolt.Tx) error {
		n = bucket(tx, bucketSends).Bucket(join(f.ws.ID, f.phone)).Stats().KeyN
		return nil
	}))
	if n != 3 {
		t.Fatalf("%d sends kept, want 3: the one older than 24 h is pruned", n)
	}
	sends, first, err = f.db.SendHistory(f.ctx, f.ref(), time.Time{})
	mustNoErr(t, err)
	if len(sends) != 3 || !first.Equal(start) {
		t.Fatalf("history = %v, first %s", sends, first)
	}
}

// BenchmarkNextScheduled: Next on an account with 100,000 messages
// scheduled for later and one due costs what it costs without them (the
// due front of the index only), and so does QueuedAccounts, the other
// half of a restart.
func BenchmarkNextScheduled(b *testing.B) {
	for _, scheduled := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("scheduled=%d", scheduled), func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "wagate.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			now := time.Now().UTC()
			ref := wagate.AccountRef{WorkspaceID: "ws_bench", Phone: testPhone}
			err = db.bolt.Update(func(tx *bolt.Tx) error {
				for i := range scheduled + 1 {
					m := &messageRecord{ID: fmt.Sprintf("wa_backend:%020X", i), WorkspaceID: ref.WorkspaceID, Status: wagate.StatusQueued,
						AccountPhone: ref.Phone, JID: testJID, Text: "x", Credits: 1, CreatedAt: now}
					if i > 0 {
						m.SendAt = now.Add(time.Hour + time.Duration(i)*time.Second)
					}
					if err := place(tx, m); err != nil {
						return err
					}
					if err := putMessage(tx, m, db.change(wagate.SourceSystem, now)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.QueuedAccounts(ctx); err != nil {
					b.Fatal(err)
				}
				msgs, _, err := db.Next(ctx, ref, now, 4)
				if err != nil || len(msgs) != 1 {
					b.Fatalf("Next = %d messages, %v", len(msgs), err)
				}
			}
		})
	}
}
