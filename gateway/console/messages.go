package console

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// POST /ui/w/{ws}/messages/{id}/cancel (owner): the admin API's DELETE of
// a queued message (SPEC §2), from the message page. The store fails and
// refunds it in one commit; a message already sending or final is a 409
// page that says why.
func (c *Console) cancelMessage(w http.ResponseWriter, r *http.Request, q *request) {
	id := r.PathValue("id")
	m, err := c.gw.CancelMessage(r.Context(), q.ws.ID, id, wagate.SourceConsole)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: message cancelled", zap.String("workspace", q.ws.ID), zap.String("message_id", m.ID), zap.String("role", string(q.sess.role)))
	http.Redirect(w, r, messagePath(q.ws.ID, m.ID)+"?done=cancelled", http.StatusSeeOther)
}
