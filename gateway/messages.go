package gateway

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate"
)

// DELETE /api/v1/workspaces/:ws/messages/:id (owner): cancels a queued
// message (one waiting for a retry too); SPEC §2. The store fails and
// refunds it in one commit; 200 with the message as it is now. 409 when it
// is being sent or final (the message says which), 404 for an id not of
// this workspace.
func (s *Server) cancelMessage(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	mid, err := url.PathUnescape(c.Param("id"))
	if err != nil {
		mid = c.Param("id")
	}
	m, err := s.CancelMessage(c.Request().Context(), id, mid, wagate.SourceAPI)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderMessage(m))
}

// Pages of the lists that grow (SPEC §4).
const (
	defaultChatList = 100
	maxChatList     = 1000
)
