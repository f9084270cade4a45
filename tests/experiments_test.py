"""Experiment drivers: grids, resumption, writers (against hand computations), end to end.

The end-to-end tests run each driver's `tiny` preset on a tiny spoken-digits set (two or
three cells of two 2-step epochs); the writers are checked on hand-made CSVs of the full
grids, with means and standard deviations computed here independently.
"""
import csv
import json
import os
import statistics
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from clar_tf import config as config_lib
from clar_tf import train
from clar_tf.experiments import (augmentation_matrix, label_fraction,
                                 learning_curves, presets, raw_vs_tf, runner, tables)
from testing import spoken_digits

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIX = ("PS", "MN", "FD", "TM", "TS", "TST")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return spoken_digits(tmp_path_factory.mktemp("digits"), 60)


@pytest.fixture(scope="module")
def table2(digits, tmp_path_factory):
    """The tiny Table-2 grid, trained once for the tests below."""
    out = str(tmp_path_factory.mktemp("table2"))
    rows = label_fraction.run("tiny", out, 1, **digits)
    return out, rows


def _forbid_training(monkeypatch):
    def fail(config):
        raise AssertionError(f"trained {config.model_dir} again")
    monkeypatch.setattr(train, "run", fail)


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _markdown_rows(text):
    """{first cell: [cells]} of the Markdown table in `text` (header row included)."""
    lines = [l for l in text.splitlines() if l.startswith("|") and not l.startswith("|---")]
    return {cells[0]: cells for cells in
            ([c.strip() for c in l.strip("|").split("|")] for l in lines)}


def _png_ok(path):
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.01  # not blank


# ---------------------------------------------------------------------------- grids


def test_table2_grid_runs_simclr_once_per_seed():
    cells = label_fraction.cells("cpu_small", "OUT", seeds=2)
    assert len(cells) == 2 * 13  # 4 methods x 4 fractions, SimCLR once
    names = [c.name for c in cells]
    assert len(set(names)) == len(names)
    simclr = [c for c in cells if c.config.method == "simclr"]
    assert [c.config.seed for c in simclr] == [0, 1]
    assert all(c.keys["labeled_fraction"] is None for c in simclr)
    for c in cells:
        assert c.model_dir == os.path.join("OUT", "runs", c.name)
        assert (c.config.encoder, c.config.augment, c.config.dataset) == ("2d", "FD+TM",
                                                                           "spoken_digits")
        assert c.config.epochs == cells[0].config.epochs  # same epochs for every method
        assert c.config.eval_every > 0 and c.config.epochs % c.config.eval_every == 0
    fractions = {(c.config.method, c.config.labeled_fraction) for c in cells
                 if c.config.method != "simclr"}
    assert fractions == {(m, f) for m in ("supervised", "supcon", "clar")
                         for f in (1.0, 0.2, 0.1, 0.01)}
    assert "clar-2d-FD_TM-lf0.01-s1" in names


def test_table2_selection_of_methods_fractions_and_seeds():
    cells = label_fraction.cells("cpu_small", "OUT", 2, ("clar", "supervised"), (1.0, 0.2),
                                 first_seed=5)
    assert [(c.keys["method"], c.keys["labeled_fraction"], c.config.seed) for c in cells] == [
        (m, f, s) for s in (5, 6) for f in (1.0, 0.2) for m in ("supervised", "clar")]
    low = label_fraction.cells("cpu_small", "OUT", 1, ("clar", "simclr", "supcon",
                                                      "supervised"), (0.01,), 7)
    assert [c.name for c in low] == ["supervised-2d-FD_TM-lf0.01-s7", "supcon-2d-FD_TM-lf0.01-s7",
                                     "simclr-2d-FD_TM-s7", "clar-2d-FD_TM-lf0.01-s7"]
    # The same cells as the full grid's, seed for seed (same names, same configs).
    full = {c.name: c.config for c in label_fraction.cells("cpu_small", "OUT", 8)}
    assert all(full[c.name] == c.config for c in cells + low)
    for bad, match in (({"methods": ("clar", "byol")}, "methods must be some of"),
                       ({"fractions": (0.5,)}, "fractions must be some of"),
                       ({"methods": ()}, "methods must be some of")):
        with pytest.raises(ValueError, match=match):
            label_fraction.cells("cpu_small", "OUT", 1, **bad)
    args = label_fraction.Args(methods=("clar",), fractions=(0.01,), first_seed=5)
    assert (args.out, args.seeds) == ("results/table2", 1)
    with pytest.raises(ValueError, match="first_seed must be >= 0"):
        label_fraction.Args(first_seed=-1)


def test_table2_selection_merges_into_the_existing_rows():
    row = lambda m, f, s, v: dict(method=m, encoder="2d", labeled_fraction=f, seed=s,  # noqa
                                  top1=v)
    old = [row("clar", "1.0", "0", 0.9), row("clar", "1.0", "1", 0.8),
           row("simclr", "1.0", "0", 0.7)]
    new = [row("clar", 1.0, 1, 0.85), row("clar", 1.0, 5, 0.95)]
    assert label_fraction.merge(old, new) == [old[0], new[0], old[2], new[1]]
    assert label_fraction.seeds_note(old) == "1-2 seeds per cell"
    assert label_fraction.seeds_note(old[:1] + old[2:]) == "1 seed"


def test_matrix_and_table1_grids():
    cells = augmentation_matrix.cells("cpu_small", "OUT", seeds=1)
    assert len(cells) == 2 * 36
    specs = {(c.config.encoder, c.config.augment) for c in cells}
    assert ("1d", "PS") in specs and ("2d", "TST+MN") in specs and ("2d", "MN+TST") in specs
    assert all(c.config.method == "simclr" for c in cells)
    assert [(c.keys["first"], c.keys["second"]) for c in cells[:7]] == (
        [("PS", s) for s in SIX] + [("MN", "PS")])
    rows = [(c.config.encoder, c.config.augment)
            for c in raw_vs_tf.cells("cpu_small", "OUT", seeds=1)]
    assert rows == [("1d", "FD"), ("1d", "FD+TST"), ("1d", "FD+TST+PS"),
                    ("2d", "FD"), ("2d", "FD+TM"), ("2d", "FD+TM+TS")]


def test_presets():
    paper = label_fraction.cells("paper", "OUT", 1)[0].config
    assert (paper.epochs, paper.batch_size, paper.width, paper.eval_every,
            paper.dataset) == (1000, 1024, 1.0, 10, "sc10")
    small = label_fraction.cells("cpu_small", "OUT", 1)[0].config
    assert (small.batch_size, small.width) == (64, 0.25)
    other = label_fraction.cells("cpu_small", "OUT", 1, dataset="sc10", data_dir="/d")[0]
    assert (other.config.dataset, other.config.manual_dir, other.config.data_dir) == (
        "sc10", None, "/d")
    with pytest.raises(ValueError, match="preset"):
        presets.get_preset("huge")


def test_label_fraction_cells_sample_labeled_clips_per_batch():
    # round(f * 64) labeled clips per batch, at least the preset's minimum of 8.
    assert label_fraction.labeled_per_batch(0.01, 64, 8) == 8
    assert label_fraction.labeled_per_batch(0.1, 64, 8) == 8
    assert label_fraction.labeled_per_batch(0.2, 64, 8) == 13
    assert label_fraction.labeled_per_batch(1.0, 64, 8) == 0
    assert label_fraction.labeled_per_batch(0.01, 64, 0) == 0
    grid = label_fraction.cells("cpu_small", "OUT", 1)
    by = {(c.keys["method"], c.keys["labeled_fraction"]): c.config for c in grid}
    assert by[("clar", 0.01)].labeled_per_batch == 8
    assert by[("supervised", 0.2)].labeled_per_batch == 13
    assert by[("clar", 1.0)].labeled_per_batch == 0
    assert by[("simclr", None)].labeled_per_batch == 0


def test_finished_result_reads_back_continues_or_refuses(tmp_path):
    config = config_lib.Config(model_dir=str(tmp_path), dataset="spoken_digits", epochs=4)
    assert runner.finished_result(config) is None  # nothing there yet
    (tmp_path / "config.json").write_text(config.to_json())
    assert runner.finished_result(config) is None  # started, not finished
    (tmp_path / "results.json").write_text(json.dumps({"top1": 0.5}))
    assert runner.finished_result(config)["top1"] == 0.5
    assert runner.finished_result(config.replace(verbose=0, eval_every=3))["top1"] == 0.5
    moved = config.replace(model_dir=os.path.relpath(tmp_path))  # same folder, other spelling
    assert runner.finished_result(moved)["top1"] == 0.5
    assert runner._saved_spelling(moved) == config
    assert runner.finished_result(config.replace(epochs=8)) is None  # train.run continues
    with pytest.raises(ValueError, match="width differ"):
        runner.finished_result(config.replace(width=0.5))
    (tmp_path / "results.json").unlink()  # an unfinished run of another config
    with pytest.raises(ValueError, match="width differ"):
        runner.run_cells([runner.Cell("c", config.replace(width=0.5), {})])


# ---------------------------------------------------------------------------- writers


def test_heatmap_writer_means_on_handmade_csv(tmp_path):
    rng = np.random.RandomState(0)
    rows, cells = [], {}
    for encoder in ("1d", "2d"):
        for first in SIX:
            for second in SIX:
                if (encoder, first, second) == ("2d", "TM", "PS"):
                    continue  # a cell still missing
                for seed in (0, 1):
                    top1 = round(float(rng.uniform(0.1, 0.9)), 6)
                    rows.append(dict(encoder=encoder, first=first, second=second,
                                     seed=seed, top1=top1))
                    cells.setdefault((encoder, first, second), []).append(top1)
    path = tables.write_csv(str(tmp_path / "fig4.csv"), augmentation_matrix.FIELDS, rows)
    written = augmentation_matrix.write_outputs(path, str(tmp_path))
    assert sorted(written) == ["1d", "2d"]
    for encoder, (matrix, png) in written.items():
        assert matrix.shape == (7, 7)
        cell = {}
        for i, first in enumerate(SIX):
            for j, second in enumerate(SIX):
                v = cells.get((encoder, first, second))
                if v is None:
                    assert np.isnan(matrix[i, j])
                else:
                    cell[i, j] = sum(v) / len(v)
                    assert matrix[i, j] == pytest.approx(cell[i, j])
        for i in range(6):  # last column: mean of the row (augmentation applied first)
            row = [cell[i, j] for j in range(6) if (i, j) in cell]
            assert matrix[i, 6] == pytest.approx(sum(row) / len(row))
        for j in range(6):  # last row: mean of the column (applied second)
            col = [cell[i, j] for i in range(6) if (i, j) in cell]
            assert matrix[6, j] == pytest.approx(sum(col) / len(col))
        assert matrix[6, 6] == pytest.approx(sum(cell.values()) / len(cell))
        assert png == str(tmp_path / f"fig4_{encoder}.png")
        _png_ok(png)
    assert np.isnan(written["2d"][0][3, 0])  # first TM, second PS


def test_table2_markdown_on_handmade_csv(tmp_path):
    rng = np.random.RandomState(1)
    rows, values = [], {}
    for method in ("supervised", "supcon", "simclr", "clar"):
        for seed in (0, 1, 2):
            simclr_top1 = round(float(rng.uniform(0.5, 0.9)), 6)
            for fraction in (1.0, 0.2, 0.1, 0.01):
                top1 = simclr_top1 if method == "simclr" else round(float(rng.uniform()), 6)
                rows.append(dict(method=method, encoder="2d", labeled_fraction=fraction,
                                 seed=seed, top1=top1))
                values.setdefault((method, fraction), []).append(top1)
    path = tables.write_csv(str(tmp_path / "t2.csv"), label_fraction.FIELDS, rows)
    assert _read(path)[0] == {"method": "supervised", "encoder": "2d",
                              "labeled_fraction": "1.0", "seed": "0",
                              "top1": f"{rows[0]['top1']:.6f}"}
    text = label_fraction.markdown(tables.read_csv(path), "digits", note="NOTE")
    assert "NOTE" in text
    table = _markdown_rows(text)
    assert table["Method"] == ["Method", "Type", "100% (digits)", "100% (paper)",
                               "20% (digits)", "20% (paper)", "10% (digits)", "10% (paper)",
                               "1% (digits)", "1% (paper)"]
    paper = {"Cross-Entropy": (94.9, 86.4, 68.4, 28.6), "SupCon": (96.0, 87.9, 82.1, 26.6),
             "SimCLR": (84.8,) * 4, "CLAR": (96.1, 90.5, 89.1, 77.9)}
    methods = {"Cross-Entropy": "supervised", "SupCon": "supcon", "SimCLR": "simclr",
               "CLAR": "clar"}
    assert list(table)[1:] == list(paper)
    for name, method in methods.items():
        line = table[name]
        for k, fraction in enumerate((1.0, 0.2, 0.1, 0.01)):
            v = values[(method, fraction)]
            assert line[2 + 2 * k] == (f"{100 * statistics.mean(v):.1f} ± "
                                       f"{100 * statistics.stdev(v):.1f}")
            assert line[3 + 2 * k] == f"{paper[name][k]:.1f}"
    assert table["SimCLR"][2] == table["SimCLR"][8]  # one run, every column
    one_seed = label_fraction.markdown([r for r in tables.read_csv(path) if r["seed"] == "0"])
    assert _markdown_rows(one_seed)["CLAR"][2] == f"{100 * values[('clar', 1.0)][0]:.1f}"


def test_table1_markdown_on_handmade_csv(tmp_path):
    rows = [dict(encoder="1d", augment="FD+TST", seed=0, top1=0.5),
            dict(encoder="1d", augment="FD+TST", seed=1, top1=0.7),
            dict(encoder="2d", augment="FD+TM", seed=0, top1=0.91234),
            dict(encoder="2d", augment="TS", seed=0, top1=0.25)]
    path = tables.write_csv(str(tmp_path / "t1.csv"), raw_vs_tf.FIELDS, rows)
    text = raw_vs_tf.markdown(tables.read_csv(path), "digits")
    assert "| Encoder | Augmentations | top-1 % (digits) | top-1 % (paper, SC-10) |" in text
    lines = [l for l in text.splitlines()
             if l.startswith("| ") and "Encoder" not in l]
    cells = [[c.strip() for c in l.strip("|").split("|")] for l in lines]
    assert cells == [["1D", "FD + TST", f"60.0 ± {100 * statistics.stdev([0.5, 0.7]):.1f}",
                      "84.2"],
                     ["2D", "FD + TM", "91.2", "89.3"],
                     ["2D", "TS", "25.0", "–"]]


# ---------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_label_fraction_end_to_end(table2):
    out, rows = table2
    csv_rows = _read(os.path.join(out, "table2.csv"))
    assert [(r["method"], r["labeled_fraction"]) for r in csv_rows] == [
        ("simclr", "1.0"), ("simclr", "0.1"), ("clar", "1.0"), ("clar", "0.1")]
    assert csv_rows[0]["top1"] == csv_rows[1]["top1"]  # SimCLR: one run, both columns
    assert sorted(os.listdir(os.path.join(out, "runs"))) == [
        "clar-2d-FD_TS-lf0.1-s0", "clar-2d-FD_TS-lf1-s0", "simclr-2d-FD_TS-s0"]
    for r in csv_rows:
        assert 0.0 <= float(r["top1"]) <= 1.0
    with open(os.path.join(out, "runs", "clar-2d-FD_TS-lf0.1-s0", "config.json")) as f:
        assert json.load(f)["labeled_fraction"] == 0.1
    with open(os.path.join(out, "table2.md")) as f:
        table = _markdown_rows(f.read())
    assert table["CLAR"][3] == "96.1" and table["CLAR"][5] == "89.1"
    assert table["CLAR"][2] == f"{100 * float(csv_rows[2]['top1']):.1f}"


@pytest.mark.slow
def test_second_invocation_reads_back(table2, digits, monkeypatch):
    out, rows = table2
    results = [os.path.join(out, "runs", d, "results.json")
               for d in sorted(os.listdir(os.path.join(out, "runs")))]
    mtimes = [os.stat(p).st_mtime_ns for p in results]
    _forbid_training(monkeypatch)
    lines = []
    assert label_fraction.run("tiny", out, 1, log=lines.append, **digits) == rows
    assert [os.stat(p).st_mtime_ns for p in results] == mtimes
    assert "[1/3] simclr-2d-FD_TS-s0: finished earlier" in lines[0]
    assert "0 trained" in lines[-2]


@pytest.mark.slow
def test_learning_curves_from_table2_runs_without_training(table2, digits, tmp_path,
                                                            monkeypatch):
    out, _ = table2
    _forbid_training(monkeypatch)
    rows = learning_curves.run("tiny", str(tmp_path / "fig5"), 1, table2_dir=out,
                               log=lambda _: None, **digits)
    saved = _read(tmp_path / "fig5" / "fig5.csv")
    assert list(saved[0]) == ["method", "labeled_fraction", "seed", "epoch", "top1"]
    assert len(saved) == len(rows) == 4 * 2  # (SimCLR x 2 fractions + CLAR x 2) x 2 epochs
    for fraction, run in (("1.0", "clar-2d-FD_TS-lf1-s0"), ("0.1", "clar-2d-FD_TS-lf0.1-s0"),
                          ("0.1", "simclr-2d-FD_TS-s0"), ("1.0", "simclr-2d-FD_TS-s0")):
        method = run.split("-")[0]
        curve = [(r["epoch"], r["top1"]) for r in saved
                 if r["method"] == method and r["labeled_fraction"] == fraction]
        expected = [(r["epoch"], r["top1"])
                    for r in _read(os.path.join(out, "runs", run, "linear_eval.csv"))]
        assert curve == expected and [e for e, _ in curve] == ["1", "2"]
    _png_ok(tmp_path / "fig5" / "fig5.png")


@pytest.mark.slow
def test_learning_curves_cli_reads_finished_runs(table2, digits, tmp_path):
    out, _ = table2
    proc = subprocess.run(
        [sys.executable, "-m", "clar_tf.experiments.learning_curves", "--preset=tiny",
         f"--table2_dir={out}", f"--out={tmp_path}", f"--manual_dir={digits['manual_dir']}",
         f"--data_dir={digits['data_dir']}"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 cells (0 trained)" in proc.stdout
    assert len(_read(tmp_path / "fig5.csv")) == 8
    bad = subprocess.run([sys.executable, "-m", "clar_tf.experiments.label_fraction",
                          "--preset=huge"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode != 0 and "preset" in bad.stderr


@pytest.mark.slow
def test_augmentation_matrix_end_to_end(digits, tmp_path):
    augmentation_matrix.run("tiny", str(tmp_path), 1, log=lambda _: None, **digits)
    rows = _read(tmp_path / "fig4.csv")
    assert [(r["encoder"], r["first"], r["second"], r["seed"]) for r in rows] == [
        ("1d", "FD", "FD", "0"), ("2d", "FD", "FD", "0")]
    for encoder in ("1d", "2d"):
        _png_ok(tmp_path / f"fig4_{encoder}.png")
        with open(tmp_path / "runs" / f"simclr-{encoder}-FD-s0" / "results.json") as f:
            assert json.load(f)["method"] == "simclr"


@pytest.mark.slow
def test_raw_vs_tf_end_to_end(digits, tmp_path):
    raw_vs_tf.run("tiny", str(tmp_path), 1, log=lambda _: None, **digits)
    rows = _read(tmp_path / "table1.csv")
    assert [(r["encoder"], r["augment"]) for r in rows] == [("1d", "FD"), ("2d", "FD+TM")]
    with open(tmp_path / "table1.md") as f:
        text = f.read()
    assert "| 1D | FD | " in text and "| 67.7 |" in text and "| 89.3 |" in text
    assert f"| {100 * float(rows[1]['top1']):.1f} | 89.3 |" in text
    pairs = _read(tmp_path / "paired.csv")  # one seed: 2D FD+TM − 1D FD, no interval
    assert [(r["a"], r["b"], r["n"], r["verdict"]) for r in pairs] == [
        ("2d FD+TM", "1d FD", "1", "not distinguishable")]
    diff = 100 * (float(rows[1]["top1"]) - float(rows[0]["top1"]))
    assert float(pairs[0]["mean"]) == pytest.approx(diff, abs=0.006)
    assert f"| 2D FD + TM | 1D FD | 1 | {float(pairs[0]['mean']):+.2f} |" in text


def test_fig5_speed_table_against_hand_values():
    rows = []
    for seed, (a, b) in enumerate([(0.5, 0.7), (0.6, 0.8)]):          # SimCLR final 0.75
        rows += [dict(method="simclr", labeled_fraction=f, seed=seed, epoch=e, top1=v)
                 for f in (1.0, 0.01) for e, v in ((3, a), (6, b))]
    rows += [dict(method="clar", labeled_fraction=1.0, seed=s, epoch=e, top1=v)
             for s in (0, 1) for e, v in ((3, 0.76), (6, 0.9))]         # reaches at 3
    rows += [dict(method="clar", labeled_fraction=0.01, seed=s, epoch=e, top1=v)
             for s, (x, y) in enumerate([(0.6, 0.74), (0.6, 0.78)]) for e, v in ((3, x), (6, y))]
    text = learning_curves.speed_markdown(rows)
    table = _markdown_rows(text)
    assert "SimCLR's final 75.0" in text
    lines = [l for l in text.splitlines() if l.startswith("| 1%") or l.startswith("| 100%")]
    by = {tuple(c.strip() for c in l.strip("|").split("|")[:2]): l for l in lines}
    assert by[("100%", "CLAR")].rstrip(" |").endswith("3 of 6")
    assert "| 76.0 | 90.0 |" in by[("100%", "CLAR")]
    assert by[("1%", "CLAR")].rstrip(" |").endswith("6 of 6")             # mean 0.76 at 6
    assert by[("1%", "SimCLR")].rstrip(" |").endswith("6 of 6")
    assert table["labeled"][2] == "epoch 3"
    assert learning_curves.speed_markdown([r for r in rows if r["method"] != "simclr"]) == ""


def test_a_grid_stopped_midway_keeps_the_rows_of_its_finished_cells(tmp_path, monkeypatch):
    # Issue 38: long grids run over several sessions; each finished cell's row is in the
    # CSV at once. Here the cells are "read back" (no training) until the third fails.
    done = {}

    def finished(config):
        if len(done) == 2:
            raise RuntimeError("the session ended")
        done[config.model_dir] = {"top1": 0.5 + 0.1 * len(done)}
        return done[config.model_dir]

    monkeypatch.setattr(runner, "finished_result", finished)
    for driver, name in ((raw_vs_tf, "table1.csv"), (augmentation_matrix, "fig4.csv")):
        done.clear()
        out = tmp_path / name
        with pytest.raises(RuntimeError, match="session ended"):
            driver.run("tiny", str(out), 2, log=lambda line: None)
        rows = _read(out / name)
        assert [float(r["top1"]) for r in rows] == [0.5, 0.6]
        assert [r["seed"] for r in rows] == ["0", "0"]  # seed by seed: seed 0 first
