package console

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

// The link page of a whatsapp account (SPEC §10): the owner starts a
// linking, and the page follows it through the console's own event stream
// (the session's cookie, not an admin token), drawing each QR code as a
// PNG made here, until "Connected as +1…". The QR code travels only in
// that uncacheable stream, never in a URL, a log or the HTML.

// linkPage is the page's data.
type linkPage struct {
	Phone  string
	State  string
	Events string // the event stream's path
	Action string // the form's path
}

// linkEvent is one event of the console's stream.
type linkEvent struct {
	State string `json:"state"`
	QRPNG string `json:"qr_png,omitempty"` // data: URL of the QR code image
	Code  string `json:"code,omitempty"`
	Text  string `json:"text"`
}

func linkPath(wsID, phone string) string {
	return workspacePath(wsID) + "accounts/" + url.PathEscape(phone) + "/link"
}

// linkAccount finds the whatsapp account of the path, or answers.
func (c *Console) linkAccount(w http.ResponseWriter, r *http.Request, q *request) (*wagate.Account, bool) {
	ref := wagate.AccountRef{WorkspaceID: q.ws.ID, Phone: r.PathValue("phone")}
	a, err := c.svc.Accounts.FindAccount(r.Context(), ref)
	switch {
	case wagate.ErrorCode(err) == wagate.ENOTFOUND:
		err = wagate.Errorf(wagate.ENOTFOUND, "account %s not found in this workspace", cut(ref.Phone, 20))
	case err == nil && a.Transport != wagate.TransportWhatsApp:
		err = wagate.Errorf(wagate.EINVALID, "account %s sends through %s, which needs no linking", a.Phone, a.Transport)
	case err == nil && c.svc.Linker == nil:
		err = wagate.Errorf(wagate.EUNAVAILABLE, "this wagate has no WhatsApp Web transport (built with -tags nowhatsapp)")
	}
	if err != nil {
		c.fail(w, r, q, err)
		return nil, false
	}
	return a, true
}

// GET /ui/w/{ws}/accounts/{phone}/link (owner).
func (c *Console) link(w http.ResponseWriter, r *http.Request, q *request) {
	a, ok := c.linkAccount(w, r, q)
	if !ok {
		return
	}
	p := linkPath(q.ws.ID, a.Phone)
	v := c.view(q, "Link "+a.Phone, "accounts")
	v.Data = linkPage{Phone: a.Phone, State: c.svc.Linker.LinkStatus(a.Ref()).State, Events: p + "/events", Action: p}
	w.Header().Set("Cache-Control", "no-store")
	c.render(w, http.StatusOK, "link", v)
}

// POST /ui/w/{ws}/accounts/{phone}/link (owner): start linking, then
// back to the page, which follows it.
func (c *Console) startLink(w http.ResponseWriter, r *http.Request, q *request) {
	a, ok := c.linkAccount(w, r, q)
	if !ok {
		return
	}
	method := r.PostForm.Get("method")
	if method != "code" {
		method = "qr"
	}
	if _, err := c.svc.Linker.Link(r.Context(), a, method); err != nil {
		c.fail(w, r, q, err)
		return
	}
	http.Redirect(w, r, linkPath(q.ws.ID, a.Phone), http.StatusSeeOther)
}

// GET /ui/w/{ws}/accounts/{phone}/link/events (owner): the state as
// server-sent events with the QR code drawn as a PNG, one per change,
// until the state is no longer "linking".
func (c *Console) linkEvents(w http.ResponseWriter, r *http.Request, q *request) {
	a, ok := c.linkAccount(w, r, q)
	if !ok {
		return
	}
	ref := a.Ref()
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	for {
		changed := c.svc.Linker.LinkChanged(ref)
		l := c.svc.Linker.LinkStatus(ref)
		data, err := json.Marshal(linkEventOf(a.Phone, l))
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: link\ndata: %s\n\n", data); err != nil {
			return
		}
		_ = http.NewResponseController(w).Flush()
		if l.State != "linking" {
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// linkEventOf is the event of a state, with the QR code as an image and
// a sentence for the person at the phone.
func linkEventOf(phone string, l gateway.LinkStatus) linkEvent {
	e := linkEvent{State: l.State, Code: l.Code}
	switch {
	case l.State == "connected":
		e.Text = "Connected as " + phone + "."
	case l.State == "linking" && l.QR != "":
		png, err := qrcode.Encode(l.QR, qrcode.Low, 256)
		if err != nil {
			e.Text = "The QR code could not be drawn; link by pairing code instead."
			break
		}
		e.QRPNG = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
		e.Text = "On the phone of " + phone + ": WhatsApp → Settings → Linked devices → Link a device, and scan this code. It changes every few seconds."
	case l.State == "linking" && l.Code != "":
		e.Text = "On the phone of " + phone + ": WhatsApp → Settings → Linked devices → Link a device → Link with phone number instead, and type this code."
	case l.State == "linking":
		e.Text = "Waiting for WhatsApp…"
	default:
		e.Text = "The account is " + l.State + "."
		if l.Error != "" {
			e.Text += " " + l.Error
		}
	}
	return e
}
