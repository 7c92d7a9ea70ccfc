package api

import "time"

// Endpoint is one outbound event webhook of a workspace (SPEC §9). It never
// carries the signing secret, and its auth secrets are masked.
type Endpoint struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Enabled        bool              `json:"enabled"`
	URL            string            `json:"url"`
	Path           string            `json:"path"`
	Method         string            `json:"method"`
	Events         []string          `json:"events"`
	Filter         EndpointFilter    `json:"filter"`
	Query          map[string]string `json:"query"`
	Headers        map[string]string `json:"headers"`
	Auth           EndpointAuth      `json:"auth"`
	Body           EndpointBody      `json:"body"`
	CreatedAt      *time.Time        `json:"created_at"`
	DisabledReason string            `json:"disabled_reason"`
}

// EndpointFilter narrows the events an endpoint gets; "" matches all.
type EndpointFilter struct {
	AccountPhone string `json:"account_phone"`
	Source       string `json:"source"`
}

// EndpointAuth is how requests authenticate to the endpoint. In answers,
// password, token and value are Masked when set.
type EndpointAuth struct {
	Type     string `json:"type"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
	Name     string `json:"name,omitempty"`
	Value    string `json:"value,omitempty"`
}

// Masked stands for a secret in answers. Sent back unchanged in a PATCH, it
// keeps the stored secret, so a client can round-trip an endpoint.
const Masked = "********"

// EndpointBody is what requests carry: a template, or key-value fields.
type EndpointBody struct {
	Type     string  `json:"type"`
	Template string  `json:"template"`
	Fields   []Field `json:"fields"`
}

// Field is one key-value pair of a body.
type Field struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// EndpointCreated is the 201 of POST …/endpoints: the endpoint and its
// signing secret, shown only in this answer.
type EndpointCreated struct {
	Endpoint
	Secret string `json:"secret"`
}

// EndpointList is the answer of GET …/endpoints.
type EndpointList struct {
	Endpoints []Endpoint `json:"endpoints"`
}

// EndpointInput is the body of POST …/endpoints and PATCH …/endpoints/{id}:
// an absent field keeps its value (or takes its default on create).
type EndpointInput struct {
	Name    *string            `json:"name"`
	Enabled *bool              `json:"enabled"`
	URL     *string            `json:"url"`
	Path    *string            `json:"path"`
	Method  *string            `json:"method"`
	Events  *[]string          `json:"events"`
	Filter  *EndpointFilter    `json:"filter"`
	Query   *map[string]string `json:"query"`
	Headers *map[string]string `json:"headers"`
	Auth    *EndpointAuth      `json:"auth"`
	Body    *EndpointBody      `json:"body"`
}

// SecretRotated is the answer of POST …/endpoints/{id}/secret/rotate: the
// new secret, shown only here; the old one keeps signing for 24 h.
type SecretRotated struct {
	Secret         string     `json:"secret"`
	PreviousExpire *time.Time `json:"previous_expires_at"`
}

// EndpointTest is the body of POST …/endpoints/{id}/test.
type EndpointTest struct {
	Event     string            `json:"event"`
	Variables map[string]string `json:"variables"`
}

// Delivery is one event carried to one endpoint: the last attempt's
// request and response, bodies capped at 4 KiB, secrets masked.
type Delivery struct {
	ID         string           `json:"id"`
	EventID    string           `json:"event_id"`
	Event      string           `json:"event"`
	Attempt    int              `json:"attempt"`
	Status     string           `json:"status"`
	Request    DeliveryRequest  `json:"request"`
	Response   DeliveryResponse `json:"response"`
	DurationMS int64            `json:"duration_ms"`
	Error      string           `json:"error"`
	NextTryAt  *time.Time       `json:"next_try_at"`
	At         *time.Time       `json:"at"`
}

// DeliveryRequest is what was sent.
type DeliveryRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// DeliveryResponse is what the endpoint answered; status 0 when it did not.
type DeliveryResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// DeliveryList is the answer of GET …/endpoints/{id}/deliveries.
type DeliveryList struct {
	Deliveries []Delivery `json:"deliveries"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// EventType is one event an endpoint can subscribe to, with the variables
// its placeholders may use.
type EventType struct {
	Type        string   `json:"type"`
	Description string   `json:"description"`
	Variables   []string `json:"variables"`
}

// EventTypeList is the answer of GET /api/v1/events.
type EventTypeList struct {
	Events []EventType `json:"events"`
}
