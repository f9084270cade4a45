#!/usr/bin/env bash
# The demo's committed numbers (results/README.md, "The demo"): the Quickstart's demo
# command, and the same at 1 % labels for CLAR and supervised CE, each under
# /usr/bin/time -v. Copies each run's results.json and linear_eval.csv, and time's
# report, into results/demo/<name>/. Run it from a clone after `bash setup.sh`:
#   [ONLY="demo lf001_clar lf001_supervised"] bash results/demo/run.sh
# The first run makes the spoken-digits set (data/) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAIN="${CLAR_TRAIN:-.venv/bin/clar-train}"
[ -x "$TRAIN" ] || TRAIN=clar-train  # inside an active venv
declare -A FLAGS=(
  [demo]=""
  [lf001_clar]="--labeled_fraction=0.01"
  [lf001_supervised]="--labeled_fraction=0.01 --method=supervised"
)
for name in ${ONLY:-demo lf001_clar lf001_supervised}; do
  out=results/demo/$name
  run=runs/demo; [ "$name" = demo ] || run="runs/demo_$name"
  mkdir -p "$out"
  # shellcheck disable=SC2086
  /usr/bin/time -v -o "$out/time.txt" "$TRAIN" --flagfile=demo.flags ${FLAGS[$name]} \
    --model_dir="$run"
  cp "$run/results.json" "$run/linear_eval.csv" "$run/config.json" "$out/"
  if [ -f "$run/provenance.json" ]; then cp "$run/provenance.json" "$out/"; fi
done
