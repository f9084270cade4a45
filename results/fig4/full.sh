#!/usr/bin/env bash
# Issue 38, item 3: Fig. 4 in full at cpu_mini: every ordered pair of the paper's six
# augmentations (PS, MN, FD, TM, TS, TST; the diagonal = one augmentation alone), SimCLR,
# for the 1D and the 2D encoder: 72 cells a seed of 2 epochs, about 2.5 min each on two
# idle cores (3 h a seed). Seed by seed: each finished cell is written to
# results/fig4/full/fig4.csv at once, and rerunning resumes (finished cells are read
# back from results/fig4/full/runs/), so the work can stretch over several sessions.
#
#   nohup bash results/fig4/full.sh 2 > /tmp/fig4.log 2>&1 &
#
# runs seeds 0..1; "seeds 0..N-1 done" in the log marks a finished seed. The heat-maps
# (fig4_1d.png, fig4_2d.png) are redrawn after each seed. Run it from a checkout nobody
# edits meanwhile (see results/table2/more_seeds.sh), with data/ and .venv linked in, and
# one experiment at a time.
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-2}
py=${PYTHON:-.venv/bin/python}
for n in $(seq 1 "$seeds"); do
  "$py" -m clar_tf.experiments.augmentation_matrix --preset=cpu_mini --seeds="$n" \
    --out=results/fig4/full
  echo "seeds 0..$((n - 1)) done $(date -u +%FT%TZ)"
done
