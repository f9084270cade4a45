#!/usr/bin/env bash
# Issue 35, item 3: more seeds for the Table 2 comparisons still undecided at 5 seeds
# (CLAR - CE at 100 % and 20 %; CLAR - SimCLR and SupCon - CE at 1 %), one seed at a
# time, each finished seed merged into table2.csv and paired.csv. Seed 5 ran all four
# methods at 1 % (LOW_METHODS=clar,simclr,supcon,supervised); with it SupCon - CE at 1 %
# was decided (6 seeds), so from seed 6 on the 1 % cells are CLAR and SimCLR only (the
# default): 6 runs a seed. With seed 7 CLAR - CE was decided at 100 % and 20 % (8 seeds),
# so from seed 8 on only CLAR - SimCLR at 1 % is left: HIGH=0, 2 runs a seed.
#
#   nohup bash results/table2/more_seeds.sh 5 11 > /tmp/more_seeds.log 2>&1 &
#
# runs seeds 5..11 (about 20 min a seed on two idle cores). Rerunning resumes: finished
# cells are read back from results/table2/runs/. Commit table2.csv, table2.md and
# paired.csv after every finished seed (a line "seed N done" in the log).
# Run it from a checkout nobody edits meanwhile, e.g. `git worktree add ../seeds HEAD`
# (with data/ and .venv linked in): TensorFlow's autograph reads a function's source
# file again when it traces it, so an edit under a running job can break its next cell.
set -euo pipefail
cd "$(dirname "$0")/../.."
first=${1:?first seed}
last=${2:-$first}
py=${PYTHON:-.venv/bin/python}
run() { "$py" -m clar_tf.experiments.label_fraction --preset=cpu_small --out=results/table2 "$@"; }
for seed in $(seq "$first" "$last"); do
  if [ "${HIGH:-1}" != 0 ]; then  # HIGH=0: CLAR - CE at 100 % and 20 % decided (seed 7)
    run --methods=clar,supervised --fractions=1,0.2 --first_seed="$seed" --seeds=1
  fi
  run --methods="${LOW_METHODS:-clar,simclr}" --fractions=0.01 --first_seed="$seed" --seeds=1
  echo "seed $seed done $(date -u +%FT%TZ)"
done
