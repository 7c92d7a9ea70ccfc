// Package outbound carries a workspace's events to its endpoints: the
// outbound event webhooks of SPEC §9, the mirror of the inbound URL. It
// builds each request from the endpoint's settings (URL, path, query,
// headers, auth, body) and the event's variables, signs it the Standard
// Webhooks way, makes the HTTP exchange under the delivery rules, and
// drains the store's outbox (wagate.DeliveryQueue) with retries.
//
// It is named outbound, not webhook, because in wagate "the webhook" is
// the inbound URL a workspace is called on.
package outbound
