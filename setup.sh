#!/usr/bin/env bash
# One-command set-up: Debian's espeak-ng, fluidsynth and fluid-soundfont-gm (only for the
# offline demo data: spoken_digits, gm_notes), then clar_tf
# with its test tools and the ONNX export, `pip install -c requirements.txt -e ".[dev,export]"`: requirements.txt
# (tools/freeze_requirements.sh) pins the exact versions CI ran, as constraints, so a fresh
# set-up gets them; pyproject.toml holds the supported ranges. On a Python minor version
# other than the one requirements.txt was made with, some pins may not exist: then it
# installs from the ranges alone, and says so.
#
#   bash setup.sh      inside an active virtual environment (venv, virtualenv, conda):
#                      installs there;
#                      otherwise: makes ./.venv (python3 -m venv) and installs there, so
#                      it works on a system Python marked externally managed (PEP 668).
#
# Environment: PYTHON, the interpreter that makes .venv (default python3).
set -euo pipefail
cd "$(dirname "$0")"

# apt_install PACKAGE...: apt-get install, with sudo when not root.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v fluidsynth >/dev/null 2>&1 || missing+=(fluidsynth)
[ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}" || echo "setup.sh: please install ${missing[*]} (needed only for the offline demo data)" >&2
fi

PY="${PYTHON:-python3}"
in_env() {  # a venv/virtualenv, or a conda environment other than base
  "$PY" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' ||
    { [ -n "${CONDA_PREFIX:-}" ] && [ "${CONDA_DEFAULT_ENV:-base}" != base ]; }
}
if in_env; then
  echo "setup.sh: installing into the active environment ($("$PY" -c 'import sys; print(sys.prefix)'))"
else
  if [ ! -x .venv/bin/python ]; then
    echo "setup.sh: no active virtual environment; making .venv with $("$PY" --version)"
    # Debian/Ubuntu ship venv's pip bootstrap as a separate package.
    "$PY" -m venv .venv 2>/dev/null || { rm -rf .venv; apt_install python3-venv && "$PY" -m venv .venv; }
  fi
  PY=.venv/bin/python
fi
"$PY" -m pip install -q --upgrade pip 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
constraints="-c requirements.txt"
req_py="$(sed -n 's/^# python: \([0-9]*\.[0-9]*\).*/\1/p' requirements.txt)"
if [ "$req_py" != "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ]; then
  echo "setup.sh: requirements.txt holds CI's versions for Python $req_py; installing from" \
       "pyproject.toml's ranges without it" >&2
  constraints=""
fi
# shellcheck disable=SC2086  # $constraints: empty or two words
"$PY" -m pip install -q $constraints -e ".[dev,export]" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
"$PY" -c "import tensorflow as tf, keras, kapre, clar_tf
print('clar_tf', clar_tf.__version__, 'ready: TF', tf.__version__, 'Keras', keras.__version__)"
if [ "$PY" = .venv/bin/python ]; then
  echo "setup.sh: commands are in .venv/bin (clar-train, clar-embed, ...), or: source .venv/bin/activate"
fi
