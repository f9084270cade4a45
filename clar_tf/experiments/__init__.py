"""Drivers that reproduce the paper's experiments, one command each, all via `train.run`.

| driver | paper | writes into `--out` |
|---|---|---|
| `augmentation_matrix` | Fig. 4 (§6) | `fig4.csv`, `fig4_1d.png`, `fig4_2d.png` |
| `raw_vs_tf` | Table 1 (§7) | `table1.csv`, `table1.md`, `paired.csv` (2D − 1D, each added augmentation) |
| `label_fraction` | Table 2 (§8.1) | `table2.csv`, `table2.md`, `paired.csv` (`paired`: seed-by-seed differences, t-interval, verdict) |
| `learning_curves` | Fig. 5 (§8.2), from the Table-2 runs | `fig5.csv`, `fig5.png`, `paired.csv` |

    python -m clar_tf.experiments.label_fraction --preset=cpu_small --out=results/table2
    python -m clar_tf.experiments.learning_curves --preset=cpu_small \\
        --table2_dir=results/table2 --out=results/fig5

Presets (`presets.PRESETS`): `paper` (the paper's 1000 epochs, batch 1024, width 1, Speech
Commands-10), `cpu_small` (width 0.25, batch 64, a few epochs on the offline
`spoken_digits`; Table 2 took 60 min on two shared CPU cores), `cpu_mini` (2 epochs: Fig. 4
in full, 72 cells a seed) and `tiny` (two or three cells of
two steps, for tests). Every cell trains in `<out>/runs/<cell>`; a finished cell
(`results.json` present) is read back, an interrupted one resumes.
"""
