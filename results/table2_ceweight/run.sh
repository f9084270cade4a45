#!/usr/bin/env bash
# CLAR with twice the CE weight (L = L_CL + 2·L_CE) against Table 2's cells: the cpu_small
# label_fraction settings of results/table2/runs/clar-2d-FD_TM-lf*-s*/config.json with
# --ce_weight=2, 5 seeds. Usage from the repository root:
#   bash results/table2_ceweight/run.sh [fractions...]   (default: 1)
set -euo pipefail
fractions=("${@:-1}")
for f in "${fractions[@]}"; do
  per_batch=0
  [ "$f" != 1 ] && per_batch=$(python -c "print(max(8, round($f * 64)))")
  for seed in 0 1 2 3 4; do
    python -m clar_tf.train --dataset=spoken_digits --manual_dir=data/spoken_digits \
      --data_dir=data/tfds --method=clar --encoder=2d --augment=FD+TM --width=0.25 \
      --batch_size=64 --optimizer=lars --learning_rate=1.0 --warmup_epochs=1 \
      --linear_eval_epochs=100 --epochs=6 --eval_every=3 --export=false --seed=$seed \
      --labeled_fraction=$f --labeled_per_batch=$per_batch --ce_weight=2 --verbose=2 \
      --model_dir=results/table2_ceweight/runs/clar-2d-FD_TM-lf$f-w2-s$seed
  done
done
