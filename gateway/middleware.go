package gateway

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/wagate/wagate"
)

// Keys of values handlers leave in the echo context for the middleware.
const (
	ctxRequestID = "wagate.request_id"
	ctxWorkspace = "wagate.workspace" // the workspace id a request was about
	ctxToken     = "wagate.token"     // the admin *wagate.Token
)

// maxRequestIDLen bounds a client-chosen X-Request-ID; longer or odd ones are
// replaced, since the id ends up in logs and in the attempt log.
const maxRequestIDLen = 64

// requestIDMiddleware gives every request an id: the client's X-Request-ID
// when it is short and plain, else a random one. It is answered in the
// X-Request-ID header, logged, and stored in attempts.
func (s *Server) requestIDMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !plainRequestID(id) {
			var b [12]byte
			if _, err := s.rand.Read(b[:]); err != nil {
				// Ids are for correlation, not security: a clock-based id is
				// better than failing the request.
				id = strconv.FormatInt(s.now().UnixNano(), 36)
			} else {
				id = hex.EncodeToString(b[:])
			}
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func plainRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_', b == '.', b == ':':
		default:
			return false
		}
	}
	return true
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// routeOf returns the path template of the request's route, never the raw
// path: on the inbound URL the raw path is the secret token.
func routeOf(c echo.Context, routes map[string]bool) string {
	if p := c.Path(); routes[p] {
		return p
	}
	return "unmatched"
}

// logMiddleware writes one log line per request and counts it. It runs the
// error handler itself (as echo's own request logger does) so that the
// status it logs is the one the client got.
func (s *Server) logMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		route := routeOf(c, s.routes)
		elapsed := time.Since(start)
		s.metrics.observe(route, status, elapsed)
		ce := s.log.Check(zapcore.InfoLevel, "request")
		if ce == nil {
			return nil // info is off: build no fields
		}
		fields := make([]zap.Field, 0, 7) // room for the workspace too
		fields = append(fields,
			zap.String("method", c.Request().Method),
			zap.String("route", route),
			zap.Int("status", status),
			zap.Duration("duration", elapsed),
			zap.String("request_id", requestID(c)),
			zap.String("remote_addr", c.RealIP()),
		)
		if ws, ok := c.Get(ctxWorkspace).(string); ok && ws != "" {
			fields = append(fields, zap.String("workspace", ws))
		}
		ce.Write(fields...)
		return nil
	}
}

// recoverMiddleware turns a panic into a 500, logged with its stack, so one
// bad request does not take the process down.
func (s *Server) recoverMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r) // net/http's way to abort a response: let it through
			}
			s.log.Error("panic in handler",
				zap.String("route", routeOf(c, s.routes)),
				zap.String("request_id", requestID(c)),
				zap.String("panic", fmt.Sprint(r)),
				zap.ByteString("stack", debug.Stack()),
			)
			err = wagate.Errorf(wagate.EINTERNAL, "internal error (request id %s)", requestID(c))
		}()
		return next(c)
	}
}

// drainWrites answers admin writes with 503 once Drain was called; reads
// keep working until the HTTP server stops.
func (s *Server) drainWrites(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.draining.Load() {
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
			default:
				return errShuttingDown()
			}
		}
		return next(c)
	}
}

func errShuttingDown() error {
	return wagate.Errorf(wagate.EUNAVAILABLE, "wagate is shutting down and accepts nothing now; try again in a moment")
}
