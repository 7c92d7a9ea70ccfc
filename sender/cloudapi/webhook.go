package cloudapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wagate/wagate"
)

// SignatureHeader is the header Meta signs each webhook POST with:
// "sha256=" and the hex HMAC-SHA256 of the raw body, keyed with the app
// secret.
const SignatureHeader = "X-Hub-Signature-256"

// VerifySignature reports whether header is a valid X-Hub-Signature-256 of
// body under appSecret. body must be the raw bytes as received, before any
// decoding. The comparison is constant-time (hmac.Equal). An empty appSecret
// verifies nothing: anyone can compute an HMAC under an empty key.
func VerifySignature(appSecret string, body []byte, header string) bool {
	if appSecret == "" {
		return false
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// maxChallenge bounds the hub.challenge echoed back; Meta's is a number.
const maxChallenge = 128

// VerifyChallenge answers Meta's subscription handshake, GET with
// hub.mode=subscribe, hub.verify_token and hub.challenge: when mode is
// "subscribe" and token equals wantToken (compared in constant time, its
// length hidden too) it returns the challenge to echo as the response body
// and true. An empty wantToken verifies nothing. A challenge that is not a
// short run of letters, digits, '-' or '_' is refused, so the endpoint
// never reflects arbitrary text.
func VerifyChallenge(mode, token, challenge, wantToken string) (string, bool) {
	if mode != "subscribe" || wantToken == "" {
		return "", false
	}
	a, b := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(wantToken))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return "", false
	}
	if challenge == "" || len(challenge) > maxChallenge {
		return "", false
	}
	for i := 0; i < len(challenge); i++ {
		c := challenge[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return "", false
		}
	}
	return challenge, true
}

// The statuses Meta reports for a sent message.
const (
	StatusSent      = "sent"      // Meta's servers took it
	StatusDelivered = "delivered" // it reached the person's phone
	StatusRead      = "read"      // the person opened it (only with read receipts on)
	StatusFailed    = "failed"    // it could not be delivered; Error* say why
)

// StatusUpdate is one entry of a status webhook: what became of a message
// the transport sent.
type StatusUpdate struct {
	ProviderID    string    // the wamid Send returned
	Status        string    // StatusSent, StatusDelivered, StatusRead or StatusFailed
	At            time.Time // when it happened (Meta's timestamp, whole seconds, UTC); zero if absent
	RecipientID   string    // the person's WhatsApp id (usually the phone digits)
	ErrorCode     int       // for failed: Meta's error code (see the package documentation's table)
	ErrorTitle    string    // for failed: its title
	ErrorDetails  string    // for failed: error_data.details, what went wrong
	PhoneNumberID string    // the business number it was sent from (metadata.phone_number_id)
}

// webhookBody is the part of a Cloud API webhook body wagate reads: the
// statuses of the messages it sent and the messages customers wrote, both
// under entry[].changes[].value of field "messages".
type webhookBody struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					PhoneNumberID string `json:"phone_number_id"`
				} `json:"metadata"`
				Statuses []struct {
					ID          string          `json:"id"`
					Status      string          `json:"status"`
					Timestamp   json.RawMessage `json:"timestamp"`
					RecipientID string          `json:"recipient_id"`
					Errors      []struct {
						Code      int    `json:"code"`
						Title     string `json:"title"`
						Message   string `json:"message"`
						ErrorData struct {
							Details string `json:"details"`
						} `json:"error_data"`
					} `json:"errors"`
				} `json:"statuses"`
				Messages []struct {
					From      string          `json:"from"`
					Timestamp json.RawMessage `json:"timestamp"`
				} `json:"messages"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// Webhook is what one Cloud API webhook body tells wagate, read in one pass.
type Webhook struct {
	Statuses  []StatusUpdate    // the status updates, in the order they appear
	Customers []CustomerMessage // the customers' messages, in the order they appear
}

// ParseWebhook reads a Cloud API webhook body once, for both its status
// updates and its customers' messages (entry[].changes[].value.statuses[]
// and .messages[] of field "messages"). Everything else is ignored:
// account-level errors (value.errors[]), other fields.
//
// A status that is not one of the four, or has no id, and a customer
// message without a sender or a business number are skipped rather than
// failing the whole batch: Meta redelivers a webhook that is not answered
// 200 for days, so one odd entry must not block the others. The error is
// for a body that is not a WhatsApp Business Account webhook at all (not
// JSON, or another "object"); verify the signature first.
//
// Meta may deliver an update twice or out of order: see Advance.
func ParseWebhook(body []byte) (*Webhook, error) {
	var w webhookBody
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("cloudapi: the webhook body is not a JSON object of the Cloud API: %w", err)
	}
	if w.Object != "whatsapp_business_account" {
		return nil, fmt.Errorf("cloudapi: the webhook is for object %q, not \"whatsapp_business_account\"; subscribe the app to the WhatsApp Business Account's messages field", w.Object)
	}
	out := &Webhook{}
	for _, e := range w.Entry {
		for _, c := range e.Changes {
			if c.Field != "" && c.Field != "messages" {
				continue
			}
			number := c.Value.Metadata.PhoneNumberID
			for _, s := range c.Value.Statuses {
				switch s.Status {
				case StatusSent, StatusDelivered, StatusRead, StatusFailed:
				default:
					continue
				}
				if s.ID == "" || hasNUL(s.ID, number) {
					continue
				}
				u := StatusUpdate{
					ProviderID:    s.ID,
					Status:        s.Status,
					At:            unixTime(s.Timestamp),
					RecipientID:   s.RecipientID,
					PhoneNumberID: number,
				}
				if len(s.Errors) > 0 {
					er := s.Errors[0]
					u.ErrorCode, u.ErrorTitle, u.ErrorDetails = er.Code, noNUL(er.Title), noNUL(er.ErrorData.Details)
					if u.ErrorTitle == "" {
						u.ErrorTitle = noNUL(er.Message)
					}
				}
				out.Statuses = append(out.Statuses, u)
			}
			for _, m := range c.Value.Messages {
				if m.From == "" || number == "" || !reDigits.MatchString(m.From) || hasNUL(number) {
					continue
				}
				out.Customers = append(out.Customers, CustomerMessage{PhoneNumberID: number, From: m.From, At: unixTime(m.Timestamp)})
			}
		}
	}
	return out, nil
}

// ParseStatusWebhook reads the status updates of a Cloud API webhook body:
// ParseWebhook's Statuses.
func ParseStatusWebhook(body []byte) ([]StatusUpdate, error) {
	w, err := ParseWebhook(body)
	if err != nil {
		return nil, err
	}
	return w.Statuses, nil
}

// unixTime reads Meta's timestamp: Unix seconds as a string ("1750857384"),
// or as a number in older payloads. Anything else is the zero time.
func unixTime(raw json.RawMessage) time.Time {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// statusRank orders the statuses of a message that went well.
var statusRank = map[string]int{"": 0, StatusSent: 1, StatusDelivered: 2, StatusRead: 3}

// Advance reports whether a status update next moves a message forward from
// current, the last status applied to it ("" when none was), so duplicates
// and late arrivals are dropped:
//
//   - sent < delivered < read: only a later stage moves forward; the same
//     status again (a duplicate) or an earlier one (arriving late: "sent"
//     after "read") does not;
//   - failed wins over "" and sent: a failure after sent means the message
//     never reached the phone (Meta keeps trying for up to 30 days), so it
//     is failed, and a late failure refunds it;
//   - failed after delivered or read is ignored: the person has the
//     message, and taking its credits back then would be wrong;
//   - nothing moves a failed message: a "delivered" arriving after the
//     "failed" that refunded it does not undo the refund;
//   - an unknown next never advances.
func Advance(current, next string) bool {
	if current == StatusFailed {
		return false
	}
	if next == StatusFailed {
		return current == "" || current == StatusSent
	}
	cr, ok := statusRank[current]
	if !ok {
		return false
	}
	nr, ok := statusRank[next]
	return ok && next != "" && nr > cr
}

// A NUL character (U+0000) never comes in an id or number wagate knows,
// and no backend can keep one (PostgreSQL's text and jsonb cannot): an
// entry whose id or number holds one is skipped as odd, and Meta's error
// texts keep the rest with U+FFFD in its place.

func hasNUL(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return true
		}
	}
	return false
}

func noNUL(s string) string { return wagate.StorableText(s) }
