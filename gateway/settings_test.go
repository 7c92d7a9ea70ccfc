package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

// TestDryrunTakesNoSettings: an account's settings are checked per
// transport (SPEC §4), and dryrun knows none: any setting is a 400 that
// names it, instead of up to 60 KB stored for nothing.
func TestDryrunTakesNoSettings(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme", 10)
	path := "/api/v1/workspaces/" + ws.ID + "/accounts"
	big := strings.Repeat("x", 60<<10)
	for _, tc := range []struct{ body, want string }{
		{`{"phone":"+14155550100","settings":{"access_token":"t"}}`, `the dryrun transport takes no settings; remove "access_token"`},
		{`{"phone":"+14155550100","transport":"dryrun","settings":{"b":"1","a":"2"}}`, `remove "a", "b"`},
		{fmt.Sprintf(`{"phone":"+14155550100","settings":{"blob":%q}}`, big[:60000]), `remove "blob"`},
	} {
		rec := e.do(http.MethodPost, path, ws.Owner, tc.body)
		b := wantError(t, rec, http.StatusBadRequest, wagate.EINVALID, `field "settings"`, tc.want)
		if strings.Contains(b.Message, "xxxx") {
			t.Errorf("the error echoes a setting's value: %.80s", b.Message)
		}
	}
	// Empty settings are no settings.
	mustStatus(t, e.do(http.MethodPost, path, ws.Owner, `{"phone":"+14155550100","settings":{}}`), http.StatusCreated)
}
