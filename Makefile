# The two commands the README starts with are `make run` and `make test`.
GO ?= go
BIN := bin

.PHONY: all build test test-short vet fmt-check fmt run stop wipe clean bench fuzz chaos ui-test newman deps certs

all: build

build:
	$(GO) build -o $(BIN)/hraftd .
	$(GO) build -o $(BIN)/distributor ./distributor

# Everything CI runs: formatting, vet, every test with the race detector,
# then each fuzz target for a few seconds (FUZZTIME).
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 20m ./...
	./scripts/fuzz.sh

# Every fuzz target for FUZZTIME each (default 3s; try FUZZTIME=5m).
fuzz:
	./scripts/fuzz.sh

# Unit and in-process tests only (skips tests that start real processes).
test-short:
	$(GO) test -race -count=1 -short ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l . | grep -v '^vendor/'); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w .

# Six nodes in the seed layout and the distributor, in the foreground.
# make run SECURE=1: the same with TLS and passwords (HTTPS everywhere, Raft
# over mutual TLS, -auth); it makes certs/ and certs/users.json if missing
# and prints the admin's password and how to curl (scripts/cluster.sh).
# make stop stops either kind.
run:
	./scripts/run.sh

stop:
	./scripts/cluster.sh stop

wipe:
	./scripts/cluster.sh wipe

clean:
	rm -rf $(BIN)

# A development CA and certificates for the six nodes, the distributor and
# an admin client, in certs/ (kept if present; CERTSFLAGS=-force replaces
# them, CERTSFLAGS="-hosts 10.0.0.5" adds a SAN). Private keys included:
# for development only. make run SECURE=1 uses them.
certs:
	$(GO) run ./cmd/certs -dir certs $(CERTSFLAGS)

# The benchmark matrix: builds both binaries, starts a fresh 2x3
# cluster + distributor + a bare net/http server on free 127.0.0.1 ports (so
# it can run beside `make run`) and prints a markdown table. About 2 minutes.
# Not part of `make test`: benchmarks are not tests.
# BENCHFLAGS=-tls adds the TLS comparison (about 2 more minutes): a second,
# secure 2x3 cluster + distributor (HTTPS, Raft over mutual TLS, -auth)
# beside the plain one, the same writes from a plain, a password and a
# client-certificate client taking turns; BENCHFLAGS="-only tls" runs that
# comparison alone. BENCHMARKS.md, "TLS and authentication", says what it shows.
bench:
	$(GO) run ./bench/matrix $(BENCHFLAGS)

# A longer chaos session: 2x3 nodes + distributor, clients through
# the distributor, a nemesis killing, pausing and partitioning nodes, then a
# linearizability check with porcupine. Default 2 minutes; e.g.
#   make chaos CHAOS_FLAGS="-duration 10m -v"
# A short version runs in `make test` (chaos.TestChaosShort).
chaos:
	$(GO) run ./chaos/cmd/chaos $(CHAOS_FLAGS)

# The dashboard in headless Chromium and the Postman collection via newman,
# each against a throwaway cluster on free ports (`make deps` installs both).
ui-test:
	$(GO) test -count=1 -v ./test/browser/ ./test/postman/

newman:
	./scripts/newman.sh

deps:
	./scripts/ci-deps.sh
