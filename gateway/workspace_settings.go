package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// PATCH /api/v1/workspaces/:ws (owner): the workspace's own settings. Today
// that is the credits.low threshold of the outbound event webhooks (SPEC
// §9), so that an integrator can be told before the balance runs out.
func (s *Server) patchWorkspace(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	var in api.PatchWorkspace
	if err := bindJSON(c, &in, "low_credits"); err != nil {
		return err
	}
	if in.LowCredits == nil {
		return wagate.Errorf(wagate.EINVALID, `nothing to change: send "low_credits", the balance below which a credits.low event is written (0 switches it off)`)
	}
	if *in.LowCredits < 0 || *in.LowCredits > maxCreditsAmount {
		return wagate.Errorf(wagate.EINVALID, `field "low_credits" must be between 0 (off) and %d, not %d`, int64(maxCreditsAmount), *in.LowCredits)
	}
	ctx := c.Request().Context()
	if _, err := s.svc.Workspaces.SetLowCredits(ctx, id, *in.LowCredits); err != nil {
		return err
	}
	s.log.Info("workspace low_credits set", zap.String("workspace", id), zap.Int64("low_credits", *in.LowCredits))
	ws, err := s.findWorkspace(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.renderWorkspace(ws, token(c).Role))
}
