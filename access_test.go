package wagate_test

import (
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

func TestAuthorize(t *testing.T) {
	tests := []struct {
		role     wagate.Role
		tokenWS  string
		ws       string
		want     wagate.Access
		allowed  bool
		contains string
	}{
		{wagate.RoleOperator, "", "ws_a", wagate.AccessWrite, true, ""},
		{wagate.RoleOperator, "", "ws_a", wagate.AccessRead, true, ""},
		{wagate.RoleOwner, "ws_a", "ws_a", wagate.AccessWrite, true, ""},
		{wagate.RoleOwner, "ws_a", "ws_a", wagate.AccessRead, true, ""},
		{wagate.RoleSupport, "ws_a", "ws_a", wagate.AccessRead, true, ""},
		{wagate.RoleSupport, "ws_a", "ws_a", wagate.AccessWrite, false, "a support token can only read"},
		{wagate.RoleOwner, "ws_a", "ws_b", wagate.AccessRead, false, "another workspace"},
		{wagate.RoleSupport, "ws_a", "ws_b", wagate.AccessRead, false, "another workspace"},
		{wagate.Role("guest"), "ws_a", "ws_a", wagate.AccessRead, false, `role "guest"`},
	}
	for _, tt := range tests {
		err := wagate.Authorize(tt.role, tt.tokenWS, tt.ws, tt.want)
		if tt.allowed {
			if err != nil {
				t.Errorf("Authorize(%s of %s on %s, %d) = %v, want allowed", tt.role, tt.tokenWS, tt.ws, tt.want, err)
			}
			continue
		}
		if wagate.ErrorCode(err) != wagate.EFORBIDDEN || !strings.Contains(wagate.ErrorMessage(err), tt.contains) {
			t.Errorf("Authorize(%s of %s on %s, %d) = %v, want EFORBIDDEN with %q", tt.role, tt.tokenWS, tt.ws, tt.want, err, tt.contains)
		}
	}
}
