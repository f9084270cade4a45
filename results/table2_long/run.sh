#!/usr/bin/env bash
# Table 2's 100 % column trained longer: cross-entropy vs CLAR with more epochs than the
# cpu_small preset's 6, everything else as in results/table2/runs/*-lf1-s*/config.json.
# Run from the repository root:
#   bash results/table2_long/run.sh                 # 12 epochs, seeds 0-4
#   EPOCHS=24 EVAL_EVERY=6 SEEDS="0 1 2" bash results/table2_long/run.sh
set -euo pipefail
epochs=${EPOCHS:-12}
# --export=true: these runs were made with the SavedModel export, so a rerun reads them back.
OUT=results/table2_long exec bash results/table2_variants/run.sh e$epochs \
  --epochs=$epochs --eval_every=${EVAL_EVERY:-3} --export=true
