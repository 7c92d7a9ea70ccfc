package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wagate/wagate/store/postgres/pgtest"
)

// The replicas mode: real `wagate serve` processes, the built binary, on
// one throwaway PostgreSQL (SPEC §12), the way an operator runs two
// replicas behind a load balancer. pgtest starts the cluster with
// durability on, as in the backends mode, so a 200 means committed to
// disk on both sides of every comparison.
//
//  1. Ingest: the reference request of the ingest mode, closed loop over
//     -conns connections, first against ONE replica, then split over TWO
//     (connection i on replica i mod 2), alternating one, two, one, two in
//     the same run. "hot" sends every request to one workspace (its
//     balance row is shared by both replicas' committers); "spread" gives
//     each connection a workspace of its own. Accepts/s, latency, and the
//     CPU of each wagate and of the PostgreSQL server.
//  2. Sending (replicas_send.go): -accounts dryrun accounts with -queue
//     messages each, on two replicas with a short pace: sends/s, which
//     replica sends which accounts, then a SIGTERM of the replica that
//     sends the most (the handover) and a kill -9 (the takeover after
//     --lease-ttl), and from both dryrun outboxes and the database: every
//     message sent once at most, none left behind, credits add up, and no
//     account's gap shorter than drawn across replicas.
//
// The replicas, the database and the load tool share the machine's cores,
// so two replicas measure what a second process costs and where the
// shared database serialises, not what a second machine would add.

// replicaNames are the --replica names of the two wagates.
var replicaNames = [2]string{"r1", "r2"}

func runReplicas(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wagate-load replicas", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("wagate", "bin/wagate", "the wagate binary to run as replicas (make build)")
	duration := fs.Duration("duration", 5*time.Second, "ingest: length of one measured run")
	rounds := fs.Int("rounds", 2, "ingest: rounds of one replica then two, per workload")
	conns := fs.Int("conns", 64, "ingest: keep-alive connections (split over the replicas in the two-replica runs)")
	workloads := fs.String("workloads", "hot,spread", "ingest: hot (one workspace), spread (a workspace per connection), or both")
	warmup := fs.Duration("warmup", time.Second, "ingest: an unmeasured two-replica run of each workload first")
	accounts := fs.Int("accounts", 200, "sending: dryrun accounts (0 skips the sending phase)")
	perWS := fs.Int("per-workspace", 10, "sending: accounts per workspace")
	queue := fs.Int("queue", 12, "sending: messages queued per account")
	interval := fs.Duration("interval", time.Second, "sending: --send-interval of the replicas")
	jitter := fs.Duration("jitter", 0, "sending: --send-jitter of the replicas (0: the drawn gap is the interval, so the gap check is exact)")
	leaseTTL := fs.Duration("lease-ttl", 3*time.Second, "sending: --lease-ttl of the replicas (how long a killed replica's accounts wait)")
	both := fs.Duration("both", 3*time.Second, "sending: how long both replicas send before one is stopped")
	kill9 := fs.Bool("kill9", true, "sending: after the SIGTERM handover, restart the stopped replica and kill -9 the one that sends the most")
	timeout := fs.Duration("timeout", 90*time.Second, "sending: give up on a phase after this long")
	logLevel := fs.String("log-level", "info", "the replicas' --log-level (info, wagate's default, writes a JSON line per request)")
	out := fs.String("out", "", "write the markdown report to this file too")
	dir := fs.String("dir", "", "work folder for the replicas' data folders and logs (default: a new temporary folder)")
	keep := fs.Bool("keep", false, "keep the work folder (it is removed at the end otherwise)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *duration <= 0 || *rounds < 1 || *conns < 2 {
		return usageError{errors.New("-duration and -rounds must be positive, and -conns at least 2 (one per replica)")}
	}
	var wls []string
	for _, w := range strings.Split(*workloads, ",") {
		switch w = strings.TrimSpace(w); w {
		case "hot", "spread":
			wls = append(wls, w)
		case "none":
		default:
			return usageError{fmt.Errorf("-workloads %q: want hot, spread, hot,spread, or none (no ingest phase)", *workloads)}
		}
	}
	switch {
	case *accounts < 0 || *perWS < 1 || *both <= 0:
		return usageError{errors.New("-accounts must be 0 or more, -per-workspace and -both positive")}
	case *interval <= 0 || *jitter < 0 || *jitter >= *interval:
		return usageError{fmt.Errorf("-interval %s, -jitter %s: want 0 ≤ jitter < interval, e.g. -interval 1s -jitter 0s", *interval, *jitter)}
	case *leaseTTL < time.Second:
		return usageError{fmt.Errorf("-lease-ttl %s: wagate takes at least 1s", *leaseTTL)}
	}
	if *accounts > 0 && *queue < 4 {
		return usageError{errors.New("-queue: give at least 4, so that accounts still have messages when a replica stops")}
	}
	if *accounts > 6000 {
		return usageError{errors.New("-accounts: at most 6,000 (the account phones must stay clear of the ingest account's)")}
	}
	wagateBin, err := findWagate(*bin)
	if err != nil {
		return err
	}
	work, err := workDir(*dir, "replicas")
	if err != nil {
		return err
	}
	if !*keep && *dir == "" {
		defer os.RemoveAll(work)
	}
	fmt.Fprintf(stderr, "starting a throwaway PostgreSQL (fsync on)…\n")
	cluster, err := pgtest.Start(pgtest.Options{Settings: durableSettings})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	ctx := context.Background()
	server, err := pgServer(ctx, cluster)
	if err != nil {
		return err
	}
	rep := &report{w: stdout}
	rep.printf("## Two replicas on one PostgreSQL\n\n")
	rep.printf("- Machine: %s\n", machine())
	rep.printf("- Disk of PostgreSQL's cluster and the replicas' data folders: %s\n", fsyncReport(work))
	rep.printf("- Command: `wagate-load replicas %s`\n", strings.Join(args, " "))
	rep.printf("- %s, a throwaway cluster started by pgtest on 127.0.0.1, fsync, synchronous_commit and full_page_writes on (read back from the server), other settings the defaults; replicas are `%s serve` processes (`WAGATE_DATABASE_URL`, `--replica r1`/`r2`, `--log-level %s`), all on this machine with the load tool\n\n",
		server, filepath.Base(wagateBin), *logLevel)

	ok := true
	if len(wls) > 0 {
		url, err := cluster.CreateDatabase(ctx)
		if err != nil {
			return err
		}
		in := replicaIngest{bin: wagateBin, work: filepath.Join(work, "ingest"), url: url, pgPID: cluster.PID(), logLevel: *logLevel,
			conns: *conns, rounds: *rounds, duration: *duration, warmup: *warmup, workloads: wls, rep: rep, log: stderr}
		good, err := in.run(ctx)
		if err != nil {
			return err
		}
		ok = ok && good
	}
	if *accounts > 0 {
		url, err := cluster.CreateDatabase(ctx)
		if err != nil {
			return err
		}
		phones, err := accountPhones(*accounts)
		if err != nil {
			return err
		}
		sp := replicaSend{bin: wagateBin, work: filepath.Join(work, "send"), url: url, pgPID: cluster.PID(), logLevel: *logLevel,
			phones: phones, perWS: *perWS, queue: *queue, interval: *interval, jitter: *jitter, ttl: *leaseTTL, both: *both,
			kill9: *kill9, timeout: *timeout, rep: rep, log: stderr}
		good, err := sp.run(ctx)
		if err != nil {
			return err
		}
		ok = ok && good
	}
	if err := rep.save(*out); err != nil {
		return err
	}
	if !ok {
		return errors.New("an accept failed or a check did not hold; see the report")
	}
	return nil
}

// startReplica runs `wagate serve` as replica name on the database at url
// (given in WAGATE_DATABASE_URL, as README advises: flags show in ps) and
// waits for /readyz.
func startReplica(ctx context.Context, bin, url, data, logPath, logLevel, name string, flags ...string) (*process, *admin, error) {
	env := []string{"WAGATE_DATABASE_URL=" + url}
	p, err := startWagate(env, bin, data, logPath, logLevel, append([]string{"--replica", name}, flags...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("replica %s: %w", name, err)
	}
	p.name = "wagate replica " + name
	adm := newAdmin(p.addr, 8)
	if _, err := adm.waitReady(ctx, 60*time.Second); err != nil {
		p.kill()
		return nil, nil, fmt.Errorf("replica %s: %w; see %s", name, err, logPath)
	}
	return p, adm, nil
}

// replicaIngest is the ingest phase.
type replicaIngest struct {
	bin, work, url, logLevel string
	pgPID                    int
	conns, rounds            int
	duration, warmup         time.Duration
	workloads                []string
	rep                      *report
	log                      io.Writer
}

// replicaRun is one measured ingest run.
type replicaRun struct {
	workload string
	replicas int // 1 or 2
	round    int
	res      *loadResult
	cpu      [2]time.Duration // each replica's user+system time in the run
	pgCPU    time.Duration
	toolCPU  time.Duration
	writer   writerStats // both replicas' group commits (wagate_store_commit* in /metrics) in the run
}

func (r replicaRun) row() []string {
	res := r.res
	secs := res.Elapsed.Seconds()
	per := func(d time.Duration) string {
		if res.Requests == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f", float64(d.Microseconds())/float64(res.Requests))
	}
	return []string{r.workload, strconv.Itoa(r.round), strconv.Itoa(r.replicas),
		fmt.Sprintf("%.0f", res.rps()),
		ms(percentile(res.Lat, 0.50)), ms(percentile(res.Lat, 0.99)), ms(percentile(res.Lat, 0.999)), ms(percentile(res.Lat, 1)),
		thousands(res.non2xx()), thousands(res.Errors),
		fmt.Sprintf("%.2f", r.cpu[0].Seconds()/secs), fmt.Sprintf("%.2f", r.cpu[1].Seconds()/secs), fmt.Sprintf("%.2f", r.pgCPU.Seconds()/secs),
		per(r.cpu[0] + r.cpu[1]), per(r.pgCPU), fmt.Sprintf("%.0f", r.writer.commits/secs), perCommit(r.writer), fmt.Sprintf("%.2f", r.toolCPU.Seconds()/secs)}
}

// perCommit is the mean number of writes a group commit carried.
func perCommit(w writerStats) string {
	if w.commits == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", w.functions/w.commits)
}

// writers sums the group-commit counters of the replicas' /metrics.
func writers(ctx context.Context, adms []*admin) (writerStats, error) {
	var sum writerStats
	for _, a := range adms {
		text, err := a.metrics(ctx)
		if err != nil {
			return sum, err
		}
		w := readWriterStats(text)
		sum.commits, sum.functions, sum.busySeconds = sum.commits+w.commits, sum.functions+w.functions, sum.busySeconds+w.busySeconds
	}
	return sum, nil
}

func (in *replicaIngest) run(ctx context.Context) (bool, error) {
	// A long send interval: the ingest account sends its first message and
	// then waits, so the senders take no CPU from the accepts.
	flags := []string{"--inbound-rate", "1e9", "--inbound-burst", "1000000000", "--send-interval", "1h", "--send-jitter", "0s"}
	if err := os.MkdirAll(in.work, 0o700); err != nil {
		return false, err
	}
	var procs [2]*process
	var adms [2]*admin
	var op string
	for i, name := range replicaNames {
		data := filepath.Join(in.work, name)
		p, adm, err := startReplica(ctx, in.bin, in.url, data, filepath.Join(in.work, name+".log"), in.logLevel, name, flags...)
		if err != nil {
			return false, err
		}
		defer p.stop(30 * time.Second)
		procs[i], adms[i] = p, adm
		if i == 0 {
			// The first replica on an empty database makes the operator token.
			if op, err = readOperatorToken(data); err != nil {
				return false, err
			}
		}
	}
	// The workspaces are made through r1 and used through both: the data is
	// the database's.
	hot, err := adms[0].createWorkspace(ctx, op, "replicas hot", ingestCredits)
	if err != nil {
		return false, err
	}
	if err := adms[0].createAccount(ctx, hot, ingestAccount); err != nil {
		return false, err
	}
	spread := make([]*benchWorkspace, in.conns)
	err = parallel(in.conns, 8, func(i int) error {
		ws, err := adms[0].createWorkspace(ctx, op, fmt.Sprintf("replicas spread %d", i), ingestCredits)
		if err != nil {
			return err
		}
		spread[i] = ws
		return adms[0].createAccount(ctx, ws, ingestAccount)
	})
	if err != nil {
		return false, err
	}
	body := []byte(ingestBody)
	targets := func(workload string, replicas int) []loadTarget {
		ts := make([]loadTarget, in.conns)
		for i := range ts {
			p := procs[i%replicas]
			ws := hot
			if workload == "spread" {
				ws = spread[i]
			}
			ts[i] = loadTarget{addr: p.addr, req: buildRequest(p.addr, "/inbound/"+ws.Inbound, body)}
		}
		return ts
	}

	in.rep.printf("### Ingest: one replica vs two\n\n")
	in.rep.printf("- Request: `%s` (SPEC §1), closed loop over %d keep-alive connections: all on r1 (one replica), or connection i on replica i mod 2 (two); replicas run `%s`\n",
		ingestBody, in.conns, strings.Join(flags, " "))
	in.rep.printf("- hot: every request to one workspace; spread: connection i to workspace i (%d workspaces); both made through r1, used through both\n", in.conns)
	in.rep.printf("- Each run %s, %d round(s) of one replica then two per workload, after a %s two-replica warm-up of each workload\n\n", in.duration, in.rounds, in.warmup)

	oks := map[string]int64{} // 200s per workload, warm-ups included
	var non2xx, connErrs int64
	measure := func(workload string, replicas, round int, d time.Duration) (replicaRun, error) {
		fmt.Fprintf(in.log, "replicas ingest, %s, round %d: %d replica(s)…\n", workload, round, replicas)
		var before [2]procStat
		for i, p := range procs {
			st, err := readProcStat(p.pid())
			if err != nil {
				return replicaRun{}, err
			}
			before[i] = st
		}
		wBefore, err := writers(ctx, adms[:])
		if err != nil {
			return replicaRun{}, err
		}
		pgBefore := treeCPU(in.pgPID)
		tool := selfCPU()
		res, err := runLoad(ctx, loadSpec{conns: in.conns, duration: d, targets: targets(workload, replicas)})
		if err != nil {
			return replicaRun{}, err
		}
		r := replicaRun{workload: workload, replicas: replicas, round: round, res: res, toolCPU: selfCPU() - tool, pgCPU: treeCPU(in.pgPID) - pgBefore}
		wAfter, err := writers(ctx, adms[:])
		if err != nil {
			return replicaRun{}, err
		}
		r.writer = wAfter.minus(wBefore)
		for i, p := range procs {
			st, err := readProcStat(p.pid())
			if err != nil {
				return replicaRun{}, err
			}
			r.cpu[i] = st.CPU - before[i].CPU
		}
		oks[workload] += res.ok()
		non2xx += res.non2xx()
		connErrs += res.Errors
		if res.FirstErr != nil {
			fmt.Fprintf(in.log, "  %d connection errors, first: %v\n", res.Errors, res.FirstErr)
		}
		return r, nil
	}
	if in.warmup > 0 {
		for _, wl := range in.workloads {
			if _, err := measure(wl, 2, 0, in.warmup); err != nil {
				return false, err
			}
		}
	}
	var runs []replicaRun
	for _, wl := range in.workloads {
		for round := 1; round <= in.rounds; round++ {
			for _, n := range []int{1, 2} {
				r, err := measure(wl, n, round, in.duration)
				if err != nil {
					return false, err
				}
				runs = append(runs, r)
			}
		}
	}

	in.rep.printf("#### Every run\n\n")
	var rows [][]string
	for _, r := range runs {
		rows = append(rows, r.row())
	}
	in.rep.table([]string{"workload", "round", "replicas", "accepts/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "non-2xx", "conn errors",
		"r1 CPU (cores)", "r2 CPU (cores)", "PostgreSQL CPU (cores)", "wagate CPU µs/accept", "PostgreSQL CPU µs/accept", "commits/s", "accepts per commit", "load tool CPU (cores)"}, rows)
	in.rep.printf("commits/s and accepts per commit are both replicas' group commits together (`wagate_store_commits_total` and `…_commit_functions_total` in each one's /metrics): a replica's committers batch only the accepts that replica answers.\n\n")

	in.rep.printf("#### Summary (rounds pooled)\n\n")
	rows = nil
	for _, wl := range in.workloads {
		var ones, twos []*loadResult
		for _, r := range runs {
			switch {
			case r.workload != wl:
			case r.replicas == 1:
				ones = append(ones, r.res)
			default:
				twos = append(twos, r.res)
			}
		}
		var ratios []float64
		var rs []string
		for i := 0; i < len(ones) && i < len(twos); i++ {
			x := twos[i].rps() / ones[i].rps()
			ratios, rs = append(ratios, x), append(rs, fmt.Sprintf("%.2f", x))
		}
		a, b := merge(ones), merge(twos)
		rows = append(rows, []string{wl, fmt.Sprintf("%.0f", a.rps()), ms(percentile(a.Lat, 0.50)), ms(percentile(a.Lat, 0.99)),
			fmt.Sprintf("%.0f", b.rps()), ms(percentile(b.Lat, 0.50)), ms(percentile(b.Lat, 0.99)),
			fmt.Sprintf("**%.2f** (rounds %s)", median(ratios), strings.Join(rs, ", "))})
	}
	in.rep.table([]string{"workload", "one replica accepts/s", "p50 ms", "p99 ms", "two replicas accepts/s", "p50 ms", "p99 ms", "two / one (median of rounds)"}, rows)

	// Every 200 is a stored, charged message, whichever replica answered.
	in.rep.printf("#### Checks\n\n")
	ok := non2xx == 0 && connErrs == 0
	in.rep.printf("- non-2xx answers %s, connection errors %s in all runs (warm-ups included): %s\n", thousands(non2xx), thousands(connErrs), verdict(ok))
	for _, wl := range in.workloads {
		wss := []*benchWorkspace{hot}
		if wl == "spread" {
			wss = spread
		}
		var spent int64
		for _, ws := range wss {
			bal, err := adms[1].credits(ctx, ws)
			if err != nil {
				return false, err
			}
			spent += ingestCredits - bal
		}
		good := spent == oks[wl]
		in.rep.printf("- %s: 200 answers from both replicas %s; credits spent (read through r2) %s: %s\n", wl, thousands(oks[wl]), thousands(spent), verdict(good))
		ok = ok && good
	}
	in.rep.printf("\n")
	for _, p := range procs {
		if err := p.stop(30 * time.Second); err != nil {
			return false, fmt.Errorf("stopping %s: %w", p.name, err)
		}
	}
	return ok, nil
}
