// Command wagate-load measures wagate on one machine, side by side with a
// bare baseline, as SPEC §7 asks: every headline figure is a ratio or a
// per-unit cost taken in one run, because absolute numbers depend on the
// machine. `make bench` runs it; BENCHMARKS.md explains the results.
//
// Modes:
//
//	wagate-load ingest    durable accepts vs a bare echo server, A/B/A/B
//	wagate-load pacing    send pace, CPU and memory with 10,000 accounts
//	wagate-load restart   restart time with 1,000,000 queued messages
//	wagate-load batch     accepted messages/s, batches vs one by one
//	wagate-load outbound  event webhook deliveries/s vs a bare client; latency
//	wagate-load backends  accepts/s and latency: PostgreSQL vs bbolt, A/B/A/B
//	wagate-load replicas  one wagate vs two replicas on one PostgreSQL; sends, handover, takeover
//
// and two server modes the tool starts as its own subprocesses:
//
//	wagate-load baseline-server   the bare echo ceiling of the ingest mode
//	wagate-load serve-profiled    wagate's gateway and store (bbolt or PostgreSQL), with a CPU profile
//
// Everything listens on 127.0.0.1 only, and every run is bounded in time.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `wagate-load — wagate's load and scale measurements (SPEC §7)

Usage:
  wagate-load ingest  [flags]   accepts/s and latency: bare echo baseline vs wagate, A/B/A/B
  wagate-load pacing  [flags]   pacing error, CPU and RSS with many active accounts
  wagate-load restart [flags]   time to ready with 1,000,000 queued messages, peak RSS
  wagate-load batch   [flags]   accepted messages/s: batches of 100 vs one by one
  wagate-load outbound [flags]  event webhook deliveries/s from the outbox vs a bare Go client; latency at 1,000 events/s
  wagate-load backends [flags]  accepts/s and latency on PostgreSQL vs bbolt, store level and through HTTP (starts its own PostgreSQL)
  wagate-load replicas [flags]  two wagate serve replicas on one PostgreSQL (starts its own): accepts/s one vs two, sends per replica, SIGTERM handover, kill -9 takeover
  wagate-load baseline-server   (internal) the bare echo server of the ingest mode
  wagate-load serve-profiled    (internal) gateway + store (bbolt, or PostgreSQL with -database-url) in one process

Each mode takes -h for its flags. wagate itself is run from the binary given
by -wagate (default bin/wagate; build it with make build).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code: 0 ok, 1 the
// measurement failed or a check did not hold, 2 the command line was wrong.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "ingest":
		err = runIngest(args[1:], stdout, stderr)
	case "pacing":
		err = runPacing(args[1:], stdout, stderr)
	case "restart":
		err = runRestart(args[1:], stdout, stderr)
	case "batch":
		err = runBatch(args[1:], stdout, stderr)
	case "outbound":
		err = runOutbound(args[1:], stdout, stderr)
	case "backends":
		err = runBackends(args[1:], stdout, stderr)
	case "replicas":
		err = runReplicas(args[1:], stdout, stderr)
	case "baseline-server":
		err = runBaselineServer(args[1:], stderr)
	case "serve-profiled":
		err = runServeProfiled(args[1:], stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "wagate-load: unknown mode %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case isUsage(err):
		if err != errHelp {
			fmt.Fprintf(stderr, "wagate-load %s: %v\n", args[0], err)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "wagate-load %s: %v\n", args[0], err)
		return 1
	}
}
