"""What every experiment driver shares: presets, the cell runner, CSV/Markdown/plot writers.

A *cell* is one training run of an experiment grid (one method, encoder, augmentation
chain, label fraction and seed). `run_cells` trains each cell through
`clar_tf.train.run` in `<out>/runs/<cell name>`; a cell whose `results.json` exists is read
back instead of trained, an interrupted one resumes from its last finished epoch (that
is `train.run`'s own resumption). All cells of a process share one `tf.distribute`
strategy (`clar_tf.distribute.get_strategy` is cached).

Flags are defined here (`define_flags`) but read only in each driver's `main`.
"""
import csv
import dataclasses
import gc
import json
import math
import os
import time
import warnings

import numpy as np

from clar_tf import config as config_lib

# The paper's six augmentations in the order of §5; noise injection is mixed noise (MN).
SIX_AUGMENTATIONS = ("PS", "MN", "FD", "TM", "TS", "TST")
LABELED_FRACTIONS = (1.0, 0.2, 0.1, 0.01)
METHODS = ("supervised", "supcon", "simclr", "clar")

# Config fields that may differ between a finished cell and the one asked for without
# making its results stale (`train.run` accepts the same ones, plus `epochs`, on resume).
# `model_dir` is where the saved config was found, whatever its spelling (relative or
# absolute `--out`).
_READ_BACK_IGNORES = ("verbose", "eval_every", "model_dir", "export")

# Cells need no serving SavedModel (`Config.export`, where this version has it): it costs
# CPU time per cell and the experiments only read `results.json` and `linear_eval.csv`.
_NO_EXPORT = ({"export": False}
              if "export" in {f.name for f in dataclasses.fields(config_lib.Config)} else {})


@dataclasses.dataclass(frozen=True)
class Preset:
    """Scale of an experiment: dataset, shared `Config` fields and each driver's grid.

    Attributes:
        name: preset name (`--preset`).
        data: default `dataset`, `manual_dir`, `data_dir`.
        config: `Config` fields shared by every cell of every driver.
        experiments: driver name -> dict with that driver's grid (e.g. `encoders`,
            `augmentations`, `rows`, `methods`, `fractions`) and `config`, the `Config`
            fields that override `config` for its cells.
    """
    name: str
    data: dict
    config: dict
    experiments: dict

    def grid(self, experiment):
        """The grid dict of `experiment` (without its `config` overrides)."""
        return {k: v for k, v in self.experiments[experiment].items() if k != "config"}

    def config_kwargs(self, experiment, dataset=None, manual_dir=None, data_dir=None):
        """`Config` keyword arguments shared by the cells of `experiment`.

        `dataset` other than the preset's drops the preset's `manual_dir` (it belongs to
        the preset's dataset); `manual_dir` and `data_dir` override when given.
        """
        data = dict(self.data)
        if dataset and dataset != data["dataset"]:
            data.update(dataset=dataset, manual_dir=None)
        if manual_dir:
            data["manual_dir"] = manual_dir
        if data_dir:
            data["data_dir"] = data_dir
        return {**data, **self.config, **self.experiments[experiment].get("config", {})}


TABLE1_ROWS = (("1d", "FD"), ("1d", "FD+TST"), ("1d", "FD+TST+PS"),
               ("2d", "FD"), ("2d", "FD+TM"), ("2d", "FD+TM+TS"))

PRESETS = {
    # The paper's scale (§3.2, §6-§8): Speech Commands-10, full ResNet18, batch 1024,
    # 1000 epochs, LARS lr 1.0 with 10 warm-up epochs, linear eval every 10 epochs (Fig. 5).
    "paper": Preset(
        name="paper",
        data=dict(dataset="sc10", manual_dir=None, data_dir="data/tfds"),
        config=dict(width=1.0, batch_size=1024, epochs=1000, optimizer="lars",
                    learning_rate=1.0, warmup_epochs=10.0, linear_eval_epochs=100,
                    verbose=2),
        experiments={
            "augmentation_matrix": dict(encoders=("1d", "2d"),
                                        augmentations=SIX_AUGMENTATIONS),
            "raw_vs_tf": dict(rows=TABLE1_ROWS),
            "label_fraction": dict(methods=METHODS, fractions=LABELED_FRACTIONS,
                                   encoder="2d", augment="FD+TM",
                                   config=dict(eval_every=10)),
        }),
    # Two CPU cores, the offline spoken digits (2400 training clips; made on first use).
    # Width 0.25, batch 64 (37 steps/epoch, ~15 s/epoch for 2D on idle cores). Table 2:
    # 13 cells per seed of 6 epochs, linear eval at epochs 3 and 6, at least 8 labeled
    # clips in every batch below 100 % labels; ~150 s per cell, 102 min for 3 seeds.
    "cpu_small": Preset(
        name="cpu_small",
        data=dict(dataset="spoken_digits", manual_dir="data/spoken_digits",
                  data_dir="data/tfds"),
        config=dict(width=0.25, batch_size=64, optimizer="lars", learning_rate=1.0,
                    warmup_epochs=1.0, linear_eval_epochs=100, verbose=2),
        experiments={
            "augmentation_matrix": dict(encoders=("1d", "2d"),
                                        augmentations=SIX_AUGMENTATIONS,
                                        config=dict(epochs=4)),
            "raw_vs_tf": dict(rows=TABLE1_ROWS, config=dict(epochs=10)),
            "label_fraction": dict(methods=METHODS, fractions=LABELED_FRACTIONS,
                                   encoder="2d", augment="FD+TM", min_labeled_per_batch=8,
                                   config=dict(epochs=6, eval_every=3)),
        }),
    # The reduced CPU grids run for issue 14 (the full cpu_small grids of Fig. 4 and
    # Table 1, 72 and 6 cells of 4 and 10 epochs, did not fit a session): Fig. 4 for the
    # 2D encoder on three augmentations (3 x 3 cells), Table 1's six rows, 2 epochs each.
    "cpu_mini": Preset(
        name="cpu_mini",
        data=dict(dataset="spoken_digits", manual_dir="data/spoken_digits",
                  data_dir="data/tfds"),
        config=dict(width=0.25, batch_size=64, optimizer="lars", learning_rate=1.0,
                    warmup_epochs=1.0, linear_eval_epochs=100, verbose=2, epochs=2),
        experiments={
            "augmentation_matrix": dict(encoders=("2d",), augmentations=("FD", "TM", "TS")),
            "raw_vs_tf": dict(rows=TABLE1_ROWS),
            "label_fraction": dict(methods=METHODS, fractions=LABELED_FRACTIONS,
                                   encoder="2d", augment="FD+TM"),
        }),
    # For tests: two or three cells of two 2-step epochs at width 1/4 (the matrix is 1 x 1
    # per encoder; the writers are tested on hand-made full grids). Not width 1/8: the 1D
    # encoder's backward pass segfaults in oneDNN with 8 stem channels (TF 2.20, CPU).
    "tiny": Preset(
        name="tiny",
        data=dict(dataset="spoken_digits", manual_dir="data/spoken_digits",
                  data_dir="data/tfds"),
        config=dict(width=0.25, batch_size=32, epochs=2, steps_per_epoch=2,
                    warmup_epochs=1.0, head_hidden_units=32, projection_units=16,
                    linear_eval_epochs=20, verbose=0),
        experiments={
            "augmentation_matrix": dict(encoders=("1d", "2d"), augmentations=("FD",)),
            "raw_vs_tf": dict(rows=(("1d", "FD"), ("2d", "FD+TM"))),
            "label_fraction": dict(methods=("simclr", "clar"), fractions=(1.0, 0.1),
                                   encoder="2d", augment="FD+TS",
                                   config=dict(eval_every=1)),
        }),
}


def get_preset(name):
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}. Received: preset={name!r}")
    return PRESETS[name]


# ---------------------------------------------------------------------------- cells


@dataclasses.dataclass(frozen=True)
class Cell:
    """One run of a grid: its directory name, its `Config` and its grid coordinates."""
    name: str
    config: config_lib.Config
    keys: dict

    @property
    def model_dir(self):
        return self.config.model_dir


def cell_name(*parts):
    """A directory-safe name from grid coordinates, e.g. `clar-2d-FD_TM-lf0.1-s0`."""
    return "-".join(str(p).replace("+", "_").replace("/", "_") for p in parts if p != "")


def make_cell(out, name, keys, **config_kwargs):
    """A `Cell` training in `<out>/runs/<name>`."""
    model_dir = os.path.join(out, "runs", name)
    return Cell(name=name,
                config=config_lib.Config(model_dir=model_dir,
                                         **{**_NO_EXPORT, **config_kwargs}),
                keys=dict(keys))


def _config_diff(config):
    """Fields in which the run saved in `config.model_dir` differs (None: no run there)."""
    path = os.path.join(config.model_dir, "config.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        old = json.load(f)
    new = dataclasses.asdict(config)
    return sorted(k for k in set(old) | set(new)
                  if old.get(k) != new.get(k) and k not in _READ_BACK_IGNORES)


def check_model_dir(config):
    """Raises if `config.model_dir` holds a run that `config` may not read back or resume."""
    diff = _config_diff(config)
    if diff and diff != ["epochs"]:
        raise ValueError(f"{config.model_dir} holds a run with a different config "
                         f"({', '.join(diff)} differ); use another --out")


def finished_result(config):
    """The saved `results.json` of `config`'s finished run, or None to (re)run it.

    A finished run with another number of epochs is continued (None); any other
    difference (bar verbosity and evaluation frequency) raises, like `train.run`.
    """
    results_path = os.path.join(config.model_dir, "results.json")
    if not os.path.exists(results_path):
        return None
    check_model_dir(config)
    if _config_diff(config) == ["epochs"]:
        return None
    with open(results_path) as f:
        return json.load(f)


def _saved_spelling(config):
    """`config` with the saved run's `model_dir` string when it names the same folder.

    `train.run` refuses to resume a run whose config differs, `model_dir` included; the
    same folder reached as `results/x` and `/abs/results/x` should still resume.
    """
    path = os.path.join(config.model_dir, "config.json")
    if not os.path.exists(path):
        return config
    with open(path) as f:
        saved = json.load(f).get("model_dir")
    if saved and os.path.realpath(saved) == os.path.realpath(config.model_dir):
        return config.replace(model_dir=saved)
    return config


def run_cells(cells, log=print):
    """Runs (or reads back) every cell in order. Returns `[(cell, results dict)]`.

    Progress lines name the cell, its position and how many are left, and whether it was
    trained or read back.
    """
    names = [c.name for c in cells]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate cell names: {sorted(n for n in names if names.count(n) > 1)}")
    for cell in cells:  # fail now, not after hours of other cells
        check_model_dir(cell.config)
    out, total, start = [], len(cells), time.perf_counter()
    trained = 0
    for i, cell in enumerate(cells, 1):
        result = finished_result(cell.config)
        if result is not None:
            log(f"[{i}/{total}] {cell.name}: finished earlier, top-1 {result['top1']:.4f} "
                f"(read back; {total - i} left)")
        else:
            log(f"[{i}/{total}] {cell.name}: training {cell.config.method}-"
                f"{cell.config.encoder} [{cell.config.augment}] for {cell.config.epochs} "
                f"epochs in {cell.model_dir} ({total - i} left after this)")
            # Imported here: presets, writers and reading finished cells need no TensorFlow.
            from clar_tf import train

            cell_start = time.perf_counter()
            result = train.run(_saved_spelling(cell.config))
            trained += 1
            elapsed = time.perf_counter() - cell_start
            log(f"[{i}/{total}] {cell.name}: top-1 {result['top1']:.4f} in {elapsed:.0f} s "
                f"({_eta(time.perf_counter() - start, trained, cells[i:])})")
            gc.collect()
        out.append((cell, result))
    log(f"{total} cells ({trained} trained) in {time.perf_counter() - start:.0f} s")
    return out


def _eta(elapsed, trained, remaining):
    todo = sum(finished_result(c.config) is None for c in remaining)
    if not todo:
        return "none left to train"
    return f"{todo} left to train, about {elapsed / trained * todo / 60:.0f} min"


def seeds_range(seeds):
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1. Received: seeds={seeds}")
    return tuple(range(seeds))


# ---------------------------------------------------------------------------- CSV


def write_csv(path, fieldnames, rows):
    """Writes dict rows; floats (top-1) with six decimals."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.6f}" if isinstance(v, float) and k == "top1" else v
                             for k, v in row.items()})
    return path


def read_csv(path):
    """Rows as dicts of strings, with `top1` as float."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["top1"] = float(row["top1"])
    return rows


# ---------------------------------------------------------------------------- summaries


def mean_std(values):
    """(mean, sample standard deviation with ddof=1, or None for one value)."""
    values = [float(v) for v in values]
    if not values:
        return math.nan, None
    mean = float(np.mean(values))
    return mean, (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def format_percent(values):
    """Top-1 fractions as the paper prints them: `93.1`, or `93.1 ± 0.4` over seeds."""
    mean, std = mean_std(values)
    if math.isnan(mean):
        return "–"
    return f"{100 * mean:.1f}" if std is None else f"{100 * mean:.1f} ± {100 * std:.1f}"


def markdown_table(header, rows):
    """A GitHub Markdown table; `rows` are lists of cells (converted with `str`)."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_text(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def describe(config_kwargs, seeds):
    """One line naming the setting of a driver's cells (for Markdown notes)."""
    c = config_kwargs
    steps = f", {c['steps_per_epoch']} steps/epoch" if c.get("steps_per_epoch") else ""
    return (f"dataset {c['dataset']}, ResNet18 width {c['width']:g}, batch {c['batch_size']}, "
            f"{c['epochs'] if 'epochs' in c else config_lib.Config.epochs} epochs{steps}, "
            f"{c.get('optimizer', 'lars').upper()} lr {c.get('learning_rate', 1.0):g}, "
            f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}")


# ---------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def matrix_with_means(values, labels):
    """Fig. 4's matrix: `[n + 1, n + 1]` with row means, column means and overall mean.

    Args:
        values: dict `(first, second) -> list of top-1` (seeds); `first == second` is the
            single augmentation (the diagonal).
        labels: the n augmentations, in row/column order.
    Returns:
        float array; `[i, j]` the mean over seeds of first=labels[i], second=labels[j]
        (NaN when missing), `[i, n]` the mean of row i (the augmentation applied first),
        `[n, j]` the mean of column j (applied second), `[n, n]` the mean of all n × n cells.
    """
    n = len(labels)
    m = np.full((n + 1, n + 1), np.nan)
    for i, first in enumerate(labels):
        for j, second in enumerate(labels):
            v = values.get((first, second))
            if v:
                m[i, j] = np.mean(v)
    with warnings.catch_warnings():  # all-NaN rows (a grid still running) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        m[:n, n] = np.nanmean(m[:n, :n], axis=1)
        m[n, :n] = np.nanmean(m[:n, :n], axis=0)
        m[n, n] = np.nanmean(m[:n, :n])
    return m


def plot_heatmap(matrix, labels, path, title):
    """Fig. 4 layout: rows = first augmentation, columns = second, means last (in %)."""
    plt = _pyplot()
    n = len(labels)
    pct = 100 * np.asarray(matrix, float)
    finite = pct[np.isfinite(pct)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0, 100)
    if vmax - vmin < 1e-9:
        vmin, vmax = vmin - 1, vmax + 1
    size = 1.2 + 0.75 * (n + 1)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(np.ma.masked_invalid(pct), cmap="viridis", vmin=vmin, vmax=vmax)
    for i in range(n + 1):
        for j in range(n + 1):
            if np.isfinite(pct[i, j]):
                bright = (pct[i, j] - vmin) / (vmax - vmin) > 0.6
                ax.text(j, i, f"{pct[i, j]:.1f}", ha="center", va="center", fontsize=8,
                        color="black" if bright else "white",
                        fontweight="bold" if i == n or j == n else "normal")
    ticks = list(labels) + ["mean"]
    ax.set_xticks(range(n + 1), ticks)
    ax.set_yticks(range(n + 1), ticks)
    ax.axhline(n - 0.5, color="white", linewidth=3)
    ax.axvline(n - 0.5, color="white", linewidth=3)
    ax.set_xlabel("second augmentation")
    ax.set_ylabel("first augmentation")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="top-1 (%)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_curves(panels, path, title, method_labels=None):
    """One panel per key of `panels`: `{panel title: {line label: (epochs, mean, std)}}`."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    method_labels = method_labels or {}
    order = list(dict.fromkeys(label for lines in panels.values() for label in lines))
    colors = {label: f"C{i}" for i, label in enumerate(order)}  # one colour per line label
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4 * max(1, len(panels)), 3.6),
                             sharey=True, squeeze=False)
    for ax, (panel, lines) in zip(axes[0], panels.items()):
        for label, (epochs, mean, std) in lines.items():
            epochs, mean = np.asarray(epochs), 100 * np.asarray(mean)
            ax.plot(epochs, mean, marker="o", markersize=3, color=colors[label],
                    label=method_labels.get(label, label))
            if std is not None and np.any(np.isfinite(std)):
                std = 100 * np.nan_to_num(np.asarray(std))
                ax.fill_between(epochs, mean - std, mean + std, alpha=0.2,
                                color=colors[label])
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("linear-eval top-1 (%)")
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines()}
    axes[0][-1].legend(list(handles.values()), list(handles), fontsize=8, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------- flags


def define_flags(default_out):
    """The flags every driver takes; each driver's `main` reads them."""
    from absl import flags

    flags.DEFINE_enum("preset", "cpu_small", list(PRESETS),
                      "paper: the paper's scale; cpu_small: two CPU cores; tiny: tests.")
    flags.DEFINE_string("out", default_out, "Output folder: CSV/Markdown/PNG, and runs/ "
                        "with one model_dir per cell (re-running resumes).")
    flags.DEFINE_integer("seeds", 1, "Seeds per cell (0..N-1); tables show mean ± std.",
                         lower_bound=1)
    flags.DEFINE_string("dataset", None, "Dataset (default: the preset's).")
    flags.DEFINE_string("manual_dir", None, "The dataset's on-disk layout (default: the "
                        "preset's, for its own dataset).")
    flags.DEFINE_string("data_dir", None, "Prepared TFDS data (default: the preset's).")


def flag_kwargs(flag_values):
    """The common flags as keyword arguments of a driver's `run`."""
    return dict(preset=flag_values.preset, out=flag_values.out, seeds=flag_values.seeds,
                dataset=flag_values.dataset, manual_dir=flag_values.manual_dir,
                data_dir=flag_values.data_dir)


def cli(run, default_out):
    """A driver's command line: defines the common flags, then `run(**flags)`.

    The only place the drivers read absl flags (call it under `__main__`).
    """
    from absl import app, flags

    define_flags(default_out)

    def main(argv):
        if len(argv) > 1:
            raise SystemExit(f"Unexpected arguments: {' '.join(argv[1:])}")
        run(**flag_kwargs(flags.FLAGS))

    app.run(main)
