package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wagate/wagate/gateway/api"
)

// The outbound event webhooks of a workspace (SPEC §9).

func endpointPath(ws, id string, rest ...string) string {
	return wsPath(ws, append([]string{"/endpoints/", url.PathEscape(id)}, rest...)...)
}

// CreateEndpoint creates an endpoint of ws (owner token). The answer holds
// its signing secret, shown only here.
func (c *Client) CreateEndpoint(ctx context.Context, ws string, in *api.EndpointInput) (*api.EndpointCreated, error) {
	var out api.EndpointCreated
	err := c.call(ctx, http.MethodPost, wsPath(ws, "/endpoints"), in, &out)
	return ptr(&out, err)
}

// ListEndpoints lists the endpoints of ws.
func (c *Client) ListEndpoints(ctx context.Context, ws string) ([]api.Endpoint, error) {
	var out api.EndpointList
	err := c.call(ctx, http.MethodGet, wsPath(ws, "/endpoints"), nil, &out)
	return out.Endpoints, err
}

// Endpoint reads one endpoint of ws.
func (c *Client) Endpoint(ctx context.Context, ws, id string) (*api.Endpoint, error) {
	var out api.Endpoint
	err := c.call(ctx, http.MethodGet, endpointPath(ws, id), nil, &out)
	return ptr(&out, err)
}

// UpdateEndpoint changes the fields of an endpoint that in sets (owner token).
func (c *Client) UpdateEndpoint(ctx context.Context, ws, id string, in *api.EndpointInput) (*api.Endpoint, error) {
	var out api.Endpoint
	err := c.call(ctx, http.MethodPatch, endpointPath(ws, id), in, &out)
	return ptr(&out, err)
}

// DeleteEndpoint deletes an endpoint and its deliveries (owner token).
func (c *Client) DeleteEndpoint(ctx context.Context, ws, id string) error {
	return c.call(ctx, http.MethodDelete, endpointPath(ws, id), nil, nil)
}

// RotateEndpointSecret gives an endpoint a new secret (owner token); the
// old one keeps signing for 24 h.
func (c *Client) RotateEndpointSecret(ctx context.Context, ws, id string) (*api.SecretRotated, error) {
	var out api.SecretRotated
	err := c.call(ctx, http.MethodPost, endpointPath(ws, id, "/secret/rotate"), nil, &out)
	return ptr(&out, err)
}

// TestEndpoint sends a sample event to an endpoint at once (owner token)
// and returns the delivery.
func (c *Client) TestEndpoint(ctx context.Context, ws, id string, in *api.EndpointTest) (*api.Delivery, error) {
	var out api.Delivery
	err := c.call(ctx, http.MethodPost, endpointPath(ws, id, "/test"), in, &out)
	return ptr(&out, err)
}

// ListDeliveries lists an endpoint's deliveries, newest first, a page at a
// time: limit 0 is the server's default, cursor "" the first page.
func (c *Client) ListDeliveries(ctx context.Context, ws, id string, limit int, cursor string) (*api.DeliveryList, error) {
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	p := endpointPath(ws, id, "/deliveries")
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out api.DeliveryList
	err := c.call(ctx, http.MethodGet, p, nil, &out)
	return ptr(&out, err)
}

// RetryDelivery queues a failed delivery again (owner token).
func (c *Client) RetryDelivery(ctx context.Context, ws, id, deliveryID string) (*api.Delivery, error) {
	var out api.Delivery
	err := c.call(ctx, http.MethodPost, endpointPath(ws, id, "/deliveries/", url.PathEscape(deliveryID), "/retry"), nil, &out)
	return ptr(&out, err)
}

// Events lists the event types and their variables.
func (c *Client) Events(ctx context.Context) ([]api.EventType, error) {
	var out api.EventTypeList
	err := c.call(ctx, http.MethodGet, "/api/v1/events", nil, &out)
	return out.Events, err
}
