"""The command line every experiment driver shares: `ExperimentArgs` (`--preset`, `--out`,
`--seeds`, data), through `clar_tf.cli` like every clar_tf tool.

A driver declares `Args = args_class(default_out)` (a subclass adds its own fields) and
ends in `main(Args, run)`, which calls `run(**fields)`.
"""
import dataclasses
from typing import Optional

from clar_tf import checks
from clar_tf import cli as clar_cli
from clar_tf.experiments.presets import PRESETS


@dataclasses.dataclass(frozen=True)
class ExperimentArgs:
    """The flags every driver takes (`out`'s default is the driver's: `args_class`)."""

    preset: str = "cpu_small"
    out: str = "results"
    seeds: int = 1
    dataset: Optional[str] = None
    manual_dir: Optional[str] = None
    data_dir: Optional[str] = None

    def __post_init__(self):
        checks.check_choice("preset", self.preset, tuple(PRESETS))
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1. Received: seeds={self.seeds}")


HELP = {
    "preset": "paper: the paper's scale; cpu_small: two CPU cores; tiny: tests.",
    "out": ("Output folder: CSV/Markdown/PNG, and runs/ with one model_dir per cell "
            "(re-running resumes)."),
    "seeds": "Seeds per cell (0..N-1); tables show mean ± std.",
    "dataset": "Dataset (default: the preset's).",
    "manual_dir": "The dataset's on-disk layout (default: the preset's, for its own dataset).",
    "data_dir": "Prepared TFDS data (default: the preset's).",
}
CHOICES = {"preset": tuple(PRESETS)}


def args_class(default_out):
    """`ExperimentArgs` whose `out` defaults to `default_out` (the driver's folder)."""
    return dataclasses.make_dataclass(
        "ExperimentArgs", [("out", str, dataclasses.field(default=default_out))],
        bases=(ExperimentArgs,), frozen=True)


def main(cls, run, help=None):
    """A driver's command line: `cls`'s flags (`help`: default `HELP`), then
    `run(**fields)`. Call it under `if __name__ == "__main__"`."""
    clar_cli.main(cls, lambda args: run(**dataclasses.asdict(args)), help or HELP, CHOICES)
