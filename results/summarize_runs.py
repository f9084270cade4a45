"""Summarises a folder of extra Table 2 runs (`bash results/*/run.sh`) as CSV and Markdown.

Usage from the repository root (clar_tf pip-installed, `bash setup.sh`):
  python results/summarize_runs.py DIR [GLOB...]
  python results/summarize_runs.py --paired DIR [DIR...]
Groups the finished runs `DIR/runs/<cell>-s<seed>/`, and the run folders GLOB names
(reference cells, e.g. 'results/table2/runs/*-lf1-s*'), by cell; writes DIR/table.csv
(one row per cell, seed and evaluated epoch), DIR/table.md (mean ± std over seeds per
epoch, and each seed's last evaluation) and DIR/paired.csv (each CLAR cell minus the
cross-entropy cell of its setting, seed by seed: `clar_tf.experiments.paired`). The
Markdown starts with DIR/run.sh's comment block. Curves are read and formatted as the
experiment drivers do (`learning_curves.read_curve`, `tables.format_percent`).

`--paired` only rewrites each DIR's paired.csv from the CSV already there (a table2_*
table.csv, results/table2's table2.csv or results/fig5's fig5.csv): no run folder is read
and nothing is trained, so it works on a clone (run folders are not committed).
"""
import collections
import csv
import glob
import json
import os
import re
import sys

from clar_tf.experiments import label_fraction, learning_curves, paired, tables


def main(folder, *references):
    """Writes `folder`/table.csv and table.md; prints the Markdown."""
    curves = collections.defaultdict(dict)  # cell -> seed -> [(epoch, top1)]
    patterns = [os.path.join(folder, "runs", "*")] + list(references)
    for run in sorted(p for pattern in patterns for p in glob.glob(pattern)):
        if not os.path.exists(os.path.join(run, "results.json")):
            continue  # unfinished
        with open(os.path.join(run, "results.json")) as f:
            result = json.load(f)
        cell, seed = re.fullmatch(r"(.+)-s(\d+)", os.path.basename(run)).groups()
        curves[cell][int(seed)] = learning_curves.read_curve(run, result)
    with open(os.path.join(folder, "table.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cell", "seed", "epoch", "top1"])
        for cell, seeds in curves.items():
            for seed, points in sorted(seeds.items()):
                writer.writerows([cell, seed, e, f"{t:.6f}"] for e, t in points)
    with open(os.path.join(folder, "run.sh")) as f:
        header = [line[2:].rstrip() for line in f if line.startswith("# ")]
    rows = []
    for cell, seeds in curves.items():
        epochs = sorted({e for points in seeds.values() for e, _ in points})
        by_epoch = [[dict(points)[e] for points in seeds.values() if e in dict(points)]
                    for e in epochs]
        rows.append([cell, ",".join(map(str, sorted(seeds))),
                     ", ".join(f"{e}: {tables.format_percent(v)}"
                               for e, v in zip(epochs, by_epoch)),
                     " / ".join(f"{100 * points[-1][1]:.1f}"
                                for _, points in sorted(seeds.items()))])
    text = "\n".join([f"# Extra Table 2 runs: {folder}", "", "```", *header, "```", "",
                      "Linear-eval top-1 %, mean ± std over seeds.", ""])
    text += "\n" + tables.markdown_table(
        ["cell", "seeds", "epoch: mean ± std", "per seed (last epoch)"], rows)
    tables.write_text(os.path.join(folder, "table.md"), text)
    paired.write_variants(os.path.join(folder, "table.csv"), label_fraction.PAPER)
    print(text)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--paired"]:
        for directory in sys.argv[2:]:
            print("wrote", paired.write_paired(directory, label_fraction.PAPER))
    else:
        main(*sys.argv[1:])
