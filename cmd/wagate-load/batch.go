package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// batchCredits is enough for any batch run: every accepted message costs 1.
const batchCredits = 1_000_000_000

// runBatch measures POST /inbound/{token}/batch against the same messages
// sent one by one (SPEC §2, issue 16): accepted messages a second, A/B in
// rounds on one wagate, closed loop. A batch is one group-commit write for
// all its items, so it should accept several times more messages a second.
func runBatch(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wagate-load batch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("wagate", "bin/wagate", "the wagate binary to measure (make build)")
	duration := fs.Duration("duration", 3*time.Second, "length of one measured run")
	rounds := fs.Int("rounds", 2, "A/B rounds (one by one, batches, one by one…)")
	conns := fs.Int("conns", 16, "connections")
	size := fs.Int("size", 100, "requests per batch")
	out := fs.String("out", "", "write the markdown report to this file too")
	logLevel := fs.String("log-level", "warn", "wagate's --log-level")
	dir := fs.String("dir", "", "work folder for the data and logs (default: a new temporary folder)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *duration <= 0 || *rounds < 1 || *conns < 1 || *size < 1 || *size > 1000 {
		return usageError{errors.New("-duration, -rounds and -conns must be positive, -size 1 to 1000")}
	}
	wagateBin, err := findWagate(*bin)
	if err != nil {
		return err
	}
	work, err := workDir(*dir, "batch")
	if err != nil {
		return err
	}
	if *dir == "" {
		defer os.RemoveAll(work)
	}
	ctx := context.Background()
	data := filepath.Join(work, "data")
	wflags := []string{"--inbound-rate", "1e9", "--inbound-burst", "1000000000", "--send-interval", "1h", "--send-jitter", "0s"}
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
	ws, err := adm.createWorkspace(ctx, op, "batch", batchCredits)
	if err != nil {
		return err
	}
	if err := adm.createAccount(ctx, ws, ingestAccount); err != nil {
		return err
	}
	items := strings.TrimSuffix(strings.Repeat(ingestBody+",", *size), ",")
	single := buildRequest(wg.addr, "/inbound/"+ws.Inbound, []byte(ingestBody))
	batch := buildRequest(wg.addr, "/inbound/"+ws.Inbound+"/batch", []byte(`{"messages":[`+items+`]}`))

	rep := &report{w: stdout}
	rep.printf("## Batch: accepted messages a second, batches of %d vs one by one\n\n", *size)
	rep.printf("- Machine: %s\n", machine())
	rep.printf("- Command: `wagate-load batch %s`\n", strings.Join(args, " "))
	rep.printf("- One by one: `%s` to /inbound/{token}; batch: %d of it in `{\"messages\":[…]}` to /inbound/{token}/batch; %d connections, closed loop, %s a run, %d round(s), `wagate serve %s` (fsync on)\n\n",
		ingestBody, *size, *conns, *duration, *rounds, strings.Join(wflags, " "))

	type run struct {
		mode     string
		res      *loadResult
		messages float64 // accepted a second
	}
	var runs []run
	var okMessages int64
	for round := 1; round <= *rounds; round++ {
		for _, m := range []struct {
			mode string
			req  []byte
			per  int
		}{{"one by one", single, 1}, {"batch", batch, *size}} {
			fmt.Fprintf(stderr, "round %d: %s…\n", round, m.mode)
			res, err := runLoad(ctx, loadSpec{addr: wg.addr, req: m.req, conns: *conns, duration: *duration})
			if err != nil {
				return err
			}
			okMessages += res.ok() * int64(m.per)
			runs = append(runs, run{mode: m.mode, res: res, messages: res.rps() * float64(m.per)})
		}
	}
	var rows [][]string
	var one, many []float64
	for _, r := range runs {
		rows = append(rows, []string{r.mode, fmt.Sprintf("%.0f", r.res.rps()), fmt.Sprintf("%.0f", r.messages),
			ms(percentile(r.res.Lat, 0.50)), ms(percentile(r.res.Lat, 0.99)), thousands(r.res.non2xx())})
		if r.mode == "batch" {
			many = append(many, r.messages)
		} else {
			one = append(one, r.messages)
		}
	}
	rep.table([]string{"mode", "requests/s", "accepted messages/s", "p50 ms", "p99 ms", "non-2xx"}, rows)
	ratio := median(many) / median(one)
	rep.printf("- Batches of %d accept **%.1f×** the messages a second of one by one (medians %.0f vs %.0f)\n", *size, ratio, median(many), median(one))
	bal, err := adm.credits(ctx, ws)
	if err != nil {
		return err
	}
	spent := batchCredits - bal
	rep.printf("- Check: credits spent %s = messages answered 200 %s: %s\n\n", thousands(spent), thousands(okMessages), verdict(spent == okMessages))
	if err := rep.save(*out); err != nil {
		return err
	}
	if spent != okMessages {
		return errors.New("credits spent differ from the messages accepted; see the report")
	}
	return nil
}
