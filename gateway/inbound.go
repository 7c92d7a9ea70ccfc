package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// maxIdempotencyKey is SPEC §1's limit on the Idempotency-Key header.
const maxIdempotencyKey = 255

// Headers of the inbound URL.
const (
	headerIdempotencyKey = "Idempotency-Key"
	headerReplayed       = "Idempotent-Replayed"
)

// tokenLen is the length of a 32-byte token in base64url without padding.
const tokenLen = 43

// acceptedBody is the 200 answer of the inbound URL (SPEC §1).
type acceptedBody struct {
	Status string `json:"status"`
	Data   struct {
		MessageID string `json:"message_id"`
	} `json:"data"`
	// Warnings name what was ignored, such as an unknown field (SPEC §1).
	Warnings []string `json:"warnings,omitempty"`
}

// inbound serves POST /inbound/:token. The order of the checks: token,
// shutdown, rate, enabled, content encoding and type, size (decoded),
// idempotency replay (by canonical JSON), JSON (keys twice), fields,
// recipient, then Accept (idempotency again, credits). Every call
// of a known token leaves an attempt record: Accept writes it in its own
// commit, every other answer writes it here.
func (s *Server) inbound(c echo.Context) error {
	req := c.Request()
	ws, err := s.findInbound(req.Context(), c.Param("token"))
	if wagate.ErrorCode(err) == wagate.ENOTFOUND {
		err = s.unknownToken(c, err) // 404, or 429 for an address that guesses
	}
	if err != nil {
		s.metrics.rejected.WithLabelValues(wagate.ErrorCode(err)).Inc()
		return err
	}
	c.Set(ctxWorkspace, ws.ID)

	att := &wagate.Attempt{
		At:          s.now().UTC(),
		RequestID:   requestID(c),
		RemoteAddr:  c.RealIP(),
		ContentType: cut(req.Header.Get(echo.HeaderContentType), 200),
	}
	res, committed, err := s.accept(c, ws, att)
	if err != nil {
		s.metrics.rejected.WithLabelValues(wagate.ErrorCode(err)).Inc()
		if !committed {
			s.recordAttempt(req.Context(), ws.ID, att, err)
		}
		return err
	}

	if res.Replayed {
		c.Response().Header().Set(headerReplayed, "true")
	} else {
		s.metrics.accepted.Inc()
		// After the commit returned: the sender must find the message.
		if s.svc.Waker != nil {
			s.svc.Waker.Wake(res.Message.Account())
		}
	}
	if c.Request().URL.RawQuery != "" && c.QueryParams().Has("pretty") {
		// echo's c.JSON indents for ?pretty; keep that for a human reader.
		return c.JSON(http.StatusOK, newAcceptedBody(res.Message.ID, att.Warnings))
	}
	return c.JSONBlob(http.StatusOK, acceptedJSON(res.Message.ID, att.Warnings))
}

func newAcceptedBody(id string, warnings []string) *acceptedBody {
	b := &acceptedBody{Status: "success", Warnings: warnings}
	b.Data.MessageID = id
	return b
}

// acceptedJSON is the 200 body of SPEC §1, the bytes c.JSON would write
// for acceptedBody, put together without reflection: every accept answers
// it. An id with a byte JSON would escape (never one of ours), or warnings
// (a request with unknown fields), go through encoding/json instead.
func acceptedJSON(id string, warnings []string) []byte {
	escape := len(warnings) > 0
	for i := 0; i < len(id) && !escape; i++ {
		b := id[i]
		escape = b < 0x20 || b >= 0x7f || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&'
	}
	if escape {
		out, _ := json.Marshal(newAcceptedBody(id, warnings)) // strings and a struct: cannot fail
		return append(out, '\n')
	}
	const head, tail = `{"status":"success","data":{"message_id":"`, "\"}}\n"
	out := make([]byte, 0, len(head)+len(id)+len(tail))
	return append(append(append(out, head...), id...), tail...)
}

// findInbound looks the token up. Every failure to find it is the exact
// 404 of SPEC §1, whatever the store said (its message is not for clients).
func (s *Server) findInbound(ctx context.Context, token string) (*wagate.Workspace, error) {
	if !plainToken(token) {
		// Not a token we could have issued: no need to ask the store.
		return nil, wagate.ErrWebhookNotFound()
	}
	ws, err := s.svc.Workspaces.FindWorkspaceByInboundToken(ctx, token)
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return nil, wagate.ErrWebhookNotFound()
		}
		return nil, err
	}
	return ws, nil
}

// plainToken reports whether t has the shape of our tokens. It looks at the
// length and alphabet only, which say nothing about any real token.
func plainToken(t string) bool {
	if len(t) != tokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		b := t[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// accept runs the checks of a known token's request and commits it.
// committed reports whether Accept ran and so recorded the attempt itself
// (or could not, because storage failed).
func (s *Server) accept(c echo.Context, ws *wagate.Workspace, att *wagate.Attempt) (res *wagate.AcceptResult, committed bool, err error) {
	req := c.Request()
	if s.draining.Load() {
		return nil, false, errShuttingDown()
	}
	if ok, retry := s.limits.allow(ws.ID, s.now()); !ok {
		c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(retry))
		return nil, false, wagate.Errorf(wagate.ERATELIMIT, "too many requests for this inbound URL (limit %g per second, bursts of %d); retry after %d s", s.cfg.InboundRate, s.cfg.InboundBurst, retry)
	}
	if !ws.Webhook.Enabled {
		return nil, false, wagate.ErrWebhookDisabled()
	}
	gzipped, err := inboundGzipped(req.Header)
	if err == nil {
		err = checkInboundContentType(req.Header.Get(echo.HeaderContentType))
	}
	if err != nil {
		// Keep the start of what was sent: it is what support needs to see
		// to tell the sender how to fix it.
		head, _ := io.ReadAll(io.LimitReader(req.Body, wagate.AttemptBodyLimit))
		att.Body = attemptBody(head) // the store keeps the first AttemptBodyLimit bytes
		return nil, false, err
	}
	body, err := readInbound(req, InboundBodyLimit, gzipped)
	att.Body = attemptBody(body)
	if err != nil {
		return nil, false, err
	}

	key := req.Header.Get(headerIdempotencyKey)
	if n := utf8.RuneCountInString(key); n > maxIdempotencyKey {
		return nil, false, wagate.Errorf(wagate.EINVALID, "Idempotency-Key header has %d characters; the limit is %d, so use a shorter key (a UUID is 36)", n, maxIdempotencyKey)
	}

	var bodyHash [32]byte
	if key != "" {
		// A retry of an accepted request gets its first answer, whatever
		// changed since (an account switched off, a chat name now shared):
		// so look the key up before validating anything. The same JSON
		// value is the same body, whatever its key order and spacing.
		bodyHash = idempotencyHash(body)
		// The first answer's warnings too: the same value has the same
		// unknown fields.
		att.Warnings = replayWarnings(body)
		first, err := s.svc.Messages.Replay(context.WithoutCancel(req.Context()), ws.ID, key, bodyHash, att)
		if err != nil {
			// A reused key's attempt is committed by Replay; a storage
			// fault is a 503 with no attempt to write.
			return nil, true, err
		}
		if first != nil {
			return &wagate.AcceptResult{Message: first, Replayed: true}, true, nil
		}
	}

	r, err := decodeSend(body)
	att.Warnings = r.warnings()
	if err != nil {
		return nil, false, r.withHint(err)
	}
	a, err := s.resolve(req.Context(), ws, r)
	if err != nil {
		return nil, false, r.withHint(err)
	}
	a.IdempotencyKey = key
	a.InboundToken = c.Param("token")
	a.Source = wagate.SourceInbound
	a.BodyHash = bodyHash
	a.Attempt = att

	// The client hanging up must not cut a commit short or lose the
	// attempt record: the write runs to its end.
	res, err = s.svc.Messages.Accept(context.WithoutCancel(req.Context()), a)
	if err != nil {
		// The chat was resolved above and chats are never deleted, so an
		// ENOTFOUND here means the workspace itself is gone: the 404 of an
		// unknown webhook is then the right answer, and passes through.
		return nil, true, r.withHint(err)
	}
	return res, true, nil
}

// readLimited reads at most limit bytes of the body; a longer body is a 413
// without reading the rest. With the 413 come the first bytes of the body
// (at most AttemptBodyLimit) for the attempt record.
//
// A body of announced length is read into one buffer of exactly that size
// (net/http ends such a body at its Content-Length); only a chunked body
// of unknown length grows a buffer as it reads.
func readLimited(req *http.Request, limit int64) ([]byte, error) {
	tooLarge := func() error {
		return wagate.Errorf(wagate.ETOOLARGE, "request body is larger than %d KiB; send a smaller JSON object (attach large files with file_url)", limit>>10)
	}
	unreadable := func() error {
		return wagate.Errorf(wagate.EINVALID, "the request body could not be read completely; send it again")
	}
	switch n := req.ContentLength; {
	case n > limit:
		head, _ := io.ReadAll(io.LimitReader(req.Body, wagate.AttemptBodyLimit))
		return head, tooLarge()
	case n >= 0:
		body := make([]byte, n)
		if got, err := io.ReadFull(req.Body, body); err != nil {
			return body[:got], unreadable()
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	switch {
	case err != nil:
		return body, unreadable()
	case int64(len(body)) > limit:
		return body, tooLarge()
	}
	return body, nil
}

// recordAttempt logs a call that never reached Accept. It is best effort:
// failing to record must not change the answer.
func (s *Server) recordAttempt(ctx context.Context, workspaceID string, att *wagate.Attempt, answer error) {
	att.Code = wagate.ErrorCode(answer)
	att.Message = wagate.ErrorMessage(answer)
	if att.Code == wagate.EUNAVAILABLE && !s.draining.Load() {
		return // storage is failing: a write would fail as well
	}
	if err := s.svc.Attempts.RecordAttempt(context.WithoutCancel(ctx), workspaceID, att); err != nil {
		s.log.Warn("recording inbound attempt", zap.String("workspace", workspaceID), zap.String("request_id", att.RequestID), zap.Error(err))
	}
}
