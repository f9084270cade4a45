"""The cell runner: one training run per grid cell, read back when finished.

A *cell* is one training run of an experiment grid (one method, encoder, augmentation
chain, label fraction and seed). `run_cells` trains each cell through
`clar_tf.train.run` in `<out>/runs/<cell name>`; a cell whose `results.json` exists is read
back instead of trained, an interrupted one resumes from its last finished epoch (that
is `train.run`'s own resumption, with its check `run_dir.check_resumable`). All cells of
a process share one `tf.distribute` strategy (`clar_tf.distribute.get_strategy` is cached).
"""
import dataclasses
import gc
import json
import os
import time

from clar_tf import config as config_lib
from clar_tf import run_dir

# Cells need no serving SavedModel: it costs CPU time per cell and the experiments only
# read `results.json` and `linear_eval.csv`.
_NO_EXPORT = {"export": False}


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


def check_model_dir(config):
    """Raises if `config.model_dir` holds a run that `config` may not read back or resume
    (`run_dir.check_resumable`; `model_dir` is where the saved config was found, whatever
    its spelling, relative or absolute `--out`)."""
    run_dir.check_resumable(config, ignore=("model_dir",), advice="use another --out")


def finished_result(config):
    """The saved `results.json` of `config`'s finished run, or None to (re)run it.

    A finished run with another number of epochs is continued (None); any other
    difference (bar `run_dir.RESUMABLE_CHANGES`) raises, like `train.run`.
    """
    results_path = run_dir.path(config.model_dir, run_dir.RESULTS)
    if not os.path.exists(results_path):
        return None
    check_model_dir(config)
    if "epochs" in (run_dir.config_changes(config) or ()):
        return None
    with open(results_path) as f:
        return json.load(f)


def _saved_spelling(config):
    """`config` with the saved run's `model_dir` string when it names the same folder.

    `train.run` refuses to resume a run whose config differs, `model_dir` included; the
    same folder reached as `results/x` and `/abs/results/x` should still resume.
    """
    saved = (run_dir.read_config(config.model_dir) or {}).get("model_dir")
    if saved and os.path.realpath(saved) == os.path.realpath(config.model_dir):
        return config.replace(model_dir=saved)
    return config


def run_cells(cells, log=print, on_cell=None):
    """Runs (or reads back) every cell in order. Returns `[(cell, results dict)]`.

    Progress lines name the cell, its position and how many are left, and whether it was
    trained or read back. `on_cell`, if given, is called with the `[(cell, results)]` so
    far after every cell: the drivers write their CSV there, so that a grid stopped
    midway (a session's end) keeps every finished cell's row.
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
            from clar_tf import input_pipeline, train

            cell_start = time.perf_counter()
            input_pipeline.make_demo_data(cell.config, log)
            result = train.run(_saved_spelling(cell.config))
            trained += 1
            elapsed = time.perf_counter() - cell_start
            log(f"[{i}/{total}] {cell.name}: top-1 {result['top1']:.4f} in {elapsed:.0f} s "
                f"({_eta(time.perf_counter() - start, trained, cells[i:])})")
            gc.collect()
        out.append((cell, result))
        if on_cell is not None:
            on_cell(out)
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
