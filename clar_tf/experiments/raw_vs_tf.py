"""Table 1 (§7): raw waveform (1D) versus time-frequency (2D) encoders, SimCLR.

    python -m clar_tf.experiments.raw_vs_tf --preset=cpu_small --out=results/table1

The paper's best chains from Fig. 4 per encoder — 1D: FD, FD+TST, FD+TST+PS; 2D: FD,
FD+TM, FD+TM+TS — pre-train SimCLR; the frozen encoder is scored by linear evaluation.
Writes `table1.csv` (encoder, augment, seed, top1) and `table1.md`, next to the paper's
Speech Commands-10 column, and `paired.csv` (`paired.write_table1`): 2D − 1D at each depth
of the chains and each added augmentation, seed by seed, with intervals and verdicts
(also in `table1.md`).
"""
import collections
import os

from clar_tf.experiments import cli, paired, presets, runner, tables

EXPERIMENT = "raw_vs_tf"
FIELDS = ("encoder", "augment", "seed", "top1")

# Table 1, SC-10 column (top-1 %, SimCLR, 1000 epochs).
PAPER_SC10 = {("1d", "FD"): 67.7, ("1d", "FD+TST"): 84.2, ("1d", "FD+TST+PS"): 79.9,
              ("2d", "FD"): 70.2, ("2d", "FD+TM"): 89.3, ("2d", "FD+TM+TS"): 84.6}

# The flags: `python -m clar_tf.experiments.raw_vs_tf --help`.
Args = cli.args_class("results/table1")


def cells(preset, out, seeds, **data):
    preset = presets.get_preset(preset)
    kwargs = preset.config_kwargs(EXPERIMENT, **data)
    return [runner.make_cell(out, runner.cell_name("simclr", encoder, augment, f"s{seed}"),
                             dict(encoder=encoder, augment=augment, seed=seed),
                             **{**kwargs, "method": "simclr", "encoder": encoder,
                                "augment": augment, "seed": seed})
            for seed in runner.seeds_range(seeds)  # seed by seed: whole seeds first
            for encoder, augment in preset.grid(EXPERIMENT)["rows"]]


def markdown(rows, dataset="this run", note=""):
    """Table 1 as Markdown: one row per (encoder, augment) in order of appearance."""
    values = collections.OrderedDict()
    for row in rows:
        values.setdefault((row["encoder"], row["augment"]), []).append(row["top1"])
    table = []
    for (encoder, augment), tops in values.items():
        paper = PAPER_SC10.get((encoder, augment))
        table.append([encoder.upper(), augment.replace("+", " + "),
                      tables.format_percent(tops), "–" if paper is None else f"{paper:.1f}"])
    header = ["Encoder", "Augmentations", f"top-1 % ({dataset})", "top-1 % (paper, SC-10)"]
    text = "# Table 1: raw signal (1D) vs time-frequency (2D), SimCLR + linear evaluation\n\n"
    if note:
        text += note + "\n\n"
    return text + tables.markdown_table(header, table)


def paired_markdown(pairs):
    """The paired.csv rows (`paired.table1_rows`) as a Markdown section."""
    if not pairs:
        return ""
    table = [[r["a"].upper().replace("+", " + "), r["b"].upper().replace("+", " + "), r["n"],
              f"{float(r['mean']):+.2f}",
              "–" if r["t_lo"] == "nan" else f"[{float(r['t_lo']):+.2f}, {float(r['t_hi']):+.2f}]",
              f"{r['wins']}/{r['n']}", f"{float(r['paper_a']) - float(r['paper_b']):+.1f}",
              r["verdict"]] for r in pairs]
    header = ["A", "B", "seeds", "A − B (points)", "95 % t-interval", "A wins",
              "paper A − B", "verdict"]
    return ("\n\n## Paired, seed by seed (`paired.csv`)\n\n"
            + tables.markdown_table(header, table))


def run(preset="cpu_small", out="results/table1", seeds=1, dataset=None, manual_dir=None,
        data_dir=None, log=print):
    """Trains (or reads back) the six cells and writes `table1.csv` and `table1.md`."""
    data = dict(dataset=dataset, manual_dir=manual_dir, data_dir=data_dir)
    csv_path = os.path.join(out, "table1.csv")

    def write_csv(results):  # after every cell: a stopped grid keeps its finished rows
        rows = [{**cell.keys, "top1": float(result["top1"])} for cell, result in results]
        tables.write_csv(csv_path, FIELDS, rows)
        return rows

    rows = write_csv(runner.run_cells(cells(preset, out, seeds, **data), log=log,
                                      on_cell=write_csv))
    kwargs = presets.get_preset(preset).config_kwargs(EXPERIMENT, **data)
    note = (f"Preset `{preset}`: {tables.describe(kwargs, runner.seeds_range(seeds))}; "
            "mean ± std over seeds when several.")
    pairs = paired.write_table1(csv_path, PAPER_SC10)
    md = tables.write_text(os.path.join(out, "table1.md"),
                           markdown(tables.read_csv(csv_path), kwargs["dataset"], note)
                           + paired_markdown(tables.read_csv(pairs)))
    log(f"wrote {csv_path}, {pairs} and {md}")
    return rows


if __name__ == "__main__":
    cli.main(Args, run)
