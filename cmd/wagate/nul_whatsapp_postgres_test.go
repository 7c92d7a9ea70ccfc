//go:build !nowhatsapp

package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
)

// On PostgreSQL: a WhatsApp Web link error that quotes WhatsApp with a NUL
// in it (here the phone that linked, as the fake's pairing reports it) is
// stored with U+FFFD in its place; before, the link state's write was
// refused and the account went on showing "linking".
func TestPostgresWhatsAppLinkErrorWithNULIsStored(t *testing.T) {
	wa := whatsapptest.New()
	useFakeWhatsApp(t, wa)
	cfg := replicaConfig(t, newPGDatabase(t), "r1")
	in, logs := startPG(t, cfg)
	ws := createWorkspace(t, in, operatorToken(t, cfg.DataDir), 10)
	const phone = "+14155550123"
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)

	ref := wagate.AccountRef{WorkspaceID: ws.id, Phone: phone}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if c := wa.Linking(ctx, ref); c != nil {
			c.ShowQR("2@fake-qr-code")
		}
	}()
	st, l := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts/"+strings.ReplaceAll(phone, "+", "%2B")+"/link", ws.ownerToken, map[string]any{"method": "qr"})
	mustStatus(t, "link by QR code", st, http.StatusAccepted, l)
	wa.Linking(ctx, ref).Pair("+1415\x00999")

	var link map[string]any
	waitFor(t, "the refused linking stored", func() bool {
		_, list := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, nil)
		accts, _ := list["accounts"].([]any)
		for _, a := range accts {
			if a, _ := a.(map[string]any); a["phone"] == phone {
				link, _ = a["link"].(map[string]any)
			}
		}
		return link["state"] == "error"
	})
	if e := str(link["error"]); !strings.Contains(e, "+1415\uFFFD999") {
		t.Errorf("stored link error = %q, want the phone WhatsApp named with U+FFFD for the NUL", e)
	}
	if strings.Contains(logs.String(), "cannot store the account's link state") {
		t.Errorf("a link state's write was refused:\n%s", logs.String())
	}
}
