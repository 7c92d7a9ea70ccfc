package gateway

import (
	"context"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// The use cases below are what the admin API and the web console both do to
// a workspace. Each face checks who may act (wagate.Authorize), reads its
// own input and renders its own answer; the steps in between are written
// once, here, so the two faces cannot drift apart. CreateWorkspace,
// CreateToken, RevokeToken and DownloadAttempts are use cases of the same
// kind, beside their handlers.

// SetWebhookEnabled switches the workspace's inbound URL on or off, keeping
// the URL.
func (s *Server) SetWebhookEnabled(ctx context.Context, workspaceID string, enabled bool) (*wagate.Workspace, error) {
	ws, err := s.svc.Workspaces.SetWebhookEnabled(ctx, workspaceID, enabled)
	if err != nil {
		return nil, err
	}
	s.log.Info("inbound URL switched", zap.String("workspace", workspaceID), zap.Bool("enabled", enabled))
	return ws, nil
}

// RegenerateWebhook gives the workspace a new 256-bit inbound token; the
// old URL answers 404 from the same commit on.
func (s *Server) RegenerateWebhook(ctx context.Context, workspaceID string) (*wagate.Workspace, error) {
	tok, err := wagate.NewToken(s.rand)
	if err != nil {
		return nil, err
	}
	ws, err := s.svc.Workspaces.RegenerateWebhook(ctx, workspaceID, tok, s.now().UTC())
	if err != nil {
		return nil, err
	}
	s.log.Info("inbound URL regenerated", zap.String("workspace", workspaceID))
	return ws, nil
}

// CancelMessage cancels a queued message of the workspace: it fails as
// "cancelled" and is refunded in one commit (SPEC §2). A message being sent
// or already final is ECONFLICT; an unknown id is ENOTFOUND naming it.
//
// source (wagate.SourceAPI, SourceConsole) says where the owner cancelled
// it, for the message.cancelled event and the endpoints' filters.
func (s *Server) CancelMessage(ctx context.Context, workspaceID, messageID, source string) (*wagate.Message, error) {
	m, err := s.svc.Messages.CancelMessage(ctx, workspaceID, messageID, source, s.now().UTC())
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return nil, wagate.Errorf(wagate.ENOTFOUND, "message %q not found in this workspace", cut(messageID, 40))
		}
		return nil, err
	}
	s.log.Info("message cancelled", zap.String("workspace", workspaceID), zap.String("message_id", m.ID), zap.Int64("refunded", m.Credits))
	return m, nil
}

// SetAccount changes an account's Active switch and careful-sending rules
// (SPEC §2) by the fields of in that are set, validated as a whole: the
// admin API's PATCH …/accounts/{phone} and the console's account page.
// Errors are EINVALID naming the field as the API spells it, or ENOTFOUND
// naming the account. The sender is woken, as messages may have waited
// for the activation or for rules now relaxed.
func (s *Server) SetAccount(ctx context.Context, ref wagate.AccountRef, in *api.SetAccount) (*wagate.Account, error) {
	a, err := s.svc.Accounts.UpdateAccount(ctx, ref, func(a *wagate.Account) error {
		return applySetAccount(a, in)
	})
	if err != nil {
		return nil, accountNotFound(err, ref)
	}
	if a.Active && s.svc.Waker != nil {
		s.svc.Waker.Wake(ref)
	}
	s.accountChanged(ref)
	s.log.Info("account settings changed", zap.String("workspace", ref.WorkspaceID), zap.String("account", ref.Phone), zap.Bool("active", a.Active))
	return a, nil
}
