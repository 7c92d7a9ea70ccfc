// Package client is the typed Go client of wagate's admin API (SPEC §4).
// The wagate CLI and the load generator use it, and so can any Go program
// that manages workspaces: it sends the request bodies and decodes the
// answers of package api, the same types the gateway renders.
//
// Every method takes a context first; a refusal of the server is an
// *Error (HTTP status, machine code, message), a call that got no answer
// is a *ConnError. The client never puts its token in an error.
//
// The package imports neither echo nor the store (a test keeps it so).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wagate/wagate/gateway/api"
)

// AnswerLimit bounds how much of one answer is read. The largest answer is
// the attempts download: 100 attempts of at most 8 KiB of body each, far
// below it; the limit only stops a wrong server from filling memory.
const AnswerLimit = 32 << 20

// Client calls the admin API of one wagate server with one token. It is
// safe for concurrent use. Several clients may share one *http.Client (and
// its connections) through WithHTTPClient, e.g. one per workspace token.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends the calls through hc instead of a client of its
// own, to share connections or set a transport. Its Timeout, if any, bounds
// every call on top of the context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// New returns a client of the server at baseURL (e.g.
// http://127.0.0.1:8080, a trailing slash is fine) that authenticates with
// token: the operator token or a workspace token. Calls are bounded by
// their context only, unless WithHTTPClient gives a client with a Timeout.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL is the server's address as the client uses it, without a
// trailing slash.
func (c *Client) BaseURL() string { return c.base }

// Error is an error answer of the server (HTTP 4xx or 5xx).
type Error struct {
	Status    int    // the HTTP status
	Code      string // the machine code of the envelope, e.g. "not_found"; "" when the answer was not wagate's
	Message   string // the server's message, which names the field and the fix
	RequestID string // X-Request-ID, to find the call in the server's log
	// Body is the answer as the server wrote it (the JSON envelope), for
	// a caller that prints it, e.g. the CLI's --json.
	Body []byte
}

func (e *Error) Error() string { return e.Message }

// ConnError is a call that got no (whole) HTTP answer: the server is not
// running, the address is wrong, or the answer broke off.
type ConnError struct {
	URL string // the server's base URL
	Err error  // the cause; a *url.Error is unwrapped, as it repeats the URL
}

func (e *ConnError) Error() string { return "cannot reach wagate at " + e.URL + ": " + e.Err.Error() }
func (e *ConnError) Unwrap() error { return e.Err }

// answer is a 2xx answer, read whole.
type answer struct {
	header http.Header
	body   []byte
}

// do sends one call; in, when not nil, is sent as JSON. A 4xx or 5xx
// answer is an *Error, no answer a *ConnError.
func (c *Client) do(ctx context.Context, method, path string, in any) (*answer, error) {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		// The URL holds no secret: tokens go in a header, never the path.
		return nil, fmt.Errorf("wagate client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wagate-client")
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error repeats the method and URL; the cause is what helps.
		if cause := errors.Unwrap(err); cause != nil {
			err = cause
		}
		return nil, &ConnError{URL: c.base, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, AnswerLimit))
	if err != nil {
		return nil, &ConnError{URL: c.base, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode >= 400 {
		e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-ID"), Body: body}
		var env api.ErrorEnvelope
		if json.Unmarshal(body, &env) == nil && env.Message != "" {
			e.Message, e.Code = env.Message, env.Error
		} else {
			e.Message = fmt.Sprintf("HTTP %d %s, and the answer is not wagate's JSON: is %s a wagate server?", resp.StatusCode, http.StatusText(resp.StatusCode), c.base)
		}
		return nil, e
	}
	return &answer{header: resp.Header, body: body}, nil
}

// call sends one call and decodes its answer into out, when not nil.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	a, err := c.do(ctx, method, path, in)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(a.body, out); err != nil {
		return fmt.Errorf("the answer of %s %s is not the JSON expected (%v); is %s a wagate server of this version?", method, routeOf(path), err, c.base)
	}
	return nil
}

// routeOf is a path without its query, for an error message.
func routeOf(path string) string {
	p, _, _ := strings.Cut(path, "?")
	return p
}
