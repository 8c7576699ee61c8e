# portclass — run `make` for the list of targets.
GO        ?= go
BIN       ?= bin/portclass
PKGS      := ./...
FUZZTIME  ?= 30s
SOAK_TIME ?= 3m
# Go minimises each new interesting input for up to 60 s by default, running it
# O(n²) times for an n-byte input and showing 0 execs/s meanwhile: that was most of
# FuzzPcap's time. Bound it by a count of runs; fuzz-ci turns it off (0).
FUZZMINIMIZE ?= 1000x
BENCHTIME ?= 3x
BENCHCOUNT ?= 3
ROUNDS    ?= 5
# bench-compare's captures: mix (packet-heavy), flows (flow-heavy), burst (the same flows
# started within 70 s: all open at once), small (the mix in smaller frames);
# CAPTURES=flows runs only the flow-heavy one.
CAPTURES  ?= mix,flows,burst,small
export CGO_ENABLED ?= 0

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# The binary is copied into place rather than linked there: the same bytes written by cp
# start 2.5 ms faster on the VM of docs/performance.md than as the linker wrote them
# (page-cache layout), which is how an installed binary is found anyway.
build: ## build the static binary into bin/portclass
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o $(BIN).link ./cmd/portclass
	cp $(BIN).link $(BIN).new && mv $(BIN).new $(BIN) && rm -f $(BIN).link

demo: build ## analyse the bundled sample capture (testdata/sample.pcapng)
	./$(BIN) analyze --format text testdata/sample.pcapng

test: ## vet, then all tests with the race detector (fuzz seeds included); about 3.5 minutes on 2 cores
	@echo "make test: go vet, then go test -race -count=1 of every package: about 3.5 minutes on a 2-core machine"
	@echo "make test: (measured 2026-12-06 with a warm build cache: 206 s; a cold cache adds the -race build of every package)"
	$(GO) vet $(PKGS)
	@echo "make test: vet passed; one line per package follows, in package order, each when it is done:"
	@echo "make test: capture comes first and takes about 3 minutes (cmd/portclass about 1.5, at the same time), the rest seconds"
	@start=$$(date +%s); CGO_ENABLED=1 $(GO) test -race -count=1 $(PKGS); rc=$$?; \
	echo "make test: go test took $$(( $$(date +%s) - start )) s"; exit $$rc
	@$(MAKE) --no-print-directory test-duckdb

# internal/duckdbtest is a module of its own (DuckDB's driver needs cgo; portclass does
# not): fetching its dependencies is the probe, so that a machine that cannot fetch or
# compile them skips with a message while a failing test still fails.
test-duckdb: build ## Parquet read back by DuckDB, and docs/scale.md's archive recipe run in separate processes
	@cd internal/duckdbtest && \
	if ! command -v gcc >/dev/null; then echo "test-duckdb skipped: no C compiler (apt-get install gcc) for DuckDB's Go driver"; \
	elif ! CGO_ENABLED=1 $(GO) list -deps -test . >/dev/null 2>/tmp/portclass-duckdb-fetch.log; then \
	  echo "test-duckdb skipped: DuckDB's Go driver could not be fetched:"; tail -3 /tmp/portclass-duckdb-fetch.log; \
	else PORTCLASS_BIN=$(CURDIR)/$(BIN) CGO_ENABLED=1 $(GO) test -count=1 . ; fi

readme: ## rewrite the README's output samples from what portclass prints (TestREADMESamples)
	$(GO) test ./cmd/portclass -run '^TestREADMESamples$$' -count=1 -update

test-short: ## the tests without the race detector (faster)
	$(GO) test -count=1 $(PKGS)

fuzz-ci: ## every fuzz target for 10 s each, without minimisation (CI)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10s FUZZMINIMIZE=0

fuzz: ## run every fuzz target for FUZZTIME (default 30s) each; crashers land in testdata/fuzz/
	@GO=$(GO) .ci/fuzz $(FUZZTIME) $(FUZZMINIMIZE)

bench: ## benchmarks of every stage and the whole pipeline (packets/s, ns/packet, cpu-ns/packet, allocs/packet, bytes/flow)
	$(GO) test -run '^$$' -bench 'Read|Decode|FlowUpdate|Pipeline|FlowMemory|ReferenceGopacket' -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./capture
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./classify/... ./reports
	$(GO) test -run '^$$' -bench 'Stages|Analyze' -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./pipeline
	$(GO) test -run '^$$' -bench 'Startup' -benchmem -count $(BENCHCOUNT) ./cmd/portclass

bench-compare: build ## portclass against a gopacket reference loop, tcpdump, argus, ndpiReader, tshark on the packet-heavy, flow-heavy (spread and burst) and small-frame captures (CAPTURES=mix,flows,burst,small): medians of ROUNDS rounds
	$(GO) run ./internal/benchcompare -rounds $(ROUNDS) -portclass $(BIN) -captures $(CAPTURES) $(BENCHCOMPARE_FLAGS)

bench-startup: build ## start-up of portclass (--version, analyze of an empty and a 100-packet capture) against a static Go hello world
	$(GO) run ./internal/benchcompare -startup -portclass $(BIN)

soak: ## live capture on loopback with churning flows for SOAK_TIME (default 3m), RSS over time (root)
	SOAK_TIME=$(SOAK_TIME) ./scripts/soak.sh

generate: ## regenerate the IANA service table from the committed CSV
	$(GO) generate ./classify/...

testdata: ## regenerate the project's own captures in testdata/
	$(GO) run ./cmd/pcapgen -scenario sample -format pcapng -o testdata/sample.pcapng
	$(GO) run ./cmd/pcapgen -scenario veeam -format pcap -o testdata/veeam.pcap
	$(GO) run ./cmd/pcapgen -scenario veeam-firewall -format pcap -o testdata/veeam-firewall.pcap
	$(GO) run ./cmd/pcapgen -scenario veeam-after -format pcap -o testdata/veeam-after.pcap
	$(GO) run ./cmd/pcapgen -scenario tunnels -format pcap -o testdata/tunnels.pcap
	$(GO) run ./cmd/pcapgen -scenario formats -o testdata/formats

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

check: lint ## lint, plus go mod tidy and generated files up to date
	@cp go.mod /tmp/portclass.go.mod.bak; cp go.sum /tmp/portclass.go.sum.bak; \
	$(GO) mod tidy; if ! git diff --quiet go.mod go.sum; then echo "go mod tidy changes go.mod/go.sum"; \
	cp /tmp/portclass.go.mod.bak go.mod; cp /tmp/portclass.go.sum.bak go.sum; exit 1; fi
	@$(MAKE) --no-print-directory generate; if ! git diff --quiet classify/; then echo "generated files are stale: run make generate"; exit 1; fi

clean: ## remove build outputs
	rm -rf bin

.PHONY: help build demo test test-short readme fuzz fuzz-ci bench bench-compare bench-startup soak generate testdata lint check clean
