"""Summarises a folder of extra Table 2 runs (`bash results/*/run.sh`) as CSV and Markdown.

Usage from the repository root:
  python results/summarize_runs.py DIR [GLOB...]
Groups `DIR/runs/<cell>-s<seed>/linear_eval.csv`, and the run folders GLOB names (reference
cells, e.g. 'results/table2/runs/*-lf1-s*'), by cell; writes DIR/table.csv (one row
per cell, seed and evaluated epoch) and DIR/table.md (mean ± std over seeds per epoch, and
each seed's last evaluation). The Markdown starts with DIR/run.sh's comment block.
"""
import collections
import csv
import glob
import os
import re
import sys

import numpy as np


def main(folder, *references):
    """Writes `folder`/table.csv and table.md; prints the Markdown."""
    curves = collections.defaultdict(dict)  # cell -> seed -> [(epoch, top1)]
    paths = [os.path.join(folder, "runs", "*", "linear_eval.csv")]
    paths += [os.path.join(r, "linear_eval.csv") for r in references]
    for path in sorted(p for pattern in paths for p in glob.glob(pattern)):
        cell, seed = re.fullmatch(r"(.+)-s(\d+)", os.path.basename(os.path.dirname(path))).groups()
        with open(path) as f:
            curves[cell][int(seed)] = [(int(r["epoch"]), float(r["top1"])) for r in csv.DictReader(f)]
    with open(os.path.join(folder, "table.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cell", "seed", "epoch", "top1"])
        for cell, seeds in curves.items():
            for seed, rows in sorted(seeds.items()):
                writer.writerows([cell, seed, e, f"{t:.6f}"] for e, t in rows)
    with open(os.path.join(folder, "run.sh")) as f:
        header = [line[2:].rstrip() for line in f if line.startswith("# ")]
    lines = [f"# Extra Table 2 runs: {folder}", "", "```", "\n".join(header), "```", "",
             "Linear-eval top-1 %, mean ± std over the seeds that finished every evaluation.", "",
             "| cell | seeds | epoch: mean ± std | per seed (last epoch) |",
             "|---|---|---|---|"]
    for cell, seeds in curves.items():
        last = max(len(rows) for rows in seeds.values())
        done = {s: rows for s, rows in sorted(seeds.items()) if len(rows) == last}
        table = np.array([[t for _, t in rows] for rows in done.values()]) * 100
        epochs = [e for e, _ in next(iter(done.values()))]
        means = ", ".join(f"{e}: {m:.1f} ± {s:.1f}" for e, m, s in
                          zip(epochs, table.mean(0), table.std(0, ddof=1) if len(done) > 1 else [0] * len(epochs)))
        per_seed = " / ".join(f"{v:.1f}" for v in table[:, -1])
        lines.append(f"| {cell} | {','.join(map(str, done))} | {means} | {per_seed} |")
    with open(os.path.join(folder, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:])
