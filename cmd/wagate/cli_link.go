package main

import (
	"context"
	"flag"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/wagate/wagate/gateway/api"
)

// cmdAccountLink links a whatsapp account from the terminal (SPEC §10):
// it draws each QR code the server streams (or shows the pairing code)
// and returns once the phone is connected. The codes go to the terminal
// only, never to a log.
func cmdAccountLink() cliCommand {
	var byCode bool
	return cliCommand{
		noun: "account", verb: "link", args: "PHONE [--code]", nargs: 1, inWorkspace: true,
		summary: "link a whatsapp account (owner): scan the QR code drawn here, or type --code's code on the phone",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&byCode, "code", false, "link by a pairing code typed on the phone instead of a QR code")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			phone := args[0]
			method := "qr"
			if byCode {
				method = "code"
			}
			first, err := cl.api.StartLink(ctx, cl.workspace, phone, method)
			if err != nil {
				return err
			}
			shown := ""
			show := func(l api.Link) error {
				switch {
				case l.QR != "" && l.QR != shown:
					shown = l.QR
					q, err := qrcode.New(l.QR, qrcode.Low)
					if err != nil {
						return fmt.Errorf("drawing the QR code: %w", err)
					}
					fmt.Fprintf(cl.stdout, "\nOn the phone of %s: WhatsApp → Settings → Linked devices → Link a device, and scan:\n\n%s\n", phone, q.ToSmallString(false))
				case l.Code != "" && l.Code != shown:
					shown = l.Code
					fmt.Fprintf(cl.stdout, "\nOn the phone of %s: WhatsApp → Settings → Linked devices → Link a device → Link with phone number instead, and type:\n\n    %s\n\n", phone, l.Code)
				}
				return nil
			}
			if err := show(*first); err != nil {
				return err
			}
			last, err := cl.api.LinkEvents(ctx, cl.workspace, phone, show)
			if err != nil {
				return err
			}
			if last == nil {
				last = first
			}
			if last.State != "connected" {
				msg := fmt.Sprintf("account %s is %s, not connected", phone, last.State)
				if last.Error != "" {
					msg += ": " + last.Error
				}
				return fmt.Errorf("%s; run `wagate account link %s` again", msg, phone)
			}
			fmt.Fprintf(cl.stdout, "Connected as %s: the account sends from now on.\n", phone)
			return nil
		},
	}
}
