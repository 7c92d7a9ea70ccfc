package wagate

import (
	"errors"
	"testing"
	"time"
)

func TestLinkExpired(t *testing.T) {
	before := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	long, late := before.Add(-time.Hour), before.Add(time.Hour)
	tests := []struct {
		name      string
		transport string
		link      AccountLink
		want      bool
	}{
		{"unlinked for too long", TransportWhatsApp, AccountLink{State: LinkUnlinked, Since: long}, true},
		{"logged out for too long", TransportWhatsApp, AccountLink{State: LinkLoggedOut, Since: long}, true},
		{"unlinked lately", TransportWhatsApp, AccountLink{State: LinkUnlinked, Since: late}, false},
		{"unlinked since exactly the cut", TransportWhatsApp, AccountLink{State: LinkUnlinked, Since: before}, false},
		{"never had a link state", TransportWhatsApp, AccountLink{}, false},
		{"a link state without a time", TransportWhatsApp, AccountLink{State: LinkUnlinked}, false},
		{"linked", TransportWhatsApp, AccountLink{State: "connected", Since: long}, false},
		{"another transport", "cloudapi", AccountLink{State: LinkUnlinked, Since: long}, false},
	}
	for _, tt := range tests {
		if got := LinkExpired(tt.transport, tt.link, before); got != tt.want {
			t.Errorf("%s: LinkExpired = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFailUnlinked: the sweep asks only the expired accounts, in order,
// sums their counts, and stops at the first error with the count so far.
func TestFailUnlinked(t *testing.T) {
	before := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	expired := AccountLink{State: LinkUnlinked, Since: before.Add(-time.Hour)}
	accts := []*Account{
		{WorkspaceID: "ws", Phone: "1", Transport: TransportWhatsApp, Link: expired},
		{WorkspaceID: "ws", Phone: "2", Transport: TransportWhatsApp},
		{WorkspaceID: "ws", Phone: "3", Transport: TransportWhatsApp, Link: expired},
		{WorkspaceID: "ws", Phone: "4", Transport: TransportWhatsApp, Link: expired},
	}
	var asked []string
	boom := errors.New("boom")
	n, err := FailUnlinked(accts, before, func(ref AccountRef) (int, error) {
		asked = append(asked, ref.Phone)
		if ref.Phone == "3" {
			return 1, boom
		}
		return 2, nil
	})
	if !errors.Is(err, boom) || n != 3 {
		t.Errorf("FailUnlinked = %d, %v; want 3, boom", n, err)
	}
	if want := []string{"1", "3"}; len(asked) != len(want) || asked[0] != want[0] || asked[1] != want[1] {
		t.Errorf("asked %v, want %v", asked, want)
	}
}
