package main

import (
	"net/http"
	"testing"
	"time"
)

// TestTemplateEndToEndDryrun: a template stored over the admin API and
// named on the inbound URL reaches the dryrun outbox as its rendered text.
func TestTemplateEndToEndDryrun(t *testing.T) {
	dir := t.TempDir()
	in := start(t, testConfig(dir, 10*time.Millisecond, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	st, tpl := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/templates", ws.ownerToken,
		map[string]any{"name": "order_shipped", "text": "Hi {{name}}, order {{order | default \"#?\"}} has shipped"})
	mustStatus(t, "create template", st, http.StatusCreated, tpl)

	id := send(t, ws.inboundURL, map[string]any{"action": "send", "phone": "+14155552671", "template": "order_shipped", "variables": map[string]any{"name": "Jane", "order": 1042}})
	waitFor(t, "the templated message sent", func() bool { return messageStatus(t, in, ws, id) == "sent" })
	lines := readOutbox(t, dir)
	if len(lines) != 1 || lines[0].MessageID != id || lines[0].Text != "Hi Jane, order 1042 has shipped" {
		t.Fatalf("outbox = %+v; want the rendered text of message %s", lines, id)
	}

	st, refused := call(t, "POST", ws.inboundURL, "", map[string]any{"action": "send", "phone": "+14155552671", "template": "order_shipped"})
	if st != http.StatusBadRequest || str(refused["message"]) == "" {
		t.Fatalf("missing variable = %d %v; want a 400", st, refused)
	}
}
