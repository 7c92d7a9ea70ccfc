package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// The provider templates of an account (SPEC §8): read from the provider
// when the account is connected, on POST …/accounts/{phone}/templates/sync,
// and every TemplateSyncEvery; listed at GET …/accounts/{phone}/templates.

// TemplateSyncEvery is how often SyncTemplatesEvery reads every account's
// templates again: a template approved or paused in WhatsApp Manager shows
// within the hour.
const TemplateSyncEvery = time.Hour

// templateSyncTimeout bounds one account's sync, so a slow provider cannot
// hold an admin request or the hourly round for long.
const templateSyncTimeout = 30 * time.Second

// SyncAccountTemplates reads the account's templates from its provider and
// stores them. EINVALID when the account's transport has no templates or
// the account has nowhere to read them from (the error says which
// setting), the provider's refusal as it says it.
func (s *Server) SyncAccountTemplates(ctx context.Context, ref wagate.AccountRef) (*wagate.AccountTemplates, error) {
	if s.svc.Templates == nil {
		return nil, errNoTemplates()
	}
	acct, err := s.svc.Accounts.FindAccount(ctx, ref)
	if err != nil {
		return nil, accountNotFound(err, ref)
	}
	sync := s.transports()[acct.Transport].SyncTemplates
	if sync == nil {
		return nil, wagate.Errorf(wagate.EINVALID, "account %s sends through %q, which has no provider templates; templates are read from Cloud API (cloudapi) accounts", ref.Phone, acct.Transport)
	}
	sctx, cancel := context.WithTimeout(ctx, templateSyncTimeout)
	defer cancel()
	list, err := sync(sctx, acct.Settings)
	if err != nil {
		return nil, err
	}
	at := &wagate.AccountTemplates{Account: ref, Templates: list, SyncedAt: s.now().UTC()}
	if err := s.svc.Templates.SetAccountTemplates(ctx, at); err != nil {
		return nil, accountNotFound(err, ref)
	}
	s.log.Info("account templates synced", zap.String("workspace", ref.WorkspaceID), zap.String("account", ref.Phone), zap.Int("templates", len(list)))
	return at, nil
}

// syncQuietly syncs an account's templates when it has a place to read
// them from, logging what fails: for the syncs nobody asked for (a new
// account, the hourly round).
func (s *Server) syncQuietly(ctx context.Context, a *wagate.Account) {
	if s.svc.Templates == nil || s.transports()[a.Transport].SyncTemplates == nil {
		return
	}
	if _, err := s.SyncAccountTemplates(ctx, a.Ref()); err != nil && !errors.Is(err, wagate.ErrNoProviderTemplates) {
		s.log.Warn("syncing account templates", zap.String("workspace", a.WorkspaceID), zap.String("account", a.Phone), zap.Error(err))
	}
}

// SyncAllTemplates syncs the templates of every active account that has
// them.
func (s *Server) SyncAllTemplates(ctx context.Context) {
	wss, err := s.svc.Workspaces.ListWorkspaces(ctx)
	if err != nil {
		s.log.Warn("template sync: listing workspaces", zap.Error(err))
		return
	}
	for _, ws := range wss {
		accounts, err := s.svc.Accounts.ListAccounts(ctx, ws.ID)
		if err != nil {
			s.log.Warn("template sync: listing accounts", zap.String("workspace", ws.ID), zap.Error(err))
			continue
		}
		for _, a := range accounts {
			if ctx.Err() != nil {
				return
			}
			if a.Active {
				s.syncQuietly(ctx, a)
			}
		}
	}
}

// SyncTemplatesEvery runs SyncAllTemplates every interval until ctx is
// done (the first round after one interval: new accounts sync when
// connected).
func (s *Server) SyncTemplatesEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.SyncAllTemplates(ctx)
		}
	}
}

func renderAccountTemplates(at *wagate.AccountTemplates) *api.AccountTemplateList {
	out := &api.AccountTemplateList{Templates: []api.ProviderTemplate{}}
	if at == nil {
		return out
	}
	out.SyncedAt = timeJSON(at.SyncedAt)
	for _, p := range at.Templates {
		format := "POSITIONAL"
		if p.Named {
			format = "NAMED"
		}
		out.Templates = append(out.Templates, api.ProviderTemplate{
			Name: p.Name, Language: p.Language, Status: p.Status, Category: p.Category,
			ParameterFormat: format, Parameters: append([]string{}, p.BodyParameters...), HeaderFormat: p.HeaderFormat,
		})
	}
	return out
}

// GET /api/v1/workspaces/:ws/accounts/:phone/templates (owner, support):
// the templates as last synced; none and synced_at null before a sync.
func (s *Server) listAccountTemplates(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	ref, err := s.accountRef(c, id)
	if err != nil {
		return err
	}
	if s.svc.Templates == nil {
		return errNoTemplates()
	}
	ctx := c.Request().Context()
	if _, err := s.svc.Accounts.FindAccount(ctx, ref); err != nil {
		return accountNotFound(err, ref)
	}
	at, err := s.svc.Templates.FindAccountTemplates(ctx, ref)
	if err != nil && wagate.ErrorCode(err) != wagate.ENOTFOUND {
		return err
	}
	return c.JSON(http.StatusOK, renderAccountTemplates(at))
}

// POST /api/v1/workspaces/:ws/accounts/:phone/templates/sync (owner).
func (s *Server) syncAccountTemplates(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	ref, err := s.accountRef(c, id)
	if err != nil {
		return err
	}
	at, err := s.SyncAccountTemplates(c.Request().Context(), ref)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderAccountTemplates(at))
}

// checkWindow refuses a free-form message to a chat whose 24-hour customer
// service window is known to be closed (SPEC §8): WhatsApp would refuse it
// (131047) after it was charged and queued. With no record of the
// customer writing, the message goes, and the provider decides.
func (s *Server) checkWindow(ctx context.Context, ws *wagate.Workspace, account *wagate.Account, jid string) error {
	window := s.transports()[account.Transport].Window
	if window == nil || s.svc.Windows == nil {
		return nil
	}
	key, ok := window(account.Settings, jid)
	if !ok {
		return nil
	}
	last, ok, err := s.svc.Windows.LastCustomerMessage(ctx, key)
	if err != nil || !ok {
		return err
	}
	now := s.now()
	if now.Sub(last) <= wagate.CustomerWindow {
		return nil
	}
	ago := now.Sub(last).Truncate(time.Hour)
	fix := "map a template of this workspace to an approved Cloud API template of account " + account.Phone +
		` (POST …/templates with "cloudapi"), then send it with "template" and "variables"`
	if s.svc.Templates != nil {
		list, err := s.svc.Templates.ListTemplates(ctx, ws.ID)
		if err != nil {
			return err
		}
		for _, t := range list {
			if t.CloudAPI != nil && t.CloudAPI.AccountPhone == account.Phone {
				fix = `send a template instead, e.g. "template":"` + t.Name + `" (mapped to the Cloud API template ` + t.CloudAPI.Name + ")"
				break
			}
		}
	}
	return wagate.Errorf(wagate.EINVALID, "the customer last wrote to account %s %s ago, more than 24 hours: WhatsApp delivers only template messages outside the 24-hour window, so this free-form text would fail; %s", account.Phone, ago, fix)
}
