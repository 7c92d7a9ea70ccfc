package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate/gateway/openapi"
)

// openAPIDocument is read once: the document is fixed at build time.
var openAPIDocument = openapi.Document()

// GET /api/v1/openapi.json (anyone): the description of this whole API. It
// needs no token, as it holds no secret and tools fetch it unauthenticated.
func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
