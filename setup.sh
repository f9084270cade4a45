#!/usr/bin/env bash
# One-command set-up: system tools for the offline demo data, then the Python packages.
# Usage: bash setup.sh          (installs into the active python; use a venv if you like)
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v espeak-ng >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq espeak-ng >/dev/null
  else
    echo "setup.sh: please install espeak-ng (needed only for the offline demo data)" >&2
  fi
fi
python -m pip install -q -r requirements.txt
python -c "import tensorflow as tf, keras, kapre; print('clar_tf ready: TF', tf.__version__, 'Keras', keras.__version__)"
