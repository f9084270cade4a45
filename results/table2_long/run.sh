#!/usr/bin/env bash
# Table 2's 100 % column trained twice as long: cross-entropy vs CLAR, 12 epochs instead of
# the cpu_small preset's 6, everything else as in results/table2/runs/*-lf1-s*/config.json.
# Run from the repository root: bash results/table2_long/run.sh
set -euo pipefail
for seed in 0 1 2; do
  for method in supervised clar; do
    python -m clar_tf.train --dataset=spoken_digits --manual_dir=data/spoken_digits \
      --data_dir=data/tfds --method=$method --encoder=2d --augment=FD+TM --width=0.25 \
      --batch_size=64 --optimizer=lars --learning_rate=1.0 --warmup_epochs=1 \
      --linear_eval_epochs=100 --epochs=12 --eval_every=3 --seed=$seed --verbose=2 \
      --model_dir=results/table2_long/runs/$method-2d-FD_TM-lf1-e12-s$seed
  done
done
