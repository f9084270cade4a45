#!/usr/bin/env bash
# Creates (or reuses) the virtualenv of the performance reference
# (benchmarks/torch_reference.py: the authors' approach rebuilt in PyTorch + nnAudio + librosa).
#
#   bash tools/ref_env.sh                 # venv at ${CLAR_REF_VENV:-/tmp/ref}
#   bash tools/ref_env.sh --print-path    # just print the venv path
#
# torch is pinned exactly to 2.13.0, the CPU wheel: a looser pin pulls a multi-GB CUDA
# build. A stamp file holding the package list makes a second call a no-op (about a
# second); change the list below and the next call reinstalls. The benchmarks find the
# venv through $CLAR_REF_VENV (default /tmp/ref) and skip the reference when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CLAR_REF_VENV:-/tmp/ref}"
if [ "${1:-}" = "--print-path" ]; then
  echo "$VENV"
  exit 0
fi
PACKAGES=("torch==2.13.0" "nnAudio==0.3.4" "librosa==0.11.*")
want="$(printf '%s\n' "${PACKAGES[@]}" | sha256sum | cut -d' ' -f1)"
STAMP="$VENV/.clar_ref_packages.sha256"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "ref_env: $VENV is up to date"
  exit 0
fi
PY="${CLAR_REF_PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "ref_env: creating $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
fi
start=$SECONDS
"$VENV/bin/python" -m pip install -q "${PACKAGES[@]}"
"$VENV/bin/python" -c 'import torch, nnAudio, librosa
print("ref_env: torch", torch.__version__, "librosa", librosa.__version__,
      "cuda", torch.version.cuda)'
echo "$want" > "$STAMP"
echo "ref_env: installed ${PACKAGES[*]} into $VENV in $((SECONDS - start)) s"
