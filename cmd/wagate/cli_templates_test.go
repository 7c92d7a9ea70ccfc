package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLITemplates: create (from a file too), list, show, preview, test
// and delete through the admin commands, human and --json, and a refusal
// with the server's message.
func TestCLITemplates(t *testing.T) {
	dir := t.TempDir()
	in := start(t, testConfig(dir, time.Hour, 0)) // nothing is sent: messages stay queued
	op := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_DATA": dir}
	var ws struct {
		ID         string `json:"id"`
		OwnerToken string `json:"owner_token"`
	}
	okJSON(t, op, &ws, "workspace", "create", "acme", "--credits", "10")
	owner := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_TOKEN": ws.OwnerToken, "WAGATE_WORKSPACE": ws.ID}
	ok(t, owner, "account", "add", "+15105566777")

	out := ok(t, owner, "template", "create", "order_shipped", "--text", "Hi {{name}}, order {{order | default \"?\"}} shipped")
	for _, want := range []string{"Template order_shipped", "Variables: name, order", `"template":"order_shipped"`} {
		if !strings.Contains(out, want) {
			t.Errorf("template create output lacks %q:\n%s", want, out)
		}
	}
	file := filepath.Join(t.TempDir(), "welcome.txt")
	if err := os.WriteFile(file, []byte("Welcome {{name}}!\nReply STOP to stop.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var created struct {
		Text string `json:"text"`
	}
	okJSON(t, owner, &created, "template", "create", "welcome", "--text-file", file)
	if created.Text != "Welcome {{name}}!\nReply STOP to stop." {
		t.Errorf("--text-file text = %q", created.Text)
	}
	mustFail(t, wagateCLI(t, owner, "template", "create", "bad", "--text", "Hi {{name"), exitRefused, `field "text": at character 4`)
	mustFail(t, wagateCLI(t, owner, "template", "create", "bad", "--text", "x", "--text-file", file), exitUsage, "not both")

	if list := ok(t, owner, "template", "list"); !strings.HasPrefix(list, "NAME") || !strings.Contains(list, "order_shipped") || !strings.Contains(list, "welcome") {
		t.Errorf("template list:\n%s", list)
	}
	if show := ok(t, owner, "template", "show", "welcome"); !strings.Contains(show, "Reply STOP") {
		t.Errorf("template show:\n%s", show)
	}
	if pre := ok(t, owner, "template", "preview", "order_shipped", "--var", "name=Jane"); !strings.Contains(pre, "Hi Jane, order ? shipped") || !strings.Contains(pre, "(1 credit)") {
		t.Errorf("template preview:\n%s", pre)
	}
	mustFail(t, wagateCLI(t, owner, "template", "preview", "order_shipped"), exitRefused, `variable "name"`)
	mustFail(t, wagateCLI(t, owner, "template", "test", "order_shipped", "--var", "name=Jane"), exitUsage, "--to")
	var m struct {
		Text   string `json:"text"`
		Status string `json:"status"`
	}
	okJSON(t, owner, &m, "template", "test", "order_shipped", "--to", "+14155552671", "--var", "name=Jane", "--var", "order=7")
	if m.Text != "Hi Jane, order 7 shipped" || m.Status != "queued" {
		t.Errorf("template test --json = %+v", m)
	}
	if out := ok(t, owner, "template", "delete", "welcome"); !strings.Contains(out, "Deleted template welcome") {
		t.Errorf("template delete: %q", out)
	}
	mustFail(t, wagateCLI(t, owner, "template", "show", "welcome"), exitRefused, `template "welcome" not found`)
}
