package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The pacing mode measures the sender at scale, over HTTP only:
//
//  1. A setup wagate (--send-interval 1h) gets the workspaces and dryrun
//     accounts over the admin API, then 1+Q messages per account over the
//     inbound URLs. Each account sends its first message at once and then
//     waits an hour, so Q stay queued. Memory and CPU are read with no
//     account, with every account idle (no message), and with every account
//     waiting for its turn.
//  2. The setup wagate stops (SIGTERM) and a wagate with the pace under test
//     starts on the same data: every account resumes at once, so all of them
//     are active together, and each sends its Q messages, Q-1 paced gaps.
//  3. The gaps are read from the dryrun outbox ("at" of each line, per
//     account). With -jitter 0 the drawn gap is the interval, so the error
//     of each gap is exact; with jitter the drawn gap is not visible from
//     outside and only a gap outside [interval-jitter, interval+jitter] is
//     a certain error.

// pacingEnv runs both wagates with Go's default GC pace (GOGC=100, which
// turns wagate's own gctune off), so the memory figures per 1,000
// accounts are what the accounts keep alive, not the up to 64 MiB of
// garbage gctune lets a default wagate leave between collections. The
// report says so; the CPU figures are the more conservative for it.
var pacingEnv = []string{"GOGC=100"}

func runPacing(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wagate-load pacing", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("wagate", "bin/wagate", "the wagate binary to measure (make build)")
	accounts := fs.Int("accounts", 10000, "dryrun accounts, all active together")
	perWS := fs.Int("per-workspace", 10, "accounts per workspace (every inbound request reads all of its workspace's accounts, so a few is realistic)")
	queue := fs.Int("queue", 3, "messages queued per account for the measured wagate: queue-1 paced gaps per account")
	interval := fs.Duration("interval", 2*time.Second, "--send-interval of the measured wagate")
	jitters := fs.String("jitter", "0s,500ms", "--send-jitter of the measured wagate; several, comma-separated, are measured one after the other, each on a fresh setup")
	conns := fs.Int("conns", 64, "connections that queue the messages")
	workers := fs.Int("admin-conns", 8, "connections that create workspaces and accounts")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up on a phase after this long")
	logLevel := fs.String("log-level", "info", "wagate's --log-level (info: one JSON line per request and per send)")
	seed := fs.Uint64("seed", 1, "wagate's --seed, so a run's gaps can be replayed")
	idleWindow := fs.Duration("idle-window", 3*time.Second, "how long CPU use is measured in each idle state (after waiting as long for the last writes to settle)")
	out := fs.String("out", "", "write the markdown report to this file too")
	dir := fs.String("dir", "", "work folder for the data and logs (default: a new temporary folder)")
	keep := fs.Bool("keep", false, "keep the work folder (it is removed at the end otherwise)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *accounts < 1 || *perWS < 1 || *queue < 2 || *interval <= 0 {
		return usageError{errors.New("-accounts, -per-workspace and -interval must be positive, and -queue at least 2 (one gap)")}
	}
	var js []time.Duration
	for _, s := range strings.Split(*jitters, ",") {
		j, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || j < 0 || j > *interval {
			return usageError{fmt.Errorf("-jitter %q: want durations from 0 to -interval, comma-separated", *jitters)}
		}
		js = append(js, j)
	}
	wagateBin, err := findWagate(*bin)
	if err != nil {
		return err
	}
	phones, err := accountPhones(*accounts)
	if err != nil {
		return err
	}
	work, err := workDir(*dir, "pacing")
	if err != nil {
		return err
	}
	if !*keep && *dir == "" {
		defer os.RemoveAll(work)
	}
	rep := &report{w: stdout}
	rep.printf("## Pacing at scale\n\n")
	rep.printf("- Machine: %s\n", machine())
	rep.printf("- Disk of the data folder: %s\n", fsyncReport(work))
	rep.printf("- Command: `wagate-load pacing %s`\n", strings.Join(args, " "))
	rep.printf("- %s dryrun accounts in %s workspaces; %d messages queued per account before the measured wagate starts, so every account is active at once and has %d paced gaps; --send-interval %s, --seed %d, --log-level %s\n\n",
		thousands(int64(*accounts)), thousands(int64((*accounts+*perWS-1) / *perWS)), *queue, *queue-1, *interval, *seed, *logLevel)
	ok := true
	for i, j := range js {
		p := pacingRun{
			bin: wagateBin, work: filepath.Join(work, fmt.Sprintf("run%d", i+1)), phones: phones, perWS: *perWS, queue: *queue,
			interval: *interval, jitter: j, conns: *conns, workers: *workers, timeout: *timeout, logLevel: *logLevel, seed: *seed, idleWindow: *idleWindow,
			rep: rep, log: stderr,
		}
		complete, err := p.run(context.Background())
		if err != nil {
			return err
		}
		ok = ok && complete
	}
	if err := rep.save(*out); err != nil {
		return err
	}
	if !ok {
		return errors.New("not every queued message was sent within -timeout; see the report")
	}
	return nil
}

type pacingRun struct {
	bin, work        string
	phones           []string
	perWS, queue     int
	interval, jitter time.Duration
	conns, workers   int
	timeout          time.Duration
	logLevel         string
	seed             uint64
	idleWindow       time.Duration
	rep              *report
	log              io.Writer
}

// window measures a process's CPU use over d.
func window(pid int, d time.Duration) (procStat, float64, error) {
	a, err := readProcStat(pid)
	if err != nil {
		return a, 0, err
	}
	time.Sleep(d)
	b, err := readProcStat(pid)
	if err != nil {
		return b, 0, err
	}
	return b, (b.CPU - a.CPU).Seconds() / b.At.Sub(a.At).Seconds(), nil
}

// run sets up, measures and reports one pace; complete is false when not
// every queued message was sent within the timeout. A missed performance
// goal is reported, not an error.
func (p *pacingRun) run(ctx context.Context) (complete bool, err error) {
	n := len(p.phones)
	k := float64(n) / 1000 // per 1,000 accounts
	data := filepath.Join(p.work, "data")
	if err := os.MkdirAll(p.work, 0o700); err != nil {
		return false, err
	}
	outbox := filepath.Join(data, "dryrun-outbox.jsonl")
	idleWindow := p.idleWindow

	// 1. Setup wagate: an hour between sends, so the queues stay full.
	fmt.Fprintf(p.log, "pacing (jitter %s): setup wagate…\n", p.jitter)
	setup, err := startWagate(pacingEnv, p.bin, data, filepath.Join(p.work, "wagate-setup.log"), p.logLevel,
		"--inbound-rate", "1e9", "--inbound-burst", "1000000000", "--send-interval", "1h", "--send-jitter", "0s")
	if err != nil {
		return false, err
	}
	defer setup.stop(30 * time.Second)
	adm := newAdmin(setup.addr, max(p.workers, p.conns))
	if _, err := adm.waitReady(ctx, 30*time.Second); err != nil {
		return false, err
	}
	op, err := readOperatorToken(data)
	if err != nil {
		return false, err
	}
	time.Sleep(idleWindow) // let the last writes settle
	empty, emptyCPU, err := window(setup.pid(), idleWindow)
	if err != nil {
		return false, err
	}

	t := time.Now()
	owner, err := setupAccounts(ctx, adm, op, p.phones, p.perWS, int64(p.perWS*(p.queue+1)), p.workers)
	if err != nil {
		return false, err
	}
	createTime := time.Since(t)
	fmt.Fprintf(p.log, "pacing: %d workspaces and %d accounts in %s\n", (n+p.perWS-1)/p.perWS, n, createTime.Round(time.Millisecond))
	time.Sleep(idleWindow) // let the last writes settle
	idle, idleCPU, err := window(setup.pid(), idleWindow)
	if err != nil {
		return false, err
	}

	// 1+queue messages per account, each account's in a row.
	reqs := make([][]byte, 0, n*(p.queue+1))
	for i, phone := range p.phones {
		for m := 0; m <= p.queue; m++ {
			body := fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","text":"pacing %d"}`, phone, m)
			reqs = append(reqs, buildRequest(setup.addr, "/inbound/"+owner[i].Inbound, []byte(body)))
		}
	}
	t = time.Now()
	status, err := sendAll(setup.addr, reqs, p.conns)
	if err != nil {
		return false, fmt.Errorf("queueing messages: %w", err)
	}
	queueTime := time.Since(t)
	if status[200] != int64(len(reqs)) {
		return false, fmt.Errorf("queueing messages: answers by status %v, want %d × 200", status, len(reqs))
	}
	fmt.Fprintf(p.log, "pacing: %d messages accepted in %s\n", len(reqs), queueTime.Round(time.Millisecond))
	// Wait for the first message of every account (sent at once).
	deadline := time.Now().Add(p.timeout)
	var off int64
	firstSends := 0
	for firstSends < n {
		lines, o, err := readOutbox(outbox, off)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
		off, firstSends = o, firstSends+len(lines)
		if time.Now().After(deadline) {
			return false, fmt.Errorf("setup wagate sent %d of %d first messages within %s", firstSends, n, p.timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(idleWindow) // let the last writes settle
	waiting, waitingCPU, err := window(setup.pid(), idleWindow)
	if err != nil {
		return false, err
	}
	if err := setup.stop(30 * time.Second); err != nil {
		return false, fmt.Errorf("stopping the setup wagate: %w", err)
	}

	// 2. The measured wagate: every account resumes at once.
	fmt.Fprintf(p.log, "pacing: measured wagate, %d accounts × %d messages…\n", n, p.queue)
	off = fileSize(outbox)
	flags := []string{"--inbound-rate", "1e9", "--inbound-burst", "1000000000",
		"--send-interval", p.interval.String(), "--send-jitter", p.jitter.String(), "--seed", strconv.FormatUint(p.seed, 10)}
	wg, err := startWagate(pacingEnv, p.bin, data, filepath.Join(p.work, "wagate.log"), p.logLevel, flags...)
	if err != nil {
		return false, err
	}
	defer wg.stop(30 * time.Second)
	madm := newAdmin(wg.addr, 2)
	ready, err := madm.waitReady(ctx, 30*time.Second)
	if err != nil {
		return false, err
	}
	startStat, err := readProcStat(wg.pid())
	if err != nil {
		return false, err
	}
	// Sample RSS while the accounts send.
	var peak procStat
	var mu sync.Mutex
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			if st, err := readProcStat(wg.pid()); err == nil {
				mu.Lock()
				if st.RSS > peak.RSS {
					peak = st
				}
				mu.Unlock()
			}
		}
	}()
	var lines []outboxLine
	want := n * p.queue
	deadline = time.Now().Add(p.timeout)
	for len(lines) < want && time.Now().Before(deadline) {
		more, o, err := readOutbox(outbox, off)
		if err != nil {
			return false, err
		}
		off, lines = o, append(lines, more...)
		time.Sleep(50 * time.Millisecond)
	}
	endStat, err := readProcStat(wg.pid())
	if err != nil {
		return false, err
	}
	close(stopSampling)
	<-sampled
	metrics, _ := madm.metrics(ctx)
	if err := wg.stop(30 * time.Second); err != nil {
		return false, fmt.Errorf("stopping the measured wagate: %w", err)
	}
	if len(lines) < want {
		p.rep.printf("**Only %d of %d sends within %s.**\n\n", len(lines), want, p.timeout)
	}

	// 3. The gaps, per account, by their place in the account's sequence:
	// the first gaps follow the restart herd, the later ones show whether
	// the pace settles.
	byAccount := map[string][]time.Time{}
	for _, l := range lines {
		byAccount[l.Account] = append(byAccount[l.Account], l.At)
	}
	var first []int64         // first send after ready, ns
	byIndex := [][]int64{nil} // byIndex[i]: the i-th gap of every account, ns
	for _, ats := range byAccount {
		slices.SortFunc(ats, func(a, b time.Time) int { return a.Compare(b) })
		first = append(first, int64(ats[0].Sub(ready)))
		for i := 1; i < len(ats); i++ {
			for len(byIndex) <= i {
				byIndex = append(byIndex, nil)
			}
			byIndex[i] = append(byIndex[i], int64(ats[i].Sub(ats[i-1])))
		}
	}
	slices.Sort(first)
	var gaps []int64
	for _, g := range byIndex {
		gaps = append(gaps, g...)
	}
	activeWall := endStat.At.Sub(startStat.At)
	activeCPU := (endStat.CPU - startStat.CPU).Seconds() / activeWall.Seconds()

	r := p.rep
	r.printf("### --send-jitter %s\n\n", p.jitter)
	r.printf("Setup: %s workspaces and %s accounts over the admin API in %s; %s messages accepted over %d connections in %s (%.0f/s).\n\n",
		thousands(int64((n+p.perWS-1)/p.perWS)), thousands(int64(n)), createTime.Round(time.Millisecond),
		thousands(int64(len(reqs))), p.conns, queueTime.Round(time.Millisecond), float64(len(reqs))/queueTime.Seconds())
	r.printf("Measured wagate: %s sends of %s accounts read from the outbox; %s paced gaps. First send of each account after /readyz: p50 %s ms, p99 %s ms, max %s ms (the restart herd: every account is due at once; since the herd spread, the sender sends the first 100 at once and spreads the others at 5,000 a second, over at most one interval).\n\n",
		thousands(int64(len(lines))), thousands(int64(len(byAccount))), thousands(int64(len(gaps))),
		ms(percentile(first, 0.5)), ms(percentile(first, 0.99)), ms(percentile(first, 1)))

	// errorOf is the certain error of a gap: exact without jitter; beyond
	// the window with it (a gap inside the window may still be off its
	// drawn value, which is not visible from outside).
	lo, hi := p.interval-p.jitter, p.interval+p.jitter
	errorOf := func(g int64) int64 {
		switch {
		case g > int64(hi):
			return g - int64(hi)
		case g < int64(lo):
			return int64(lo) - g
		}
		return 0
	}
	what := "|actual − drawn| (exact: no jitter, so drawn = interval)"
	if p.jitter > 0 {
		what = fmt.Sprintf("error beyond [%s, %s] (a lower bound of |actual − drawn|)", lo, hi)
	}
	var rows [][]string
	var all []int64
	row := func(name string, gs []int64) []int64 {
		es := make([]int64, len(gs))
		within := 0
		for i, g := range gs {
			es[i] = errorOf(g)
			if es[i] <= int64(50*time.Millisecond) {
				within++
			}
		}
		slices.Sort(es)
		sorted := slices.Sorted(slices.Values(gs))
		rows = append(rows, []string{name, thousands(int64(len(gs))), ms(percentile(sorted, 0)), ms(percentile(sorted, 0.5)), ms(percentile(sorted, 1)),
			ms(percentile(es, 0.5)), ms(percentile(es, 0.99)), ms(percentile(es, 1)), fmt.Sprintf("%.1f %%", 100*float64(within)/float64(max(len(es), 1)))})
		return es
	}
	for i := 1; i < len(byIndex); i++ {
		row(fmt.Sprintf("gap %d", i), byIndex[i])
	}
	all = row("all gaps", gaps)
	r.table([]string{"gaps", "count", "gap min ms", "gap p50 ms", "gap max ms", "error p50 ms", "error p99 ms", "error max ms", "error ≤ 50 ms"}, rows)
	p99 := percentile(all, 0.99)
	goalMet := p99 <= 50*time.Millisecond
	r.printf("- Error = %s, from the outbox's \"at\" (taken inside the dryrun transport, after MarkSending's commit and before the wait for the outbox lock).\n", what)
	r.printf("- Goal: p99 of the error ≤ 50 ms: p99 %s ms: %s\n", ms(p99), verdict(goalMet))
	r.printf("- The sender's own view, from wagate_sender_gap_error_seconds (start − (previous start + drawn gap), exact with jitter too, bucket bounds): %s\n", gapErrorSummary(metrics))
	r.printf("- The sender's own histograms from /metrics: the pacing error per send, the gaps as the sender sees them (between two calls of the transport, after MarkSending's commit; buckets of an eighth of the jitter window, 100 ms without jitter), and the transport's Send time (for dryrun: the wait for the outbox lock, the write and the group fsync that covers it):\n\n```\n%s```\n\n", senderHistograms(metrics))

	r.printf("Resources (RSS from /proc/<pid>/status, CPU = user+system from /proc/<pid>/stat; both wagates run with GOGC=100, Go's default pace, so RSS is what the accounts keep alive: a default wagate may hold up to 64 MiB more between collections, see gctune):\n\n")
	r.table([]string{"state", "accounts", "CPU (cores)", "RSS MiB", "RssAnon MiB", "RssFile MiB", "threads"}, [][]string{
		{"setup wagate, no account", "0", fmt.Sprintf("%.3f", emptyCPU), mib(empty.RSS), mib(empty.RssAnon), mib(empty.RssFile), strconv.Itoa(empty.Threads)},
		{"setup wagate, all idle (no message)", thousands(int64(n)), fmt.Sprintf("%.3f", idleCPU), mib(idle.RSS), mib(idle.RssAnon), mib(idle.RssFile), strconv.Itoa(idle.Threads)},
		{"setup wagate, all waiting for their turn (1 h gap)", thousands(int64(n)), fmt.Sprintf("%.3f", waitingCPU), mib(waiting.RSS), mib(waiting.RssAnon), mib(waiting.RssFile), strconv.Itoa(waiting.Threads)},
		{"measured wagate, all sending (peak RSS sample)", thousands(int64(n)), fmt.Sprintf("%.3f", activeCPU), mib(peak.RSS), mib(peak.RssAnon), mib(peak.RssFile), strconv.Itoa(peak.Threads)},
	})
	sendsPerSec := float64(len(lines)) / activeWall.Seconds()
	r.table([]string{"per 1,000 accounts", "CPU (cores)", "RSS MiB", "RssAnon MiB"}, [][]string{
		{"idle (no message)", fmt.Sprintf("%.4f", (idleCPU-emptyCPU)/k), mib(int64(float64(idle.RSS-empty.RSS) / k)), mib(int64(float64(idle.RssAnon-empty.RssAnon) / k))},
		{"waiting for their turn", fmt.Sprintf("%.4f", (waitingCPU-emptyCPU)/k), mib(int64(float64(waiting.RSS-empty.RSS) / k)), mib(int64(float64(waiting.RssAnon-empty.RssAnon) / k))},
		{fmt.Sprintf("active, sending every ~%s", p.interval), fmt.Sprintf("%.4f", activeCPU/k), mib(int64(float64(peak.RSS-empty.RSS) / k)), mib(int64(float64(peak.RssAnon-empty.RssAnon) / k))},
	})
	r.printf("- Active phase: %.0f sends/s over %s; %.0f µs of CPU per send (MarkSending + outbox line with fsync + MarkSent + logs).\n\n",
		sendsPerSec, activeWall.Round(time.Millisecond), float64((endStat.CPU-startStat.CPU).Microseconds())/float64(max(len(lines), 1)))
	return len(lines) >= want, nil
}

// gapErrorSummary reads the sender's wagate_sender_gap_error_seconds
// histogram from a /metrics text: the share of paced sends within ±50 ms of
// their drawn gap, and the smallest symmetric bucket bound that holds 99 %
// of them (a bound, since a histogram keeps no exact values).
func gapErrorSummary(metrics string) string {
	const prefix = `wagate_sender_gap_error_seconds_bucket{le="`
	cum := map[string]float64{} // le → cumulative count
	for _, line := range strings.Split(metrics, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		le, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		if n, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			cum[le] = n
		}
	}
	total, ok := cum["+Inf"]
	if !ok || total == 0 {
		return "(no paced send in wagate_sender_gap_error_seconds)"
	}
	within := func(b string) float64 { return cum[b] - cum["-"+b] }
	out := fmt.Sprintf("%.0f paced sends, %.1f %% within ±50 ms", total, 100*within("0.05")/total)
	for _, b := range []string{"0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5"} {
		if within(b) >= 0.99*total {
			ms, _ := strconv.ParseFloat(b, 64)
			return out + fmt.Sprintf(", p99 of |error| ≤ %g ms", ms*1000)
		}
	}
	return out + ", p99 of |error| > 500 ms"
}

// senderHistograms keeps the sender's gap_actual, gap_error and send_duration
// histogram lines of a /metrics text (gap_drawn says nothing new: with
// jitter it is uniform, without it is the interval).
func senderHistograms(metrics string) string {
	var b strings.Builder
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "wagate_sender_gap_actual_") || strings.HasPrefix(line, "wagate_sender_gap_error_") || strings.HasPrefix(line, "wagate_sender_send_duration_") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 {
		return "(no wagate_sender_gap_actual_* or send_duration_* series)\n"
	}
	return b.String()
}
