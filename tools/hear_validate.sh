#!/usr/bin/env bash
# Runs the official HEAR 2021 validator on clar_tf.hear with one model.
#   bash tools/hear_validate.sh MODEL_PATH      (a clar_tf model_dir or clar_tf.export dir)
# Runs with $PYTHON, else the .venv of setup.sh, else `python`. Installs the validator
# there when it is missing: torch is pinned first to the CPU build
# (hearvalidator asks only for torch>=1.7, which would otherwise pull the CUDA build).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: bash tools/hear_validate.sh MODEL_PATH" >&2
  exit 2
fi
MODEL="$(cd "$1" && pwd)"
PY="${PYTHON:-python}"
if [ -z "${PYTHON:-}" ] && [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$(dirname "$0")/../.venv/bin/python" ]; then
  PY="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"  # the venv setup.sh made
fi
PY="$("$PY" -c 'import sys; print(sys.executable)')"  # past shims: its bin/ has the script
if ! "$PY" -c "import hearvalidator" >/dev/null 2>&1; then
  "$PY" -m pip install -q "torch==2.13.0"
  "$PY" -m pip install -q "hearvalidator==2021.0.2"
fi
# The validator imports the module by name: clar_tf is installed (setup.sh, pip install .).
"$(dirname "$PY")/hear-validator" clar_tf.hear --model "$MODEL"
