// Package cloudapi is the transport that sends through Meta's WhatsApp
// Business Platform, the Cloud API (SPEC §8), and reads its status webhooks.
//
// An account that uses it has the settings phone_number_id, access_token,
// and optionally api_version (v23.0), base_url (Meta's; tests point it at
// graphfake) and waba_id (to read the account's templates). ValidateSettings checks them when the account is connected,
// CheckRecipient checks a recipient when a send is accepted: the Cloud API
// reaches people by phone number only, never groups (@g.us) or @lid
// addresses.
//
// Sending (Transport.Send):
//
//	text only      POST /{ver}/{phone_number_id}/messages  type "text"
//	text + file    POST /{ver}/{phone_number_id}/media     multipart, the file part with its real type
//	               POST /{ver}/{phone_number_id}/messages  type by the file's sniffed type:
//
//	sniffed type                       message   the text
//	image/jpeg, image/png              image     caption (≤ 1024 characters)
//	video/mp4, video/3gpp              video     caption (≤ 1024 characters)
//	audio/aac, amr, mpeg, mp4, ogg     audio     separate text message, after the file
//	anything else (PDF, Office, WebP…) document  caption (≤ 1024 characters), filename = file_name
//
// A text too long for a caption also goes as a separate text message after
// the file. The separate text costs no extra credit: it is part of the same
// wagate message. Send returns the wamid of the file's message then.
//
// # Errors
//
// Send's errors are classified by Meta's code, not by the HTTP status
// (developers.facebook.com, WhatsApp Cloud API, "Error codes"). Permanent
// (sender.Permanent): another try cannot succeed until a person fixes
// something, so the message fails at once and is refunded. Transient: the
// same request may pass later, and the sender tries it again.
//
//	code            class      meaning
//	190             permanent  access token invalid or expired
//	3, 10, 200–299  permanent  permission missing
//	131005          permanent  access denied
//	33              permanent  phone_number_id unknown or deleted
//	100             permanent  invalid parameter (also: file type refused at upload)
//	131008, 131009  permanent  parameter missing / value not valid
//	131021          permanent  recipient is the sender itself
//	131026          permanent  undeliverable: not on WhatsApp, old app, terms not accepted
//	131030          permanent  test number: recipient not in the allowed list
//	131031          permanent  business account locked
//	131037          permanent  display name not approved
//	131042          permanent  payment method problem
//	131045          permanent  phone number registration certificate problem
//	131047          permanent  re-engagement: over 24 h since the person last wrote
//	131049          permanent  Meta chose not to deliver (ecosystem engagement)
//	131050          permanent  the person stopped marketing messages
//	131051          permanent  unsupported message type
//	131052, 131053  permanent  media download / upload error: the file was refused
//	130472          permanent  the person is in a Meta experiment
//	130497          permanent  business may not message this country
//	368             permanent  temporarily blocked for policy violations (days)
//	133010          permanent  phone number not registered with the Cloud API
//	132000–132999   permanent  template errors (never sent by wagate)
//	135000          permanent  generic user error
//	1, 2            transient  unknown error / service temporarily down
//	4               transient  app-level API call limit
//	80007           transient  WhatsApp Business Account rate limit
//	130429          transient  throughput limit of the number (Retry-After honoured)
//	131048          transient  spam rate limit (quality); later tries may pass
//	131056          transient  pair rate limit: same recipient too soon; retry after ≥ 6 s
//	131000, 131016  transient  something went wrong / service unavailable
//	131057          transient  account in maintenance (throughput upgrade)
//	133004          transient  server temporarily unavailable
//	other codes     Meta's is_transient when given, else by HTTP status:
//	                429 and 5xx transient, other statuses permanent
//	no error body   429, 408 and 5xx transient; 3xx (redirect, not followed)
//	                and other 4xx permanent
//
// A Retry-After header makes any transient error a sender.RetryAfter with
// that delay; 131056 always waits at least PairGap. Error texts read
// "cloudapi: <Meta's message>[: <details>] (code N, fbtrace_id X): <what to
// do>" (see APIError). Besides, Send keeps 6 s between two messages to the
// same person, Meta's pair rate limit, without asking Meta (see
// Transport.Send for how that meets the account's FIFO).
//
// Status webhooks: the gateway mounts an endpoint that answers the
// subscription handshake with VerifyChallenge, checks X-Hub-Signature-256
// with VerifySignature on the raw body, reads it once with ParseWebhook and
// applies the status updates that Advance allows. The same webhook's
// customer messages record when each
// customer last wrote, per business number (ChatKey), for the 24-hour
// window the gateway checks at accept.
//
// Templates (template.go): FetchTemplates reads the WABA's message
// templates page by page; a message carrying a wagate.TemplateSend goes as
// a template message (named or positional body parameters, the file as the
// header's media), which WhatsApp delivers outside the 24-hour window.
//
// The access token is a secret: it is sent only in the Authorization header
// to base_url (redirects are not followed), never logged, and filtered out
// of every error text.
package cloudapi
