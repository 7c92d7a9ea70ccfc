# wagate — the two commands a new user needs are `make run` and `make test`.
GO       ?= go
DATA     ?= ./data
BIN      ?= bin/wagate
# FLAGS adds serve flags to `make run`, e.g. make run FLAGS='--addr 127.0.0.1:9090'.
FLAGS    ?=

.PHONY: run build test lint bench fuzz clean

## run: serve on 127.0.0.1:8080 with the store in ./data, a dryrun transport and a demo workspace
run:
	$(GO) run ./cmd/wagate serve --demo --data $(DATA) $(FLAGS)

## build: the wagate binary in bin/
build:
	$(GO) build -o $(BIN) ./cmd/wagate

## test: vet, then every test with the race detector
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 8m ./...

## lint: formatting, vet and staticcheck (pinned in go.mod as a tool)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## bench: Go benchmarks with allocations (the load run comes with the performance issue)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## fuzz: run each fuzz target for FUZZTIME (default 20s)
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzNormalizePhone$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzParseJID$$' -fuzztime $(FUZZTIME) .

clean:
	rm -rf bin
