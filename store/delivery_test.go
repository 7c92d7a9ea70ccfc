package store

import (
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/cloudapi"
)

// sendWith accepts a 1-credit message and marks it sent with providerID.
func (f *fixture) sendWith(providerID string) string {
	f.t.Helper()
	id := f.send("hello " + providerID)
	mustNoErr(f.t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
	mustNoErr(f.t, f.db.MarkSent(f.ctx, id, wagate.Try{At: f.clock.Now(), ProviderID: providerID}))
	return id
}

func TestApplyDelivery(t *testing.T) {
	f := newFixture(t, 10)
	read := f.sendWith("wamid.read")
	late := f.sendWith("wamid.late")

	apply := func(providerID, status string) (*wagate.Message, bool) {
		t.Helper()
		m, applied, err := f.db.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: providerID, Status: status, At: f.clock.Now(), Error: "131026: undeliverable"}, cloudapi.Advance)
		mustNoErr(t, err)
		return m, applied
	}

	// Forward only; duplicates and late arrivals change nothing.
	for _, step := range []struct {
		status  string
		applied bool
		want    string
	}{
		{"delivered", true, "delivered"},
		{"delivered", false, "delivered"},
		{"sent", false, "delivered"},
		{"read", true, "read"},
		{"failed", false, "read"}, // the person has it: no refund
	} {
		m, applied := apply("wamid.read", step.status)
		if applied != step.applied || m.Delivery != step.want || m.Status != wagate.StatusSent || m.ID != read {
			t.Fatalf("after %q: applied %v, delivery %q, status %q; want applied %v, delivery %q, sent", step.status, applied, m.Delivery, m.Status, step.applied, step.want)
		}
	}
	if got := f.balance(); got != 8 {
		t.Fatalf("balance = %d, want 8", got)
	}

	// A failure after "sent" fails the message and refunds it, once.
	apply("wamid.late", "sent")
	for i := 0; i < 3; i++ {
		m, applied := apply("wamid.late", "failed")
		if m.ID != late || m.Status != wagate.StatusFailed || m.Error != "131026: undeliverable" || applied != (i == 0) {
			t.Fatalf("failed report %d: %+v applied %v", i, m, applied)
		}
	}
	if m, applied := apply("wamid.late", "delivered"); applied || m.Status != wagate.StatusFailed {
		t.Fatalf("a report after the failure moved the message: %+v", m)
	}
	if got := f.balance(); got != 9 {
		t.Fatalf("balance = %d, want 9: the late failure refunds 1 credit once", got)
	}
	msg := f.message(late)
	if last := msg.Tries[len(msg.Tries)-1]; last.Result != wagate.TryResultFailed || last.Class != wagate.TryClassPermanent {
		t.Errorf("last try = %+v, want a permanent failure", last)
	}

	_, _, err := f.db.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.unknown", Status: "read"}, cloudapi.Advance)
	wantCode(t, err, wagate.ENOTFOUND)

	// The index survives a reopen.
	mustNoErr(t, f.db.Close())
	f.db = openTest(t, f.path, f.clock)
	if m, _ := apply("wamid.read", "read"); m.ID != read {
		t.Fatalf("after reopen the provider id finds %s, want %s", m.ID, read)
	}
	checkConsistent(t, f.db)
}

// TestApplyDeliveryFrom: a report that names its sender (SPEC §8: Cloud API
// statuses are matched by phone_number_id and wamid) applies only to a
// message whose account has that setting; a known provider id reported
// from another number, or with no number, changes nothing.
func TestApplyDeliveryFrom(t *testing.T) {
	f := newFixture(t, 10)
	a := &wagate.Account{WorkspaceID: f.ws.ID, Phone: testPhone2, Transport: wagate.TransportCloudAPI, Active: true,
		Settings: map[string]string{"phone_number_id": "1065", "access_token": "t"}}
	mustNoErr(t, f.db.CreateAccount(f.ctx, a))
	f.phone = testPhone2
	id := f.sendWith("wamid.pair")

	for _, from := range []wagate.DeliverySender{
		{Setting: "phone_number_id", Value: "9999"},
		{Setting: "phone_number_id", Value: ""},
		{Setting: "waba_id", Value: "1065"},
	} {
		_, applied, err := f.db.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.pair", Status: "failed", From: from}, cloudapi.Advance)
		wantCode(t, err, wagate.ENOTFOUND)
		if m := f.message(id); applied || m.Status != wagate.StatusSent || m.Delivery != "" {
			t.Fatalf("report from %+v changed the message: status %q, delivery %q", from, m.Status, m.Delivery)
		}
	}
	if got := f.balance(); got != 9 {
		t.Fatalf("balance = %d, want 9: a report from another number refunds nothing", got)
	}
	m, applied, err := f.db.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.pair", Status: "read",
		From: wagate.DeliverySender{Setting: "phone_number_id", Value: "1065"}}, cloudapi.Advance)
	if mustNoErr(t, err); !applied || m.Delivery != "read" {
		t.Fatalf("report from the sending number: applied %v, delivery %q; want read", applied, m.Delivery)
	}

	// Once the account is gone its sender cannot be confirmed.
	mustNoErr(t, f.db.DeleteAccount(f.ctx, wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: testPhone2}, wagate.SourceSystem, f.clock.Now()))
	_, _, err = f.db.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.pair", Status: "failed",
		From: wagate.DeliverySender{Setting: "phone_number_id", Value: "1065"}}, cloudapi.Advance)
	wantCode(t, err, wagate.ENOTFOUND)
}
