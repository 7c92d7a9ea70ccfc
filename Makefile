# wagate — the two commands a new user needs are `make run` and `make test`.
GO       ?= go
DATA     ?= ./data
BIN      ?= bin/wagate
# FLAGS adds serve flags to `make run`, e.g. make run FLAGS='--addr 127.0.0.1:9090'.
FLAGS    ?=

.PHONY: run build test test-deps pg-deps lint bench fuzz crashtest crashtest-replicas clean

## run: serve on 127.0.0.1:8080 with the store in ./data, a dryrun transport and a demo workspace
run:
	$(GO) run ./cmd/wagate serve --demo --data $(DATA) $(FLAGS)

## build: the wagate binary in bin/
build:
	$(GO) build -o $(BIN) ./cmd/wagate

## test: vet, then every test with the race detector (installs Chromium and PostgreSQL first when missing: the web console's browser tests drive Chromium, the PostgreSQL backend's tests start a throwaway server)
test: test-deps
	@$(CLOUDAPI_SPEC_NOTE)
	$(GO) vet ./...
	$(GO) build -tags nowhatsapp ./...
	$(GO) test -race -count=1 -timeout 8m ./...

# Meta's OpenAPI description for the Cloud API contract tests: the file
# WAGATE_CLOUDAPI_SPEC names (they fail when it is missing), else the shared
# folder's beside this repository (graphfake.DefaultSpecPath); with neither
# they skip, and go test shows skips only with -v, so make test says so.
CLOUDAPI_SPEC_DEFAULT := ../shared/cloudapi/business-messaging-api_v23.0.yaml
CLOUDAPI_SPEC_NOTE = if [ -n "$$WAGATE_CLOUDAPI_SPEC" ]; then \
		echo "Cloud API contract tests: against $$WAGATE_CLOUDAPI_SPEC (WAGATE_CLOUDAPI_SPEC)"; \
	elif [ -f $(CLOUDAPI_SPEC_DEFAULT) ]; then \
		echo "Cloud API contract tests: against $(CLOUDAPI_SPEC_DEFAULT)"; \
	else \
		echo "Cloud API contract tests: SKIPPED, $(CLOUDAPI_SPEC_DEFAULT) is missing; set WAGATE_CLOUDAPI_SPEC to Meta's OpenAPI yaml to run them"; \
	fi

## test-deps: install Chromium (browser tests of the web console) and PostgreSQL (store/postgres tests start their own throwaway server) when missing (Debian/Ubuntu apt-get; sudo when not root)
test-deps: pg-deps
	@if command -v chromium >/dev/null 2>&1; then echo "Chromium is installed: $$(command -v chromium)"; else \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; fi

## pg-deps: install PostgreSQL when missing (make test and make bench start throwaway servers of it)
pg-deps:
	@$(PG_INITDB_FIND); if [ -n "$$initdb" ]; then echo "PostgreSQL is installed: $$initdb"; else \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		{ $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; } || exit 1; \
		$(PG_INITDB_FIND); [ -n "$$initdb" ] || { echo "postgresql is installed, but initdb is nowhere: set WAGATE_PG_BIN to its folder"; exit 1; }; fi

# Debian keeps PostgreSQL's server programs out of PATH, in
# /usr/lib/postgresql/N/bin. Like pgtest, look in WAGATE_PG_BIN, then there,
# then on PATH. Sets the shell variable initdb ("" when none).
PG_INITDB_FIND = initdb=$$( { [ -n "$$WAGATE_PG_BIN" ] && ls "$$WAGATE_PG_BIN"/initdb; ls /usr/lib/postgresql/*/bin/initdb; command -v initdb; } 2>/dev/null | head -n 1)

## lint: formatting, vet and staticcheck (pinned in go.mod as a tool)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags nowhatsapp ./...
	@# The test-only tag wagatefakewa (cmd/wagate/fakewa.go: the kill -9 test's fake WhatsApp); never in a release build.
	$(GO) vet -tags wagatefakewa ./cmd/wagate/
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags wagatefakewa ./cmd/wagate/
	@# A build without the GPL-3.0 WhatsApp Web transport (README, Licences) must keep working.
	$(GO) build -tags nowhatsapp ./...
	@n=$$($(GO) list -deps -tags nowhatsapp ./cmd/wagate | grep -c whatsmeow); if [ "$$n" != 0 ]; then echo "-tags nowhatsapp still links whatsmeow ($$n packages)"; exit 1; fi

# Benchmarks (SPEC §7; BENCHMARKS.md explains them). Results go to bin/bench/.
BENCHOUT  ?= bin/bench
BENCHTIME ?= 200ms
COUNT     ?= 1
LOADTOOL  ?= bin/wagate-load
.PHONY: bench bench-micro bench-load bench-backends bench-replicas bench-pacing bench-restart $(LOADTOOL)

## bench: micro benchmarks, a short ingest run (A/B vs a bare echo server), PostgreSQL vs bbolt (its own throwaway PostgreSQL), one replica vs two on PostgreSQL (sends, handover, takeover), the 10,000-account pacing run, batches, and outbound webhooks (deliverer vs a bare Go client, latency at 1,000 events/s); < 6 min
bench: pg-deps bench-micro build $(LOADTOOL)
	$(LOADTOOL) ingest -wagate $(BIN) -duration 5s -rounds 3 -conns 64,256 -cpuprofile $(BENCHOUT)/ingest-cpu.pprof -out $(BENCHOUT)/ingest.md
	$(LOADTOOL) backends -duration 5s -rounds 3 -writers 64 -conns 64 -out $(BENCHOUT)/backends.md
	$(LOADTOOL) replicas -wagate $(BIN) -duration 4s -rounds 2 -conns 64 -accounts 200 -queue 10 -interval 1s -lease-ttl 3s -out $(BENCHOUT)/replicas.md
	$(LOADTOOL) pacing -wagate $(BIN) -accounts 10000 -queue 4 -jitter 0s,500ms -idle-window 2s -out $(BENCHOUT)/pacing.md
	$(LOADTOOL) batch -wagate $(BIN) -duration 3s -rounds 2 -size 100 -out $(BENCHOUT)/batch.md
	$(LOADTOOL) outbound -wagate $(BIN) -events 5000 -endpoints 4 -rate 1000 -duration 5s -out $(BENCHOUT)/outbound.md

## bench-micro: Go benchmarks with allocations; COUNT=10 for benchstat (go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da old.txt new.txt)
bench-micro:
	@mkdir -p $(BENCHOUT)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) ./... 2>&1 | tee $(BENCHOUT)/micro.txt
	@! grep -q -e '^FAIL' -e '^panic:' $(BENCHOUT)/micro.txt

## bench-load: the ingest run alone, longer (DURATION per run, ROUNDS of A/B)
DURATION ?= 10s
ROUNDS   ?= 3
bench-load: build $(LOADTOOL)
	$(LOADTOOL) ingest -wagate $(BIN) -duration $(DURATION) -rounds $(ROUNDS) -conns 64,256 -cpuprofile $(BENCHOUT)/ingest-cpu.pprof -out $(BENCHOUT)/ingest.md

## bench-backends: PostgreSQL vs bbolt alone (store level and through HTTP), longer; COMMITTERS sets the PostgreSQL backend's Options.Committers (0: its default)
COMMITTERS ?= 0
bench-backends: pg-deps $(LOADTOOL)
	$(LOADTOOL) backends -duration $(DURATION) -rounds $(ROUNDS) -committers $(COMMITTERS) -out $(BENCHOUT)/backends.md

## bench-replicas: one wagate vs two replicas on one PostgreSQL alone, longer (DURATION per run, ROUNDS); then sends on both, a SIGTERM handover and a kill -9 takeover
bench-replicas: pg-deps build $(LOADTOOL)
	$(LOADTOOL) replicas -wagate $(BIN) -duration $(DURATION) -rounds $(ROUNDS) -conns 64 -accounts 200 -queue 10 -interval 1s -lease-ttl 3s -out $(BENCHOUT)/replicas.md

## bench-pacing: the pacing run alone, with more gaps per account (steady state after the restart herd)
bench-pacing: build $(LOADTOOL)
	$(LOADTOOL) pacing -wagate $(BIN) -accounts 10000 -queue 8 -jitter 0s,500ms -out $(BENCHOUT)/pacing.md

## bench-restart: restart with 1,000,000 queued messages (builds the store once, ~40 s, kept in $(BENCHOUT)/restart-store); SCHEDULED=50 schedules half of them a week ahead
SCHEDULED ?= 0
bench-restart: build $(LOADTOOL)
	$(LOADTOOL) restart -wagate $(BIN) -store $(BENCHOUT)/restart-store -scheduled $(SCHEDULED) -out $(BENCHOUT)/restart.md

$(LOADTOOL):
	@mkdir -p $(BENCHOUT)
	$(GO) build -o $(LOADTOOL) ./cmd/wagate-load

## fuzz: run each fuzz target for FUZZTIME (default 20s); their seed corpora (testdata/) run in make test
FUZZTIME ?= 20s
# FUZZMINIMIZE bounds the minimizing of each new input: FuzzInbound runs the
# whole inbound URL on a real store and finds new coverage often, so Go's
# default of 60s per input would eat a short FUZZTIME.
FUZZMINIMIZE ?= 1s
FUZZ = $(GO) test -run '^$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -fuzz
fuzz:
	$(FUZZ) '^FuzzNormalizePhone$$' .
	$(FUZZ) '^FuzzParseJID$$' .
	$(FUZZ) '^FuzzDecodeSend$$' ./gateway
	$(FUZZ) '^FuzzInbound$$' ./gateway
	$(FUZZ) '^FuzzParseStatusWebhook$$' ./sender/cloudapi
	$(FUZZ) '^FuzzDecodeRecord$$' ./store
	$(FUZZ) '^FuzzBodies$$' ./sender/outbound

## crashtest: kill -9 the real binary under load CRASHKILLS times (default 200, a few minutes), then check every promise (make test runs 20); CRASHSEED replays a run
CRASHKILLS ?= 200
CRASHSEED  ?= 0
crashtest:
	$(GO) test -count=1 -timeout 60m -run '^TestCrashHarness$$' -v ./cmd/wagate -crash.kills=$(CRASHKILLS) -crash.seed=$(CRASHSEED)

## crashtest-replicas: two replicas on a throwaway PostgreSQL, one of them (either) killed -9 under load CRASHREPLICAKILLS times (default 100) and restarted, then every promise checked and the figures printed (make test runs 6); CRASHSEED replays a run
CRASHREPLICAKILLS ?= 100
crashtest-replicas: pg-deps
	$(GO) test -count=1 -timeout 60m -run '^TestCrashHarnessReplicas$$' -v ./cmd/wagate -crash.replica-kills=$(CRASHREPLICAKILLS) -crash.seed=$(CRASHSEED)

clean:
	rm -rf bin
