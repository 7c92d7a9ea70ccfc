package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate"
)

// BatchBodyLimit is the largest batch body: up to wagate.MaxBatch requests
// of a few KiB each. Each item keeps the 64 KiB limit of a request alone.
const BatchBodyLimit = 8 << 20

// batchBody is the answer of POST /inbound/{token}/batch.
type batchBody struct {
	Status string `json:"status"`
	Data   struct {
		Results []batchItem `json:"results"`
	} `json:"data"`
}

// batchItem is one item's outcome: status 200 and message_id, or the
// status the request alone would have had and its message.
type batchItem struct {
	Index     int      `json:"index"`
	Status    int      `json:"status"`
	MessageID string   `json:"message_id,omitempty"`
	Message   string   `json:"message,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// inboundBatch serves POST /inbound/:token/batch (SPEC §2): up to
// wagate.MaxBatch requests of §1, each validated and charged as if sent
// alone, all accepted ones in one durable commit, each with its own attempt
// record. The checks of the whole call (token, shutdown, rate, enabled,
// content type, size, the Idempotency-Key) are those of the inbound URL,
// counted once; a batch the store cannot take is a 503 and nothing of it
// was accepted.
func (s *Server) inboundBatch(c echo.Context) error {
	req := c.Request()
	ws, err := s.findInbound(req.Context(), c.Param("token"))
	if wagate.ErrorCode(err) == wagate.ENOTFOUND {
		err = s.unknownToken(c, err)
	}
	if err != nil {
		return err
	}
	c.Set(ctxWorkspace, ws.ID)
	batches, ok := s.svc.Messages.(wagate.BatchAccepter)
	if !ok {
		return wagate.Errorf(wagate.EINTERNAL, "this storage backend does not take batches; send the requests one by one to the inbound URL")
	}
	att := &wagate.Attempt{
		At:          s.now().UTC(),
		RequestID:   requestID(c),
		RemoteAddr:  c.RealIP(),
		ContentType: cut(req.Header.Get(echo.HeaderContentType), 200),
	}
	res, err := s.acceptBatch(c, ws, batches, att)
	if err != nil {
		s.metrics.rejected.WithLabelValues(wagate.ErrorCode(err)).Inc()
		if res == nil {
			s.recordAttempt(req.Context(), ws.ID, att, err)
		}
		return err
	}
	if res.Replayed {
		// Nothing was committed for the replay, but the call happened: it
		// leaves one attempt record (the whole body, no message), as a
		// replayed single request does, so the owner sees the retry.
		s.recordAttempt(req.Context(), ws.ID, att, nil)
		c.Response().Header().Set(headerReplayed, "true")
	}
	return c.JSON(http.StatusOK, res.body)
}

// batchOutcome is a committed batch and its answer.
type batchOutcome struct {
	body     *batchBody
	Replayed bool
}

func (s *Server) acceptBatch(c echo.Context, ws *wagate.Workspace, batches wagate.BatchAccepter, att *wagate.Attempt) (*batchOutcome, error) {
	req := c.Request()
	if s.draining.Load() {
		return nil, errShuttingDown()
	}
	if ok, retry := s.limits.allow(ws.ID, s.now()); !ok {
		c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(retry))
		return nil, wagate.Errorf(wagate.ERATELIMIT, "too many requests for this inbound URL (limit %g per second, bursts of %d); retry after %d s", s.cfg.InboundRate, s.cfg.InboundBurst, retry)
	}
	if !ws.Webhook.Enabled {
		return nil, wagate.ErrWebhookDisabled()
	}
	gzipped, err := inboundGzipped(req.Header)
	if err == nil {
		err = checkInboundContentType(req.Header.Get(echo.HeaderContentType))
	}
	if err != nil {
		return nil, err
	}
	body, err := readInbound(req, BatchBodyLimit, gzipped)
	att.Body = attemptBody(body)
	if err != nil {
		return nil, err
	}
	key := req.Header.Get(headerIdempotencyKey)
	if n := utf8.RuneCountInString(key); n > maxIdempotencyKey {
		return nil, wagate.Errorf(wagate.EINVALID, "Idempotency-Key header has %d characters; the limit is %d, so use a shorter key (a UUID is 36)", n, maxIdempotencyKey)
	}
	var bodyHash [32]byte
	if key != "" {
		bodyHash = idempotencyHash(body)
		first, err := batches.ReplayBatch(context.WithoutCancel(req.Context()), ws.ID, key, bodyHash)
		if err != nil {
			return nil, err
		}
		if first != nil {
			return &batchOutcome{body: renderBatch(first, nil), Replayed: true}, nil
		}
	}

	var in struct {
		Messages []json.RawMessage `json:"messages"`
	}
	const shape = `send {"messages":[{"action":"send","phone":"+14155552671","text":"hello"}, …]}`
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, wagate.Errorf(wagate.EINVALID, "request body is not a JSON object with a \"messages\" array; %s", shape)
	}
	switch n := len(in.Messages); {
	case n == 0:
		return nil, wagate.Errorf(wagate.EINVALID, `field "messages" is missing or empty; %s`, shape)
	case n > wagate.MaxBatch:
		return nil, wagate.Errorf(wagate.EINVALID, `field "messages" has %d requests; the limit is %d, so split it into several batches`, n, wagate.MaxBatch)
	}

	b := &wagate.AcceptBatch{
		WorkspaceID:    ws.ID,
		InboundToken:   c.Param("token"),
		IdempotencyKey: key,
		BodyHash:       bodyHash,
		Items:          make([]*wagate.Accept, len(in.Messages)),
		Refused:        make([]error, len(in.Messages)),
	}
	warnings := make([][]string, len(in.Messages))
	for i, raw := range in.Messages {
		itemAtt := *att
		itemAtt.RequestID = att.RequestID + "#" + strconv.Itoa(i)
		itemAtt.Body = string(raw)
		a, err := s.batchItem(req.Context(), ws, raw, &itemAtt)
		warnings[i] = itemAtt.Warnings
		if err != nil {
			b.Items[i], b.Refused[i] = &wagate.Accept{WorkspaceID: ws.ID, Attempt: &itemAtt}, err
			continue
		}
		a.Attempt = &itemAtt
		b.Items[i] = a
	}
	res, err := batches.AcceptBatch(context.WithoutCancel(req.Context()), b)
	if err != nil {
		return nil, err
	}
	if !res.Replayed {
		woken := map[wagate.AccountRef]bool{}
		for i, it := range res.Items {
			if it.MessageID == "" {
				continue
			}
			s.metrics.accepted.Inc()
			ref := b.Items[i].Message.Account()
			if s.svc.Waker != nil && !woken[ref] {
				woken[ref] = true
				s.svc.Waker.Wake(ref)
			}
		}
	}
	return &batchOutcome{body: renderBatch(res, warnings), Replayed: res.Replayed}, nil
}

// batchItem validates and resolves one item as the inbound URL would a
// request alone.
func (s *Server) batchItem(ctx context.Context, ws *wagate.Workspace, raw []byte, att *wagate.Attempt) (*wagate.Accept, error) {
	if len(raw) > InboundBodyLimit {
		return nil, wagate.Errorf(wagate.ETOOLARGE, "this request is larger than %d KiB; send a smaller JSON object (attach large files with file_url)", InboundBodyLimit>>10)
	}
	r, err := decodeSend(raw)
	att.Warnings = r.warnings()
	if err != nil {
		return nil, r.withHint(err)
	}
	a, err := s.resolve(ctx, ws, r)
	if err != nil {
		return nil, r.withHint(err)
	}
	a.Message.WorkspaceID = ws.ID
	return a, nil
}

func renderBatch(res *wagate.BatchResult, warnings [][]string) *batchBody {
	out := &batchBody{Status: "success"}
	out.Data.Results = make([]batchItem, len(res.Items))
	for i, it := range res.Items {
		r := batchItem{Index: i, Status: http.StatusOK, MessageID: it.MessageID}
		if it.MessageID == "" {
			r.Status, r.Message = StatusFor(it.Code), it.Message
		}
		if i < len(warnings) {
			r.Warnings = warnings[i]
		}
		out.Data.Results[i] = r
	}
	return out
}
