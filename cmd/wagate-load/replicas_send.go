package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate/sender/dryrun"
)

// The sending phase of the replicas mode: both replicas run with the pace
// under test, every account gets its messages at once, and the outboxes of
// both replicas (each replica's dryrun transport writes its own file in its
// --data) say who sent what, and when:
//
//   - both: how many sends a second the two replicas make together, and how
//     many accounts each sends (the lease of an account decides);
//   - handover: SIGTERM to the replica that sends the most accounts; it
//     finishes its sends and frees its leases, and the other takes its
//     accounts: the time from the SIGTERM to each orphaned account's first
//     send on the survivor;
//   - takeover (-kill9): the stopped replica starts again, then the one that
//     sends the most is killed with SIGKILL; its leases must expire
//     (--lease-ttl) before the other takes its accounts;
//   - at the end, from the outboxes and the database: no message in two
//     outbox lines, every sent message in an outbox, none left queued or
//     sending, credits spent = messages sent, and per account the gap
//     between consecutive sends, whichever replica made them, never shorter
//     than drawn.

// replicaSend is the sending phase.
type replicaSend struct {
	bin, work, url, logLevel string
	pgPID                    int
	phones                   []string
	perWS, queue             int
	interval, jitter, ttl    time.Duration
	both, timeout            time.Duration
	kill9                    bool
	rep                      *report
	log                      io.Writer
}

// sendLine is one outbox line and the replica whose outbox holds it.
type sendLine struct {
	outboxLine
	replica int // index into replicaNames
}

// sendReplica is one replica of the phase, through its restarts.
type sendReplica struct {
	name, data string
	p          *process
	adm        *admin
	off        int64 // outbox read up to here
}

// sendWatch reads both outboxes as they grow.
type sendWatch struct {
	rs     [2]*sendReplica
	phones map[string]bool
	lines  []sendLine
}

// poll reads the lines appended since the last poll, of the phase's
// accounts only.
func (w *sendWatch) poll() error {
	for i, r := range w.rs {
		more, off, err := readOutbox(filepath.Join(r.data, dryrun.FileName), r.off)
		if err != nil && fileSize(filepath.Join(r.data, dryrun.FileName)) > 0 {
			return err
		}
		r.off = off
		for _, l := range more {
			if w.phones[l.Account] {
				w.lines = append(w.lines, sendLine{l, i})
			}
		}
	}
	return nil
}

// waitFor polls every 20 ms until done() or the deadline.
func (w *sendWatch) waitFor(deadline time.Time, done func() bool) (bool, error) {
	for {
		if err := w.poll(); err != nil {
			return false, err
		}
		if done() {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// since returns the lines written at or after t.
func (w *sendWatch) since(t time.Time) []sendLine {
	var out []sendLine
	for _, l := range w.lines {
		if !l.At.Before(t) {
			out = append(out, l)
		}
	}
	return out
}

// split counts sends and distinct accounts per replica in lines.
func split(lines []sendLine) (sends, accounts [2]int) {
	seen := [2]map[string]bool{{}, {}}
	for _, l := range lines {
		sends[l.replica]++
		if !seen[l.replica][l.Account] {
			seen[l.replica][l.Account] = true
			accounts[l.replica]++
		}
	}
	return sends, accounts
}

func (sp *replicaSend) run(ctx context.Context) (bool, error) {
	n := len(sp.phones)
	flags := []string{"--inbound-rate", "1e9", "--inbound-burst", "1000000000",
		"--send-interval", sp.interval.String(), "--send-jitter", sp.jitter.String(), "--lease-ttl", sp.ttl.String()}
	if err := os.MkdirAll(sp.work, 0o700); err != nil {
		return false, err
	}
	w := &sendWatch{phones: map[string]bool{}}
	for _, p := range sp.phones {
		w.phones[p] = true
	}
	incarnation := map[string]int{}
	start := func(i int) error {
		r := w.rs[i]
		incarnation[r.name]++
		logPath := filepath.Join(sp.work, fmt.Sprintf("%s-%d.log", r.name, incarnation[r.name]))
		p, adm, err := startReplica(ctx, sp.bin, sp.url, r.data, logPath, sp.logLevel, r.name, flags...)
		if err != nil {
			return err
		}
		r.p, r.adm = p, adm
		return nil
	}
	for i, name := range replicaNames {
		w.rs[i] = &sendReplica{name: name, data: filepath.Join(sp.work, name)}
		if err := start(i); err != nil {
			return false, err
		}
		defer func() { w.rs[i].p.stop(30 * time.Second) }()
	}
	op, err := readOperatorToken(w.rs[0].data)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(sp.log, "replicas sending: %d accounts…\n", n)
	owner, err := setupAccounts(ctx, w.rs[0].adm, op, sp.phones, sp.perWS, int64(sp.perWS*sp.queue), 8)
	if err != nil {
		return false, err
	}
	var wsIDs []string
	for i, ws := range owner {
		if i == 0 || ws != owner[i-1] {
			wsIDs = append(wsIDs, ws.ID)
		}
	}

	// Queue every message at once: one batch per workspace (SPEC §2: one
	// durable commit for all its items), each account's messages in order,
	// the batches of even workspaces through r1, odd ones through r2. One
	// request per message made the queueing take longer than the sending.
	var reqs [2][][]byte
	for k, id := range wsIDs {
		r := w.rs[k%2]
		var items []string
		var inbound string
		for m := range sp.queue {
			for i, phone := range sp.phones {
				if owner[i].ID == id {
					inbound = owner[i].Inbound
					items = append(items, fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","text":"replicas %d"}`, phone, m))
				}
			}
		}
		body := `{"messages":[` + strings.Join(items, ",") + `]}`
		reqs[k%2] = append(reqs[k%2], buildRequest(r.p.addr, "/inbound/"+inbound+"/batch", []byte(body)))
	}
	tQueue := time.Now()
	var status [2]map[int]int64
	var qerr [2]error
	var wg sync.WaitGroup
	for i := range w.rs {
		wg.Go(func() { status[i], qerr[i] = sendAll(w.rs[i].p.addr, reqs[i], 4) })
	}
	wg.Wait()
	queueTime := time.Since(tQueue)
	for i := range w.rs {
		if qerr[i] != nil || status[i][200] != int64(len(reqs[i])) {
			return false, fmt.Errorf("queueing through %s: answers by status %v (%v), want %d × 200", w.rs[i].name, status[i], qerr[i], len(reqs[i]))
		}
	}
	total := n * sp.queue
	db, err := pgx.Connect(ctx, sp.url)
	if err != nil {
		return false, err
	}
	defer db.Close(ctx)
	var accepted int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE workspace_id = ANY($1)`, wsIDs).Scan(&accepted); err != nil {
		return false, err
	}
	if accepted != int64(total) {
		return false, fmt.Errorf("queueing: %d messages in the database, want %d (a batch item was refused: see the logs in %s)", accepted, total, sp.work)
	}
	// pending lists the accounts with a message queued or sending: an
	// orphaned account whose last message was in sending at a kill is
	// failed by the new holder, which then has nothing to send for it.
	pending := func() (map[string]bool, error) {
		rows, err := db.Query(ctx, `SELECT DISTINCT account_phone FROM messages WHERE workspace_id = ANY($1) AND status IN ('queued', 'sending')`, wsIDs)
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				return nil, err
			}
			out[p] = true
		}
		return out, rows.Err()
	}

	// Both replicas send for sp.both after the last message was queued
	// (the first messages went out while the others were being queued).
	tQueued := time.Now()
	var cpu0 [2]procStat
	for i, r := range w.rs {
		if cpu0[i], err = readProcStat(r.p.pid()); err != nil {
			return false, err
		}
	}
	pg0 := treeCPU(sp.pgPID)
	deadline := time.Now().Add(sp.timeout)
	if _, err := w.waitFor(deadline, func() bool { return time.Since(tQueued) >= sp.both }); err != nil {
		return false, err
	}
	tStop := time.Now()
	if len(w.lines) == 0 {
		return false, fmt.Errorf("no send within %s of queueing", sp.both)
	}
	first := w.lines[0].At
	for _, l := range w.lines {
		if l.At.Before(first) {
			first = l.At
		}
	}
	var cpu1 [2]procStat
	for i, r := range w.rs {
		if cpu1[i], err = readProcStat(r.p.pid()); err != nil {
			return false, err
		}
	}
	pg1 := treeCPU(sp.pgPID)
	// The window: sends after the queueing, up to the stop.
	var bothLines []sendLine
	for _, l := range w.since(tQueued) {
		if l.At.Before(tStop) {
			bothLines = append(bothLines, l)
		}
	}
	bothSends, _ := split(bothLines)
	bothWall := tStop.Sub(tQueued)
	_, bothAccounts := split(w.lines) // every account each replica sent so far

	// Handover: SIGTERM to the replica that sends the most accounts.
	victim := 0
	if bothAccounts[1] > bothAccounts[0] {
		victim = 1
	}
	hand, err := sp.orphaned(w, pending, victim, time.Time{}, func() error { return w.rs[victim].p.stop(30 * time.Second) }, deadline)
	if err != nil {
		return false, err
	}

	// Takeover: the stopped replica starts again; then kill -9 the one that
	// sends the most accounts.
	var take *orphans
	var tBack time.Time
	if sp.kill9 {
		fmt.Fprintf(sp.log, "replicas sending: restart %s, then kill -9…\n", w.rs[victim].name)
		if err := start(victim); err != nil {
			return false, err
		}
		tBack = time.Now()
		if _, err := w.waitFor(deadline, func() bool { return time.Since(tBack) >= sp.interval+sp.jitter }); err != nil {
			return false, err
		}
		_, accs := split(w.since(tBack))
		v2 := 0
		if accs[1] > accs[0] {
			v2 = 1
		}
		if take, err = sp.orphaned(w, pending, v2, tBack, func() error { w.rs[v2].p.kill(); return nil }, deadline); err != nil {
			return false, err
		}
		take.restarted = w.rs[victim].name
	}

	// The rest of the queue, until nothing is queued or sending.
	fmt.Fprintf(sp.log, "replicas sending: draining…\n")
	var left int64
	drained, err := w.waitFor(deadline, func() bool {
		left = -1
		_ = db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE workspace_id = ANY($1) AND status IN ('queued', 'sending')`, wsIDs).Scan(&left)
		return left == 0
	})
	if err != nil {
		return false, err
	}
	tEnd := time.Now()
	for _, r := range w.rs {
		if err := r.p.stop(30 * time.Second); err != nil && !strings.Contains(err.Error(), "killed") {
			return false, fmt.Errorf("stopping %s: %w", r.p.name, err)
		}
	}
	if err := w.poll(); err != nil {
		return false, err
	}

	// What the database says.
	byStatus := map[string]int64{}
	rows, err := db.Query(ctx, `SELECT status, count(*) FROM messages WHERE workspace_id = ANY($1) GROUP BY status`, wsIDs)
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var s string
		var c int64
		if err := rows.Scan(&s, &c); err != nil {
			return false, err
		}
		byStatus[s] = c
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	sentIDs := map[string]bool{}
	rows, err = db.Query(ctx, `SELECT id FROM messages WHERE workspace_id = ANY($1) AND status = 'sent'`, wsIDs)
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return false, err
		}
		sentIDs[id] = true
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	var spent int64
	if err := db.QueryRow(ctx, `SELECT coalesce(sum(granted - balance), 0) FROM workspaces WHERE id = ANY($1)`, wsIDs).Scan(&spent); err != nil {
		return false, err
	}

	// What the outboxes say.
	times := map[string]int{}
	for _, l := range w.lines {
		times[l.MessageID]++
	}
	twice, missing, freeSends := 0, 0, 0
	for id, c := range times {
		if c > 1 {
			twice++
		}
		if !sentIDs[id] {
			freeSends++ // in an outbox but not sent in the database: failed as interrupted at a takeover
		}
	}
	for id := range sentIDs {
		if times[id] == 0 {
			missing++
		}
	}

	// The gaps per account, whichever replica sent.
	byAccount := map[string][]sendLine{}
	for _, l := range w.lines {
		byAccount[l.Account] = append(byAccount[l.Account], l)
	}
	var gaps, cross []int64
	for _, ls := range byAccount {
		slices.SortFunc(ls, func(a, b sendLine) int { return a.At.Compare(b.At) })
		for i := 1; i < len(ls); i++ {
			g := int64(ls[i].At.Sub(ls[i-1].At))
			gaps = append(gaps, g)
			if ls[i].replica != ls[i-1].replica {
				cross = append(cross, g)
			}
		}
	}
	slices.Sort(gaps)
	slices.Sort(cross)
	floor := sp.interval - sp.jitter
	short := func(gs []int64, tol time.Duration) int {
		c := 0
		for _, g := range gs {
			if g < int64(floor-tol) {
				c++
			}
		}
		return c
	}

	// The report.
	r := sp.rep
	r.printf("### Sending on two replicas\n\n")
	r.printf("- %s dryrun accounts in %s workspaces, %d messages each (%s), queued at once in %s as one batch per workspace, half of the batches through each replica; replicas run `%s`\n",
		thousands(int64(n)), thousands(int64(len(wsIDs))), sp.queue, thousands(int64(total)), queueTime.Round(time.Millisecond), strings.Join(flags, " "))
	r.printf("- Sends are read from both replicas' dryrun outboxes (`at` is taken when the transport is called)\n\n")
	var rows2 [][]string
	addRow := func(phase string, lines []sendLine, wall time.Duration) {
		s, a := split(lines)
		rate := "–"
		if wall < 0 || len(lines) == 0 {
			wall = 0
		}
		if wall > 0 {
			rate = fmt.Sprintf("%.0f", float64(s[0]+s[1])/wall.Seconds())
		}
		rows2 = append(rows2, []string{phase, wall.Round(time.Millisecond).String(), rate,
			thousands(int64(s[0])), thousands(int64(a[0])), thousands(int64(s[1])), thousands(int64(a[1]))})
	}
	between := func(from, to time.Time) []sendLine {
		var out []sendLine
		for _, l := range w.since(from) {
			if to.IsZero() || l.At.Before(to) {
				out = append(out, l)
			}
		}
		return out
	}
	addRow(fmt.Sprintf("both replicas, %s after the queueing", sp.both), bothLines, bothWall)
	if take == nil {
		addRow(fmt.Sprintf("%s alone, after %s's SIGTERM", hand.survivor, hand.victim), between(hand.at, time.Time{}), lastAt(w.lines).Sub(hand.at))
	} else {
		addRow(fmt.Sprintf("%s alone, after %s's SIGTERM", hand.survivor, hand.victim), between(hand.at, tBack), tBack.Sub(hand.at))
		addRow(fmt.Sprintf("both again, %s restarted", take.restarted), between(tBack, take.at), take.at.Sub(tBack))
		addRow(fmt.Sprintf("%s alone, after %s's kill -9", take.survivor, take.victim), between(take.at, time.Time{}), lastAt(w.lines).Sub(take.at))
	}
	addRow("whole phase", w.lines, lastAt(w.lines).Sub(first))
	r.table([]string{"phase", "wall", "sends/s", "r1 sends", "r1 accounts", "r2 sends", "r2 accounts"}, rows2)
	perSend := func(d time.Duration) string {
		if s := bothSends[0] + bothSends[1]; s > 0 {
			return fmt.Sprintf("%.0f", float64(d.Microseconds())/float64(s))
		}
		return "–"
	}
	cpuWall := bothWall.Seconds()
	r.printf("- Split from the first send to the stop: r1 sent %s accounts, r2 %s of %s (an account's lease decides; the sum exceeds the accounts when one changed hands)\n",
		thousands(int64(bothAccounts[0])), thousands(int64(bothAccounts[1])), thousands(int64(n)))
	r.printf("- Ideal pace: %s accounts every %s = %.0f sends/s\n", thousands(int64(n)), sp.interval, float64(n)/sp.interval.Seconds())
	r.printf("- CPU in the both window (%.1f s): r1 %.2f cores, r2 %.2f, PostgreSQL %.2f; per send of the both phase: r1 %s µs, r2 %s µs, PostgreSQL %s µs\n\n",
		cpuWall, (cpu1[0].CPU-cpu0[0].CPU).Seconds()/cpuWall, (cpu1[1].CPU-cpu0[1].CPU).Seconds()/cpuWall, (pg1-pg0).Seconds()/cpuWall,
		perSend(cpu1[0].CPU-cpu0[0].CPU), perSend(cpu1[1].CPU-cpu0[1].CPU), perSend(pg1-pg0))
	hand.report(r, "Handover (SIGTERM)", sp)
	if take != nil {
		take.report(r, "Takeover (kill -9)", sp)
	}

	// What the replicas logged about leases, per process.
	var logRows [][]string
	for _, name := range replicaNames {
		for k := 1; k <= incarnation[name]; k++ {
			path := filepath.Join(sp.work, fmt.Sprintf("%s-%d.log", name, k))
			b, err := os.ReadFile(path)
			if err != nil {
				return false, err
			}
			logRows = append(logRows, []string{fmt.Sprintf("%s (start %d)", name, k),
				strconv.Itoa(bytes.Count(b, []byte(`"msg":"this replica lost the account's lease`))),
				strconv.Itoa(bytes.Count(b, []byte(`left in sending; nobody can tell whether they went out"`)))})
		}
	}
	r.printf("What each replica process logged (warnings counted in its log):\n\n")
	r.table([]string{"process", "\"lost the account's lease\"", "\"failed and refunded messages … left in sending\" (accounts)"}, logRows)

	r.printf("#### Checks\n\n")
	ok := true
	c := func(good bool, format string, args ...any) {
		r.printf("- "+format+": %s\n", append(args, verdict(good))...)
		ok = ok && good
	}
	c(drained, "every message final within -timeout (%s after queueing): queued or sending left %d", tEnd.Sub(tQueue).Round(time.Millisecond), left)
	c(twice == 0, "no message in two outbox lines, across both replicas and their restarts (%s lines, %s distinct messages): twice %d", thousands(int64(len(w.lines))), thousands(int64(len(times))), twice)
	c(missing == 0, "every message sent in the database is in an outbox: %s sent, missing %d", thousands(byStatus["sent"]), missing)
	c(byStatus["sent"]+byStatus["failed"] == int64(total), "sent %s + failed %s = queued %s", thousands(byStatus["sent"]), thousands(byStatus["failed"]), thousands(int64(total)))
	c(spent == byStatus["sent"], "credits spent %s = messages sent %s (failed ones refunded)", thousands(spent), thousands(byStatus["sent"]))
	kills, notTaken := 0, hand.notTaken
	if take != nil {
		kills, notTaken = take.held, notTaken+take.notTaken
	}
	c(notTaken == 0, "every account of a stopped replica with messages left was sent by the other: not taken over %d", notTaken)
	c(int(byStatus["failed"]) <= kills, "failed only as interrupted by the kill -9, at most one per account it held: %d failed (%d of them in an outbox: the transport had them, sent for free), ≤ %d", byStatus["failed"], freeSends, kills)
	r.printf("- Gaps per account across replicas: %s gaps, shortest %s ms, %d shorter than the floor %s (interval − jitter), %d by more than 10 ms; %s gaps where the account changed replica, shortest %s ms (the drawn gap is written with MarkSending, so the next holder waits it out)\n",
		thousands(int64(len(gaps))), ms(percentile(gaps, 0)), short(gaps, 0), floor, short(gaps, 10*time.Millisecond), thousands(int64(len(cross))), ms(percentile(cross, 0)))
	r.printf("- Gap check (never shorter than drawn, 10 ms allowed for the two clock reads of a send): %s\n\n", verdict(short(gaps, 10*time.Millisecond) == 0))
	// The gap is a timing figure: it is reported and judged, but a loaded
	// machine's scheduler can stretch one send's clock read, so it does
	// not fail the run on its own.
	return ok, nil
}

// lastAt is the latest At of lines.
func lastAt(lines []sendLine) time.Time {
	var t time.Time
	for _, l := range lines {
		if l.At.After(t) {
			t = l.At
		}
	}
	return t
}

// orphans is what one stop of a replica did to its accounts.
type orphans struct {
	victim, survivor string
	restarted        string // the replica started again before this stop ("" for none)
	held             int    // accounts the victim sent since `since`
	waiting          int    // of them, with messages left at the stop
	taken            []int64
	beyond           []int64 // first survivor send − max(stop, previous send + interval + jitter), ns
	stopTook         time.Duration
	at               time.Time // when the stop began
	notTaken         int
	nothingLeft      int // orphans whose last message the new holder failed as interrupted: nothing left to send
}

// orphaned stops replica v with stop() and waits until the other replica
// has sent every account v sent since `since` that still had messages.
func (sp *replicaSend) orphaned(w *sendWatch, pending func() (map[string]bool, error), v int, since time.Time, stop func() error, deadline time.Time) (*orphans, error) {
	o := &orphans{victim: w.rs[v].name, survivor: w.rs[1-v].name}
	held := map[string]bool{}
	for _, l := range w.since(since) {
		if l.replica == v {
			held[l.Account] = true
		}
	}
	o.held = len(held)
	fmt.Fprintf(sp.log, "replicas sending: stop %s (%d accounts)…\n", o.victim, o.held)
	tStop := time.Now()
	o.at = tStop
	if err := stop(); err != nil {
		return nil, fmt.Errorf("stopping %s: %w", o.victim, err)
	}
	o.stopTook = time.Since(tStop)
	if err := w.poll(); err != nil {
		return nil, err
	}
	sent := map[string]int{}
	last := map[string]time.Time{}
	for _, l := range w.lines {
		sent[l.Account]++
		// The victim's last send: the survivor's first ones may be read already.
		if l.replica == v && l.At.After(last[l.Account]) {
			last[l.Account] = l.At
		}
	}
	waiting := map[string]time.Time{} // account → when it was due
	for a := range held {
		if sent[a] < sp.queue {
			waiting[a] = last[a].Add(sp.interval + sp.jitter)
			if waiting[a].Before(tStop) {
				waiting[a] = tStop
			}
		}
	}
	o.waiting = len(waiting)
	firstAfter := map[string]time.Time{}
	_, err := w.waitFor(deadline, func() bool {
		for _, l := range w.since(tStop) {
			if l.replica == 1-v {
				if _, ok := waiting[l.Account]; ok {
					if t, ok := firstAfter[l.Account]; !ok || l.At.Before(t) {
						firstAfter[l.Account] = l.At
					}
				}
			}
		}
		if len(firstAfter) == len(waiting) {
			return true
		}
		left, err := pending()
		if err != nil {
			return false
		}
		resolved := 0
		for a := range waiting {
			if _, sent := firstAfter[a]; !sent && !left[a] {
				resolved++
			}
		}
		return len(firstAfter)+resolved == len(waiting)
	})
	if err != nil {
		return nil, err
	}
	left, err := pending()
	if err != nil {
		return nil, err
	}
	for a, due := range waiting {
		t, ok := firstAfter[a]
		if !ok {
			if left[a] {
				o.notTaken++
			} else {
				o.nothingLeft++
			}
			continue
		}
		o.taken = append(o.taken, int64(t.Sub(tStop)))
		o.beyond = append(o.beyond, int64(t.Sub(due)))
	}
	slices.Sort(o.taken)
	slices.Sort(o.beyond)
	return o, nil
}

func (o *orphans) report(r *report, title string, sp *replicaSend) {
	r.printf("#### %s\n\n", title)
	if o.restarted != "" {
		r.printf("- %s was started again first (same `--replica` name and data folder)\n", o.restarted)
	}
	r.printf("- Stopped %s, which sent %s accounts (the stop took %s); %s of them had messages left, for %s\n",
		o.victim, thousands(int64(o.held)), o.stopTook.Round(time.Millisecond), thousands(int64(o.waiting)), o.survivor)
	if len(o.taken) > 0 {
		r.printf("- From the stop to the survivor's first send of each: p50 %s ms, p99 %s ms, max %s ms (--lease-ttl %s, lease round every %s)\n",
			ms(percentile(o.taken, 0.5)), ms(percentile(o.taken, 0.99)), ms(percentile(o.taken, 1)), sp.ttl, min(5*time.Second, sp.ttl/4))
		r.printf("- Beyond the account's due time (its previous send + interval + jitter, or the stop when later): p50 %s ms, max %s ms\n",
			ms(percentile(o.beyond, 0.5)), ms(percentile(o.beyond, 1)))
	}
	if o.nothingLeft > 0 {
		r.printf("- %d of them had only the message that was in sending at the stop left, which %s failed and refunded at the takeover: nothing left to send\n", o.nothingLeft, o.survivor)
	}
	if o.notTaken > 0 {
		r.printf("- **%d account(s) not sent by %s within -timeout**\n", o.notTaken, o.survivor)
	}
	r.printf("\n")
}
