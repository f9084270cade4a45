#!/usr/bin/env bash
# Run the test suite under Bazel (offline). Extra arguments go to `bazel test`, e.g.
#   bash tools/bazel_test.sh                               # everything: //...
#   bash tools/bazel_test.sh --test_tag_filters=-slow      # skip the slow tests
#   bash tools/bazel_test.sh //:losses_test                # one test
# Installs Debian's bazel-bootstrap (Bazel 4.2.3) and bazel-rules-java if bazel is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bazel >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bazel_test.sh: bazel not found and no apt-get; install Bazel 4.x by hand" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq bazel-bootstrap bazel-rules-java >/dev/null
fi
if [ ! -f /usr/share/bazel/rules/java/java/defs.bzl ]; then
  echo "bazel_test.sh: /usr/share/bazel/rules/java missing; apt-get install bazel-rules-java" >&2
  exit 1
fi

# The interpreter the tests run with: $PYTHON; else, outside an active virtual
# environment, the .venv that setup.sh made; else python3 (or python) on PATH. Shims
# (pyenv) are resolved to the real interpreter, since Bazel runs tests with a minimal PATH.
PY="${PYTHON:-}"
if [ -z "$PY" ] && [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ]; then
  PY="$(pwd)/.venv/bin/python"
fi
[ -n "$PY" ] || PY="$(command -v python3 || command -v python || true)"
if [ -z "$PY" ]; then
  echo "bazel_test.sh: no python3/python on PATH" >&2
  exit 1
fi
PY="$("$PY" -c 'import sys; print(sys.executable)')"

# Default target //... unless the caller named targets (any argument not starting with -).
TARGETS=("//...")
for arg in "$@"; do
  case "$arg" in -*) ;; *) TARGETS=(); break ;; esac
done

# The stub that starts each py_test is itself run by `python` from PATH: put $PY's first.
exec bazel test --python_path="$PY" --test_env=PATH="$(dirname "$PY"):$PATH" \
  "$@" "${TARGETS[@]}"
