#!/usr/bin/env bash
# Makes sure .venv/ holds the real execnet (the peer of the tests and of the
# benchmark), pytest and pytest-xdist (a test runs the real xdist on our worker),
# gevent and eventlet (the worker's execmodel=gevent/eventlet are tested),
# creating or completing it when needed; prints its python's path.
# Usage: scripts/venv.sh        (messages go to stderr, the path to stdout)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
EXECNET_VERSION=2.1.2

if ! "$VENV/bin/python" -W ignore -c "import execnet, pytest, xdist, gevent, eventlet; assert execnet.__version__ == '$EXECNET_VERSION'" 2>/dev/null; then
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV" >&2
    "$PYTHON" -m venv "$VENV" >&2
  fi
  echo "installing execnet $EXECNET_VERSION, pytest, pytest-xdist, gevent and eventlet into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "execnet==$EXECNET_VERSION" pytest pytest-xdist gevent eventlet >&2
fi
echo "$PWD/$VENV/bin/python"
