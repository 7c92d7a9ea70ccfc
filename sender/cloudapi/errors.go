package cloudapi

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/wagate/wagate/sender"
)

// PairGap is how long Meta wants between two messages of one business number
// to the same person: about one every 6 seconds (the pair rate limit, code
// 131056).
const PairGap = 6 * time.Second

// errMaybeDelivered ends the error of a send that went out and got no
// answer, so tests and callers can tell it with errors.Is.
var errMaybeDelivered = errors.New("delivery unknown")

// ErrRecipientTooSoon is the transient error of a send held back because the
// previous message to the same recipient went less than the pair gap ago
// (see Transport.Send). It comes marked with sender.Defer: not a failed try.
var ErrRecipientTooSoon = errors.New("cloudapi: the previous message to this recipient went less than 6 seconds ago; WhatsApp allows about one message every 6 seconds to the same person (code 131056), so this one waits its turn")

// APIError is an error answer of the Graph API:
//
//	{"error":{"message","type","code","error_subcode","error_data":{"details"},"fbtrace_id"}}
//
// or, with Code 0, an answer without that body (a proxy's 502, say). Send
// returns it wrapped with sender.Permanent or sender.RetryAfter as the
// classification says; errors.As reaches it either way.
type APIError struct {
	HTTPStatus int
	Code       int    // Meta's error code; what the classification looks at
	Subcode    int    // error_subcode, deprecated by Meta; informative only
	Type       string // e.g. "OAuthException"
	Message    string // Meta's message, without its "(#code) " prefix
	Details    string // error_data.details: what was wrong, in Meta's words
	FBTraceID  string // quote it to Meta's support
	Advice     string // what the workspace can do about it
}

// Error reads "cloudapi: <Meta's message>[: <details>] (code N[, fbtrace_id
// X]): <what to do>". It holds no secret: Meta's texts pass through a filter
// that removes the access token, should Meta ever echo it, in any form
// (escaped, base64, cut: see redact).
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("cloudapi: ")
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d %s from the Graph API", e.HTTPStatus, http.StatusText(e.HTTPStatus))
	}
	b.WriteString(msg)
	if e.Details != "" && e.Details != e.Message {
		b.WriteString(": ")
		b.WriteString(e.Details)
	}
	if e.Code != 0 || e.FBTraceID != "" {
		b.WriteString(" (")
		if e.Code != 0 {
			fmt.Fprintf(&b, "code %d", e.Code)
			if e.FBTraceID != "" {
				b.WriteString(", ")
			}
		}
		if e.FBTraceID != "" {
			b.WriteString("fbtrace_id " + e.FBTraceID)
		}
		b.WriteString(")")
	}
	if e.Advice != "" {
		b.WriteString(": ")
		b.WriteString(e.Advice)
	}
	return b.String()
}

// Classes of a Graph API error.
const (
	permanent = iota + 1
	transient
)

// rule is one line of the error table: the class and the advice.
type rule struct {
	class  int
	advice string
}

// Advice texts shared by several codes.
const (
	adviceToken      = "the access token is invalid or expired; create a new one (a system user token does not expire) and update the account's access_token setting"
	advicePermission = "the access token lacks a permission; give its system user the whatsapp_business_messaging permission on this WhatsApp Business Account, then update access_token"
	adviceParam      = "Meta refused the request; the details name the parameter (a wrong phone_number_id, a file type WhatsApp does not take, a text over 4096 characters)"
	adviceRetry      = "a temporary problem at Meta; the message will be tried again"
	adviceThroughput = "the business number sends faster than its throughput allows; the message will be tried again later"
	adviceTemplate   = "wagate does not send template messages; this should not happen, please report it"
)

// rules is the error table of the package documentation ("Errors"), by
// Meta's code; ruleFor adds its ranges. Keep the two in step.
var rules = map[int]rule{
	190:    {permanent, adviceToken},
	3:      {permanent, advicePermission},
	10:     {permanent, advicePermission},
	131005: {permanent, advicePermission},
	33:     {permanent, "check the account's phone_number_id setting: Meta does not know this phone number id, or the number was deleted"},
	100:    {permanent, adviceParam},
	131008: {permanent, adviceParam},
	131009: {permanent, adviceParam},
	131021: {permanent, "the recipient is the account's own number; send to someone else"},
	131026: {permanent, "the recipient cannot get this message: the number is not on WhatsApp, or uses an old WhatsApp version, or has not accepted the latest terms; check the number"},
	131030: {permanent, "this is a test number: it sends only to the numbers added to its allowed list in WhatsApp Manager's API Setup; add the recipient there, or use a production number"},
	131031: {permanent, "the WhatsApp Business Account is locked (a policy violation or a wrong two-step PIN); see WhatsApp Manager"},
	131037: {permanent, "the number's display name is not approved yet; finish it in WhatsApp Manager"},
	131042: {permanent, "fix the payment method of the WhatsApp Business Account in Meta's Business Settings"},
	131045: {permanent, "register the phone number with the Cloud API again"},
	131047: {permanent, "more than 24 hours have passed since this person last wrote to the number; outside that customer service window WhatsApp delivers only approved template messages: send a workspace template mapped to an approved Cloud API template of this account (\"template\" on the inbound URL; the account needs its waba_id setting), or ask the person to write first, then send again"},
	131049: {permanent, "Meta chose not to deliver this message to keep engagement healthy; do not resend at once"},
	131050: {permanent, "the person has stopped marketing messages from this business"},
	131051: {permanent, "WhatsApp does not support this message type; send the file as a PDF or another common format"},
	131052: {permanent, "WhatsApp could not fetch the file; send it again in a common format"},
	131053: {permanent, "WhatsApp could not process the file (a format it does not take, a damaged file, or too large); send it as a PDF or in another common format"},
	130472: {permanent, "the person's number is part of a Meta experiment and cannot get this message now"},
	130497: {permanent, "the business may not message people in this country"},
	368:    {permanent, "the WhatsApp Business Account is temporarily blocked for policy violations; see WhatsApp Manager"},
	133010: {permanent, "the phone number is not registered with the Cloud API; register it (WhatsApp Manager, or POST /{phone_number_id}/register)"},
	135000: {permanent, "Meta refused the request; the details say why"},
	1:      {transient, adviceRetry},
	2:      {transient, adviceRetry},
	4:      {transient, "the Meta app reached its API call limit; the message will be tried again later"},
	80007:  {transient, "the WhatsApp Business Account reached its rate limit; the message will be tried again later"},
	130429: {transient, adviceThroughput},
	131048: {transient, "Meta limits how many messages this number may send because many were blocked or reported as spam; check the quality rating in WhatsApp Manager; the message will be tried again later"},
	131056: {transient, "too many messages to this person in a short time (WhatsApp allows about one every 6 seconds); the message will be tried again"},
	131000: {transient, adviceRetry},
	131016: {transient, adviceRetry},
	131057: {transient, "the business account is in maintenance (a throughput upgrade takes about a minute); the message will be tried again"},
	133004: {transient, adviceRetry},
}

// ruleFor returns the table's line for a code, with the ranges.
func ruleFor(code int) (rule, bool) {
	if r, ok := rules[code]; ok {
		return r, true
	}
	switch {
	case code >= 200 && code <= 299:
		return rule{permanent, advicePermission}, true
	case code >= 132000 && code <= 132999:
		return rule{permanent, adviceTemplate}, true
	}
	return rule{}, false
}

// graphError is the wire form of an error answer.
type graphError struct {
	Error *struct {
		Message      string `json:"message"`
		Type         string `json:"type"`
		Code         int    `json:"code"`
		ErrorSubcode int    `json:"error_subcode"`
		ErrorData    struct {
			Details string `json:"details"`
		} `json:"error_data"`
		FBTraceID   string `json:"fbtrace_id"`
		IsTransient *bool  `json:"is_transient"`
	} `json:"error"`
}

var reCodePrefix = regexp.MustCompile(`^\(#\d+\)\s*`)

// classify turns an error answer into the error Send returns: an *APIError
// wrapped by sender.Permanent, by sender.RetryAfter (transient with a known
// delay), or bare (transient). It is pure: the table above, the answer, and
// the Retry-After header's delay (ok false when absent).
func classify(status int, g *graphError, retryAfter time.Duration, hasRetryAfter bool) error {
	e := &APIError{HTTPStatus: status}
	class := 0
	if g != nil && g.Error != nil && g.Error.Code != 0 {
		ge := g.Error
		e.Code, e.Subcode, e.Type = ge.Code, ge.ErrorSubcode, ge.Type
		e.Message = reCodePrefix.ReplaceAllString(ge.Message, "")
		e.Details, e.FBTraceID = ge.ErrorData.Details, ge.FBTraceID
		if r, ok := ruleFor(ge.Code); ok {
			class, e.Advice = r.class, r.advice
		} else if ge.IsTransient != nil {
			class = permanent
			if *ge.IsTransient {
				class = transient
			}
		}
	}
	if class == 0 {
		switch {
		case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
			class = transient
			if e.Advice == "" {
				e.Advice = adviceRetry
			}
		case status >= 300 && status < 400:
			class = permanent
			e.Advice = "the Graph API answered with a redirect, which wagate does not follow with the access token; check the account's base_url and api_version settings"
		default:
			class = permanent
			if e.Advice == "" && e.Code == 0 {
				e.Advice = "an unexpected answer; check the account's base_url and api_version settings"
			}
		}
	}
	if class == permanent {
		return sender.Permanent(e)
	}
	if e.Code == 131056 {
		retryAfter, hasRetryAfter = max(retryAfter, PairGap), true
	}
	if hasRetryAfter {
		return sender.RetryAfter(e, retryAfter)
	}
	return e
}

// maxRetryAfter caps a Retry-After: a day is longer than any retry plan, and
// the cap keeps a silly header from overflowing a Duration.
const maxRetryAfter = 24 * time.Hour
