#!/usr/bin/env bash
# Writes the exact package versions of a venv, every package pinned (`name==version`),
# sorted, minus clar_tf itself and anything installed editable or from a path/URL:
#
#   bash tools/freeze_requirements.sh                          # .venv -> requirements.txt
#   bash tools/freeze_requirements.sh .venv-tfx requirements-tfx.txt   # the TFX venv
#
# Run it on CI's venvs (made by `bash setup.sh` and `bash tools/tfx_env.sh`): setup.sh
# installs with requirements.txt as constraints, so a fresh set-up gets CI's versions;
# pyproject.toml keeps the supported ranges, and tests/requirements_test.py checks that
# every pin lies inside them. VENV may also be a Python executable.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
OUT="${2:-requirements.txt}"
if [ -d "$VENV" ]; then PY="$VENV/bin/python"; else PY="$VENV"; fi
[ -x "$PY" ] || { echo "freeze_requirements: no Python at $PY (make the venv first)" >&2; exit 1; }
pyinfo="$("$PY" -c 'import platform; print(platform.python_version(), "(%s %s)" % (platform.system().lower(), platform.machine()))')"
tmp="$(mktemp "$OUT.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
{
  echo "# Exact package versions of the venv $VENV, every package pinned; made by"
  echo "#   bash tools/freeze_requirements.sh $VENV $OUT"
  echo "# and regenerated with the same command (do not edit by hand). The supported ranges"
  echo "# are in pyproject.toml; tests/requirements_test.py checks these pins lie inside them."
  echo "# python: $pyinfo"
  # Only name==version lines: drops `-e` (editable) and `name @ path/URL` installs.
  "$PY" -m pip freeze --exclude-editable 2>/dev/null |
    grep -E '^[A-Za-z0-9][A-Za-z0-9._-]*==[^ ;@]+$' | grep -viE '^clar[-_.]tf==' |
    LC_ALL=C sort -f -t= -k1,1
} > "$tmp"
mv "$tmp" "$OUT"
trap - EXIT
echo "freeze_requirements: wrote $OUT ($(grep -c '==' "$OUT") pins, Python $pyinfo)"
