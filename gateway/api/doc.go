// Package api holds the JSON shapes of wagate's admin API (SPEC §4): the
// objects the gateway answers with, the request bodies it reads, and the
// error envelope. The gateway renders its answers from these types and the
// typed client (gateway/client) decodes them, so a shape is written once
// and the two cannot drift apart.
//
// Conventions: snake_case names; every field SPEC lists is always present
// (absent strings are "", absent times null); fields added later for one
// state only (a retry's next_try_at, a message's waiting_for, an attempt's
// warnings, a list's next_cursor) are omitted when empty. Times are UTC
// RFC 3339; chat ids are strings.
//
// The package imports only the standard library: a program that talks to
// wagate needs neither echo nor the store to read its answers.
package api
