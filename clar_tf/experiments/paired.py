"""Paired, seed-by-seed statistics of A − B, and the `paired.csv` writers of the tables.

Runs with the same seed share weights, augmentation, shuffling and labeled clips, so two
methods are compared by the per-seed differences d_s = A_s − B_s (paired by seed id,
never by position). For n seeds `paired` gives their mean; the 95 % Student-t interval
mean ± t_{0.975, n−1} · sd / √n (sd with ddof=1); a percentile bootstrap interval of the
mean (seeded); wins, the seeds with A > B (ties: A == B), read as wins/n; and a verdict
from the **t-interval** (the bootstrap only resamples the 3-5 observed differences and is
too narrow at so few seeds, so it is reported, never used for the verdict):
"reproduced" when the interval excludes 0 on the side of the paper's A − B, "opposite"
when it excludes 0 on the other side, "not distinguishable" otherwise (and for n = 1).

The comparisons written (values in points: top-1 × 100):
- Table 2 (`TABLE2`, 16): at each label fraction 100 / 20 / 10 / 1 %, CLAR − Cross-Entropy,
  CLAR − SupCon, CLAR − SimCLR and SupCon − Cross-Entropy; the paper's direction is the
  sign of its Table 2 numbers' difference (`label_fraction.PAPER`). SimCLR uses no labels:
  table2.csv repeats its one run per seed at every fraction, and that row is paired.
- Fig. 5: CLAR − SimCLR at every evaluated epoch and fraction of fig5.csv. The paper's Fig.
  5 holds no numbers: before the last epoch the direction is + (§8.2: CLAR learns faster
  than SimCLR) and paper_a/paper_b are empty; the last epoch is Table 2's comparison,
  with its paper numbers (so − at 1 %, where the paper's SimCLR ends ahead).
- The table2_* folders (`results/summarize_runs.py`, their table.csv): every CLAR cell
  minus the cross-entropy cell of the same setting (same name after the method, else with
  trailing `-<tag>`s dropped: `clar-2d-FD_TM-lf1-w2` − `supervised-2d-FD_TM-lf1`, Table
  2's), at the CLAR cell's last epoch; paper: Table 2 at the cell's fraction (CLAR ahead).

- Table 1 (`table1_rows`): 2D − 1D at each depth of the augmentation chains, and each
  chain's row minus the row above it; the paper's direction from its SC-10 column.

The writers take the paper's numbers as `paper` ({method: {fraction: top-1 %}}, i.e.
`label_fraction.PAPER`, which imports this module). Regenerate every committed paired.csv
from the committed CSVs, without training: `python results/summarize_runs.py --paired
results/table2 results/fig5 results/table2_ceweight results/table2_long results/table2_small
results/table2_variants`.
"""
import collections
import dataclasses
import math
import os
import re

import numpy as np
from scipy import stats

from clar_tf.experiments import tables

VERDICTS = ("reproduced", "opposite", "not distinguishable")

# (A, B) per fraction, Table 2's order: A − B.
TABLE2 = (("clar", "supervised"), ("clar", "supcon"), ("clar", "simclr"),
          ("supcon", "supervised"))

FIELDS = ("fraction", "a", "b", "n", "mean", "t_lo", "t_hi", "boot_lo", "boot_hi", "wins",
          "ties", "verdict", "paper_a", "paper_b", "paper_direction", "seeds", "diffs")


@dataclasses.dataclass(frozen=True)
class Paired:
    """A − B over n seeds. `seeds` and `diffs` are tuples of length n (sorted seed ids and
    their A − B); the intervals are NaN for n = 1."""

    seeds: tuple
    diffs: tuple
    mean: float
    t_lo: float
    t_hi: float
    boot_lo: float
    boot_hi: float
    wins: int
    ties: int
    verdict: str

    @property
    def n(self):
        return len(self.diffs)


def pair_by_seed(a, b):
    """(seeds, a values, b values), the seeds sorted: `a`, `b` map seed id -> value.
    Raises ValueError naming the seeds only one side has."""
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        raise ValueError(f"unpaired seeds: only in A {only_a}, only in B {only_b}")
    if not a:
        raise ValueError("no seeds to pair")
    seeds = sorted(a)
    return seeds, np.array([a[s] for s in seeds], float), np.array([b[s] for s in seeds], float)


def t_interval(diffs, confidence=0.95):
    """(lo, hi): mean ± t_{(1+confidence)/2, n−1} · sd / √n of `diffs` (shape (n,)); NaN
    for n < 2."""
    diffs = np.asarray(diffs, float)
    if diffs.size < 2:
        return math.nan, math.nan
    half = (stats.t.ppf((1 + confidence) / 2, diffs.size - 1)
            * diffs.std(ddof=1) / math.sqrt(diffs.size))
    return float(diffs.mean() - half), float(diffs.mean() + half)


def bootstrap_interval(diffs, confidence=0.95, n_boot=10000, seed=0):
    """(lo, hi): percentile interval of the mean of `diffs` (shape (n,)) over `n_boot`
    resamples with replacement (NumPy Generator seeded with `seed`); NaN for n < 2."""
    diffs = np.asarray(diffs, float)
    if diffs.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, diffs.size, (n_boot, diffs.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.percentile(means, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def verdict(lo, hi, paper_direction):
    """"reproduced" / "opposite" / "not distinguishable": where the interval [lo, hi] of
    A − B lies against 0, `paper_direction` the sign (+1 or −1) of the paper's A − B."""
    if paper_direction not in (1, -1):
        raise ValueError(f"paper_direction must be +1 or -1, not {paper_direction!r}")
    if math.isnan(lo) or math.isnan(hi) or lo <= 0 <= hi:
        return "not distinguishable"
    return "reproduced" if (lo > 0) == (paper_direction > 0) else "opposite"


def paired(a, b, paper_direction, confidence=0.95, n_boot=10000, seed=0):
    """`Paired` statistics of A − B; `a`, `b` map seed id -> value (same seeds), the
    verdict from the t-interval against `paper_direction` (+1: the paper has A > B)."""
    seeds, va, vb = pair_by_seed(a, b)
    diffs = va - vb
    t_lo, t_hi = t_interval(diffs, confidence)
    boot_lo, boot_hi = bootstrap_interval(diffs, confidence, n_boot, seed)
    return Paired(seeds=tuple(seeds), diffs=tuple(float(d) for d in diffs),
                  mean=float(diffs.mean()), t_lo=t_lo, t_hi=t_hi, boot_lo=boot_lo,
                  boot_hi=boot_hi, wins=int((diffs > 0).sum()), ties=int((diffs == 0).sum()),
                  verdict=verdict(t_lo, t_hi, paper_direction))


# ----------------------------------------------------------------------------- writers


def _row(result, paper_a, paper_b, direction, **keys):
    """A CSV row: points with two decimals, paper numbers with one (empty when none)."""
    r2 = lambda v: "nan" if math.isnan(v) else f"{v:.2f}"  # noqa: E731
    paper = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
    return {**keys, "n": result.n, "mean": r2(result.mean), "t_lo": r2(result.t_lo),
            "t_hi": r2(result.t_hi), "boot_lo": r2(result.boot_lo),
            "boot_hi": r2(result.boot_hi), "wins": result.wins, "ties": result.ties,
            "verdict": result.verdict, "paper_a": paper(paper_a), "paper_b": paper(paper_b),
            "paper_direction": f"{direction:+d}", "seeds": " ".join(map(str, result.seeds)),
            "diffs": " ".join(f"{d:+.2f}" for d in result.diffs)}


def _points(rows, *keys):
    """{tuple of `keys` values: {seed: top-1 × 100}}; a repeated seed is an error."""
    by = collections.defaultdict(dict)
    for row in rows:
        key = tuple(row[k] for k in keys)
        seed = int(row["seed"])
        if seed in by[key]:
            raise ValueError(f"seed {seed} twice for {dict(zip(keys, key))}")
        by[key][seed] = 100 * float(row["top1"])
    return by


def table2_rows(rows, paper):
    """paired.csv rows of table2.csv rows (method, labeled_fraction, seed, top1), by
    fraction (high first), `TABLE2`'s order; `paper`: {method: {fraction: top-1 %}}
    (`label_fraction.PAPER`). A comparison whose methods are absent is left out; one
    is paired on the seeds both methods have at that fraction (cells given extra seeds,
    `label_fraction --methods/--fractions/--first_seed`, have more than the others)."""
    by = _points(rows, "method", "labeled_fraction")
    result = []
    for fraction in sorted({float(f) for _, f in by}, reverse=True):
        got = {m: v for (m, f), v in by.items() if float(f) == fraction}
        for a, b in TABLE2:
            common = set(got.get(a, ())) & set(got.get(b, ()))
            if common:
                pa, pb = paper[a][fraction], paper[b][fraction]
                direction = 1 if pa > pb else -1
                result.append(_row(paired({s: got[a][s] for s in common},
                                          {s: got[b][s] for s in common}, direction),
                                   pa, pb, direction, fraction=f"{fraction:g}", a=a, b=b))
    return result


def fig5_rows(rows, paper):
    """paired.csv rows (with `epoch`) of fig5.csv rows: CLAR − SimCLR per fraction and
    evaluated epoch; the last epoch with `paper`'s (Table 2's) numbers and direction."""
    by = _points(rows, "method", "labeled_fraction", "epoch")
    last = max((int(e) for _, _, e in by), default=0)
    result = []
    for fraction in sorted({float(f) for _, f, _ in by}, reverse=True):
        for epoch in sorted({int(e) for m, f, e in by if float(f) == fraction}):
            got = {m: v for (m, f, e), v in by.items()
                   if float(f) == fraction and int(e) == epoch}
            if "clar" in got and "simclr" in got:
                pa = pb = None
                direction = 1
                if epoch == last:
                    pa, pb = paper["clar"][fraction], paper["simclr"][fraction]
                    direction = 1 if pa > pb else -1
                result.append(_row(paired(got["clar"], got["simclr"], direction), pa, pb,
                                   direction, fraction=f"{fraction:g}", epoch=epoch,
                                   a="clar", b="simclr"))
    return result


def variant_rows(rows, paper):
    """paired.csv rows (with `epoch`) of a table2_* folder's table.csv rows (cell, seed,
    epoch, top1): each `clar-*` cell minus the `supervised-*` cell of the same name, else
    with trailing `-<tag>`s dropped, at the CLAR cell's last epoch; `paper` as above."""
    by = _points(rows, "cell", "epoch")
    cells = {c for c, _ in by}
    result = []
    for cell in sorted(c for c in cells if c.startswith("clar-")):
        parts = cell[len("clar-"):].split("-")
        other = next((f"supervised-{'-'.join(parts[:k])}" for k in range(len(parts), 0, -1)
                      if f"supervised-{'-'.join(parts[:k])}" in cells), None)
        if other is None:
            continue
        epoch = max(int(e) for c, e in by if c == cell)
        fraction = float(re.search(r"-lf([0-9.]+)", cell).group(1))
        pa, pb = paper["clar"][fraction], paper["supervised"][fraction]
        direction = 1 if pa > pb else -1
        result.append(_row(paired(by[(cell, str(epoch))], by[(other, str(epoch))], direction),
                           pa, pb, direction, fraction=f"{fraction:g}", epoch=epoch,
                           a=cell, b=other))
    return result


TABLE1_FIELDS = ("a", "b") + FIELDS[3:]


def table1_rows(rows, paper):
    """paired.csv rows of table1.csv rows (encoder, augment, seed, top1): at each depth of
    the chains, the 2D row minus the 1D row (FD − FD, FD+TM − FD+TST, ...), then within
    each encoder each row minus the row above it (one augmentation added); `paper`:
    {(encoder, augment): top-1 %} (`raw_vs_tf.PAPER_SC10`), the sign of its difference
    the direction. Rows keep the order of appearance; a comparison is paired on the seeds
    both cells have and left out when they share none."""
    by = _points(rows, "encoder", "augment")
    chains = {e: [a for enc, a in by if enc == e] for e in ("1d", "2d")}
    pairs = [(("2d", a2), ("1d", a1)) for a2, a1 in zip(chains["2d"], chains["1d"])]
    for encoder in ("1d", "2d"):
        chain = chains[encoder]
        pairs += [((encoder, b), (encoder, a)) for a, b in zip(chain, chain[1:])]
    result = []
    for a, b in pairs:
        common = set(by[a]) & set(by[b])
        if common:
            pa, pb = paper[a], paper[b]
            direction = 1 if pa > pb else -1
            result.append(_row(paired({s: by[a][s] for s in common},
                                      {s: by[b][s] for s in common}, direction),
                               pa, pb, direction, a=" ".join(a), b=" ".join(b)))
    return result


def write_table1(table1_csv, paper, out=None):
    """Writes `out` (default: paired.csv next to `table1_csv`); returns its path."""
    out = out or os.path.join(os.path.dirname(table1_csv), "paired.csv")
    return tables.write_csv(out, TABLE1_FIELDS, table1_rows(tables.read_csv(table1_csv), paper))


def write_table2(table2_csv, paper, out=None):
    """Writes `out` (default: paired.csv next to `table2_csv`); returns its path."""
    out = out or os.path.join(os.path.dirname(table2_csv), "paired.csv")
    return tables.write_csv(out, FIELDS, table2_rows(tables.read_csv(table2_csv), paper))


def write_fig5(fig5_csv, paper, out=None):
    """Writes `out` (default: paired.csv next to `fig5_csv`); returns its path."""
    out = out or os.path.join(os.path.dirname(fig5_csv), "paired.csv")
    return tables.write_csv(out, ("epoch",) + FIELDS, fig5_rows(tables.read_csv(fig5_csv), paper))


def write_variants(table_csv, paper, out=None):
    """Writes `out` (default: paired.csv next to a table2_* `table.csv`); returns it."""
    out = out or os.path.join(os.path.dirname(table_csv), "paired.csv")
    return tables.write_csv(out, ("epoch",) + FIELDS, variant_rows(tables.read_csv(table_csv), paper))


def write_paired(folder, paper):
    """paired.csv of a results folder from the CSV it holds (table2.csv, fig5.csv or a
    table2_* table.csv, looked for in that order); reads nothing else, trains nothing."""
    for name, writer in (("table2.csv", write_table2), ("fig5.csv", write_fig5),
                         ("table.csv", write_variants)):
        if os.path.exists(os.path.join(folder, name)):
            return writer(os.path.join(folder, name), paper)
    raise FileNotFoundError(f"{folder}: no table2.csv, fig5.csv or table.csv")
