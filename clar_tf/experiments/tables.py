"""CSV and Markdown writers of the experiment drivers, and the mean ± std summaries."""
import csv
import math
import os

import numpy as np

from clar_tf import config as config_lib


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
    """Rows as dicts of strings, with `top1` (where the file has it) as float."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if "top1" in row:
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


def describe(config_kwargs, seeds=None):
    """One line naming the setting of a driver's cells (for Markdown notes), ending in the
    number of `seeds` unless None."""
    c = config_kwargs
    steps = f", {c['steps_per_epoch']} steps/epoch" if c.get("steps_per_epoch") else ""
    text = (f"dataset {c['dataset']}, ResNet18 width {c['width']:g}, batch {c['batch_size']}, "
            f"{c['epochs'] if 'epochs' in c else config_lib.Config.epochs} epochs{steps}, "
            f"{c.get('optimizer', 'lars').upper()} lr {c.get('learning_rate', 1.0):g}")
    if seeds is None:
        return text
    return f"{text}, {len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
