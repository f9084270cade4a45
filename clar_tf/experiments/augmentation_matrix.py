"""Fig. 4 (§6): SimCLR with every single augmentation and every ordered pair, 1D and 2D.

    python -m clar_tf.experiments.augmentation_matrix --preset=cpu_small --out=results/fig4

For each encoder, each augmentation alone (the diagonal) and each ordered pair (row =
applied first, column = applied second) of the paper's six — PS, noise injection (MN,
mixed white/brown/pink noise), FD, TM, TS, TST — pre-trains SimCLR and scores the frozen
encoder by linear evaluation. Writes `fig4.csv` (encoder, first, second, seed, top1; a
single augmentation has first == second) and `fig4_<encoder>.png`, the paper's layout:
the matrix, its row means as a last column (the augmentation applied first), its column
means as a last row (applied second) and the mean of all cells at the bottom right.
"""
import collections
import os

from clar_tf.experiments import cli, plots, presets, runner, tables

EXPERIMENT = "augmentation_matrix"
FIELDS = ("encoder", "first", "second", "seed", "top1")

# The flags: `python -m clar_tf.experiments.augmentation_matrix --help`.
Args = cli.args_class("results/fig4")


def augment_spec(first, second):
    """The `augment` string of a matrix cell: one augmentation on the diagonal."""
    return first if first == second else f"{first}+{second}"


def cells(preset, out, seeds, **data):
    """The grid: seeds × encoders × augmentations × augmentations (SimCLR), seed by seed,
    so that a grid stopped midway has whole seeds first."""
    preset = presets.get_preset(preset)
    grid = preset.grid(EXPERIMENT)
    kwargs = preset.config_kwargs(EXPERIMENT, **data)
    result = []
    for seed in runner.seeds_range(seeds):
        for encoder in grid["encoders"]:
            for first in grid["augmentations"]:
                for second in grid["augmentations"]:
                    spec = augment_spec(first, second)
                    name = runner.cell_name("simclr", encoder, spec, f"s{seed}")
                    result.append(runner.make_cell(
                        out, name, dict(encoder=encoder, first=first, second=second,
                                        seed=seed),
                        **{**kwargs, "method": "simclr", "encoder": encoder,
                           "augment": spec, "seed": seed}))
    return result


def write_outputs(csv_path, out, augmentations=None, note=""):
    """Heat-map PNG per encoder in `csv_path`. Returns `{encoder: (matrix, png path)}`.

    `augmentations` orders rows and columns (default: the paper's six, then any others in
    order of appearance).
    """
    rows = tables.read_csv(csv_path)
    values = collections.defaultdict(lambda: collections.defaultdict(list))
    seen = []
    for row in rows:
        second = row["second"] or row["first"]
        values[row["encoder"]][(row["first"], second)].append(row["top1"])
        for a in (row["first"], second):
            if a not in seen:
                seen.append(a)
    if augmentations is None:
        augmentations = ([a for a in presets.SIX_AUGMENTATIONS if a in seen]
                         + [a for a in seen if a not in presets.SIX_AUGMENTATIONS])
    written = {}
    for encoder in sorted(values):
        matrix = plots.matrix_with_means(values[encoder], augmentations)
        title = (f"SimCLR, {encoder.upper()} encoder: linear-eval top-1 (%), "
                 "row = first, column = second" + (f"\n{note}" if note else ""))
        png = plots.plot_heatmap(matrix, augmentations,
                                  os.path.join(out, f"fig4_{encoder}.png"), title)
        written[encoder] = (matrix, png)
    return written


def run(preset="cpu_small", out="results/fig4", seeds=1, dataset=None, manual_dir=None,
        data_dir=None, log=print):
    """Trains (or reads back) the grid and writes `fig4.csv` and the heat-maps."""
    data = dict(dataset=dataset, manual_dir=manual_dir, data_dir=data_dir)
    grid = cells(preset, out, seeds, **data)
    csv_path = os.path.join(out, "fig4.csv")

    def write_csv(results):  # after every cell: a stopped grid keeps its finished rows
        rows = [{**cell.keys, "top1": float(result["top1"])} for cell, result in results]
        tables.write_csv(csv_path, FIELDS, rows)
        return rows

    rows = write_csv(runner.run_cells(grid, log=log, on_cell=write_csv))
    p = presets.get_preset(preset)
    note = tables.describe(p.config_kwargs(EXPERIMENT, **data), runner.seeds_range(seeds))
    written = write_outputs(csv_path, out, p.grid(EXPERIMENT)["augmentations"], note)
    log(f"wrote {csv_path} and {', '.join(png for _, png in written.values())}")
    return rows


if __name__ == "__main__":
    cli.main(Args, run)
