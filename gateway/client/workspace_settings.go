package client

import (
	"context"
	"net/http"

	"github.com/wagate/wagate/gateway/api"
)

// SetLowCredits sets the credits.low threshold of ws (owner token; 0 is
// off) and returns the workspace after.
func (c *Client) SetLowCredits(ctx context.Context, ws string, threshold int64) (*api.Workspace, error) {
	var out api.Workspace
	err := c.call(ctx, http.MethodPatch, wsPath(ws), &api.PatchWorkspace{LowCredits: &threshold}, &out)
	return ptr(&out, err)
}
