"""Experiment scales (`--preset`): dataset, shared `Config` fields and each driver's grid."""
import dataclasses

from clar_tf import config as config_lib
from clar_tf import method_registry

# The paper's six augmentations in the order of §5; noise injection is mixed noise (MN).
SIX_AUGMENTATIONS = ("PS", "MN", "FD", "TM", "TS", "TST")
LABELED_FRACTIONS = (1.0, 0.2, 0.1, 0.01)
METHODS = method_registry.NAMES  # Table 2's order

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
    # clips in every batch below 100 % labels; ~150 s per cell on idle cores, 13 cells per seed.
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
    # Short CPU grids, 2 epochs a cell: Fig. 4 in full (both encoders, the six
    # augmentations: 72 cells a seed, about 2.5 min each on idle cores; issue 38) and Table
    # 1's six rows. (Issue 14's reduced Fig. 4, results/fig4 before issue 38, ran this
    # preset with the 2D encoder on FD, TM and TS only: 9 cells.)
    "cpu_mini": Preset(
        name="cpu_mini",
        data=dict(dataset="spoken_digits", manual_dir="data/spoken_digits",
                  data_dir="data/tfds"),
        config=dict(width=0.25, batch_size=64, optimizer="lars", learning_rate=1.0,
                    warmup_epochs=1.0, linear_eval_epochs=100, verbose=2, epochs=2),
        experiments={
            "augmentation_matrix": dict(encoders=("1d", "2d"),
                                        augmentations=SIX_AUGMENTATIONS),
            "raw_vs_tf": dict(rows=TABLE1_ROWS),
            "label_fraction": dict(methods=METHODS, fractions=LABELED_FRACTIONS,
                                   encoder="2d", augment="FD+TM"),
        }),
    # For tests: two or three cells of two 2-step epochs (the matrix is 1 x 1 per encoder;
    # the writers are tested on hand-made full grids). `config.TINY`, the tests' smallest
    # run, except where the drivers need more: width 1/4, because the 1D encoder's
    # backward pass segfaults in oneDNN with 8 stem channels (width 1/8; TF 2.20, CPU);
    # batch 32, because results/low_labels/low_labels.py's lpb8 variants put 8 labeled
    # clips in every batch;
    # 2 epochs, because label_fraction's eval_every=1 curves (Fig. 5) need two points.
    # TINY's one linear-eval epoch is enough: linear eval makes `evaluate.MIN_STEPS`
    # updates whatever the epochs.
    "tiny": Preset(
        name="tiny",
        data=dict(dataset="spoken_digits", manual_dir="data/spoken_digits",
                  data_dir="data/tfds"),
        config=dict(config_lib.TINY, width=0.25, batch_size=32, epochs=2),
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
