package gateway

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// codeMethodNotAllowed is the machine code of a 405. It is not a domain
// code: only the router produces it.
const codeMethodNotAllowed = "method_not_allowed"

// statuses is the ONLY table from wagate error codes to HTTP statuses. The
// error handler, the attempt log's http_status and the metrics all read it.
var statuses = map[string]int{
	wagate.EINVALID:      http.StatusBadRequest,
	wagate.EUNAUTHORIZED: http.StatusUnauthorized,
	wagate.ECREDITS:      http.StatusPaymentRequired,
	wagate.EDISABLED:     http.StatusForbidden,
	wagate.EFORBIDDEN:    http.StatusForbidden,
	wagate.ENOTFOUND:     http.StatusNotFound,
	codeMethodNotAllowed: http.StatusMethodNotAllowed,
	wagate.ECONFLICT:     http.StatusConflict,
	wagate.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	wagate.EMEDIATYPE:    http.StatusUnsupportedMediaType,
	wagate.EIDEMPOTENCY:  http.StatusUnprocessableEntity,
	wagate.ERATELIMIT:    http.StatusTooManyRequests,
	wagate.EINTERNAL:     http.StatusInternalServerError,
	wagate.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// StatusFor returns the HTTP status of a wagate error code: 200 for "" (an
// accepted request), 500 for a code the table does not know.
func StatusFor(code string) int {
	if code == "" {
		return http.StatusOK
	}
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// codeForStatus is the reverse of the table, for the errors echo itself
// produces (no route, wrong method): they carry only a status. Two codes
// share 403; a router 403 is the generic EFORBIDDEN.
func codeForStatus(status int) string {
	if status == http.StatusForbidden {
		return wagate.EFORBIDDEN
	}
	for code, s := range statuses {
		if s == status {
			return code
		}
	}
	if status >= 500 {
		return wagate.EINTERNAL
	}
	return wagate.EINVALID
}

// classify turns any error a handler returns into (status, code, message).
// errors.As is used so that a wrapped *wagate.Error keeps its code.
func classify(err error) (status int, code, message string) {
	var we *wagate.Error
	if errors.As(err, &we) {
		return StatusFor(we.Code), we.Code, we.Message
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code := codeForStatus(he.Code)
		// echo's own messages are generic; ours never echo the raw path,
		// which on the inbound URL holds the secret token.
		switch he.Code {
		case http.StatusNotFound:
			message = "no such endpoint; the inbound URL is POST /inbound/{token} and the admin API lives under /api/v1"
		case http.StatusMethodNotAllowed:
			message = "method not allowed on this endpoint"
		default:
			message = http.StatusText(he.Code)
			if message == "" {
				message = "error"
			}
		}
		return StatusFor(code), code, message
	}
	return http.StatusInternalServerError, wagate.EINTERNAL, wagate.ErrorMessage(err)
}

// handleError is echo's HTTPErrorHandler: the one place where an error
// becomes an answer.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, message := classify(err)
	level := zapcore.DebugLevel
	if status >= 500 {
		level = zapcore.ErrorLevel
	}
	if ce := s.log.Check(level, "request failed"); ce != nil {
		// The raw error may carry storage details; it goes to the log, never
		// to the client. Errors never hold tokens: handlers build them so.
		ce.Write(
			zap.String("route", routeOf(c, s.routes)),
			zap.String("request_id", requestID(c)),
			zap.Int("status", status),
			zap.String("error_code", code),
			zap.String("error", err.Error()),
		)
	}
	var werr error
	if c.Request().Method == http.MethodHead {
		werr = c.NoContent(status)
	} else {
		werr = c.JSON(status, &api.ErrorEnvelope{Status: status, Message: message, Error: code})
	}
	if werr != nil {
		s.log.Debug("writing error answer", zap.Error(werr))
	}
}

// wrapped answers as err (a domain error: its code and message reach the
// client) but keeps cause in the chain, for the log and for errors.Is.
type wrapped struct {
	err   *wagate.Error
	cause error
}

func (w *wrapped) Error() string   { return w.err.Error() + ": " + w.cause.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.err, w.cause} }
