package store

import (
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// TestUpdateAccountRules: the rules survive a reopen; an account without
// rules keeps binary format 1, so an older wagate still reads it; an edit
// that fails writes nothing.
func TestUpdateAccountRules(t *testing.T) {
	f := newFixture(t, 10)
	ref := f.ref()
	rawFormat := func() byte {
		var b byte
		mustNoErr(t, f.db.bolt.View(func(tx *bolt.Tx) error {
			b = bucket(tx, bucketAccounts).Get(join(ref.WorkspaceID, ref.Phone))[0]
			return nil
		}))
		return b
	}
	if got := rawFormat(); got != binaryFormat1 {
		t.Fatalf("account without rules stored in format %d, want 1", got)
	}
	rules := wagate.SendRules{DailyLimit: 200, Warmup: wagate.Warmup{Start: 20, Growth: 1.3},
		QuietHours: wagate.QuietHours{Set: true, From: 21 * 60, To: 8 * 60}, TimeZone: "Europe/Berlin",
		SendInterval: 5 * time.Second, SendJitter: time.Second}
	a, err := f.db.UpdateAccount(f.ctx, ref, func(a *wagate.Account) error {
		a.Rules = rules
		a.Phone = "+10000000000" // not an editable field: ignored
		return nil
	})
	if err != nil || a.Rules != rules || a.Phone != ref.Phone {
		t.Fatalf("UpdateAccount = %+v, %v", a, err)
	}
	if got := rawFormat(); got != binaryFormat2 {
		t.Fatalf("account with rules stored in format %d, want 2", got)
	}
	refused := errors.New("refused")
	if _, err := f.db.UpdateAccount(f.ctx, ref, func(a *wagate.Account) error {
		a.Rules = wagate.SendRules{}
		return refused
	}); !errors.Is(err, refused) {
		t.Fatalf("UpdateAccount with a failing edit = %v, want its error", err)
	}
	mustNoErr(t, f.db.Close())
	f.db = openTest(t, f.path, f.clock)
	got, err := f.db.Account(f.ctx, ref)
	if err != nil || got.Rules != rules || !got.Active {
		t.Fatalf("after reopen: %+v, %v; want rules %+v", got, err, rules)
	}
	_, err = f.db.UpdateAccount(f.ctx, wagate.AccountRef{WorkspaceID: ref.WorkspaceID, Phone: "+12025550143"}, func(*wagate.Account) error { return nil })
	wantCode(t, err, wagate.ENOTFOUND)
	checkBolt(t, f.db)
}

// TestRulesChangeReleasesHolds: when the owner changes the rules, the
// messages the old rules held are free at once (the sender asks the new
// rules); a retry's due time is not a hold and stays.
func TestRulesChangeReleasesHolds(t *testing.T) {
	f := newFixture(t, 10)
	now := f.clock.Now()
	held := f.send("held")
	retried := f.request("retried", 1)
	retried.Message.JID = testJID2
	rid := f.accept(retried).Message.ID
	mustNoErr(t, f.db.Hold(f.ctx, held, wagate.WaitingQuietHours, now.Add(8*time.Hour)))
	mustNoErr(t, f.db.Retry(f.ctx, rid, wagate.Try{At: now}, now.Add(time.Minute)))
	// Changing only Active keeps the hold.
	_, err := f.db.UpdateAccount(f.ctx, f.ref(), func(a *wagate.Account) error { a.Active = true; return nil })
	mustNoErr(t, err)
	if m := f.message(held); m.WaitingReason != wagate.WaitingQuietHours {
		t.Fatalf("hold after an update without a rule change: %q", m.WaitingReason)
	}
	_, err = f.db.UpdateAccount(f.ctx, f.ref(), func(a *wagate.Account) error { a.Rules.DailyLimit = 50; return nil })
	mustNoErr(t, err)
	if m := f.message(held); m.WaitingReason != "" || !m.NextTryAt.IsZero() {
		t.Fatalf("held message after the rules changed: reason %q, next_try_at %s; want free", m.WaitingReason, m.NextTryAt)
	}
	if m := f.message(rid); !m.NextTryAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("retry due %s after the rules changed, want it kept", m.NextTryAt)
	}
	if counts, _ := f.db.WaitingCounts(f.ctx); counts[wagate.WaitingQuietHours] != 0 {
		t.Fatalf("WaitingCounts = %v", counts)
	}
	checkConsistent(t, f.db)
}
