//go:build wagatefakewa && !nowhatsapp

package main

import (
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
)

// This file is built only with the test-only tag wagatefakewa, which no
// release build uses (TestFakeWhatsAppTagStaysOut checks that a default
// build links none of it): the crash tests build such a binary so that
// they can kill -9 a real process while a fake WhatsApp of their own holds
// a message (cmd/wagate/whatsapp_kill_test.go). With
// WAGATE_TEST_FAKE_WHATSAPP set to the address of the test's
// whatsapptest.Server, every whatsapp account's client is a client of that
// fake instead of WhatsApp.

// fakeConfirmGrace is the confirm grace of a binary on the fake: the fake
// sends a crashed message's receipt before the reconnect, so Confirm knows
// at once and the grace only ends the wait for one that never comes.
const fakeConfirmGrace = 100 * time.Millisecond

func init() {
	addr := os.Getenv(whatsapptest.EnvAddr)
	if addr == "" {
		return
	}
	newClient := whatsapptest.Dial(addr)
	whatsappTestConfig = func(c *whatsapp.Config) {
		c.Logger.Warn("test only: the whatsapp transport talks to a fake WhatsApp (a binary built with -tags wagatefakewa)",
			zap.String("env", whatsapptest.EnvAddr), zap.String("addr", addr))
		c.SkipVersionCheck = true
		c.NewClient = newClient
		c.ConfirmGrace = fakeConfirmGrace
	}
}
