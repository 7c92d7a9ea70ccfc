package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
)

// The restart mode builds a store with many queued messages through the
// store's own Accept (the same transaction an inbound request commits, in
// parallel so group commit batches them), then times `wagate serve` on it
// from exec to ready and to the first sends, and reads its peak RSS.

// restartMarker describes a built store, so a second run reuses it.
type restartMarker struct {
	Messages     int    `json:"messages"`      // accepted at build
	Accounts     int    `json:"accounts"`      // dryrun accounts
	PerWorkspace int    `json:"per_workspace"` // accounts per workspace
	Sent         int    `json:"sent"`          // sent by earlier restart runs
	Scheduled    int    `json:"scheduled"`     // percent of the messages scheduled a week ahead (send_at)
	Workspace    string `json:"workspace"`     // one workspace id, for a test accept after the restart
	Inbound      string `json:"inbound"`       // its inbound token (a benchmark store: nothing to protect)
	BuildSeconds float64
}

const restartMarkerFile = "restart-store.json"

func runRestart(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wagate-load restart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("wagate", "bin/wagate", "the wagate binary to measure (make build)")
	messages := fs.Int("messages", 1_000_000, "queued messages in the store")
	accounts := fs.Int("accounts", 10_000, "dryrun accounts they are queued for (evenly)")
	perWS := fs.Int("per-workspace", 10, "accounts per workspace")
	dir := fs.String("store", "bin/bench/restart-store", "data folder of the store; reused when it holds a store built with the same -messages, -accounts and -per-workspace")
	rebuild := fs.Bool("rebuild", false, "build the store again even if one is there")
	scheduled := fs.Int("scheduled", 0, "percent of the messages scheduled a week ahead (send_at), in every account's queue; they must cost the restart nothing")
	workers := fs.Int("workers", 256, "goroutines calling Accept while building (they share group commits)")
	observe := fs.Duration("observe", 15*time.Second, "after ready, watch the sends for at most this long (until every account has sent once)")
	logLevel := fs.String("log-level", "info", "wagate's --log-level")
	out := fs.String("out", "", "write the markdown report to this file too")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *messages < 1 || *accounts < 1 || *perWS < 1 || *workers < 1 {
		return usageError{errors.New("-messages, -accounts, -per-workspace and -workers must be positive")}
	}
	if *scheduled < 0 || *scheduled > 100 {
		return usageError{errors.New("-scheduled is a percent, 0 to 100")}
	}
	wagateBin, err := findWagate(*bin)
	if err != nil {
		return err
	}
	data, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	rep := &report{w: stdout}
	rep.printf("## Restart with queued messages\n\n")
	rep.printf("- Machine: %s\n", machine())
	rep.printf("- Command: `wagate-load restart %s`\n", strings.Join(args, " "))

	var mk restartMarker
	raw, err := os.ReadFile(filepath.Join(data, restartMarkerFile))
	reuse := err == nil && json.Unmarshal(raw, &mk) == nil && !*rebuild &&
		mk.Messages == *messages && mk.Accounts == *accounts && mk.PerWorkspace == *perWS && mk.Scheduled == *scheduled
	if !reuse {
		if err := os.RemoveAll(data); err != nil {
			return err
		}
		mk, err = buildRestartStore(ctx, data, *messages, *accounts, *perWS, *scheduled, *workers, stderr)
		if err != nil {
			return err
		}
		rep.printf("- Store built for this run: %s messages over %s accounts (%d per workspace) through store.Accept from %d goroutines in %.1f s (%.0f accepts/s)\n",
			thousands(int64(*messages)), thousands(int64(*accounts)), *perWS, *workers, mk.BuildSeconds, float64(*messages)/mk.BuildSeconds)
	} else {
		rep.printf("- Store reused from an earlier run (built in %.1f s); %s of its %s messages were sent by earlier runs\n", mk.BuildSeconds, thousands(int64(mk.Sent)), thousands(int64(mk.Messages)))
	}
	queued := mk.Messages - mk.Sent
	dbPath := filepath.Join(data, "wagate.db")
	rep.printf("- At start: %s queued messages over %s accounts (%d %% of them scheduled a week ahead); store file %s MiB\n\n", thousands(int64(queued)), thousands(int64(*accounts)), mk.Scheduled, mib(fileSize(dbPath)))

	// Drop the store file from the page cache? Not without root and a
	// system-wide effect: the timing below is a warm-cache restart, which
	// is what a process restart (not a reboot) sees.
	outbox := filepath.Join(data, "dryrun-outbox.jsonl")
	off := fileSize(outbox)
	wg, err := startWagate(nil, wagateBin, data, filepath.Join(data, "wagate-restart.log"), *logLevel,
		"--send-interval", "2s", "--send-jitter", "500ms", "--inbound-rate", "1e9", "--inbound-burst", "1000000000")
	if err != nil {
		return err
	}
	defer wg.stop(30 * time.Second)
	adm := newAdmin(wg.addr, 2)
	ready, err := adm.waitReady(ctx, 60*time.Second)
	if err != nil {
		return err
	}
	readyStat, _ := readProcStat(wg.pid())
	if mk.Scheduled > 0 {
		// The scheduled messages are there, waiting, and cost the start
		// nothing: the sender reads only the due front of each schedule.
		text, err := adm.metrics(ctx)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(line, `wagate_messages_waiting{reason="scheduled"} `); ok {
				rep.printf("- Scheduled messages waiting after the restart (wagate_messages_waiting): %s\n\n", v)
			}
		}
	}

	// One accept right after ready: the inbound URL really serves.
	req := buildRequest(wg.addr, "/inbound/"+mk.Inbound, []byte(fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","text":"after restart"}`, accountPhone(0))))
	t := time.Now()
	st, _, err := (&rawConn{addr: wg.addr, req: req}).roundTrip()
	acceptLat := time.Since(t)
	if err != nil {
		return fmt.Errorf("accept after restart: %w", err)
	}

	// Watch the outbox until every account has sent once.
	var firstSend, allSent time.Time
	seen := map[string]bool{}
	sends := 0
	deadline := ready.Add(*observe)
	for time.Now().Before(deadline) && len(seen) < *accounts {
		lines, o, err := readOutbox(outbox, off)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		off = o
		for _, l := range lines {
			if firstSend.IsZero() {
				firstSend = l.At
			}
			seen[l.Account] = true
			sends++
			if len(seen) == *accounts && allSent.IsZero() {
				allSent = l.At
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	peak, err := readProcStat(wg.pid())
	if err != nil {
		return err
	}
	t = time.Now()
	if err := wg.stop(60 * time.Second); err != nil {
		return fmt.Errorf("stopping wagate: %w", err)
	}
	stopTime := time.Since(t)
	lines, _, _ := readOutbox(outbox, off)
	sends += len(lines)
	mk.Sent += sends
	if b, err := json.Marshal(mk); err == nil {
		_ = os.WriteFile(filepath.Join(data, restartMarkerFile), b, 0o600)
	}

	since := func(at time.Time) string {
		if at.IsZero() {
			return "not within -observe"
		}
		return fmt.Sprintf("%.3f s", at.Sub(wg.started).Seconds())
	}
	listening := since(wg.listen)
	if wg.listen.IsZero() {
		listening = "(not logged below --log-level info)"
	}
	rep.table([]string{"from exec of `wagate serve` to", "time"}, [][]string{
		{"listening (its log line)", listening},
		{"**/readyz 200**", "**" + since(ready) + "**"},
		{fmt.Sprintf("first accept answered (status %d, %s ms)", st, ms(acceptLat)), since(ready.Add(acceptLat))},
		{"first message sent (outbox)", since(firstSend)},
		{fmt.Sprintf("every one of the %s accounts has sent once", thousands(int64(*accounts))), since(allSent)},
	})
	rep.table([]string{"memory", "MiB"}, [][]string{
		{"RSS at /readyz", mib(readyStat.RSS)},
		{"**peak RSS (VmHWM) by the end of the watch**", "**" + mib(peak.HWM) + "**"},
		{"RssAnon at the end (heap, stacks)", mib(peak.RssAnon)},
		{"RssFile at the end (bbolt pages touched)", mib(peak.RssFile)},
		{"store file", mib(fileSize(dbPath))},
	})
	rep.printf("- Goal: ready to serve and send in ≤ 5 s: /readyz after %s, first send after %s: %s\n", since(ready), since(firstSend),
		verdict(!ready.IsZero() && !firstSend.IsZero() && ready.Sub(wg.started) <= 5*time.Second && firstSend.Sub(wg.started) <= 5*time.Second))
	rep.printf("- Not every message is loaded: peak RSS %s MiB for %s queued messages (%.0f bytes per message if it were all theirs).\n",
		mib(peak.HWM), thousands(int64(queued)), float64(peak.HWM)/float64(max(queued, 1)))
	rep.printf("- %s sends during the watch; graceful stop (SIGTERM) took %s.\n\n", thousands(int64(sends)), stopTime.Round(time.Millisecond))
	return rep.save(*out)
}

// buildRestartStore creates the workspaces and accounts and accepts the
// messages, round-robin over the accounts, through the store's Accept.
func buildRestartStore(ctx context.Context, data string, messages, accounts, perWS, scheduled, workers int, log io.Writer) (restartMarker, error) {
	mk := restartMarker{Messages: messages, Accounts: accounts, PerWorkspace: perWS, Scheduled: scheduled}
	phones, err := accountPhones(accounts)
	if err != nil {
		return mk, err
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return mk, err
	}
	db, err := store.Open(filepath.Join(data, "wagate.db"), store.Options{})
	if err != nil {
		return mk, err
	}
	defer db.Close()
	start := time.Now()
	nws := (accounts + perWS - 1) / perWS
	wsIDs := make([]string, nws)
	perWSMessages := int64(messages/nws + perWS + 10)
	now := time.Now().UTC()
	for i := range wsIDs {
		id, err := wagate.NewWorkspaceID(rand.Reader)
		if err != nil {
			return mk, err
		}
		tok, err := wagate.NewToken(rand.Reader)
		if err != nil {
			return mk, err
		}
		owner, err := wagate.NewToken(rand.Reader)
		if err != nil {
			return mk, err
		}
		ws := &wagate.Workspace{ID: id, Name: fmt.Sprintf("restart-%05d", i), Credits: perWSMessages,
			Webhook: wagate.Webhook{Token: tok, Enabled: true, CreatedAt: now}, CreatedAt: now}
		if err := db.CreateWorkspace(ctx, ws, &wagate.Token{Hash: wagate.HashToken(owner), WorkspaceID: id, Role: wagate.RoleOwner, CreatedAt: now}); err != nil {
			return mk, err
		}
		wsIDs[i] = id
		if i == 0 {
			mk.Workspace, mk.Inbound = id, tok
		}
	}
	for i, p := range phones {
		a := &wagate.Account{WorkspaceID: wsIDs[i/perWS], Phone: p, Transport: wagate.TransportDryrun, Active: true, ConnectedAt: now}
		if err := db.CreateAccount(ctx, a); err != nil {
			return mk, err
		}
	}
	fmt.Fprintf(log, "restart: %d workspaces and %d accounts created; accepting %d messages…\n", nws, accounts, messages)

	var done atomic.Int64
	stop := make(chan struct{})
	var progress sync.WaitGroup
	progress.Add(1)
	go func() {
		defer progress.Done()
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				n := done.Load()
				fmt.Fprintf(log, "restart: %d of %d accepted (%.0f/s)\n", n, messages, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	body := fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","text":"lorem ipsum"}`, phones[0])
	hash := sha256.Sum256([]byte(body))
	rounds := (messages + accounts - 1) / accounts // messages per account
	ids := wagate.NewMessageIDs(rand.Reader)
	err = parallel(messages, workers, func(i int) error {
		acct := i % accounts
		id, err := ids.Next(time.Now())
		if err != nil {
			return err
		}
		at := time.Now().UTC()
		var sendAt time.Time
		if round := i / accounts; round >= rounds-rounds*scheduled/100 {
			// The later rounds of every account: each keeps due messages
			// to send after the restart, ahead of its scheduled ones.
			sendAt = at.Add(7 * 24 * time.Hour)
		}
		_, err = db.Accept(ctx, &wagate.Accept{
			WorkspaceID: wsIDs[acct/perWS],
			BodyHash:    hash,
			Message: &wagate.Message{
				ID: id, WorkspaceID: wsIDs[acct/perWS], Status: wagate.StatusQueued,
				AccountPhone: phones[acct], JID: "14155552671@s.whatsapp.net", Text: "lorem ipsum",
				Credits: 1, CreatedAt: at, SendAt: sendAt,
			},
			ChatName: "+14155552671",
			Attempt:  &wagate.Attempt{At: at, RequestID: fmt.Sprintf("restart-%d", i), RemoteAddr: "127.0.0.1", ContentType: "application/json", Body: body},
		})
		if err != nil {
			return fmt.Errorf("accept %d: %w", i, err)
		}
		done.Add(1)
		return nil
	})
	close(stop)
	progress.Wait()
	if err != nil {
		return mk, err
	}
	mk.BuildSeconds = time.Since(start).Seconds()
	b, err := json.Marshal(mk)
	if err != nil {
		return mk, err
	}
	return mk, os.WriteFile(filepath.Join(data, restartMarkerFile), b, 0o600)
}
