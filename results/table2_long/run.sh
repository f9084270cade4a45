#!/usr/bin/env bash
# Table 2's 100 % column trained longer: cross-entropy vs CLAR with more epochs than the
# cpu_small preset's 6, everything else as in results/table2/runs/*-lf1-s*/config.json.
# Run from the repository root:
#   bash results/table2_long/run.sh                 # 12 epochs, seeds 0-4
#   EPOCHS=24 EVAL_EVERY=6 SEEDS="0 1 2" bash results/table2_long/run.sh
set -euo pipefail
epochs=${EPOCHS:-12}
for seed in ${SEEDS:-0 1 2 3 4}; do
  for method in supervised clar; do
    python -m clar_tf.train --dataset=spoken_digits --manual_dir=data/spoken_digits \
      --data_dir=data/tfds --method=$method --encoder=2d --augment=FD+TM --width=0.25 \
      --batch_size=64 --optimizer=lars --learning_rate=1.0 --warmup_epochs=1 \
      --linear_eval_epochs=100 --epochs=$epochs --eval_every=${EVAL_EVERY:-3} --seed=$seed \
      --verbose=2 --model_dir=results/table2_long/runs/$method-2d-FD_TM-lf1-e$epochs-s$seed
  done
done
