package openapitest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// CheckAnswer is the hook for a test's HTTP helper: it checks one answer
// of a wagate server against the document and reports a mismatch with
// t.Errorf (helpers also run on other goroutines, where Fatal must not be
// called). target is the request's URL or path. Paths the document does
// not own (see Owns) and HEAD answers are left alone; the router's own 404
// and 405, which no operation describes, must still be the error envelope.
func CheckAnswer(t testing.TB, method, target string, status int, header http.Header, body []byte) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || method == http.MethodHead || !Owns(u.Path) {
		return
	}
	v, err := Load()
	if err != nil {
		t.Errorf("loading the OpenAPI document: %v", err)
		return
	}
	err = v.CheckResponse(method, u.EscapedPath(), status, header.Get("Content-Type"), body)
	if errors.Is(err, ErrNoOperation) {
		switch status {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			err = v.CheckError(status, body)
		default:
			err = fmt.Errorf("%w, yet it answered %d", err, status)
		}
	}
	if err != nil {
		t.Errorf("OpenAPI: %v", err)
	}
}

// Owns reports whether the document describes path's part of the server:
// the inbound URL, the admin API, health and metrics. The web console and
// the webhooks a transport mounts for its provider are not wagate's API.
func Owns(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/inbound/")
}
