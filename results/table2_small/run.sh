#!/usr/bin/env bash
# Table 2's 100 % column on a fifth of the training set: cross-entropy vs CLAR when every
# clip is labeled but there are few clips (the regime where cross-entropy over-fits). The
# training split keeps every 5th of the 120 training speakers of data/spoken_digits (480
# clips); validation and test are unchanged (the same 300 test clips as results/table2).
# Epochs and warm-up are 5x the cpu_small preset's so the number of steps is the same;
# everything else as in results/table2/runs/*-lf1-s*/config.json (results/table2_variants/run.sh
# runs the cells). From the repository root:
#   SEEDS="0 1 2" bash results/table2_small/run.sh
set -euo pipefail
src=data/spoken_digits
dst=data/spoken_digits_small
[ -d $src ] || python -m clar_tf.demo_data --out=$src
if [ ! -f $dst/testing_list.txt ]; then
  python - "$src" "$dst" <<'PY'
import os, sys
src, dst = sys.argv[1:]
held = set()
for name in ("validation_list.txt", "testing_list.txt"):
    with open(os.path.join(src, name)) as f:
        held.update(line.strip() for line in f if line.strip())
speakers = sorted({f.split("_nohash_")[0] for w in os.listdir(src) if not w.startswith("_")
                   and os.path.isdir(os.path.join(src, w)) for f in os.listdir(os.path.join(src, w))
                   if f"{w}/{f}" not in held})
kept = set(speakers[::5])
for root, _, files in os.walk(src):
    rel = os.path.relpath(root, src)
    os.makedirs(os.path.join(dst, rel), exist_ok=True)
    for f in files:
        path = f if rel == "." else f"{rel}/{f}"
        train = f.endswith(".wav") and not rel.startswith("_") and path not in held
        if not train or f.split("_nohash_")[0] in kept:
            os.link(os.path.join(src, path), os.path.join(dst, path))
print(f"{dst}: {len(kept)} of {len(speakers)} training speakers")
PY
fi
SEEDS=${SEEDS:-0 1 2} OUT=results/table2_small exec bash results/table2_variants/run.sh small --manual_dir=$dst \
  --data_dir=data/tfds_small --warmup_epochs=5 --epochs=30 --eval_every=15
