// Package whatsapp is the transport that sends through an ordinary WhatsApp
// or WhatsApp Business app account linked to wagate as a companion device
// (SPEC §10), over the multi-device protocol of go.mau.fi/whatsmeow.
//
// # Licences and the nowhatsapp build tag
//
// whatsmeow is MPL-2.0 and its go.mau.fi/libsignal dependency GPL-3.0, so a
// wagate binary that contains this transport is GPL-3.0 as a whole. Every
// file that imports whatsmeow carries //go:build !nowhatsapp; built with
// -tags nowhatsapp the package keeps only its whatsmeow-free parts (link
// states, message ids, typing times) and Open answers ErrNotBuilt, so the
// binary holds none of that code.
//
// # Sessions
//
// A Manager holds one long-lived whatsmeow client per linked account (Start
// when the account is linked, Stop when it is paused or deleted, Unlink to
// log the device out). It reconnects with backoff and reports the link
// state of each account (LinkState) through Config.OnLink. A temporary ban
// ends at its until by itself: a client still connected is connected again
// at once (and the sender's queue woken), else the session reconnects.
// Device keys live
// in whatsmeow's sqlstore on {data}/whatsapp.db (pure-Go SQLite, foreign
// keys on); beside them two small tables of wagate's own: which device
// belongs to which account, and the ledger of sends and receipts that
// answers Confirm after a crash.
//
// The cmd wires it so: Open at start (after the store), Start for every
// linked whatsapp account before the sender recovers interrupted sends (so
// Confirm can wait for the session's receipts), Stop on pause and delete,
// Close after the sender stops. OnLink carries the QR code and pairing code
// for the owner's page: the wiring passes them on and never logs them.
//
// # Sending
//
// Send builds a text message, or an image, video, audio or document message
// by the attachment's sniffed type with the text as caption (audio takes no
// caption: its text follows as a second message, like the Cloud API
// transport). The WhatsApp message id is MessageID(wagate's id), so a
// receipt seen after a crash confirms an interrupted send. Errors:
//
//	account not connected, logged out, banned  sender.Unavailable: waits, no retry spent
//	connection lost before the message left    sender.Unavailable: waits, no retry spent
//	WhatsApp rate limit (429)                  sender.RetryAfter
//	error 463 (the 2026 reach-out refusal)     permanent, explained
//	recipient not on WhatsApp                  permanent
//	server refused with another code           5xx transient, other codes permanent
//	anything after the message may have left   permanent "interrupted": never resent
//
// The last row is the rule that keeps a message from arriving twice: once
// the encrypted message may have reached WhatsApp's server (a timeout
// waiting for the server's ack, a disconnect or a cancel mid-send), Send
// fails it as interrupted rather than try again.
package whatsapp
