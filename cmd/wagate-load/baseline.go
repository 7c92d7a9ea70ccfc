package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate/cmd/internal/gctune"
)

// The baseline is the ceiling the ingest ratio is measured against (SPEC
// §7): the same HTTP stack (net/http and echo, the same server timeouts),
// reading the same body and parsing the same JSON, answering the same 200
// body, and nothing else: no token lookup, no validation, no storage.

// baselineMessageID is the id every baseline answer carries: a real one
// would need random bytes, which is wagate's work, not the ceiling's.
const baselineMessageID = "wa_backend:3EB09FCC85FE99662E46"

// baselineRequest has the fields of SPEC §1's inbound request; chat_id
// may be a string or a number, so it stays raw.
type baselineRequest struct {
	Action               string          `json:"action"`
	Text                 string          `json:"text"`
	FileURL              string          `json:"file_url"`
	FileName             string          `json:"file_name"`
	ChatID               json.RawMessage `json:"chat_id"`
	JID                  string          `json:"jid"`
	Phone                string          `json:"phone"`
	ChatName             string          `json:"chat_name"`
	WhatsAppAccountPhone string          `json:"whatsapp_account_phone"`
}

// baselineAnswer is the shape of wagate's success body.
type baselineAnswer struct {
	Status string `json:"status"`
	Data   struct {
		MessageID string `json:"message_id"`
	} `json:"data"`
}

// baselineHandler is the bare echo server: POST /inbound/:token parses
// the body and answers success.
func baselineHandler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/inbound/:token", func(c echo.Context) error {
		body, err := io.ReadAll(io.LimitReader(c.Request().Body, 64<<10+1))
		if err != nil {
			return c.JSON(http.StatusBadRequest, map[string]any{"status": 400, "data": struct{}{}, "message": "cannot read the body"})
		}
		if len(body) > 64<<10 {
			return c.JSON(http.StatusRequestEntityTooLarge, map[string]any{"status": 413, "data": struct{}{}, "message": "body too large"})
		}
		var r baselineRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return c.JSON(http.StatusBadRequest, map[string]any{"status": 400, "data": struct{}{}, "message": "not JSON"})
		}
		var out baselineAnswer
		out.Status = "success"
		out.Data.MessageID = baselineMessageID
		return c.JSON(http.StatusOK, &out)
	})
	return e
}

// runBaselineServer serves the baseline on -addr until SIGTERM, after
// printing "listening ADDR" on stderr.
func runBaselineServer(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("wagate-load baseline-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on (loopback)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	return serveUntilSignal(ln, baselineHandler(), stderr, nil)
}

// serveUntilSignal serves h on ln with the timeouts and the GC pacing
// (gctune) cmd/wagate uses, prints the listening line, and on SIGTERM or
// SIGINT calls drain (if any), shuts the server down and returns. The
// baseline gets wagate's GC pacing too: the ceiling is the same handler
// work under the same runtime, not a less tuned one.
func serveUntilSignal(ln net.Listener, h http.Handler, stderr io.Writer, drain func()) error {
	if gctune.Enabled() {
		gcCtx, stopGC := context.WithCancel(context.Background())
		defer stopGC()
		go gctune.Run(gcCtx, gctune.DefaultHeadroom)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "listening %s\n", ln.Addr())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	if drain != nil {
		drain()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
