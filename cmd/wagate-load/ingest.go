package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
)

// ingestBody is the first reference request of SPEC §1.
const ingestBody = `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+14155552671","text":"lorem ipsum"}`

// ingestAccount is the account the reference request sends from.
const ingestAccount = "+15105566777"

// ingestCredits is enough for any run: a 402 would end the measurement.
const ingestCredits = 100_000_000

// measured is one run of one server, with the CPU it and the tool took.
type measured struct {
	server  string
	round   int
	res     *loadResult
	cpu     time.Duration // the server's user+system time during the run
	toolCPU time.Duration
	writer  writerStats // wagate's store writer during the run (zero for the baseline)
}

// writerStats are the store's group-commit counters (wagate_store_commit*
// in /metrics) over one run.
type writerStats struct {
	commits, functions, busySeconds float64
}

// readWriterStats reads the counters from a /metrics text.
func readWriterStats(metrics string) writerStats {
	var w writerStats
	for _, line := range strings.Split(metrics, "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch name {
		case "wagate_store_commits_total":
			w.commits = v
		case "wagate_store_commit_functions_total":
			w.functions = v
		case "wagate_store_commit_busy_seconds_total":
			w.busySeconds = v
		}
	}
	return w
}

func (w writerStats) minus(o writerStats) writerStats {
	return writerStats{w.commits - o.commits, w.functions - o.functions, w.busySeconds - o.busySeconds}
}

// writerRow shows how the single writer did in a wagate run: commits a
// second, the mean batch, the mean time of one commit (functions, writes
// and both fsyncs) and the share of the run it was busy.
func (m measured) writerRow() []string {
	w, secs := m.writer, m.res.Elapsed.Seconds()
	if w.commits == 0 {
		return []string{strconv.Itoa(m.res.Conns), strconv.Itoa(m.round), "–", "–", "–", "–"}
	}
	return []string{
		strconv.Itoa(m.res.Conns), strconv.Itoa(m.round),
		fmt.Sprintf("%.0f", w.commits/secs),
		fmt.Sprintf("%.1f", w.functions/w.commits),
		fmt.Sprintf("%.3f", w.busySeconds/w.commits*1000),
		fmt.Sprintf("%.0f %%", 100*w.busySeconds/secs),
	}
}

func (m measured) row() []string {
	r := m.res
	cores := m.cpu.Seconds() / r.Elapsed.Seconds()
	perReq := "–"
	if r.Requests > 0 {
		perReq = fmt.Sprintf("%.0f", float64(m.cpu.Microseconds())/float64(r.Requests))
	}
	return []string{
		strconv.Itoa(r.Conns), strconv.Itoa(m.round), m.server,
		fmt.Sprintf("%.0f", r.rps()),
		ms(percentile(r.Lat, 0.50)), ms(percentile(r.Lat, 0.99)), ms(percentile(r.Lat, 0.999)), ms(percentile(r.Lat, 1)),
		thousands(r.non2xx()), thousands(r.Errors),
		fmt.Sprintf("%.2f", cores), perReq,
		fmt.Sprintf("%.2f", m.toolCPU.Seconds()/r.Elapsed.Seconds()),
	}
}

func runIngest(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wagate-load ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("wagate", "bin/wagate", "the wagate binary to measure (make build)")
	duration := fs.Duration("duration", 5*time.Second, "length of one measured run")
	rounds := fs.Int("rounds", 2, "A/B rounds per connection count (baseline, wagate, baseline, wagate…)")
	connsFlag := fs.String("conns", "64,256", "connection counts, comma-separated")
	warmup := fs.Duration("warmup", time.Second, "an unmeasured run against each server before the first round")
	out := fs.String("out", "", "write the markdown report to this file too")
	logLevel := fs.String("log-level", "info", "wagate's --log-level; info, the default of wagate serve, writes one JSON line per request")
	sendInterval := fs.Duration("send-interval", time.Hour, "wagate's --send-interval; with one account and a long interval the sender sends one message and then waits, so it takes no CPU from the accepts")
	crash := fs.Bool("crash-check", true, "at the end, kill -9 wagate under load and check that every message answered 200 is in the store")
	cpuprofile := fs.String("cpuprofile", "", "also run the load against `wagate-load serve-profiled` (gateway + store in one process) and write its CPU profile here")
	dir := fs.String("dir", "", "work folder for the data and logs (default: a new temporary folder)")
	keep := fs.Bool("keep", false, "keep the work folder (it is removed at the end otherwise)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var conns []int
	for _, s := range strings.Split(*connsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return usageError{fmt.Errorf("-conns %q: want positive numbers separated by commas, e.g. 64,256", *connsFlag)}
		}
		conns = append(conns, n)
	}
	if *duration <= 0 || *rounds < 1 {
		return usageError{errors.New("-duration and -rounds must be positive")}
	}
	wagateBin, err := findWagate(*bin)
	if err != nil {
		return err
	}
	self, err := selfExe()
	if err != nil {
		return err
	}
	work, err := workDir(*dir, "ingest")
	if err != nil {
		return err
	}
	if !*keep && *dir == "" {
		defer os.RemoveAll(work)
	}
	ctx := context.Background()
	rep := &report{w: stdout}
	data := filepath.Join(work, "data")

	// The servers: the baseline first, so wagate's start does not overlap it.
	base, err := startProcess("baseline", self, []string{"baseline-server"}, nil, filepath.Join(work, "baseline.log"), plainListening, "", 30*time.Second)
	if err != nil {
		return err
	}
	defer base.stop(10 * time.Second)
	wflags := []string{"--inbound-rate", "1e9", "--inbound-burst", "1000000000", "--send-interval", sendInterval.String(), "--send-jitter", "0s"}
	wg, err := startWagate(nil, wagateBin, data, filepath.Join(work, "wagate.log"), *logLevel, wflags...)
	if err != nil {
		return err
	}
	defer wg.stop(30 * time.Second)
	adm := newAdmin(wg.addr, 4)
	if _, err := adm.waitReady(ctx, 30*time.Second); err != nil {
		return err
	}
	op, err := readOperatorToken(data)
	if err != nil {
		return err
	}
	ws, err := adm.createWorkspace(ctx, op, "ingest", ingestCredits)
	if err != nil {
		return err
	}
	if err := adm.createAccount(ctx, ws, ingestAccount); err != nil {
		return err
	}
	body := []byte(ingestBody)
	reqBase := buildRequest(base.addr, "/inbound/"+strings.Repeat("b", 43), body)
	reqWagate := buildRequest(wg.addr, "/inbound/"+ws.Inbound, body)

	rep.printf("## Ingest: durable accepts vs the bare echo ceiling\n\n")
	rep.printf("- Machine: %s\n", machine())
	rep.printf("- Disk of the data folder: %s\n", fsyncReport(work))
	rep.printf("- Command: `wagate-load ingest %s`\n", strings.Join(args, " "))
	rep.printf("- Request: `%s` (SPEC §1, first reference request), closed loop, keep-alive HTTP/1.1\n", ingestBody)
	rep.printf("- A = baseline (`wagate-load baseline-server`: net/http + echo, reads and parses the same JSON, answers the same 200 body); B = `wagate serve %s --log-level %s` on a fresh data folder (fsync on)\n", strings.Join(wflags, " "), *logLevel)
	rep.printf("- Each run %s, %d round(s) A/B per connection count, after a %s warm-up of each server\n\n", *duration, *rounds, *warmup)

	var wagateIDs []messageID
	var wagateOK, wagateNon2xx int64
	keepB := func(r *loadResult) {
		wagateIDs = append(wagateIDs, r.IDs...)
		r.IDs = nil
		wagateOK += r.ok()
		wagateNon2xx += r.non2xx()
	}
	measure := func(server string, round int, p *process, req []byte, n int, d time.Duration, keepIDs bool) (measured, error) {
		before, err := readProcStat(p.pid())
		if err != nil {
			return measured{}, err
		}
		var wBefore writerStats
		if server == "wagate" {
			text, err := adm.metrics(ctx)
			if err != nil {
				return measured{}, err
			}
			wBefore = readWriterStats(text)
		}
		tool := selfCPU()
		res, err := runLoad(ctx, loadSpec{addr: p.addr, req: req, conns: n, duration: d, keepIDs: keepIDs})
		if err != nil {
			return measured{}, fmt.Errorf("%s: %w", server, err)
		}
		toolCPU := selfCPU() - tool
		after, err := readProcStat(p.pid())
		if err != nil {
			return measured{}, err
		}
		m := measured{server: server, round: round, res: res, cpu: after.CPU - before.CPU, toolCPU: toolCPU}
		if server == "wagate" {
			text, err := adm.metrics(ctx)
			if err != nil {
				return measured{}, err
			}
			m.writer = readWriterStats(text).minus(wBefore)
		}
		return m, nil
	}

	if *warmup > 0 {
		fmt.Fprintf(stderr, "warm-up %s each…\n", *warmup)
		if _, err := measure("baseline", 0, base, reqBase, conns[0], *warmup, false); err != nil {
			return err
		}
		m, err := measure("wagate", 0, wg, reqWagate, conns[0], *warmup, true)
		if err != nil {
			return err
		}
		keepB(m.res)
	}

	var runs []measured
	for _, n := range conns {
		for round := 1; round <= *rounds; round++ {
			fmt.Fprintf(stderr, "%d connections, round %d: baseline…\n", n, round)
			a, err := measure("baseline", round, base, reqBase, n, *duration, false)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%d connections, round %d: wagate…\n", n, round)
			b, err := measure("wagate", round, wg, reqWagate, n, *duration, true)
			if err != nil {
				return err
			}
			keepB(b.res)
			runs = append(runs, a, b)
		}
	}

	rep.printf("### Every run\n\n")
	var rows [][]string
	for _, m := range runs {
		rows = append(rows, m.row())
	}
	rep.table([]string{"conns", "round", "server", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "non-2xx", "conn errors", "server CPU (cores)", "server CPU µs/req", "load tool CPU (cores)"}, rows)

	rep.printf("wagate's store writer in each run (from `wagate_store_commit*` in /metrics): group commits a second, the mean number of writes per commit, the mean time of one commit (the writes' functions, bbolt's page writes and both fdatasyncs), and the share of the run the single writer was busy. Near 100 %%, the writer is the limit: a request waits for the commit in progress, then for its own.\n\n")
	rows = nil
	for _, m := range runs {
		if m.server == "wagate" {
			rows = append(rows, m.writerRow())
		}
	}
	rep.table([]string{"conns", "round", "commits/s", "writes per commit", "ms per commit", "writer busy"}, rows)

	rep.printf("### Summary (rounds pooled)\n\n")
	rows = nil
	var goal []string
	for _, n := range conns {
		var as, bs []*loadResult
		var acpu, bcpu time.Duration
		for _, m := range runs {
			if m.res.Conns != n {
				continue
			}
			if m.server == "baseline" {
				as, acpu = append(as, m.res), acpu+m.cpu
			} else {
				bs, bcpu = append(bs, m.res), bcpu+m.cpu
			}
		}
		a, b := merge(as), merge(bs)
		pooled := b.rps() / a.rps()
		// Each round's wagate run against the baseline run just before it:
		// the median of these ratios shrugs off one round that another
		// process on the machine disturbed.
		var ratios []float64
		for i := 0; i < len(as) && i < len(bs); i++ {
			ratios = append(ratios, bs[i].rps()/as[i].rps())
		}
		ratio := median(ratios)
		cpuRatio := (float64(bcpu) / float64(b.Requests)) / (float64(acpu) / float64(a.Requests))
		for _, x := range []struct {
			name string
			r    *loadResult
		}{{"baseline", a}, {"wagate", b}} {
			rows = append(rows, []string{strconv.Itoa(n), x.name, thousands(x.r.Requests), fmt.Sprintf("%.0f", x.r.rps()),
				ms(percentile(x.r.Lat, 0.50)), ms(percentile(x.r.Lat, 0.99)), ms(percentile(x.r.Lat, 0.999)), thousands(x.r.non2xx()), thousands(x.r.Errors), ""})
		}
		rs := make([]string, len(ratios))
		for i, r := range ratios {
			rs[i] = fmt.Sprintf("%.2f", r)
		}
		rows[len(rows)-1][9] = fmt.Sprintf("**%.2f** (median of rounds %s; pooled %.2f; CPU per request %.1f× the baseline's)", ratio, strings.Join(rs, ", "), pooled, cpuRatio)
		if n == 64 {
			p99 := percentile(b.Lat, 0.99)
			stretch := "reached"
			if ratio < 0.50 {
				stretch = "not reached"
			}
			goal = append(goal, fmt.Sprintf("at 64 connections: ratio %.2f (goal ≥ 0.30: %s; stretch 0.50: %s), wagate p99 %s ms (goal ≤ 10 ms: %s)",
				ratio, verdict(ratio >= 0.30), stretch, ms(p99), verdict(p99 <= 10*time.Millisecond)))
		}
	}
	rep.table([]string{"conns", "server", "requests", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "non-2xx", "conn errors", "wagate / baseline req/s"}, rows)
	for _, g := range goal {
		rep.printf("- Goal %s\n", g)
	}
	rep.printf("- wagate non-2xx answers in all runs: %d (goal 0: %s)\n\n", wagateNon2xx, verdict(wagateNon2xx == 0))

	// Every 200 must be a stored, charged message: credits spent = 200s.
	rep.printf("### Checks\n\n")
	bal, err := adm.credits(ctx, ws)
	if err != nil {
		return err
	}
	spent := ingestCredits - bal
	rep.printf("- 200 answers from wagate (warm-up included): %s; credits spent (1 per message): %s: %s\n", thousands(wagateOK), thousands(spent), verdict(spent == wagateOK))
	checksOK := spent == wagateOK && wagateNon2xx == 0

	if *crash {
		ok, err := crashCheck(ctx, rep, stderr, wg, reqWagate, conns[0], data, ws, wagateIDs, wagateBin)
		if err != nil {
			return err
		}
		checksOK = checksOK && ok
	}
	rep.printf("\n")

	if *cpuprofile != "" {
		if err := profileRun(ctx, rep, stderr, self, work, *cpuprofile, *logLevel, conns[0], *duration); err != nil {
			return err
		}
	}
	if err := rep.save(*out); err != nil {
		return err
	}
	if !checksOK {
		return errors.New("a check failed; see the report")
	}
	return nil
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**NOT met**"
}

// crashCheck kills wagate with SIGKILL while n connections are sending,
// then opens the store and checks that every message ever answered 200 is
// there: an answer given before its commit would be missing. (A kill -9
// keeps the page cache, so it proves commit-before-answer; that a commit is
// fsynced is bbolt's contract with NoSync off, argued in BENCHMARKS.md.)
func crashCheck(ctx context.Context, rep *report, stderr io.Writer, wg *process, req []byte, n int, data string, ws *benchWorkspace, ids []messageID, bin string) (bool, error) {
	fmt.Fprintf(stderr, "crash check: kill -9 under %d connections…\n", n)
	stop := make(chan struct{})
	done := make(chan *loadResult, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := runLoad(ctx, loadSpec{addr: wg.addr, req: req, conns: n, duration: time.Minute, keepIDs: true, stop: stop})
		errc <- err
		done <- r
	}()
	time.Sleep(1500 * time.Millisecond)
	wg.kill()
	close(stop)
	if err := <-errc; err != nil {
		return false, err
	}
	r := <-done
	ids = append(ids, r.IDs...)

	db, err := store.Open(filepath.Join(data, "wagate.db"), store.Options{})
	if err != nil {
		return false, fmt.Errorf("crash check: open the store after kill -9: %w", err)
	}
	// One walk of the store collects the ids it holds: FindMessage per id
	// also works out what a queued message waits for, a walk of up to
	// 10,000 queue entries each, which made this check take minutes.
	stored := map[string]bool{}
	if err := db.Export(ctx, func(rec any) error {
		if m, ok := rec.(*wagate.ExportedMessage); ok && m.Message.WorkspaceID == ws.ID {
			stored[m.Message.ID] = true
		}
		return nil
	}); err != nil {
		db.Close()
		return false, fmt.Errorf("crash check: read the store after kill -9: %w", err)
	}
	missing := 0
	var firstMissing string
	for _, id := range ids {
		if !stored[id.String()] {
			if missing == 0 {
				firstMissing = id.String()
			}
			missing++
		}
	}
	w, err := db.FindWorkspace(ctx, ws.ID)
	if err != nil {
		db.Close()
		return false, err
	}
	problems, err := db.Audit(ctx)
	db.Close()
	if err != nil {
		return false, err
	}
	spent := w.Granted - w.Credits
	rep.printf("- kill -9 after 1.5 s of load at %d connections (%s answers 200 in that phase, %d connection errors at the kill): every one of the %s messages answered 200 in this whole run is in the store after the kill: %s",
		n, thousands(r.ok()), r.Errors, thousands(int64(len(ids))), verdict(missing == 0))
	if missing > 0 {
		rep.printf(" (%d missing, first %s)", missing, firstMissing)
	}
	rep.printf("\n- stored messages (credits spent) %s = answered %s + %s committed whose answer the kill cut off (at most one per connection: %s)\n",
		thousands(spent), thousands(int64(len(ids))), thousands(spent-int64(len(ids))), verdict(spent >= int64(len(ids)) && spent-int64(len(ids)) <= int64(n)))
	rep.printf("- store audit after the kill (credits add up, queue entries match): %d problem(s): %s\n", len(problems), verdict(len(problems) == 0))
	out, cerr := exec.Command(bin, "check", "--data", data).CombinedOutput()
	rep.printf("- `wagate check --data …` after the kill: %s\n", strings.TrimSpace(strings.ReplaceAll(string(out), data, "…")))
	return missing == 0 && len(problems) == 0 && cerr == nil && spent-int64(len(ids)) <= int64(n) && spent >= int64(len(ids)), nil
}

// profileRun drives the load against the in-process wiring of gateway and
// store (serve-profiled) and prints the top of its CPU profile.
func profileRun(ctx context.Context, rep *report, stderr io.Writer, self, work, profile, logLevel string, n int, d time.Duration) error {
	fmt.Fprintf(stderr, "CPU profile: %d connections for %s against serve-profiled…\n", n, d)
	data := filepath.Join(work, "profiled")
	abs, err := filepath.Abs(profile)
	if err != nil {
		return err
	}
	p, err := startProcess("serve-profiled", self, []string{"serve-profiled", "-data", data, "-cpuprofile", abs, "-log-level", logLevel}, nil, filepath.Join(work, "profiled.log"), plainListening, "", 30*time.Second)
	if err != nil {
		return err
	}
	defer p.stop(30 * time.Second)
	adm := newAdmin(p.addr, 4)
	op, err := readOperatorToken(data)
	if err != nil {
		return err
	}
	ws, err := adm.createWorkspace(ctx, op, "profile", ingestCredits)
	if err != nil {
		return err
	}
	if err := adm.createAccount(ctx, ws, ingestAccount); err != nil {
		return err
	}
	req := buildRequest(p.addr, "/inbound/"+ws.Inbound, []byte(ingestBody))
	res, err := runLoad(ctx, loadSpec{addr: p.addr, req: req, conns: n, duration: d})
	if err != nil {
		return err
	}
	if err := p.stop(30 * time.Second); err != nil {
		return fmt.Errorf("serve-profiled: %w", err)
	}
	rep.printf("### CPU profile of the accept path\n\n")
	rep.printf("`wagate-load serve-profiled` (gateway + store wired as cmd/wagate does, no sender), %d connections for %s: %.0f req/s, p99 %s ms, %d non-2xx. Profile: `%s`.\n\n",
		n, d, res.rps(), ms(percentile(res.Lat, 0.99)), res.non2xx(), profile)
	for _, cum := range []bool{false, true} {
		top, err := pprofTop(self, abs, 40, cum)
		if err != nil {
			rep.printf("(`go tool pprof` failed: %v; run `go tool pprof -top %s %s` by hand)\n\n", err, self, abs)
			return nil
		}
		if cum {
			rep.printf("Sorted by cumulative time (`go tool pprof -top -cum`):\n\n")
		} else {
			rep.printf("Sorted by own time (`go tool pprof -top`):\n\n")
		}
		rep.printf("```\n%s```\n\n", top)
	}
	return nil
}
