package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
	"github.com/wagate/wagate/store/postgres"
	"github.com/wagate/wagate/store/postgres/pgtest"
)

// The backends mode: the ingest A/B of SPEC §7 between the two storage
// backends, bbolt and PostgreSQL, side by side in one run (§12's goal:
// PostgreSQL at >= 0.5 of bbolt's accepts/s, p99 <= 20 ms, the database on
// the same machine). It starts its own throwaway PostgreSQL with pgtest,
// the cluster code of the backend's tests, but with durability back on
// (fsync, synchronous commit, full page writes): a 200 must mean the same
// on both sides.
//
// Two levels, each alternating bbolt, PostgreSQL, bbolt, PostgreSQL…:
//
//   - store: Accept called through wagate.MessageService by -writers
//     goroutines, no HTTP. "hot" sends every accept to one workspace (its
//     balance row serialises PostgreSQL's commits, and bbolt has one writer
//     anyway); "spread" gives each writer a workspace of its own.
//   - http: the reference request through the same gateway wiring
//     (serve-profiled) on either backend, closed loop over -conns
//     connections, as the ingest mode drives wagate.
//
// CPU is counted on both sides: this process (store level) or the server
// process (http level), and the PostgreSQL server with all its backends.

// durableSettings turn back on what pgtest turns off for tests.
var durableSettings = map[string]string{"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}

// acceptStore is what the store level drives on either backend.
type acceptStore interface {
	wagate.WorkspaceService
	wagate.AccountService
	wagate.MessageService
	Close() error
	CommitStats() wagate.CommitStats
}

// backendRun is one measured run of one backend.
type backendRun struct {
	level, workload, backend string
	round                    int
	res                      *loadResult
	appCPU, pgCPU            time.Duration // the wagate side; the PostgreSQL server (0 for bbolt)
	commits                  wagate.CommitStats
}

func runBackends(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wagate-load backends", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 3*time.Second, "length of one measured run")
	rounds := fs.Int("rounds", 2, "rounds of bbolt then PostgreSQL per workload")
	writers := fs.Int("writers", 64, "store level: goroutines calling Accept")
	conns := fs.Int("conns", 64, "http level: keep-alive connections")
	levels := fs.String("levels", "store,http", "which levels to run: store, http or both")
	committers := fs.Int("committers", 0, "PostgreSQL's Options.Committers (0: the backend's default)")
	socket := fs.Bool("pg-socket", false, "connect to PostgreSQL through its unix socket instead of TCP on 127.0.0.1")
	warmup := fs.Duration("warmup", time.Second, "an unmeasured run of each backend before the first round")
	out := fs.String("out", "", "write the markdown report to this file too")
	dir := fs.String("dir", "", "work folder for the bbolt files and logs (default: a new temporary folder)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *duration <= 0 || *rounds < 1 || *writers < 1 || *conns < 1 {
		return usageError{errors.New("-duration, -rounds, -writers and -conns must be positive")}
	}
	doStore, doHTTP := false, false
	for _, l := range strings.Split(*levels, ",") {
		switch strings.TrimSpace(l) {
		case "store":
			doStore = true
		case "http":
			doHTTP = true
		default:
			return usageError{fmt.Errorf("-levels %q: want store, http or store,http", *levels)}
		}
	}
	work, err := workDir(*dir, "backends")
	if err != nil {
		return err
	}
	if *dir == "" {
		defer os.RemoveAll(work)
	}
	fmt.Fprintf(stderr, "starting a throwaway PostgreSQL (fsync on)…\n")
	cluster, err := pgtest.Start(pgtest.Options{Settings: durableSettings})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	ctx := context.Background()
	rep := &report{w: stdout}
	rep.printf("## Ingest on both backends: PostgreSQL vs bbolt\n\n")
	rep.printf("- Machine: %s\n", machine())
	rep.printf("- Disk of the bbolt file and of PostgreSQL's cluster: %s\n", fsyncReport(work))
	rep.printf("- Command: `wagate-load backends %s`\n", strings.Join(args, " "))
	via := "TCP on 127.0.0.1"
	if *socket {
		via = "its unix socket"
	}
	server, err := pgServer(ctx, cluster)
	if err != nil {
		return err
	}
	rep.printf("- %s, a throwaway cluster started by pgtest, reached through %s, fsync, synchronous_commit and full_page_writes on (read back from the server), other settings the defaults; the backend's Committers %s\n",
		server, via, committersName(*committers))
	newDatabase := func() (string, error) {
		url, err := cluster.CreateDatabase(ctx)
		if err != nil || !*socket {
			return url, err
		}
		name := url[strings.LastIndexByte(url, '/')+1:]
		name, _, _ = strings.Cut(name, "?")
		return cluster.SocketURL(name), nil
	}
	rep.printf("- Each run %s, %d round(s) bbolt then PostgreSQL per workload, after a %s warm-up of each\n\n", *duration, *rounds, *warmup)

	var runs []backendRun
	var checks []check
	if doStore {
		for _, wl := range []string{"hot", "spread"} {
			rs, cs, err := storeLevel(ctx, stderr, cluster, newDatabase, work, wl, *writers, *committers, *rounds, *duration, *warmup)
			if err != nil {
				return err
			}
			runs, checks = append(runs, rs...), append(checks, cs...)
		}
	}
	if doHTTP {
		rs, cs, err := httpLevel(ctx, stderr, cluster, newDatabase, work, *conns, *committers, *rounds, *duration, *warmup)
		if err != nil {
			return err
		}
		runs, checks = append(runs, rs...), append(checks, cs...)
	}

	rep.printf("### Every run\n\n")
	var rows [][]string
	for _, r := range runs {
		rows = append(rows, r.row())
	}
	rep.table([]string{"level", "workload", "round", "backend", "accepts/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "wagate CPU µs/accept", "PostgreSQL CPU µs/accept", "commits/s", "accepts per commit"}, rows)

	rep.printf("### Summary (rounds pooled)\n\n")
	rows = nil
	ok := true
	var goals []string
	for _, key := range runKeys(runs) {
		var bb, pg []*loadResult
		var ratios []string
		var rs []float64
		for _, r := range runs {
			if r.level+"/"+r.workload != key {
				continue
			}
			if r.backend == "bbolt" {
				bb = append(bb, r.res)
			} else {
				pg = append(pg, r.res)
			}
		}
		for i := 0; i < len(bb) && i < len(pg); i++ {
			x := pg[i].rps() / bb[i].rps()
			rs = append(rs, x)
			ratios = append(ratios, fmt.Sprintf("%.2f", x))
		}
		a, b := merge(bb), merge(pg)
		ratio := median(rs)
		p99 := percentile(b.Lat, 0.99)
		level, workload, _ := strings.Cut(key, "/")
		rows = append(rows, []string{level, workload,
			fmt.Sprintf("%.0f", a.rps()), ms(percentile(a.Lat, 0.99)),
			fmt.Sprintf("%.0f", b.rps()), ms(p99),
			fmt.Sprintf("**%.2f** (rounds %s)", ratio, strings.Join(ratios, ", "))})
		goals = append(goals, fmt.Sprintf("%s level, %s: PostgreSQL/bbolt %.2f (goal ≥ 0.50: %s), PostgreSQL p99 %s ms (goal ≤ 20 ms: %s)",
			level, workload, ratio, verdict(ratio >= 0.5), ms(p99), verdict(p99 <= 20*time.Millisecond)))
		if a.Errors+b.Errors+a.non2xx()+b.non2xx() > 0 {
			ok = false
		}
	}
	rep.table([]string{"level", "workload", "bbolt accepts/s", "bbolt p99 ms", "PostgreSQL accepts/s", "PostgreSQL p99 ms", "PostgreSQL / bbolt (median of rounds)"}, rows)
	for _, g := range goals {
		rep.printf("- Goal at the %s\n", g)
	}
	rep.printf("\n### Checks\n\n")
	for _, c := range checks {
		rep.printf("- %s: %s\n", c.what, verdict(c.ok))
		ok = ok && c.ok
	}
	rep.printf("\n")
	if err := rep.save(*out); err != nil {
		return err
	}
	if !ok {
		return errors.New("an accept failed or a check did not hold; see the report")
	}
	return nil
}

func committersName(n int) string {
	if n <= 0 {
		return "default (4)"
	}
	return strconv.Itoa(n)
}

// runKeys lists the level/workload pairs in the order they ran.
func runKeys(runs []backendRun) []string {
	var keys []string
	for _, r := range runs {
		if k := r.level + "/" + r.workload; !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func (r backendRun) row() []string {
	res := r.res
	per := func(d time.Duration) string {
		if res.Requests == 0 || d == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f", float64(d.Microseconds())/float64(res.Requests))
	}
	commits, batch := "–", "–"
	if c := r.commits; c.Commits > 0 {
		commits = fmt.Sprintf("%.0f", float64(c.Commits)/res.Elapsed.Seconds())
		batch = fmt.Sprintf("%.1f", float64(c.Functions)/float64(c.Commits))
	}
	return []string{r.level, r.workload, strconv.Itoa(r.round), r.backend,
		fmt.Sprintf("%.0f", res.rps()),
		ms(percentile(res.Lat, 0.50)), ms(percentile(res.Lat, 0.99)), ms(percentile(res.Lat, 0.999)), ms(percentile(res.Lat, 1)),
		thousands(res.Errors + res.non2xx()), per(r.appCPU), per(r.pgCPU), commits, batch}
}

// storeLevel measures Accept on both backends for one workload.
func storeLevel(ctx context.Context, stderr io.Writer, cluster *pgtest.Cluster, newDatabase func() (string, error), work, workload string, writers, committers, rounds int, d, warmup time.Duration) ([]backendRun, []check, error) {
	bb, err := store.Open(filepath.Join(work, "store-"+workload, "wagate.db"), store.Options{})
	if err != nil {
		return nil, nil, err
	}
	defer bb.Close()
	url, err := newDatabase()
	if err != nil {
		return nil, nil, err
	}
	pg, err := postgres.Open(ctx, url, postgres.Options{Committers: committers})
	if err != nil {
		return nil, nil, err
	}
	defer pg.Close()
	nws := 1
	if workload == "spread" {
		nws = writers
	}
	backends := []struct {
		name     string
		db       acceptStore
		ws       []string
		accepted int64
	}{{name: "bbolt", db: bb}, {name: "PostgreSQL", db: pg}}
	for i := range backends {
		if backends[i].ws, err = acceptWorld(ctx, backends[i].db, nws); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", backends[i].name, err)
		}
	}
	measure := func(i, round int, d time.Duration) (backendRun, error) {
		b := &backends[i]
		fmt.Fprintf(stderr, "store level, %s, round %d: %s…\n", workload, round, b.name)
		pgBefore := treeCPU(cluster.PID())
		appBefore := selfCPU()
		statsBefore := b.db.CommitStats()
		res := acceptLoad(ctx, b.db, b.ws, writers, d)
		b.accepted += res.Requests
		run := backendRun{level: "store", workload: workload, backend: b.name, round: round, res: res,
			appCPU: selfCPU() - appBefore, commits: b.db.CommitStats().Minus(statsBefore)}
		if b.name == "PostgreSQL" {
			run.pgCPU = treeCPU(cluster.PID()) - pgBefore
		}
		if res.FirstErr != nil {
			fmt.Fprintf(stderr, "  %s: %d errors, first: %v\n", b.name, res.Errors, res.FirstErr)
		}
		return run, nil
	}
	if warmup > 0 {
		for i := range backends {
			if _, err := measure(i, 0, warmup); err != nil {
				return nil, nil, err
			}
		}
	}
	var runs []backendRun
	for round := 1; round <= rounds; round++ {
		for i := range backends {
			r, err := measure(i, round, d)
			if err != nil {
				return nil, nil, err
			}
			runs = append(runs, r)
		}
	}
	// Every accept answered without error is a charged message.
	var checks []check
	for _, b := range backends {
		var spent int64
		for _, id := range b.ws {
			w, err := b.db.FindWorkspace(ctx, id)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", b.name, err)
			}
			spent += ingestCredits - w.Credits
		}
		checks = append(checks, check{fmt.Sprintf("store level, %s, %s: accepts answered (warm-up included) %s, credits spent %s", workload, b.name, thousands(b.accepted), thousands(spent)), spent == b.accepted})
	}
	return runs, checks, nil
}

// check is one correctness line of the report.
type check struct {
	what string
	ok   bool
}

// acceptWorld makes n workspaces that can pay for any run, each with the
// reference request's account, and returns their ids.
func acceptWorld(ctx context.Context, db acceptStore, n int) ([]string, error) {
	now := time.Now().UTC()
	ids := make([]string, n)
	for i := range ids {
		tok, err := wagate.NewToken(rand.Reader)
		if err != nil {
			return nil, err
		}
		ws := &wagate.Workspace{ID: fmt.Sprintf("ws_bench%08x", i), Name: fmt.Sprintf("bench %d", i), Credits: ingestCredits,
			Webhook: wagate.Webhook{Token: tok, Enabled: true, CreatedAt: now}, CreatedAt: now}
		if err := db.CreateWorkspace(ctx, ws, nil); err != nil {
			return nil, err
		}
		if err := db.CreateAccount(ctx, &wagate.Account{WorkspaceID: ws.ID, Phone: ingestAccount, Transport: wagate.TransportDryrun, Active: true, ConnectedAt: now}); err != nil {
			return nil, err
		}
		ids[i] = ws.ID
	}
	return ids, nil
}

// acceptIDs numbers the benchmark's messages across runs and backends.
var acceptIDs atomic.Uint64

// benchAccept is what the gateway hands the store for the reference
// request (as store/bench_test.go builds it).
func benchAccept(ws string) *wagate.Accept {
	now := time.Now().UTC()
	return &wagate.Accept{
		WorkspaceID: ws,
		BodyHash:    sha256.Sum256([]byte(ingestBody)),
		Message: &wagate.Message{ID: fmt.Sprintf("%s%020X", wagate.MessageIDPrefix, acceptIDs.Add(1)), WorkspaceID: ws,
			Status: wagate.StatusQueued, AccountPhone: ingestAccount, JID: "14155552671@s.whatsapp.net",
			Text: "lorem ipsum", Credits: 1, CreatedAt: now},
		ChatName: "+14155552671",
		Attempt: &wagate.Attempt{At: now, RequestID: "0123456789abcdef0123", RemoteAddr: "127.0.0.1",
			ContentType: "application/json", Body: ingestBody},
	}
}

// acceptLoad calls Accept from writers goroutines for d, writer i on
// workspace i mod len(ws); a closed loop, as the HTTP load is.
func acceptLoad(ctx context.Context, db wagate.MessageService, ws []string, writers int, d time.Duration) *loadResult {
	type part struct {
		lat   []int64
		errs  int64
		first error
	}
	parts := make([]part, writers)
	deadline := time.Now().Add(d)
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() {
			p := &parts[i]
			p.lat = make([]int64, 0, 4096)
			w := ws[i%len(ws)]
			for time.Now().Before(deadline) {
				t := time.Now()
				_, err := db.Accept(ctx, benchAccept(w))
				if err != nil {
					p.errs++
					if p.first == nil {
						p.first = err
					}
					continue
				}
				p.lat = append(p.lat, int64(time.Since(t)))
			}
		})
	}
	wg.Wait()
	res := &loadResult{Conns: writers, Elapsed: time.Since(t0), Status: map[int]int64{}}
	for _, p := range parts {
		res.Lat = append(res.Lat, p.lat...)
		res.Errors += p.errs
		if res.FirstErr == nil {
			res.FirstErr = p.first
		}
	}
	res.Requests = int64(len(res.Lat))
	res.Status[200] = res.Requests
	slices.Sort(res.Lat)
	return res
}

// httpLevel drives the reference request through serve-profiled on each
// backend.
func httpLevel(ctx context.Context, stderr io.Writer, cluster *pgtest.Cluster, newDatabase func() (string, error), work string, conns, committers, rounds int, d, warmup time.Duration) ([]backendRun, []check, error) {
	self, err := selfExe()
	if err != nil {
		return nil, nil, err
	}
	url, err := newDatabase()
	if err != nil {
		return nil, nil, err
	}
	type server struct {
		name string
		p    *process
		req  []byte
		adm  *admin
		ws   *benchWorkspace
		ok   int64 // 200s, warm-up included
	}
	var servers []*server
	for _, s := range []struct{ name, flag string }{{"bbolt", ""}, {"PostgreSQL", url}} {
		data := filepath.Join(work, "http-"+strings.ToLower(s.name))
		args := []string{"serve-profiled", "-data", data, "-log-level", "info", "-cpuprofile", filepath.Join(work, "http-"+strings.ToLower(s.name)+"-cpu.pprof")}
		if s.flag != "" {
			args = append(args, "-database-url", s.flag, "-committers", strconv.Itoa(committers))
		}
		p, err := startProcess("serve-profiled ("+s.name+")", self, args, nil, filepath.Join(work, "http-"+strings.ToLower(s.name)+".log"), plainListening, "", 30*time.Second)
		if err != nil {
			return nil, nil, err
		}
		defer p.stop(30 * time.Second)
		adm := newAdmin(p.addr, 4)
		op, err := readOperatorToken(data)
		if err != nil {
			return nil, nil, err
		}
		ws, err := adm.createWorkspace(ctx, op, "backends", ingestCredits)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.name, err)
		}
		if err := adm.createAccount(ctx, ws, ingestAccount); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.name, err)
		}
		servers = append(servers, &server{name: s.name, p: p, adm: adm, ws: ws, req: buildRequest(p.addr, "/inbound/"+ws.Inbound, []byte(ingestBody))})
	}
	measure := func(s *server, round int, d time.Duration) (backendRun, error) {
		fmt.Fprintf(stderr, "http level, round %d: %s…\n", round, s.name)
		before, err := readProcStat(s.p.pid())
		if err != nil {
			return backendRun{}, err
		}
		pgBefore := treeCPU(cluster.PID())
		res, err := runLoad(ctx, loadSpec{addr: s.p.addr, req: s.req, conns: conns, duration: d})
		if err != nil {
			return backendRun{}, fmt.Errorf("%s: %w", s.name, err)
		}
		s.ok += res.ok()
		after, err := readProcStat(s.p.pid())
		if err != nil {
			return backendRun{}, err
		}
		run := backendRun{level: "http", workload: "hot", backend: s.name, round: round, res: res, appCPU: after.CPU - before.CPU}
		if s.name == "PostgreSQL" {
			run.pgCPU = treeCPU(cluster.PID()) - pgBefore
		}
		return run, nil
	}
	if warmup > 0 {
		for _, s := range servers {
			if _, err := measure(s, 0, warmup); err != nil {
				return nil, nil, err
			}
		}
	}
	var runs []backendRun
	for round := 1; round <= rounds; round++ {
		for _, s := range servers {
			r, err := measure(s, round, d)
			if err != nil {
				return nil, nil, err
			}
			runs = append(runs, r)
		}
	}
	var checks []check
	for _, s := range servers {
		bal, err := s.adm.credits(ctx, s.ws)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.name, err)
		}
		checks = append(checks, check{fmt.Sprintf("http level, %s: 200 answers (warm-up included) %s, credits spent %s", s.name, thousands(s.ok), thousands(ingestCredits-bal)), ingestCredits-bal == s.ok})
	}
	return runs, checks, nil
}

// treeCPU is the CPU time of process pid and its children (PostgreSQL's
// postmaster serves each connection in a child process). Children that
// ended meanwhile are not counted: the backend's pool keeps its
// connections, so its server processes live through the run.
func treeCPU(pid int) time.Duration {
	st, err := readProcStat(pid)
	if err != nil {
		return 0
	}
	total := st.CPU
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if parentOf(child) != pid {
			continue
		}
		if cst, err := readProcStat(child); err == nil {
			total += cst.CPU
		}
	}
	return total
}

// parentOf reads the parent pid from /proc/<pid>/stat (0 when unknown).
func parentOf(pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// pgServer asks the cluster for its version and checks, on the server
// itself, that durability is on as durableSettings asked: a PostgreSQL
// that answered before its fsync would win an unfair race.
func pgServer(ctx context.Context, c *pgtest.Cluster) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return "", err
	}
	for _, name := range slices.Sorted(maps.Keys(durableSettings)) {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			return "", err
		}
		if v != durableSettings[name] {
			return "", fmt.Errorf("the benchmark's PostgreSQL runs with %s = %s, not %s: its commits would not be durable", name, v, durableSettings[name])
		}
	}
	return "PostgreSQL " + version, nil
}
