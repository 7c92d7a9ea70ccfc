// Package gateway is wagate's HTTP face, built on echo: the inbound URL
// (POST /inbound/{token}) that external systems call to send a WhatsApp
// message, the admin API under /api/v1, and /healthz, /readyz and /metrics.
//
// It speaks to durable state only through the service interfaces of the root
// package (never store, never bbolt), so any backend that implements them can
// serve it. errors.go holds the one table from wagate error codes to HTTP
// statuses; every handler just returns its error.
package gateway
