"""Table 2 (§8.1): supervised, SupCon, SimCLR and CLAR with 100/20/10/1 % of the labels.

    python -m clar_tf.experiments.label_fraction --preset=cpu_small --out=results/table2

Every method trains the 2D encoder with the best chain of Table 1 (FD+TM) for the same
number of epochs, seeing the labels of only a fraction of the training clips (the rest
are -1, the same clips for every method of a seed); the frozen encoder is then scored by
linear evaluation with ALL labels. SimCLR uses no labels, so it runs once per seed and its
result fills every fraction's column, as in the paper. With the preset's `eval_every`,
every run also records its Fig. 5 learning curve (`linear_eval.csv`), which
`learning_curves` reads from `<out>/runs` without training again.

Writes `table2.csv` (method, encoder, labeled_fraction, seed, top1; SimCLR's row repeated
per fraction), `table2.md`, side by side with the paper's numbers, and `paired.csv`: the
16 seed-by-seed comparisons with intervals and verdicts (`paired.write_table2`).

More seeds for some cells only (the comparisons still undecided), one seed at a time:

    python -m clar_tf.experiments.label_fraction --preset=cpu_small --out=results/table2 \
        --methods=clar,supervised --fractions=1,0.2 --first_seed=5 --seeds=1

A selection (`--methods`, `--fractions` or `--first_seed`) adds its rows to the existing
`table2.csv` (a row of the same method, fraction and seed is replaced) instead of
rewriting it; `paired.csv` then pairs each comparison on the seeds both methods have.
"""
import collections
import dataclasses
import os
from typing import Optional

from clar_tf import method_registry
from clar_tf.experiments import cli, paired, presets, runner, tables

EXPERIMENT = "label_fraction"
FIELDS = ("method", "encoder", "labeled_fraction", "seed", "top1")

# Table 2 (top-1 %, SC-10, ResNet18 2D, 1000 epochs); SimCLR uses no labels.
PAPER = {
    "supervised": {1.0: 94.9, 0.2: 86.4, 0.1: 68.4, 0.01: 28.6},
    "supcon": {1.0: 96.0, 0.2: 87.9, 0.1: 82.1, 0.01: 26.6},
    "simclr": {1.0: 84.8, 0.2: 84.8, 0.1: 84.8, 0.01: 84.8},
    "clar": {1.0: 96.1, 0.2: 90.5, 0.1: 89.1, 0.01: 77.9},
}


@dataclasses.dataclass(frozen=True)
class Args(cli.args_class("results/table2")):
    """The flags: `python -m clar_tf.experiments.label_fraction --help`."""

    methods: Optional[tuple[str, ...]] = None
    fractions: Optional[tuple[float, ...]] = None
    first_seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        select(presets.get_preset(self.preset).grid(EXPERIMENT), self.methods,
               self.fractions)
        if self.first_seed < 0:
            raise ValueError(f"first_seed must be >= 0. Received: first_seed={self.first_seed}")


HELP = {**cli.HELP,
        "seeds": "Seeds per cell (first_seed .. first_seed+N-1); tables show mean ± std.",
        "methods": "Only these methods of the preset's grid (default: all).",
        "fractions": "Only these label fractions of the preset's grid (default: all).",
        "first_seed": "The first seed (default 0): --first_seed=5 --seeds=1 runs seed 5."}


def select(grid, methods=None, fractions=None):
    """(methods, fractions) of `grid` kept by a selection (None: all), in the grid's
    order. Raises ValueError naming a method or fraction the grid does not have."""
    for name, chosen, allowed in (("methods", methods, grid["methods"]),
                                  ("fractions", fractions, grid["fractions"])):
        unknown = [c for c in chosen or () if c not in allowed]
        if unknown or (chosen is not None and not chosen):
            raise ValueError(f"{name} must be some of {', '.join(map(str, allowed))}. "
                             f"Received: {name}={','.join(map(str, chosen))}")
    return (tuple(m for m in grid["methods"] if methods is None or m in methods),
            tuple(f for f in grid["fractions"] if fractions is None or f in fractions))


def cells(preset, out, seeds, methods=None, fractions=None, first_seed=0, **data):
    """One cell per (fraction, method, seed) of the selection (`select`; seeds
    `first_seed` .. `first_seed + seeds - 1`), a method without labels (SimCLR) once per
    seed; by fraction first."""
    preset = presets.get_preset(preset)
    grid = preset.grid(EXPERIMENT)
    kwargs = {**preset.config_kwargs(EXPERIMENT, **data), "encoder": grid["encoder"],
              "augment": grid["augment"]}
    methods, fractions = select(grid, methods, fractions)
    result = []
    for seed in (first_seed + s for s in runner.seeds_range(seeds)):
        for fraction in fractions:
            for method in methods:
                if not method_registry.get(method).needs_labels:
                    if fraction != fractions[0]:
                        continue
                    name = runner.cell_name(method, grid["encoder"], grid["augment"],
                                            f"s{seed}")
                    keys = dict(method=method, encoder=grid["encoder"],
                                labeled_fraction=None, seed=seed)
                    fraction_kwargs = dict(labeled_fraction=1.0)  # labels unused
                else:
                    name = runner.cell_name(method, grid["encoder"], grid["augment"],
                                            f"lf{fraction:g}", f"s{seed}")
                    keys = dict(method=method, encoder=grid["encoder"],
                                labeled_fraction=float(fraction), seed=seed)
                    fraction_kwargs = dict(labeled_fraction=float(fraction),
                                           labeled_per_batch=labeled_per_batch(
                                               fraction, kwargs["batch_size"],
                                               grid.get("min_labeled_per_batch", 0)))
                result.append(runner.make_cell(out, name, keys,
                                               **{**kwargs, **fraction_kwargs,
                                                  "method": method, "seed": seed}))
    return result


def labeled_per_batch(fraction, batch_size, minimum):
    """Labeled clips per batch of a cell: the random batch's expected count
    round(fraction * batch_size), raised to `minimum` (stratified per-batch sampling,
    §4); 0 (plain random batches) when every clip is labeled or `minimum` is 0."""
    if fraction >= 1.0 or not minimum:
        return 0
    return min(batch_size - 1, max(minimum, round(fraction * batch_size)))


def table_rows(results, fractions):
    """CSV rows from `[(cell, results)]`; a label-free cell is repeated per fraction."""
    rows = []
    for cell, result in results:
        top1 = float(result["top1"])
        for fraction in ([cell.keys["labeled_fraction"]]
                         if cell.keys["labeled_fraction"] is not None else fractions):
            rows.append({**cell.keys, "labeled_fraction": float(fraction), "top1": top1})
    return rows


def markdown(rows, dataset="this run", note=""):
    """Table 2 as Markdown: methods × fractions, ours next to the paper's per fraction."""
    values = collections.defaultdict(list)
    for row in rows:
        values[(row["method"], float(row["labeled_fraction"]))].append(row["top1"])
    fractions = sorted({f for _, f in values}, reverse=True)
    methods = ([m for m in presets.METHODS if any(k[0] == m for k in values)]
               + sorted({m for m, _ in values} - set(presets.METHODS)))
    header = ["Method", "Type"]
    for f in fractions:
        header += [f"{100 * f:g}% ({dataset})", f"{100 * f:g}% (paper)"]
    table = []
    for method in methods:
        entry = method_registry.BY_NAME.get(method)
        name, kind = (entry.title, entry.kind) if entry else (method, "")
        line = [name, kind]
        for f in fractions:
            paper = PAPER.get(method, {}).get(f)
            line += [tables.format_percent(values.get((method, f), [])),
                     "–" if paper is None else f"{paper:.1f}"]
        table.append(line)
    text = ("# Table 2: linear-eval top-1 (%) with a fraction of the labels in training "
            "(evaluation head trained on all labels)\n\n")
    if note:
        text += note + "\n\n"
    return text + tables.markdown_table(header, table)


def merge(old, new):
    """`old` rows with those of `new` added; a row of `new` replaces the `old` row of the
    same method, labeled fraction and seed (in its place)."""
    key = lambda r: (r["method"], float(r["labeled_fraction"]), int(r["seed"]))  # noqa: E731
    replace = {key(r): r for r in new}
    rows = [replace.pop(key(r), r) for r in old]
    return rows + [r for r in new if key(r) in replace]


def seeds_note(rows):
    """"5 seeds", or "5-12 seeds per cell" when cells have different numbers of seeds."""
    counts = collections.Counter((r["method"], float(r["labeled_fraction"])) for r in rows)
    lo, hi = min(counts.values()), max(counts.values())
    return f"{lo} seed{'s' if lo > 1 else ''}" if lo == hi else f"{lo}-{hi} seeds per cell"


def run(preset="cpu_small", out="results/table2", seeds=1, dataset=None, manual_dir=None,
        data_dir=None, methods=None, fractions=None, first_seed=0, log=print):
    """Trains (or reads back) the grid, or its selection (`cells`); writes `table2.csv`
    (a selection's rows merged into the existing one: `merge`), `table2.md`, `paired.csv`.
    Returns all the rows of `table2.csv`."""
    data = dict(dataset=dataset, manual_dir=manual_dir, data_dir=data_dir)
    p = presets.get_preset(preset)
    csv_path = os.path.join(out, "table2.csv")
    old = (tables.read_csv(csv_path) if (methods, fractions, first_seed) != (None, None, 0)
           and os.path.exists(csv_path) else [])

    def write_csv(results):  # after every cell: a stopped grid keeps its finished rows
        rows = merge(old, table_rows(results, p.grid(EXPERIMENT)["fractions"]))
        tables.write_csv(csv_path, FIELDS, rows)
        return rows

    rows = write_csv(runner.run_cells(cells(preset, out, seeds, methods, fractions,
                                            first_seed, **data), log=log, on_cell=write_csv))
    kwargs = p.config_kwargs(EXPERIMENT, **data)
    grid = p.grid(EXPERIMENT)
    note = (f"Preset `{preset}`: {grid['encoder'].upper()} encoder, {grid['augment']}, "
            f"{tables.describe(kwargs)}, {seeds_note(rows)}; mean ± std over seeds "
            "when several. Paper: Speech Commands-10, width 1, batch 1024, 1000 epochs.")
    md = tables.write_text(os.path.join(out, "table2.md"),
                           markdown(tables.read_csv(csv_path), kwargs["dataset"], note))
    pairs = paired.write_table2(csv_path, PAPER)
    log(f"wrote {csv_path}, {md} and {pairs}")
    return rows


if __name__ == "__main__":
    cli.main(Args, run, HELP)
