// Package openapi holds the OpenAPI 3.1 description of wagate's whole HTTP
// API (the inbound URL, the admin API, health and metrics), which the
// gateway serves at GET /api/v1/openapi.json (SPEC §4).
//
// The document is hand-written JSON in openapi.json, embedded here so the
// binary serves exactly the file that is reviewed and tested. Package
// openapitest checks real answers against it; the gateway's tests run every
// answer they receive through that check, so the document and the handlers
// cannot drift apart unnoticed.
package openapi

import (
	_ "embed" // the document
)

//go:embed openapi.json
var document string

// Document returns the OpenAPI document as JSON. Each call returns a new
// slice, so a caller may keep or change it.
func Document() []byte { return []byte(document) }
