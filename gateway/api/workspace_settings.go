package api

// PatchWorkspace is the body of PATCH /api/v1/workspaces/{ws}: the
// workspace's settings an owner may change. A field left out is kept.
type PatchWorkspace struct {
	// LowCredits is the credits.low threshold (SPEC §9): a charge that
	// takes the balance below it writes a credits.low event; 0 is off.
	LowCredits *int64 `json:"low_credits"`
}
