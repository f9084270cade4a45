#!/usr/bin/env bash
# Issue 38, item 2: Table 1's six rows on both offline domains (spoken_digits: speech,
# gm_notes: music) at cpu_small, seed by seed alternating the domains, so that a run
# stopped midway has whole seeds of both. Each finished cell is appended to
# results/table1/<dataset>/table1.csv at once; rerunning resumes (finished cells are read
# back from results/table1/<dataset>/runs/).
#
#   nohup bash results/table1/two_domains.sh 3 > /tmp/table1.log 2>&1 &
#
# runs seeds 0..2 (36 cells of 10 epochs; about 4 min a cell on two idle cores). A line
# "<dataset> seeds 0..N-1 done" in the log marks a finished seed. Run it from a checkout
# nobody edits meanwhile (see results/table2/more_seeds.sh: autograph re-reads source
# files), with data/ and .venv linked in.
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-3}
py=${PYTHON:-.venv/bin/python}
for n in $(seq 1 "$seeds"); do
  for dataset in spoken_digits gm_notes; do
    "$py" -m clar_tf.experiments.raw_vs_tf --preset=cpu_small --seeds="$n" \
      --dataset="$dataset" --manual_dir="data/$dataset" --data_dir=data/tfds \
      --out="results/table1/$dataset"
    echo "$dataset seeds 0..$((n - 1)) done $(date -u +%FT%TZ)"
  done
done
