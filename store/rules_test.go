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
