# azp-operator — the two commands a fresh machine needs:
#   cargo run --release -p azp-sandbox     (the whole system, locally; see README)
#   make test                              (installs the test peers, then runs every test)
SHELL := /bin/bash
CACHE ?= $(CURDIR)/.cache
export AZP_PEERS_DIR := $(CACHE)/peers
export AZP_TEST_PYTHON := $(AZP_PEERS_DIR)/venv/bin/python
export AZP_SHARED_DIR ?= $(abspath $(CURDIR)/../shared)
export CARGO_TERM_COLOR ?= never

.PHONY: test lint generate peers unit chaos images

## test: install the test peers (idempotent), check formatting and lints, run every test.
test: peers lint
	@if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --workspace --no-fail-fast; \
	else \
	  cargo test --workspace --no-fail-fast; \
	fi

## peers: the real third-party software the tests talk to (apt, pip into $(CACHE)).
peers:
	@scripts/install-peers.sh "$(AZP_PEERS_DIR)"

## images: the agent, operator and BuildKit images, built offline from the Dockerfile with the debug
## binaries of the test build (no release build): see scripts/build-images.sh. Cached in
## $(CACHE)/images by the hash of every input; the testbed/pod-docker test calls the same script.
images:
	cargo build -p azp-agent -p azp-operator -p azp-ado-emulator --bins
	AZP_BIN_DIR="$${CARGO_TARGET_DIR:-$(CURDIR)/target}/debug" scripts/build-images.sh "$(CACHE)/images"

## lint: rustfmt and clippy with warnings as errors.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## generate: regenerate committed artefacts from the Rust types (the CRD, and the chart's copy of it).
generate:
	cargo run -q -p azp-operator -- crd > crds/agentpool.yaml
	cp crds/agentpool.yaml charts/azp-operator/crds/agentpool.yaml

## chaos: a long chaos run of the sandbox (SEED, DURATION in seconds); see docs/sandbox.md.
SEED ?= 1
DURATION ?= 600
chaos:
	cargo run --release -p azp-sandbox -- chaos --seed $(SEED) --duration $(DURATION) --settle-timeout 180
