//go:build !nowhatsapp

package whatsapp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/socket"

	"github.com/wagate/wagate/sender"
)

// Error codes WhatsApp's server puts in its answer to a message.
const (
	codeRateLimit = 429
	// codeReachOut is the refusal WhatsApp brought in 2026 against
	// companion devices that start conversations with people at scale.
	codeReachOut = 463
)

// rateLimitWait is the least wait after WhatsApp's rate limit: it names no
// time, and trying sooner risks the account.
const rateLimitWait = time.Minute

// ReachOutText explains error 463 to the person who reads the message's
// error.
const ReachOutText = "WhatsApp refused this message (error 463): it limits messages from linked devices to people who have not written to this account and do not have it in their contacts. Ask the person to message this number first, or send from the phone; wagate does not try again"

// serverCode returns the error code of a message the server refused
// ("server returned error N"): such a message was not delivered.
func serverCode(err error) (int, bool) {
	if !errors.Is(err, whatsmeow.ErrServerReturnedError) {
		return 0, false
	}
	text := err.Error()
	i := strings.LastIndex(text, whatsmeow.ErrServerReturnedError.Error())
	if i < 0 {
		return 0, true
	}
	f := strings.Fields(text[i+len(whatsmeow.ErrServerReturnedError.Error()):])
	if len(f) == 0 {
		return 0, true
	}
	n, perr := strconv.Atoi(f[0])
	if perr != nil {
		return 0, true
	}
	return n, true
}

// unavailableErr reports errors that mean the client is not connected or
// not logged in, found before anything went to the server.
func unavailableErr(err error) bool {
	var de *whatsmeow.DisconnectedError
	return errors.Is(err, whatsmeow.ErrNotConnected) || errors.Is(err, whatsmeow.ErrNotLoggedIn) ||
		errors.Is(err, socket.ErrSocketClosed) || errors.Is(err, whatsmeow.ErrIQDisconnected) ||
		(errors.As(err, &de) && de.Action == "info query")
}

// classifyBefore classifies an error of a step before the message itself
// (the recipient check, the upload): nothing went out, so every error may
// be tried again. Disconnected → Unavailable (no retry spent, the account
// waits for its session's wake); WhatsApp's rate limit → RetryAfter; the
// rest transient.
func classifyBefore(err error) error {
	switch {
	case unavailableErr(err):
		return sender.Unavailable(fmt.Errorf("%w; the account is not connected, the message waits until it is connected again", err))
	case errors.Is(err, whatsmeow.ErrIQRateOverLimit):
		return sender.RetryAfter(fmt.Errorf("%w (WhatsApp's rate limit)", err), rateLimitWait)
	}
	return err
}

// classifySend classifies an error of SendMessage. The message had not
// left when the client was not connected or logged in, when a lookup
// before the send failed, or when the server refused it with a code; in
// every other case (no ack in time, a disconnect or a cancel while waiting
// for it, an error wagate does not know) it may have reached WhatsApp, and
// the message fails as interrupted: sending it again could deliver it
// twice. Not connected is sender.Unavailable, not a Defer: the connection
// dropped between the state check and the send, so the session will report
// it and wake the account when it is connected again; a timed Defer would
// only try again, and fail again, while the phone is still away.
func classifySend(err error) error {
	if code, refused := serverCode(err); refused {
		switch {
		case code == codeReachOut:
			return sender.Permanent(fmt.Errorf("whatsapp: %s", ReachOutText))
		case code == codeRateLimit:
			return sender.RetryAfter(fmt.Errorf("whatsapp: WhatsApp's rate limit (error 429); the message is tried again later"), rateLimitWait)
		case code >= 500:
			return fmt.Errorf("whatsapp: WhatsApp's server failed (error %d); the message is tried again", code)
		}
		return sender.Permanent(fmt.Errorf("whatsapp: WhatsApp refused the message (error %d)", code))
	}
	switch {
	case unavailableErr(err):
		return sender.Unavailable(fmt.Errorf("whatsapp: %w; the account is not connected, the message waits until it is connected again", err))
	case errors.Is(err, whatsmeow.ErrRecipientADJID), errors.Is(err, whatsmeow.ErrUnknownServer), errors.Is(err, whatsmeow.ErrBroadcastListUnsupported):
		return sender.Permanent(fmt.Errorf("whatsapp: %w", err))
	case errors.Is(err, whatsmeow.ErrIQRateOverLimit):
		return sender.RetryAfter(fmt.Errorf("whatsapp: %w (WhatsApp's rate limit)", err), rateLimitWait)
	case isIQError(err), errors.Is(err, whatsmeow.ErrIQTimedOut):
		// A lookup before the send (group members, devices) failed.
		return fmt.Errorf("whatsapp: preparing the message: %w", err)
	}
	return sender.Permanent(fmt.Errorf("interrupted: the message may have reached WhatsApp, so wagate does not send it again (a receipt will still mark it delivered): %w", err))
}

func isIQError(err error) bool {
	var iq *whatsmeow.IQError
	return errors.As(err, &iq)
}
