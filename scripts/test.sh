#!/usr/bin/env bash
# Runs every test of execdeck on a fresh machine: prepares what the tests need
# (a Python venv with the real execnet, pytest and pytest-xdist, in .venv/; tmux), checks
# formatting and lints, then runs the Rust tests and the worker's Python tests.
# Usage: scripts/test.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "Python test environment (.venv with execnet, pytest and pytest-xdist)"
EXECDECK_TEST_PYTHON=$(scripts/venv.sh)
export EXECDECK_TEST_PYTHON

step "tmux (the TUI's end-to-end test drives the real binary in it)"
if ! command -v tmux >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null
  else
    echo "tmux is missing: install it (the TUI test needs it)" >&2
    exit 1
  fi
fi
tmux -V

step "OpenSSH server (the ssh gateway tests run a real sshd on 127.0.0.1)"
if [ ! -x /usr/sbin/sshd ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
  else
    echo "sshd is missing: install openssh-server (the ssh gateway tests need it)" >&2
    exit 1
  fi
fi
/usr/sbin/sshd -V 2>&1 | head -1 || true

step "rsync(1) (the rsync benchmark rows measure rsync -a as their limit; optional)"
if ! command -v rsync >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync >/dev/null; } ||
    echo "rsync could not be installed: the benchmark reports 'rsync(1) not installed'"
fi
if command -v rsync >/dev/null 2>&1; then rsync --version | sed -n 1p; else echo "rsync(1) not installed"; fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "Rust tests (unit, integration against real interpreters and execnet)"
cargo test --quiet

step "Worker tests (pytest: execnet's master drives our worker)"
"$EXECDECK_TEST_PYTHON" -m pytest -q tests/py

step "Benchmark smoke run (cargo bench --bench compare -- --quick: every workload works; timings are not judged)"
cargo bench --quiet --bench compare -- --quick
