#!/usr/bin/env bash
# Runs the official HEAR 2021 validator on clar_tf.hear with one model.
#   bash tools/hear_validate.sh MODEL_PATH      (a clar_tf model_dir or clar_tf.export dir)
# Installs the validator when it is missing: torch is pinned first to the CPU build
# (hearvalidator asks only for torch>=1.7, which would otherwise pull the CUDA build).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: bash tools/hear_validate.sh MODEL_PATH" >&2
  exit 2
fi
MODEL="$(cd "$1" && pwd)"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
if ! python -c "import hearvalidator" >/dev/null 2>&1; then
  python -m pip install -q "torch==2.13.0"
  python -m pip install -q "hearvalidator==2021.0.2"
fi
# The hear-validator script imports the module by name: make clar_tf importable.
cd "$REPO"
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" hear-validator clar_tf.hear --model "$MODEL"
