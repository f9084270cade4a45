"""Paired statistics (clar_tf/experiments/paired.py) against SciPy and hand computations,
and the committed paired.csv files against a SciPy recomputation from the committed
per-seed CSVs (results/table2/table2.csv, results/fig5/fig5.csv, results/table2_*/)."""
import csv
import glob
import math
import os
import runpy
import shutil
import sys

import numpy as np
import pytest
from scipy import stats

from clar_tf.experiments import label_fraction, paired

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE2 = os.path.join(REPO, "results", "table2", "table2.csv")


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _scipy_interval(diffs):
    n = len(diffs)
    return stats.t.interval(0.95, n - 1, loc=np.mean(diffs), scale=stats.sem(diffs))


# ------------------------------------------------------------------------ statistics


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_t_interval_equals_scipy(n):
    rng = np.random.default_rng(n)
    a, b = rng.normal(80, 5, n), rng.normal(78, 5, n)
    result = paired.paired(dict(enumerate(a)), dict(enumerate(b)), +1)
    assert (result.t_lo, result.t_hi) == pytest.approx(_scipy_interval(a - b), abs=1e-12)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (result.t_lo, result.t_hi) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert result.mean == pytest.approx(np.mean(a - b), abs=1e-12)
    assert result.diffs == pytest.approx(tuple(a - b))
    lo90, hi90 = paired.t_interval(a - b, confidence=0.9)
    assert (lo90, hi90) == pytest.approx(
        stats.t.interval(0.9, n - 1, loc=np.mean(a - b), scale=stats.sem(a - b)))


def test_hand_computed_interval():
    # diffs 1, 2, 3: mean 2, sd 1, t_{0.975, 2} = 4.30265272974946 (SciPy 1.17; 1.12's
    # quantile differs in the tenth decimal, hence abs=1e-9)
    result = paired.paired({0: 2.0, 1: 4.0, 2: 6.0}, {0: 1.0, 1: 2.0, 2: 3.0}, +1)
    half = 4.30265272974946 / math.sqrt(3)
    assert result.n == 3 and result.mean == 2.0 and result.diffs == (1.0, 2.0, 3.0)
    assert result.t_lo == pytest.approx(2 - half, abs=1e-9)  # -0.48414
    assert result.t_hi == pytest.approx(2 + half, abs=1e-9)  # 4.48414
    assert (result.wins, result.ties) == (3, 0)
    assert result.verdict == "not distinguishable"  # all 3 ahead, yet the interval holds 0


def test_bootstrap_is_seeded_and_inside_the_differences():
    diffs = np.array([-1.13, 0.52, 2.07, 3.41, 4.29])
    first = paired.bootstrap_interval(diffs, seed=3)
    assert first == paired.bootstrap_interval(diffs, seed=3)
    assert (paired.bootstrap_interval(diffs, n_boot=999, seed=3)
            != paired.bootstrap_interval(diffs, n_boot=999, seed=4))
    lo, hi = first
    assert diffs.min() <= lo < np.mean(diffs) < hi <= diffs.max()
    # The same resamples by hand: the percentile interval of their means.
    rng = np.random.default_rng(3)
    means = diffs[rng.integers(0, 5, (10000, 5))].mean(axis=1)
    assert first == tuple(np.percentile(means, [2.5, 97.5]))
    t_lo, t_hi = paired.t_interval(diffs)
    assert t_lo < lo and hi < t_hi  # the bootstrap is the narrower one at 5 seeds


def test_verdicts():
    ahead = ({0: 3.0, 1: 4.0, 2: 5.0}, {0: 1.0, 1: 1.5, 2: 2.0})  # diffs 2, 2.5, 3
    assert paired.paired(*ahead, +1).verdict == "reproduced"
    assert paired.paired(*ahead, -1).verdict == "opposite"
    assert paired.paired(*reversed(ahead), -1).verdict == "reproduced"
    assert paired.paired(*reversed(ahead), +1).verdict == "opposite"
    mixed = ({0: 1.0, 1: 2.0, 2: 3.0}, {0: 2.0, 1: 1.0, 2: 3.5})  # diffs -1, 1, -0.5
    result = paired.paired(*mixed, +1)
    assert result.verdict == "not distinguishable" and (result.wins, result.ties) == (1, 0)
    one = paired.paired({7: 2.0}, {7: 1.0}, +1)
    assert one.n == 1 and one.verdict == "not distinguishable"
    assert all(math.isnan(v) for v in (one.t_lo, one.t_hi, one.boot_lo, one.boot_hi))
    assert paired.verdict(0.0, 1.0, +1) == "not distinguishable"  # touching 0 is not apart
    with pytest.raises(ValueError, match="paper_direction"):
        paired.paired(*ahead, 0)


def test_seeds_are_paired_by_id_and_missing_ones_named():
    a = {2: 30.0, 0: 10.0, 1: 20.0}
    b = {0: 1.0, 1: 2.0, 2: 3.0}
    result = paired.paired(a, b, +1)
    assert result.seeds == (0, 1, 2) and result.diffs == (9.0, 18.0, 27.0)
    with pytest.raises(ValueError, match=r"only in A \[3\], only in B \[\]"):
        paired.paired({**a, 3: 1.0}, b, +1)
    with pytest.raises(ValueError, match=r"only in A \[\], only in B \[5, 6\]"):
        paired.paired(a, {**b, 5: 1.0, 6: 1.0}, +1)
    with pytest.raises(ValueError, match="no seeds"):
        paired.paired({}, {}, +1)


# --------------------------------------------------------------------------- writers


def _check_row(row, a, b, paper_a=None, paper_b=None):
    """`row` of a paired.csv against SciPy on the same seeds' values `a`, `b` (points)."""
    seeds = sorted(a)
    assert sorted(b) == seeds and row["seeds"] == " ".join(map(str, seeds))
    diffs = np.array([a[s] - b[s] for s in seeds])
    assert int(row["n"]) == len(seeds)
    ci = stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).confidence_interval()
    assert float(row["mean"]) == pytest.approx(diffs.mean(), abs=0.005)
    assert float(row["t_lo"]) == pytest.approx(ci.low, abs=0.005)
    assert float(row["t_hi"]) == pytest.approx(ci.high, abs=0.005)
    assert float(row["boot_lo"]) >= diffs.min() - 0.005
    assert float(row["boot_hi"]) <= diffs.max() + 0.005
    assert int(row["wins"]) == (diffs > 0).sum() and int(row["ties"]) == (diffs == 0).sum()
    direction = int(row["paper_direction"])
    if paper_a is not None:
        assert (float(row["paper_a"]), float(row["paper_b"])) == (paper_a, paper_b)
        assert direction == (1 if paper_a > paper_b else -1)
    excluded = ci.low > 0 or ci.high < 0
    expected = ("not distinguishable" if not excluded else
                "reproduced" if (ci.low > 0) == (direction > 0) else "opposite")
    assert row["verdict"] == expected


def test_table2_paired_csv_equals_scipy_from_table2_csv(tmp_path):
    points = {}  # (method, fraction) -> {seed: top-1 points}
    for row in _read(TABLE2):
        points.setdefault((row["method"], float(row["labeled_fraction"])), {})[
            int(row["seed"])] = 100 * float(row["top1"])
    written = _read(paired.write_table2(TABLE2, label_fraction.PAPER,
                                        str(tmp_path / "paired.csv")))
    expected = [(f, a, b) for f in ("1", "0.2", "0.1", "0.01")
                for a, b in (("clar", "supervised"), ("clar", "supcon"),
                             ("clar", "simclr"), ("supcon", "supervised"))]
    assert [(r["fraction"], r["a"], r["b"]) for r in written] == expected  # the 16
    for row in written:
        f = float(row["fraction"])
        a, b = points[(row["a"], f)], points[(row["b"], f)]
        common = set(a) & set(b)  # cells given extra seeds pair on the seeds both have
        _check_row(row, {s: a[s] for s in common}, {s: b[s] for s in common},
                   label_fraction.PAPER[row["a"]][f], label_fraction.PAPER[row["b"]][f])
    assert set(paired.FIELDS) >= {"fraction", "a", "b", "n", "mean", "t_lo", "t_hi",
                                  "boot_lo", "boot_hi", "wins", "verdict", "paper_a",
                                  "paper_b"}
    with open(os.path.join(REPO, "results", "table2", "paired.csv")) as committed, \
            open(tmp_path / "paired.csv") as fresh:
        assert committed.read() == fresh.read()  # the committed file is the writer's


def test_table2_rows_pair_cells_with_extra_seeds_on_the_common_seeds():
    # CLAR has seeds 0-3 at 1 %, cross-entropy 0-2 and 7, SupCon only seed 0.
    rows = [dict(method=m, labeled_fraction="0.01", seed=str(s), top1=v)
            for m, values in (("clar", {0: 0.5, 1: 0.6, 2: 0.7, 3: 0.9}),
                              ("supervised", {0: 0.4, 1: 0.3, 2: 0.6, 7: 0.1}),
                              ("supcon", {0: 0.2}))
            for s, v in values.items()]
    got = {(r["a"], r["b"]): r for r in paired.table2_rows(rows, label_fraction.PAPER)}
    assert set(got) == {("clar", "supervised"), ("clar", "supcon"), ("supcon", "supervised")}
    assert got[("clar", "supervised")]["seeds"] == "0 1 2"
    assert got[("clar", "supervised")]["diffs"] == "+10.00 +30.00 +10.00"
    _check_row(got[("clar", "supervised")], {0: 50, 1: 60, 2: 70}, {0: 40, 1: 30, 2: 60})
    assert got[("clar", "supcon")]["seeds"] == "0" and got[("clar", "supcon")]["n"] == 1
    assert got[("clar", "supcon")]["verdict"] == "not distinguishable"


def test_fig5_and_variant_rows_against_scipy():
    fig5 = _read(os.path.join(REPO, "results", "fig5", "fig5.csv"))
    points = {}
    for row in fig5:
        points.setdefault((row["method"], float(row["labeled_fraction"]), row["epoch"]),
                          {})[int(row["seed"])] = 100 * float(row["top1"])
    rows = paired.fig5_rows(fig5, label_fraction.PAPER)
    last = max(int(r["epoch"]) for r in fig5)
    assert len(rows) == 4 * len({r["epoch"] for r in fig5})
    for row in rows:
        f = float(row["fraction"])
        key = (f, str(row["epoch"]))
        paper = ((label_fraction.PAPER["clar"][f], label_fraction.PAPER["simclr"][f])
                 if row["epoch"] == last else (None, None))
        assert (row["paper_a"] == "") == (row["epoch"] != last)
        _check_row(row, points[("clar",) + key], points[("simclr",) + key], *paper)
    folders = sorted(glob.glob(os.path.join(REPO, "results", "table2_*")))
    assert len(folders) >= 4
    for folder in folders:
        table = _read(os.path.join(folder, "table.csv"))
        by = {}
        for row in table:
            by.setdefault((row["cell"], row["epoch"]), {})[int(row["seed"])] = (
                100 * float(row["top1"]))
        rows = paired.variant_rows(table, label_fraction.PAPER)
        assert rows and all(r["a"].startswith("clar-") and r["b"].startswith("supervised-")
                            for r in rows)
        for row in rows:
            _check_row(row, by[(row["a"], str(row["epoch"]))],
                       by[(row["b"], str(row["epoch"]))], 96.1, 94.9)


def test_variant_pairs_each_clar_cell_with_its_setting():
    rows = []
    for cell, seeds in (("clar-2d-lf1", 2), ("supervised-2d-lf1", 2), ("clar-2d-lf1-w2", 2),
                        ("clar-2d-lf1-e12", 2), ("supervised-2d-lf1-e12", 2),
                        ("clar-2d-lf0.1-x", 2)):
        for seed in range(seeds):
            for epoch in (3, 6) if "e12" not in cell else (6, 12):
                rows.append(dict(cell=cell, seed=seed, epoch=str(epoch),
                                 top1=0.5 + 0.01 * seed + 0.001 * epoch))
    got = [(r["a"], r["b"], r["epoch"], r["fraction"])
           for r in paired.variant_rows(rows, label_fraction.PAPER)]
    assert got == [("clar-2d-lf1", "supervised-2d-lf1", 6, "1"),
                   ("clar-2d-lf1-e12", "supervised-2d-lf1-e12", 12, "1"),
                   ("clar-2d-lf1-w2", "supervised-2d-lf1", 6, "1")]  # no CE at 10 %


def test_table1_rows_compare_encoders_by_depth_and_each_added_augmentation(tmp_path):
    from clar_tf.experiments import raw_vs_tf
    top = {("1d", "FD"): [0.60, 0.62, 0.58], ("1d", "FD+TST"): [0.55, 0.61, 0.50],
           ("2d", "FD"): [0.70, 0.70, 0.71], ("2d", "FD+TM"): [0.72, 0.69, 0.75]}
    rows = [dict(encoder=e, augment=a, seed=s, top1=v[s]) for s in range(3)
            for (e, a), v in top.items()]
    rows.append(dict(encoder="2d", augment="FD+TM+TS", seed=0, top1=0.5))  # one seed only
    path = paired.write_table1(tables_csv(tmp_path, rows), raw_vs_tf.PAPER_SC10)
    got = {(r["a"], r["b"]): r for r in csv.DictReader(open(path))}
    assert list(got) == [("2d FD", "1d FD"), ("2d FD+TM", "1d FD+TST"),
                         ("1d FD+TST", "1d FD"), ("2d FD+TM", "2d FD"),
                         ("2d FD+TM+TS", "2d FD+TM")]
    for (a, b), row in got.items():
        (ea, aa), (eb, ab) = a.split(), b.split()
        seeds = range(len(top.get((ea, aa), [0.5])))
        d = np.array([100 * top[(ea, aa)][s] - 100 * top[(eb, ab)][s] for s in seeds]
                     if (ea, aa) in top else [100 * 0.5 - 100 * top[(eb, ab)][0]])
        assert int(row["n"]) == d.size and float(row["mean"]) == pytest.approx(d.mean(), abs=0.006)
        paper_d = raw_vs_tf.PAPER_SC10[(ea, aa)] - raw_vs_tf.PAPER_SC10[(eb, ab)]
        assert row["paper_direction"] == ("+1" if paper_d > 0 else "-1")
        if d.size > 1:
            lo, hi = stats.t.interval(0.95, d.size - 1, d.mean(), stats.sem(d))
            assert (float(row["t_lo"]), float(row["t_hi"])) == (
                pytest.approx(lo, abs=0.006), pytest.approx(hi, abs=0.006))
    # 1D FD+TST - FD: -4.67 [-13.39, +4.06]: not distinguishable; 2D FD - 1D FD: +10.33
    # [+4.08, +16.59], the paper's direction (70.2 > 67.7): reproduced.
    assert got[("1d FD+TST", "1d FD")]["verdict"] == "not distinguishable"
    assert got[("2d FD", "1d FD")]["verdict"] == "reproduced"
    assert got[("2d FD+TM+TS", "2d FD+TM")]["verdict"] == "not distinguishable"  # n = 1


def tables_csv(tmp_path, rows):
    from clar_tf.experiments import raw_vs_tf, tables
    return tables.write_csv(str(tmp_path / "table1.csv"), raw_vs_tf.FIELDS, rows)


def test_regeneration_command_reproduces_the_committed_files(tmp_path, monkeypatch):
    # `python results/summarize_runs.py --paired DIR...` on copies of the committed CSVs.
    sources = {"table2": "table2.csv", "fig5": "fig5.csv"}
    sources.update({os.path.basename(d): "table.csv"
                    for d in glob.glob(os.path.join(REPO, "results", "table2_*"))})
    for folder, name in sources.items():
        os.makedirs(tmp_path / folder)
        shutil.copy(os.path.join(REPO, "results", folder, name), tmp_path / folder / name)
    monkeypatch.setattr(sys, "argv", ["summarize_runs.py", "--paired"]
                        + [str(tmp_path / f) for f in sources])
    runpy.run_path(os.path.join(REPO, "results", "summarize_runs.py"), run_name="__main__")
    for folder in sources:
        with open(os.path.join(REPO, "results", folder, "paired.csv")) as committed, \
                open(tmp_path / folder / "paired.csv") as fresh:
            assert committed.read() == fresh.read(), folder
