"""Fig. 5 (§8.2): linear-eval top-1 during training, per method and label fraction.

    python -m clar_tf.experiments.label_fraction --preset=cpu_small --out=results/table2
    python -m clar_tf.experiments.learning_curves --preset=cpu_small \\
        --table2_dir=results/table2 --out=results/fig5

The curves come from the Table-2 runs themselves: each run of `label_fraction` with the
preset's `eval_every` > 0 writes `linear_eval.csv` (epoch, top1) as it trains. This driver
takes the same cells (same preset, seeds and dataset) in `<table2_dir>/runs`: finished
ones are only read, missing or interrupted ones are trained (or resumed) there, so no
cell is ever trained twice and a later `label_fraction` run reads them back. The final
evaluation (`results.json`) is added as the last point when `eval_every` does not divide
the epochs. SimCLR uses no labels; its one curve per seed is drawn in every panel.

Writes `fig5.csv` (method, labeled_fraction, seed, epoch, top1), `fig5.png` with one
panel per fraction, `fig5.md`: the mean curves and the first epoch at which each
method reaches SimCLR's final accuracy, and `paired.csv`: CLAR − SimCLR seed by seed per
fraction and epoch (`paired.write_fig5`).
"""
import collections
import csv
import dataclasses
import os

import numpy as np

from clar_tf import method_registry
from clar_tf.experiments import (cli, label_fraction, paired, plots, presets, runner,
                                 tables)

FIELDS = ("method", "labeled_fraction", "seed", "epoch", "top1")


@dataclasses.dataclass(frozen=True)
class Args(cli.args_class("results/fig5")):
    """The flags: the drivers' and `--table2_dir`."""

    table2_dir: str = "results/table2"


HELP = dict(cli.HELP, table2_dir=("The --out of label_fraction with the same preset and "
                                  "seeds: its runs/ hold the curves."))


def read_curve(model_dir, result):
    """`[(epoch, top1)]` of one run: `linear_eval.csv` (last row per epoch) + final."""
    points = {}
    path = os.path.join(model_dir, "linear_eval.csv")
    if os.path.exists(path):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):  # a resumed epoch may repeat; keep the last
                points[int(row["epoch"])] = float(row["top1"])
    epochs = int(result.get("epochs", 0))
    if epochs and epochs not in points:
        points[epochs] = float(result["top1"])
    return sorted(points.items())


def curve_rows(results, fractions):
    """CSV rows from the Table-2 `[(cell, results)]`; SimCLR repeated per fraction."""
    rows = []
    for cell, result in results:
        keys = cell.keys
        for fraction in ([keys["labeled_fraction"]]
                         if keys["labeled_fraction"] is not None else fractions):
            for epoch, top1 in read_curve(cell.model_dir, result):
                rows.append(dict(method=keys["method"], labeled_fraction=float(fraction),
                                 seed=keys["seed"], epoch=epoch, top1=top1))
    return rows


def mean_curves(rows):
    """{(fraction, method): {epoch: mean top-1 over seeds}} of `fig5.csv` rows."""
    by = collections.defaultdict(lambda: collections.defaultdict(list))
    for row in rows:
        by[(float(row["labeled_fraction"]), row["method"])][int(row["epoch"])].append(
            float(row["top1"]))
    return {k: {e: float(np.mean(v)) for e, v in sorted(c.items())} for k, c in by.items()}


def speed_markdown(rows):
    """Markdown: per fraction and method, the mean curve and the first evaluated epoch at
    which the method's mean reaches SimCLR's final mean (the paper's "CLAR learns faster
    than SimCLR", §8.2). Empty when there is no SimCLR curve."""
    curves = mean_curves(rows)
    simclr = [c for (f, m), c in curves.items() if m == "simclr"]
    if not simclr:
        return ""
    final_epoch = max(simclr[0])
    target = simclr[0][final_epoch]
    epochs = sorted({e for c in curves.values() for e in c})
    header = (["labeled", "method"] + [f"epoch {e}" for e in epochs]
              + [f"first epoch ≥ SimCLR's final {100 * target:.1f}"])
    lines = []
    for fraction in sorted({f for f, _ in curves}, reverse=True):
        for method in [m for m in presets.METHODS if (fraction, m) in curves]:
            curve = curves[(fraction, method)]
            reached = next((e for e in sorted(curve) if curve[e] >= target), None)
            lines.append([f"{100 * fraction:g}%", method_registry.get(method).title]
                         + [f"{100 * curve[e]:.1f}" if e in curve else "–" for e in epochs]
                         + ["not reached" if reached is None
                            else f"{reached} of {final_epoch}"])
    return ("# Fig. 5: mean linear-eval top-1 (%) over seeds during training\n\n"
            + tables.markdown_table(header, lines))


def write_plot(csv_path, png_path, note=""):
    """`fig5.png`: a panel per fraction, a line per method (mean over seeds, ± std)."""
    rows = tables.read_csv(csv_path)
    by = collections.defaultdict(lambda: collections.defaultdict(list))
    for row in rows:
        by[(float(row["labeled_fraction"]), row["method"])][int(row["epoch"])].append(
            row["top1"])
    panels = {}
    for fraction in sorted({f for f, _ in by}, reverse=True):
        lines = {}
        for method in ([m for m in presets.METHODS if (fraction, m) in by]
                       + sorted(m for f, m in by if f == fraction
                                and m not in presets.METHODS)):
            epochs = sorted(by[(fraction, method)])
            stats = [tables.mean_std(by[(fraction, method)][e]) for e in epochs]
            std = [s if s is not None else np.nan for _, s in stats]
            lines[method] = (epochs, [m for m, _ in stats],
                             None if np.all(np.isnan(std)) else std)
        panels[f"{100 * fraction:g}% labeled"] = lines
    names = {m.name: m.title for m in method_registry.METHODS}
    title = ("Linear-eval top-1 during training (pre-training with a fraction of the "
             "labels; evaluation head on all)") + (f"\n{note}" if note else "")
    return plots.plot_curves(panels, png_path, title, names)


def run(preset="cpu_small", out="results/fig5", seeds=1, dataset=None, manual_dir=None,
        data_dir=None, table2_dir="results/table2", log=print):
    """Reads (or completes) the Table-2 runs in `table2_dir`; writes `fig5.csv`/`.png`."""
    data = dict(dataset=dataset, manual_dir=manual_dir, data_dir=data_dir)
    cells = label_fraction.cells(preset, table2_dir, seeds, **data)
    if any(c.config.eval_every == 0 for c in cells):
        log(f"preset {preset} has eval_every=0: curves hold only the final evaluation")
    results = runner.run_cells(cells, log=log)
    p = presets.get_preset(preset)
    rows = curve_rows(results, p.grid(label_fraction.EXPERIMENT)["fractions"])
    csv_path = tables.write_csv(os.path.join(out, "fig5.csv"), FIELDS, rows)
    kwargs = p.config_kwargs(label_fraction.EXPERIMENT, **data)
    png = write_plot(csv_path, os.path.join(out, "fig5.png"),
                     f"preset {preset}: {tables.describe(kwargs, runner.seeds_range(seeds))}")
    md = tables.write_text(os.path.join(out, "fig5.md"),
                           speed_markdown(tables.read_csv(csv_path)))
    pairs = paired.write_fig5(csv_path, label_fraction.PAPER)
    log(f"wrote {csv_path}, {png}, {md} and {pairs}")
    return rows


if __name__ == "__main__":
    cli.main(Args, run, HELP)
