package store

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// TestSetAccountLink: the link state moves the record to binary format 3
// only once set, and survives a reopen beside the rules in it (the rest of
// the link's promises are the contract's: storetest.RunLinks).
func TestSetAccountLink(t *testing.T) {
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
		t.Fatalf("account without link stored in format %d, want 1", got)
	}
	rules := wagate.SendRules{DailyLimit: 50}
	if _, err := f.db.UpdateAccount(f.ctx, ref, func(a *wagate.Account) error { a.Rules = rules; return nil }); err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	l := wagate.AccountLink{State: "banned", Since: since, Error: "WhatsApp banned the account for a while", Until: since.Add(time.Hour)}
	mustNoErr(t, f.db.SetAccountLink(f.ctx, ref, l))
	if got := rawFormat(); got != binaryFormat3 {
		t.Fatalf("account with link stored in format %d, want 3", got)
	}
	mustNoErr(t, f.db.Close())
	f.db = openTest(t, f.path, f.clock)
	a, err := f.db.Account(f.ctx, ref)
	if err != nil || !a.Link.Since.Equal(l.Since) || !a.Link.Until.Equal(l.Until) || a.Link.State != l.State || a.Link.Error != l.Error ||
		a.Rules != rules || !a.Active {
		t.Fatalf("after reopen: %+v, %v; want link %+v and rules %+v", a, err, l, rules)
	}
	checkBolt(t, f.db)
}

// TestApplyDeliveryAccountPhone: a report that names its sender by
// DeliverySenderAccountPhone matches the message of that account only.
func TestApplyDeliveryAccountPhone(t *testing.T) {
	f := newFixture(t, 10)
	ref := f.ref()
	id := f.sendWith("wa-1")
	advance := func(cur, next string) bool { return cur != next }
	other := wagate.DeliveryUpdate{ProviderID: "wa-1", Status: "delivered", From: wagate.DeliverySender{Setting: wagate.DeliverySenderAccountPhone, Value: "+12025550143"}}
	if _, _, err := f.db.ApplyDelivery(f.ctx, other, advance); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Fatalf("report from another phone = %v, want ENOTFOUND", err)
	}
	own := other
	own.From.Value = ref.Phone
	got, applied, err := f.db.ApplyDelivery(f.ctx, own, advance)
	if err != nil || !applied || got.ID != id || got.Delivery != "delivered" {
		t.Fatalf("report from the account = %+v, %v, %v", got, applied, err)
	}
}
