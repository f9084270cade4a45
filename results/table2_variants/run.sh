#!/usr/bin/env bash
# Table 2's 100 % column under one changed setting, for cross-entropy and CLAR alike:
# the cpu_small label_fraction settings of results/table2/runs/*-lf1-s*/config.json plus
# the given flags (later flags win). Usage from the repository root:
#   [SEEDS="0 1 2 3 4"] [OUT=results/table2_variants] bash results/table2_variants/run.sh NAME [--flag=value ...]
#   e.g. SEEDS="0 1 2" bash results/table2_variants/run.sh headbn --head_batchnorm
# Runs go to $OUT/runs/<method>-2d-FD_TM-lf1-<NAME>-s<seed>. results/table2_long and
# results/table2_small call it with their own OUT.
set -euo pipefail
name=$1; shift
out=${OUT:-results/table2_variants}
for seed in ${SEEDS:-0 1 2 3 4}; do
  for method in supervised clar; do
    python -m clar_tf.train --dataset=spoken_digits --manual_dir=data/spoken_digits \
      --data_dir=data/tfds --method=$method --encoder=2d --augment=FD+TM --width=0.25 \
      --batch_size=64 --optimizer=lars --learning_rate=1.0 --warmup_epochs=1 \
      --linear_eval_epochs=100 --epochs=6 --eval_every=3 --export=false --seed=$seed \
      --verbose=2 "$@" --model_dir=$out/runs/$method-2d-FD_TM-lf1-$name-s$seed
  done
done
