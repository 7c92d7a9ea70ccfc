package wagate

// Access is what a caller wants to do with one workspace.
type Access int

// The kinds of access (SPEC §4).
const (
	AccessRead  Access = iota // read: operator, owner, support
	AccessWrite               // change: operator, owner
)

// Authorize is the one rule of who may do what with a workspace, shared by
// the admin API and the web console so the two can never disagree. role
// and tokenWorkspace describe the caller's token (tokenWorkspace is "" for
// the operator); workspaceID is the workspace the request names.
//   - The operator may do everything on every workspace, including what
//     SPEC marks "owner": it can always mint itself an owner token, so
//     refusing would only add a step.
//   - An owner may read and change its own workspace.
//   - Support staff may only read their own workspace.
//
// A token of another workspace is refused whether or not workspaceID
// exists, so a token cannot probe for workspace ids. The errors are
// EFORBIDDEN and say what would be allowed.
func Authorize(role Role, tokenWorkspace, workspaceID string, want Access) error {
	switch {
	case role == RoleOperator:
		return nil
	case role != RoleOwner && role != RoleSupport:
		return Errorf(EFORBIDDEN, "this token's role %q is not allowed here", role)
	case tokenWorkspace != workspaceID:
		return Errorf(EFORBIDDEN, "this token belongs to another workspace; use a token of this workspace")
	case want == AccessWrite && role != RoleOwner:
		return Errorf(EFORBIDDEN, "a %s token can only read; this needs an owner token (ask an owner of the workspace)", role)
	}
	return nil
}
