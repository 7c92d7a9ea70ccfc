package cloudapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// WebhookPath is where wagate serves Meta's callbacks; the Meta app's
// webhook URL is {public_url}/webhooks/cloudapi.
const WebhookPath = "/webhooks/cloudapi"

// maxWebhookBody bounds a callback body. Meta batches at most a few
// hundred statuses into one; 1 MiB is far above that and far below harm.
const maxWebhookBody = 1 << 20

// WebhookConfig configures the status webhook endpoint.
type WebhookConfig struct {
	// AppSecret is the Meta app's secret: the key of X-Hub-Signature-256.
	// Without it no POST is accepted.
	AppSecret string
	// VerifyToken is what Meta must present in the subscription handshake.
	VerifyToken string
	// Deliveries applies the statuses to the messages.
	Deliveries wagate.DeliveryService
	// Windows records when customers wrote (the messages of the
	// "messages" field), for the 24-hour window (window.go); nil: not
	// recorded.
	Windows wagate.WindowService
	// Logger gets one line per applied update; nil means zap.NewNop().
	Logger *zap.Logger
}

// WebhookHandler serves Meta's callbacks at WebhookPath: GET is the
// hub.challenge handshake, POST a signed batch of statuses. A POST is
// checked against its signature on the raw body before anything in it is
// read. Statuses of messages wagate did not send are ignored; a storage
// failure is a 503, so Meta delivers the batch again (applying a status is
// idempotent: see Advance).
func WebhookHandler(cfg WebhookConfig) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("cloudapi_webhook")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			q := r.URL.Query()
			challenge, ok := VerifyChallenge(q.Get("hub.mode"), q.Get("hub.verify_token"), q.Get("hub.challenge"), cfg.VerifyToken)
			if !ok {
				answer(w, http.StatusForbidden, "hub.verify_token does not match the --cloudapi-verify-token of this server, or hub.mode is not subscribe")
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, challenge)
		case http.MethodPost:
			body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
			if err != nil {
				answer(w, http.StatusBadRequest, "the body could not be read")
				return
			}
			if len(body) > maxWebhookBody {
				answer(w, http.StatusRequestEntityTooLarge, "the body is larger than 1 MiB")
				return
			}
			if !VerifySignature(cfg.AppSecret, body, r.Header.Get(SignatureHeader)) {
				// Never say what the signature should have been.
				answer(w, http.StatusUnauthorized, SignatureHeader+" is missing or does not match the body under the app secret")
				return
			}
			hook, err := ParseWebhook(body)
			if err != nil {
				answer(w, http.StatusBadRequest, "the body is not a Cloud API webhook")
				return
			}
			if err := applyAll(r.Context(), cfg.Deliveries, hook.Statuses, log); err != nil {
				answer(w, http.StatusServiceUnavailable, "storage unavailable; deliver again later")
				return
			}
			if err := recordCustomers(r.Context(), cfg.Windows, hook.Customers, time.Now(), log); err != nil {
				answer(w, http.StatusServiceUnavailable, "storage unavailable; deliver again later")
				return
			}
			answer(w, http.StatusOK, "ok")
		default:
			w.Header().Set("Allow", "GET, POST")
			answer(w, http.StatusMethodNotAllowed, "use GET for the handshake and POST for callbacks")
		}
	})
}

// applyAll applies each status; it stops at the first storage failure.
func applyAll(ctx context.Context, d wagate.DeliveryService, updates []StatusUpdate, log *zap.Logger) error {
	for _, u := range updates {
		m, applied, err := d.ApplyDelivery(context.WithoutCancel(ctx), wagate.DeliveryUpdate{
			ProviderID: u.ProviderID,
			Status:     u.Status,
			At:         u.At,
			Error:      failureText(u),
			// The wamid counts only with the number it came from (SPEC §8).
			From: wagate.DeliverySender{Setting: SettingPhoneNumberID, Value: u.PhoneNumberID},
		}, Advance)
		switch {
		case wagate.ErrorCode(err) == wagate.ENOTFOUND:
			// Sent by another system on the same number, or not by wagate.
			log.Debug("status of an unknown message", zap.String("status", u.Status))
		case err != nil:
			log.Error("applying a status", zap.String("status", u.Status), zap.Error(err))
			return err
		case applied:
			log.Info("status applied", zap.String("message_id", m.ID), zap.String("status", u.Status), zap.String("message_status", string(m.Status)))
		}
	}
	return nil
}

// failureText is the message's error for a failed status: Meta's code and
// title, its details, and what to do for the codes that have advice.
func failureText(u StatusUpdate) string {
	if u.Status != StatusFailed {
		return ""
	}
	text := fmt.Sprintf("cloudapi: %s (code %d)", u.ErrorTitle, u.ErrorCode)
	if u.ErrorDetails != "" {
		text += ": " + u.ErrorDetails
	}
	// Only a permanent code's advice fits: a failed status is final, so
	// "will be tried again" would not be true.
	if r, ok := ruleFor(u.ErrorCode); ok && r.class == permanent {
		text += "; " + r.advice
	}
	return text
}

// answer writes a small JSON body in wagate's error envelope.
func answer(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"status": status, "data": struct{}{}, "message": message})
}
