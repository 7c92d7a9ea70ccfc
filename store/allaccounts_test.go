package store

import (
	"slices"
	"testing"

	"github.com/wagate/wagate"
)

// TestAllAccounts lists the accounts of every workspace, paused ones too,
// each with its own workspace, and not a deleted one.
func TestAllAccounts(t *testing.T) {
	f := newFixture(t, 10)
	first := f.ws
	second := f.createWorkspace(10)
	f.createAccount(second.ID, testPhone, false)
	f.createAccount(second.ID, testPhone2, true)
	if err := f.db.DeleteAccount(f.ctx, wagate.AccountRef{WorkspaceID: second.ID, Phone: testPhone2}, wagate.SourceSystem, f.clock.Now()); err != nil {
		t.Fatal(err)
	}

	list, err := f.db.AllAccounts(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range list {
		got = append(got, a.WorkspaceID+" "+a.Phone+" "+map[bool]string{true: "active", false: "paused"}[a.Active])
	}
	want := []string{first.ID + " " + testPhone + " active", second.ID + " " + testPhone + " paused"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("AllAccounts = %q, want %q", got, want)
	}
	checkBolt(t, f.db)
}
