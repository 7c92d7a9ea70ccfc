// Package outbound carries a workspace's events to its endpoints: the
// outbound event webhooks of SPEC §9, the mirror of the inbound URL. It is
// named outbound, not webhook, because in wagate "the webhook" is the
// inbound URL a workspace is called on.
//
// The parts, each usable alone:
//
//   - Sign, Signature, NewSecret: Standard Webhooks signing, two
//     signatures while a rotated secret overlaps.
//   - Variables, EventVariables, IsVariable: what a placeholder can name,
//     per event type (GET /api/v1/events lists EventVariables).
//   - Validate: the save-time check of an endpoint, for the gateway.
//   - Build: the request of one event for one endpoint.
//   - Deliverer: the HTTP exchange, the queue loop (Run, Wake) and the
//     API's test send (Test, with SampleEvent).
//
// Escaping, so that a value (a message text, say) is always data: the
// host and scheme come from the endpoint's url, which may hold no
// placeholder, and are set as URL fields, never parsed from rendered text;
// a path value is escaped as one segment ("/" is %2F, and "." or ".." have
// their dots escaped); query values are URL-encoded; in a header value CR,
// LF and the other control characters become spaces (stripped rather than
// refused: a line break in a message is ordinary data, and refusing would
// fail every delivery of it; Validate refuses them in the endpoint's own
// header values and auth). Body types: json escapes values as JSON string
// content, and a template must be valid JSON with every placeholder inside
// a string value, never a key (checked when saved by rendering probe
// values such as `"`); form
// URL-encodes; multipart writes one part per field; xml escapes values as
// text (&lt; &amp; &#34; …) and the result must be well-formed with one
// root (checked when saved and again before sending); yaml writes fields
// through a YAML encoder as double-quoted strings, and in a template each
// value becomes a complete double-quoted scalar, quotes included, so a
// template writes `text: {{message.text}}` without quotes of its own;
// plain is the template as text, unescaped. Bytes that are not UTF-8
// become U+FFFD in every variable, so all body types carry the same text.
//
// Delivery (SPEC §9): success is a 2xx; redirects are not followed (a 3xx
// fails); 15 s for the whole exchange; the answer is read up to 4 KiB + 1
// byte and kept up to 4 KiB; Accept-Encoding: identity and no transparent
// decompression; every connection's address is checked by
// netguard.Control just before connect, unless Config.AllowPrivate
// (--allow-private-endpoints); no proxy from the environment. A failed
// attempt is retried after about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
// 10 h (±20 %), then the delivery fails; a Retry-After is honoured between
// 1× and 2× the scheduled wait. A 410 disables the endpoint at once, and
// so do 5 days of nothing but failures (FailingSince); the delivery stays
// pending either way, and resumes when the endpoint is enabled again. A
// request that cannot be built (a template that renders ill-formed for
// this event) fails the delivery at once: no retry can fix it. The
// history keeps the request with the auth values masked and the
// signature headers shown (they are not secrets).
//
// Fairness: one worker per endpoint with pending deliveries, at most
// MaxInFlight (4) attempts in flight each, so a slow receiver delays only
// itself. Delivery is at least once: an attempt whose outcome could not be
// recorded (a crash, a store error) is made again with the same
// webhook-id.
package outbound
