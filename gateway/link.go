package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// AccountLinker links whatsapp accounts to WhatsApp (SPEC §10). The cmd
// gives the WhatsApp Web transport's Manager behind it, so the gateway
// does not import the transport. nil (a build without the transport)
// makes the link routes answer 503.
type AccountLinker interface {
	// Link starts linking by "qr" or "code" and returns the first state.
	Link(ctx context.Context, acct *wagate.Account, method string) (LinkStatus, error)
	// LinkStatus is the account's current state, with the QR or pairing
	// code while linking.
	LinkStatus(ref wagate.AccountRef) LinkStatus
	// Unlink logs the account's device out and forgets its keys.
	Unlink(ctx context.Context, ref wagate.AccountRef) error
	// LinkChanged returns a channel closed at the account's next change of
	// state (a new QR code included).
	LinkChanged(ref wagate.AccountRef) <-chan struct{}
}

// LinkStatus is an account's link state as the owner's link page shows
// it. QR and Code are secrets of the moment: owners only, never logged.
type LinkStatus struct {
	State     string
	QR        string
	Code      string
	ExpiresAt time.Time
	Error     string
}

func renderLink(l LinkStatus) api.Link {
	return api.Link{State: l.State, QR: l.QR, Code: l.Code, ExpiresAt: timeJSON(l.ExpiresAt), Error: l.Error}
}

// linkAccount finds the whatsapp account of a link route, for owners.
func (s *Server) linkAccount(c echo.Context) (*wagate.Account, error) {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return nil, err
	}
	ref, err := s.accountRef(c, id)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.Accounts.FindAccount(c.Request().Context(), ref)
	if err != nil {
		return nil, accountNotFound(err, ref)
	}
	if a.Transport != wagate.TransportWhatsApp {
		return nil, wagate.Errorf(wagate.EINVALID, "account %s sends through %q, which needs no linking; only whatsapp accounts are linked by QR code or pairing code", a.Phone, a.Transport)
	}
	if s.svc.Linker == nil {
		return nil, wagate.Errorf(wagate.EUNAVAILABLE, "this wagate has no WhatsApp Web transport (built with -tags nowhatsapp); run a build without that tag to link account %s", a.Phone)
	}
	return a, nil
}

// POST /api/v1/workspaces/:ws/accounts/:phone/link (owner).
func (s *Server) startLink(c echo.Context) error {
	a, err := s.linkAccount(c)
	if err != nil {
		return err
	}
	var in api.StartLink
	if err := bindJSON(c, &in, "method"); err != nil {
		return err
	}
	if in.Method == "" {
		in.Method = "qr"
	}
	if in.Method != "qr" && in.Method != "code" {
		return wagate.Errorf(wagate.EINVALID, `field "method" is %q: write "qr" to scan a QR code or "code" to type a pairing code on the phone`, cut(in.Method, 20))
	}
	l, err := s.svc.Linker.Link(c.Request().Context(), a, in.Method)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, renderLink(l))
}

// GET /api/v1/workspaces/:ws/accounts/:phone/link (owner).
func (s *Server) getLink(c echo.Context) error {
	a, err := s.linkAccount(c)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, renderLink(s.svc.Linker.LinkStatus(a.Ref())))
}

// DELETE /api/v1/workspaces/:ws/accounts/:phone/link (owner).
func (s *Server) deleteLink(c echo.Context) error {
	a, err := s.linkAccount(c)
	if err != nil {
		return err
	}
	if err := s.svc.Linker.Unlink(c.Request().Context(), a.Ref()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// GET /api/v1/workspaces/:ws/accounts/:phone/link/events (owner): the
// link object as server-sent events, one at each change (every new QR
// code), until the state is no longer "linking" or the client leaves.
func (s *Server) linkEvents(c echo.Context) error {
	a, err := s.linkAccount(c)
	if err != nil {
		return err
	}
	ref := a.Ref()
	w := c.Response()
	// A link page stays open longer than the server's write timeout.
	_ = http.NewResponseController(w.Writer).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	noStore(c)
	w.WriteHeader(http.StatusOK)
	ctx := c.Request().Context()
	for {
		changed := s.svc.Linker.LinkChanged(ref)
		l := s.svc.Linker.LinkStatus(ref)
		data, err := json.Marshal(renderLink(l))
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: link\ndata: %s\n\n", data); err != nil {
			return nil // the client left
		}
		w.Flush()
		if l.State != "linking" {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// noStore keeps an answer that may hold a QR code out of every cache.
func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
}
