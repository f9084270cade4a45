#!/usr/bin/env bash
# Creates (or reuses) the TFX virtualenv and installs clar_tf with its TFX and dev extras
# into it (`pip install -c requirements-tfx.txt ".[tfx,dev]"`: TFX 1.16 brings TensorFlow
# 2.16 and Keras 3.12, the low end of clar_tf's supported range, which CI tests here too;
# requirements-tfx.txt pins the versions CI ran, made by
# `bash tools/freeze_requirements.sh .venv-tfx requirements-tfx.txt`).
#
#   bash tools/tfx_env.sh            # venv at ${CLAR_TFX_VENV:-.venv-tfx}
#   source "$(bash tools/tfx_env.sh --print-path)/bin/activate"
#
# TFX 1.16 needs Python 3.10: pyenv's 3.10.13 when present, else `python3.10` on PATH
# (or $CLAR_TFX_PYTHON). A stamp file holding the hash of pyproject.toml and
# requirements-tfx.txt makes a second call a no-op (instant); change either and the next
# call reinstalls. The install is
# not editable: `tools/tfx_ci.sh` reinstalls the package itself (no dependencies) before
# it runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CLAR_TFX_VENV:-.venv-tfx}"
if [ "${1:-}" = "--print-path" ]; then
  case "$VENV" in /*) echo "$VENV" ;; *) echo "$(pwd)/$VENV" ;; esac
  exit 0
fi
REQ="pyproject.toml requirements-tfx.txt"
STAMP="$VENV/.clar_tfx_requirements.sha256"
# shellcheck disable=SC2086  # two file names
want="$(cat $REQ | sha256sum | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "tfx_env: $VENV is up to date with $REQ"
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  PY="${CLAR_TFX_PYTHON:-}"
  if [ -z "$PY" ]; then
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.10.13/bin/python" \
                     "$(command -v python3.10 || true)"; do
      if [ -n "$candidate" ] && [ -x "$candidate" ]; then PY="$candidate"; break; fi
    done
  fi
  if [ -z "$PY" ] || ! "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    echo "tfx_env: TFX 1.16 needs Python 3.10; install it (pyenv install 3.10.13) or set" \
         "CLAR_TFX_PYTHON=/path/to/python3.10" >&2
    exit 1
  fi
  echo "tfx_env: creating $VENV with $("$PY" --version) ($PY)"
  "$PY" -m venv "$VENV"
fi
start=$SECONDS
# pip_quiet ARGS...: pip install, minus the warnings about local index folders that this
# machine's pip config names but does not have; pip's exit status is kept (pipefail).
pip_quiet() {
  "$VENV/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}
pip_quiet --upgrade pip
pip_quiet -c requirements-tfx.txt ".[tfx,dev]"
TF_CPP_MIN_LOG_LEVEL=2 PYTHONWARNINGS=ignore "$VENV/bin/python" -c 'import tfx, tensorflow as tf, keras, kapre, tensorflow_datasets as tfds
print("tfx_env: TFX", tfx.__version__, "TF", tf.__version__, "Keras", keras.__version__,
      "TFDS", tfds.__version__)'
echo "$want" > "$STAMP"
echo "tfx_env: installed $REQ into $VENV in $((SECONDS - start)) s"
