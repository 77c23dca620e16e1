# azp-operator — the two commands a fresh machine needs:
#   cargo run --release -p azp-sandbox     (the whole system, locally; see README)
#   make test                              (installs the test peers, then runs every test)
SHELL := /bin/bash
CACHE ?= $(CURDIR)/.cache
export AZP_PEERS_DIR := $(CACHE)/peers
export AZP_TEST_PYTHON := $(AZP_PEERS_DIR)/venv/bin/python
export CARGO_TERM_COLOR ?= never
# Tests that start the operator, the agent or the stand-in run the binaries the test build just made,
# instead of each running `cargo build -p …` with its own package set: a different package set unifies
# dependency features differently and recompiles much of the graph (minutes on 2 cores).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
TEST_BINS := AZP_OPERATOR_BIN=$(TARGET_DIR)/debug/azp-operator AZP_AGENT_BIN=$(TARGET_DIR)/debug/azp-agent \
	AZP_STANDIN_BIN=$(TARGET_DIR)/debug/azp-agent-standin

.PHONY: test lint generate peers peer-files unit chaos images images-prepare

## test: install the test peers (idempotent), check formatting and lints, run every test.
test: peers images-prepare lint
	@if cargo nextest --version >/dev/null 2>&1; then \
	  $(TEST_BINS) cargo nextest run --workspace --no-fail-fast; \
	else \
	  $(TEST_BINS) cargo test --workspace --no-fail-fast; \
	fi
	@scripts/check-fresh-clone.sh

## peers: the real third-party software and files the tests use (apt, pip, files into $(CACHE)/peers).
peers:
	@scripts/install-peers.sh "$(AZP_PEERS_DIR)"

## peer-files: only the files tests read (OpenAPI spec, BuildKit), from AZP_ADO_SPEC / AZP_BUILDKIT_DIR,
## ../shared, or upstream; see README "Developing".
peer-files:
	@scripts/peer-files.sh "$(AZP_PEERS_DIR)"

## images-prepare: in the background, what of the images needs no Rust binary (the mmdebstrap base,
## the BuildKit image), so it overlaps the compile; the test that needs the images waits on its lock.
images-prepare:
	@mkdir -p "$(CACHE)/images"
	@scripts/build-images.sh --prepare "$(CACHE)/images" >"$(CACHE)/images/prepare.log" 2>&1 &

## images: the agent, operator and BuildKit images, built offline from the Dockerfile with the debug
## binaries of the test build (no release build): see scripts/build-images.sh. Cached in
## $(CACHE)/images by the hash of every input. `make test` needs no call: the testbed/pod-docker
## test runs the same script with the binaries of the test build (a cache hit when nothing changed).
images:
	cargo build --workspace --bins
	AZP_BIN_DIR=$(TARGET_DIR)/debug scripts/build-images.sh "$(CACHE)/images"

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
