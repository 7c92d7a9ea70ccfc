package gateway

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// Outbound event webhooks (SPEC §9): owners manage a workspace's endpoints,
// support staff read them and their delivery history. The signing secret is
// shown once, in the create and rotate answers; auth secrets are masked in
// every answer.

// secretOverlap is how long a rotated-out secret keeps signing, so that a
// receiver can switch to the new one without missing a delivery.
const secretOverlap = 24 * time.Hour

// Delivery list bounds.
const (
	defaultDeliveryList = 20
	maxDeliveryList     = wagate.DeliveryHistoryLimit
)

// EndpointDeliverer is what the endpoint API needs of the deliverer
// (sender/outbound's Deliverer implements it), injected by the command so
// the gateway never imports it. nil: endpoints are stored with the
// gateway's shape checks only, and the test send answers 503.
type EndpointDeliverer interface {
	// Check runs the deliverer's save-time checks of an endpoint whose
	// shape the gateway has already checked: that every placeholder is a
	// variable of a subscribed event, that a JSON template is JSON and an
	// XML template well-formed. Its error names the field.
	Check(e *wagate.Endpoint) error
	// VariableNames lists the placeholder variables of an event type.
	VariableNames(event string) []string
	// TestSend makes one delivery of a sample event of the given type at
	// once, its variables overridden by vars, and returns it (not yet
	// stored).
	TestSend(ctx context.Context, e *wagate.Endpoint, event string, vars map[string]string) (*wagate.EndpointDelivery, error)
	// Wake tells the deliverer that endpoints may have due deliveries
	// (after one was enabled or a delivery retried). It must not block.
	Wake(refs ...wagate.EndpointRef)
}

// eventDescriptions say what each event reports, for GET /api/v1/events.
var eventDescriptions = map[string]string{
	wagate.EventMessageQueued:     "a message was accepted and queued",
	wagate.EventMessageSent:       "a message was handed to WhatsApp",
	wagate.EventMessageDelivered:  "WhatsApp reported the message delivered to the recipient's phone",
	wagate.EventMessageRead:       "WhatsApp reported the message read",
	wagate.EventMessageFailed:     "a message failed; its credits were refunded",
	wagate.EventMessageCancelled:  "an owner cancelled a queued message; its credits were refunded",
	wagate.EventWebhookAttempt:    "the inbound URL was called, whether the request was accepted or not",
	wagate.EventAccountConnected:  "an account connected to WhatsApp",
	wagate.EventAccountDisconnect: "an account lost its connection to WhatsApp; its messages wait",
	wagate.EventAccountLoggedOut:  "an account was unlinked on the phone; link it again",
	wagate.EventCreditsLow:        "the workspace's balance fell below its low-credits threshold",
}

func (s *Server) renderEndpoint(e *wagate.Endpoint) api.Endpoint {
	mask := func(v string) string {
		if v == "" {
			return ""
		}
		return api.Masked
	}
	fields := make([]api.Field, 0, len(e.Body.Fields))
	for _, f := range e.Body.Fields {
		fields = append(fields, api.Field{Key: f.Key, Value: f.Value})
	}
	return api.Endpoint{
		ID:      e.ID,
		Name:    e.Name,
		Enabled: e.Enabled,
		URL:     e.URL,
		Path:    e.Path,
		Method:  e.Method,
		Events:  append([]string{}, e.Events...),
		Filter:  api.EndpointFilter{AccountPhone: e.Filter.AccountPhone, Source: e.Filter.Source},
		Query:   fieldsToMap(e.Query),
		Headers: fieldsToMap(e.Headers),
		Auth: api.EndpointAuth{
			Type:     e.Auth.Type,
			Username: e.Auth.Username,
			Password: mask(e.Auth.Password),
			Token:    mask(e.Auth.Token),
			Name:     e.Auth.Name,
			Value:    mask(e.Auth.Value),
		},
		Body:           api.EndpointBody{Type: e.Body.Type, Template: e.Body.Template, Fields: fields},
		CreatedAt:      timeJSON(e.CreatedAt),
		DisabledReason: e.DisabledReason,
	}
}

func fieldsToMap(fs []wagate.Field) map[string]string {
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		m[f.Key] = f.Value
	}
	return m
}

func renderDelivery(d *wagate.EndpointDelivery) api.Delivery {
	var next *time.Time
	if d.Status == wagate.DeliveryPending {
		next = timeJSON(d.NextTryAt)
	}
	return api.Delivery{
		ID:      d.ID,
		EventID: d.EventID,
		Event:   d.Event,
		Attempt: d.Attempt,
		Status:  d.Status,
		Request: api.DeliveryRequest{
			Method:  d.Request.Method,
			URL:     d.Request.URL,
			Headers: fieldsToMap(d.Request.Headers),
			Body:    d.Request.Body,
		},
		Response: api.DeliveryResponse{
			Status:  d.Response.Status,
			Headers: fieldsToMap(d.Response.Headers),
			Body:    d.Response.Body,
		},
		DurationMS: d.Duration.Milliseconds(),
		Error:      d.Error,
		NextTryAt:  next,
		At:         timeJSON(d.At),
	}
}

// newSecret makes a Standard Webhooks signing secret: "whsec_" and the
// base64 of 24 random bytes.
func newSecret(r io.Reader) (string, error) {
	var b [24]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:]), nil
}

// newEndpointID makes "ep_" and 12 random base32 characters.
func newEndpointID(r io.Reader) (string, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	return "ep_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])[:12]), nil
}

// checkEndpoint runs the deliverer's save-time checks after the shape checks.
func (s *Server) checkEndpoint(e *wagate.Endpoint) error {
	if s.svc.Deliverer == nil {
		return nil
	}
	if err := s.svc.Deliverer.Check(e); err != nil {
		if wagate.ErrorCode(err) == wagate.EINTERNAL {
			return wagate.Errorf(wagate.EINVALID, "%s", err)
		}
		return err
	}
	return nil
}

// CreateEndpoint stores a new endpoint of the workspace from in and
// returns it with its secret, which is shown this once.
func (s *Server) CreateEndpoint(ctx context.Context, workspaceID string, in *api.EndpointInput) (*wagate.Endpoint, error) {
	e := &wagate.Endpoint{
		WorkspaceID: workspaceID,
		Enabled:     true,
		Method:      http.MethodPost,
		Auth:        wagate.EndpointAuth{Type: wagate.AuthNone},
		Body:        wagate.EndpointBody{Type: wagate.BodyJSON},
		CreatedAt:   s.now().UTC(),
	}
	if err := applyEndpointInput(e, in); err != nil {
		return nil, err
	}
	if err := s.checkEndpoint(e); err != nil {
		return nil, err
	}
	var err error
	if e.ID, err = newEndpointID(s.rand); err != nil {
		return nil, err
	}
	if e.Secret, err = newSecret(s.rand); err != nil {
		return nil, err
	}
	if err := s.svc.Endpoints.CreateEndpoint(ctx, e); err != nil {
		if errors.Is(err, wagate.ErrEndpointLimit) {
			return nil, wagate.Errorf(wagate.ECONFLICT, "this workspace already has %d endpoints, the most allowed; delete one it no longer needs first", wagate.EndpointLimit)
		}
		return nil, err
	}
	return e, nil
}

// UpdateEndpoint applies in to a stored endpoint. Enabling it resumes its
// pending deliveries.
func (s *Server) UpdateEndpoint(ctx context.Context, ref wagate.EndpointRef, in *api.EndpointInput) (*wagate.Endpoint, error) {
	e, err := s.svc.Endpoints.UpdateEndpoint(ctx, ref, func(e *wagate.Endpoint) error {
		if err := applyEndpointInput(e, in); err != nil {
			return err
		}
		return s.checkEndpoint(e)
	})
	if err != nil {
		return nil, endpointNotFound(err, ref.ID)
	}
	if e.Enabled && s.svc.Deliverer != nil {
		s.svc.Deliverer.Wake(ref)
	}
	return e, nil
}

// RotateEndpointSecret gives the endpoint a new secret; the old one keeps
// signing too until the returned time.
func (s *Server) RotateEndpointSecret(ctx context.Context, ref wagate.EndpointRef) (secret string, until time.Time, err error) {
	if secret, err = newSecret(s.rand); err != nil {
		return "", time.Time{}, err
	}
	until = s.now().UTC().Add(secretOverlap)
	_, err = s.svc.Endpoints.UpdateEndpoint(ctx, ref, func(e *wagate.Endpoint) error {
		e.PreviousSecret, e.PreviousUntil, e.Secret = e.Secret, until, secret
		return nil
	})
	if err != nil {
		return "", time.Time{}, endpointNotFound(err, ref.ID)
	}
	return secret, until, nil
}

// TestEndpoint makes one delivery of a sample event at once (seed 004's
// "test send") and records it in the endpoint's history.
func (s *Server) TestEndpoint(ctx context.Context, ref wagate.EndpointRef, event string, vars map[string]string) (*wagate.EndpointDelivery, error) {
	e, err := s.svc.Endpoints.FindEndpoint(ctx, ref)
	if err != nil {
		return nil, endpointNotFound(err, ref.ID)
	}
	if event == "" {
		event = e.Events[0]
	}
	if _, err := endpointEvents([]string{event}); err != nil {
		return nil, wagate.Errorf(wagate.EINVALID, `field "event" must be one of %s, not %q`, strings.Join(wagate.EventTypes, ", "), cut(event, 40))
	}
	if s.svc.Deliverer == nil {
		return nil, wagate.Errorf(wagate.EUNAVAILABLE, "this server does not deliver webhooks")
	}
	d, err := s.svc.Deliverer.TestSend(ctx, e, event, vars)
	if err != nil {
		return nil, err
	}
	if err := s.svc.Endpoints.RecordDelivery(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// RetryDelivery queues a failed delivery again, due now.
func (s *Server) RetryDelivery(ctx context.Context, ref wagate.EndpointRef, deliveryID string) (*wagate.EndpointDelivery, error) {
	d, err := s.svc.Endpoints.RetryDelivery(ctx, ref, deliveryID, s.now().UTC())
	switch wagate.ErrorCode(err) {
	case wagate.ENOTFOUND:
		return nil, wagate.Errorf(wagate.ENOTFOUND, "delivery %q of endpoint %q not found; list the endpoint's deliveries to see their ids", cut(deliveryID, 40), cut(ref.ID, 40))
	case wagate.ECONFLICT:
		return nil, wagate.Errorf(wagate.ECONFLICT, "delivery %q has not failed: only a failed delivery can be retried", cut(deliveryID, 40))
	}
	if err != nil {
		return nil, err
	}
	if s.svc.Deliverer != nil {
		s.svc.Deliverer.Wake(ref)
	}
	return d, nil
}

func endpointNotFound(err error, id string) error {
	if wagate.ErrorCode(err) == wagate.ENOTFOUND {
		return wagate.Errorf(wagate.ENOTFOUND, "endpoint %q not found in this workspace; list the endpoints to see their ids", cut(id, 40))
	}
	return err
}

// endpointRef reads the workspace (with the access asked) and :id.
func (s *Server) endpointRef(c echo.Context, a wagate.Access) (wagate.EndpointRef, error) {
	ws, err := s.workspaceFor(c, a)
	if err != nil {
		return wagate.EndpointRef{}, err
	}
	return wagate.EndpointRef{WorkspaceID: ws, ID: c.Param("id")}, nil
}

var endpointFields = []string{"name", "enabled", "url", "path", "method", "events", "filter", "query", "headers", "auth", "body"}

// POST /api/v1/workspaces/:ws/endpoints (owner).
func (s *Server) createEndpoint(c echo.Context) error {
	ws, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	var in api.EndpointInput
	if err := bindJSON(c, &in, endpointFields...); err != nil {
		return err
	}
	e, err := s.CreateEndpoint(c.Request().Context(), ws, &in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, &api.EndpointCreated{Endpoint: s.renderEndpoint(e), Secret: e.Secret})
}

// GET /api/v1/workspaces/:ws/endpoints (owner, support).
func (s *Server) listEndpoints(c echo.Context) error {
	ws, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	list, err := s.svc.Endpoints.ListEndpoints(c.Request().Context(), ws)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &api.EndpointList{Endpoints: renderAll(list, s.renderEndpoint)})
}

// GET /api/v1/workspaces/:ws/endpoints/:id (owner, support).
func (s *Server) getEndpoint(c echo.Context) error {
	ref, err := s.endpointRef(c, read)
	if err != nil {
		return err
	}
	e, err := s.svc.Endpoints.FindEndpoint(c.Request().Context(), ref)
	if err != nil {
		return endpointNotFound(err, ref.ID)
	}
	return c.JSON(http.StatusOK, s.renderEndpoint(e))
}

// PATCH /api/v1/workspaces/:ws/endpoints/:id (owner).
func (s *Server) patchEndpoint(c echo.Context) error {
	ref, err := s.endpointRef(c, write)
	if err != nil {
		return err
	}
	var in api.EndpointInput
	if err := bindJSON(c, &in, endpointFields...); err != nil {
		return err
	}
	e, err := s.UpdateEndpoint(c.Request().Context(), ref, &in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.renderEndpoint(e))
}

// DELETE /api/v1/workspaces/:ws/endpoints/:id (owner).
func (s *Server) deleteEndpoint(c echo.Context) error {
	ref, err := s.endpointRef(c, write)
	if err != nil {
		return err
	}
	if err := s.svc.Endpoints.DeleteEndpoint(c.Request().Context(), ref); err != nil {
		return endpointNotFound(err, ref.ID)
	}
	return c.NoContent(http.StatusNoContent)
}

// POST /api/v1/workspaces/:ws/endpoints/:id/secret/rotate (owner).
func (s *Server) rotateEndpointSecret(c echo.Context) error {
	ref, err := s.endpointRef(c, write)
	if err != nil {
		return err
	}
	secret, until, err := s.RotateEndpointSecret(c.Request().Context(), ref)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &api.SecretRotated{Secret: secret, PreviousExpire: timeJSON(until)})
}

// POST /api/v1/workspaces/:ws/endpoints/:id/test (owner).
func (s *Server) testEndpoint(c echo.Context) error {
	ref, err := s.endpointRef(c, write)
	if err != nil {
		return err
	}
	var in api.EndpointTest
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &in, "event", "variables"); err != nil {
			return err
		}
	}
	d, err := s.TestEndpoint(c.Request().Context(), ref, in.Event, in.Variables)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderDelivery(d))
}

// GET /api/v1/workspaces/:ws/endpoints/:id/deliveries?limit=&cursor=
// (owner, support): newest first, the last 100 kept.
func (s *Server) listDeliveries(c echo.Context) error {
	ref, err := s.endpointRef(c, read)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, defaultDeliveryList, maxDeliveryList)
	if err != nil {
		return err
	}
	list, next, err := s.svc.Endpoints.ListDeliveries(c.Request().Context(), ref, limit, c.QueryParam("cursor"))
	if err != nil {
		return endpointNotFound(err, ref.ID)
	}
	return c.JSON(http.StatusOK, &api.DeliveryList{Deliveries: renderAll(list, renderDelivery), NextCursor: next})
}

// POST /api/v1/workspaces/:ws/endpoints/:id/deliveries/:delivery/retry (owner).
func (s *Server) retryDelivery(c echo.Context) error {
	ref, err := s.endpointRef(c, write)
	if err != nil {
		return err
	}
	d, err := s.RetryDelivery(c.Request().Context(), ref, c.Param("delivery"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, renderDelivery(d))
}

// GET /api/v1/events (public, like the OpenAPI description): the event
// types and the variables their placeholders may use.
func (s *Server) listEvents(c echo.Context) error {
	out := api.EventTypeList{Events: make([]api.EventType, 0, len(wagate.EventTypes))}
	for _, ev := range wagate.EventTypes {
		vars := []string{}
		if s.svc.Deliverer != nil {
			vars = append(vars, s.svc.Deliverer.VariableNames(ev)...)
		}
		out.Events = append(out.Events, api.EventType{Type: ev, Description: eventDescriptions[ev], Variables: vars})
	}
	return c.JSON(http.StatusOK, &out)
}
