"""The command line every experiment driver shares: `--preset`, `--out`, `--seeds`, data.

Flags are defined here (`define_flags`) but read only in each driver's `main` (`cli`).
"""
from clar_tf.experiments.presets import PRESETS


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
