package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/wagate/wagate/gateway/api"
)

func linkPath(ws, phone string) string {
	return wsPath(ws, "/accounts/", url.PathEscape(phone), "/link")
}

// StartLink starts linking the whatsapp account with phone by "qr" or
// "code" (owner token) and returns the first QR or pairing code.
func (c *Client) StartLink(ctx context.Context, ws, phone, method string) (*api.Link, error) {
	var out api.Link
	err := c.call(ctx, http.MethodPost, linkPath(ws, phone), &api.StartLink{Method: method}, &out)
	return ptr(&out, err)
}

// Link reads the account's link state with its current QR or pairing code.
func (c *Client) Link(ctx context.Context, ws, phone string) (*api.Link, error) {
	var out api.Link
	err := c.call(ctx, http.MethodGet, linkPath(ws, phone), nil, &out)
	return ptr(&out, err)
}

// Unlink logs the account's device out (owner token).
func (c *Client) Unlink(ctx context.Context, ws, phone string) error {
	return c.call(ctx, http.MethodDelete, linkPath(ws, phone), nil, nil)
}

// LinkEvents follows the account's link as server-sent events, calling
// each with every state (every new QR code), until the server ends the
// stream (the state left "linking"), each returns an error, or ctx ends.
// It returns the last state seen.
func (c *Client) LinkEvents(ctx context.Context, ws, phone string, each func(api.Link) error) (*api.Link, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+linkPath(ws, phone)+"/events", nil)
	if err != nil {
		return nil, fmt.Errorf("wagate client: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", "wagate-client")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &ConnError{URL: c.base, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-ID"), Body: body}
		var env api.ErrorEnvelope
		if json.Unmarshal(body, &env) == nil && env.Message != "" {
			e.Message, e.Code = env.Message, env.Error
		} else {
			e.Message = fmt.Sprintf("HTTP %d %s from %s", resp.StatusCode, http.StatusText(resp.StatusCode), c.base)
		}
		return nil, e
	}
	var last *api.Link
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var l api.Link
		if err := json.Unmarshal([]byte(data), &l); err != nil {
			return last, fmt.Errorf("an event of the link stream is not the JSON expected (%v); is %s a wagate server of this version?", err, c.base)
		}
		last = &l
		if err := each(l); err != nil {
			return last, err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return last, &ConnError{URL: c.base, Err: fmt.Errorf("reading the link stream: %w", err)}
	}
	return last, ctx.Err()
}
