//go:build !nowhatsapp

package whatsapp

import (
	"context"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
)

// Built reports whether this binary contains the WhatsApp Web transport.
const Built = true

// Client is the part of *whatsmeow.Client the transport uses: small enough
// that a test fake can play WhatsApp, with the same signatures so the real
// client fits as it is.
type Client interface {
	// Connect opens the websocket; for an unpaired device WhatsApp then
	// sends QR codes (GetQRChannel must be called before).
	Connect() error
	Disconnect()
	// Logout removes this companion device from the phone and deletes the
	// keys from the store.
	Logout(ctx context.Context) error
	IsConnected() bool
	IsLoggedIn() bool
	GetQRChannel(ctx context.Context) (<-chan whatsmeow.QRChannelItem, error)
	PairPhone(ctx context.Context, phone string, showPushNotification bool, clientType whatsmeow.PairClientType, clientDisplayName string) (string, error)
	IsOnWhatsApp(ctx context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error)
	// SendMessage waits for the server's ack; extra carries the message id.
	SendMessage(ctx context.Context, to types.JID, message *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error)
	Upload(ctx context.Context, plaintext []byte, appInfo whatsmeow.MediaType) (whatsmeow.UploadResponse, error)
	SendChatPresence(ctx context.Context, jid types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error
	AddEventHandler(handler whatsmeow.EventHandler) uint32
	RemoveEventHandler(id uint32) bool
}

var _ Client = (*whatsmeow.Client)(nil)
