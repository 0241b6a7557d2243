# Concord: one command to run the platform, one to test it.
CARGO ?= cargo

.PHONY: run test lint fmt build

## Start the whole platform in one process with simulated agencies.
run:
	$(CARGO) run --release -p concord -- up

## Install what the tests need, then run every test.
test:
	$(CARGO) test --workspace

## Formatting and lints, as CI expects them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --workspace
