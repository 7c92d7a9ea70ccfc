package whatsapp

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Defaults of Config.
const (
	// DefaultRecipientTTL is how long "this number is on WhatsApp" is
	// believed: a day, as SPEC §10 asks.
	DefaultRecipientTTL = 24 * time.Hour
	// DefaultReconnectMin and DefaultReconnectMax bound the reconnect
	// backoff: it doubles from the first to the second.
	DefaultReconnectMin = 2 * time.Second
	DefaultReconnectMax = 5 * time.Minute
	// DefaultLinkTimeout ends a linking nobody completes.
	DefaultLinkTimeout = 3 * time.Minute
	// DefaultConfirmGrace is how long Confirm waits, after the session
	// reconnected, for a receipt of a message a crash caught handed over:
	// WhatsApp sends the receipts it held in the first seconds.
	DefaultConfirmGrace = 10 * time.Second
)

// Config sets up a Manager. DataDir or DatabaseURL is required; the rest
// has defaults.
type Config struct {
	// DataDir is the data folder; the device keys go to DataDir/whatsapp.db.
	DataDir string
	// DatabaseURL (postgres://…), when set, keeps the device keys and the
	// send ledger in that PostgreSQL database instead, in the schema
	// KeySchema, so that they live with the rest of wagate's data (SPEC
	// §12) and DataDir is not used for them.
	DatabaseURL string
	// Logger gets the session events (never a QR code, pairing code or a
	// message text). nil means zap.NewNop().
	Logger *zap.Logger
	// OnLink is told every change of an account's link state (the store
	// keeps it for the account object, metrics count it). It is called from
	// the session's goroutine and must not block for long.
	OnLink func(ref wagate.AccountRef, l Link)
	// OnReceipt is told every delivered/read receipt of a message wagate
	// sent (the cmd applies it with the store's ApplyDelivery). nil drops them.
	OnReceipt func(r Receipt)
	// Now is the clock of the recipient cache and the link states; nil
	// means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends (the reconnect backoff, the typing
	// pause); nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// HTTPClient fetches the current WhatsApp Web version at Open; nil
	// means a client with a 10 s timeout. SkipVersionCheck skips that.
	HTTPClient       *http.Client
	SkipVersionCheck bool
	// DeviceName is the name the phone shows for the linked device.
	DeviceName string
	// RecipientTTL, ReconnectMin/Max, LinkTimeout, ConfirmGrace: 0 means
	// the Default… constant.
	RecipientTTL time.Duration
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	LinkTimeout  time.Duration
	ConfirmGrace time.Duration
	// NewClient is for tests only (wagate never sets it): when set, the
	// Manager gets every account's client from it instead of whatsmeow —
	// linked says whether the account has a device recorded — so a fake
	// can play WhatsApp through the real Manager, key store and ledger
	// (see package whatsapptest).
	NewClient func(ref wagate.AccountRef, linked bool) Client
	// TypingLimit caps the typing indicator (the account's pace gap); 0
	// means no typing even for accounts with the setting.
	TypingLimit time.Duration
}

// DBFile is the name of the key store in the data folder. It is outside
// the build tag of the transport so that a build without it (-tags
// nowhatsapp) can still name the file, e.g. to tell an operator what
// wagate migrate leaves behind.
const DBFile = "whatsapp.db"
