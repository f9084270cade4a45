"""Every CLI's arguments: a frozen dataclass ↔ its absl flags (`clar_tf.cli`), its
`--help`, and the nested smoke flag file."""
import dataclasses
import importlib
import os
import re
import sys
import types

import pytest

from clar_tf import checks, cli, config, datasets, demo_data, embed, evaluate, export, prepare
from clar_tf.experiments import cli as experiments_cli
from clar_tf.experiments import learning_curves
import cli_testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (module, its args class, help, choices, positional field)
TOOLS = {
    "clar_tf.train": (config.Config, *config.flag_spec(datasets.NAMES), None),
    "clar_tf.evaluate": (evaluate.EvaluateArgs, evaluate.HELP, None, None),
    "clar_tf.export": (export.ExportArgs, export.HELP, None, None),
    "clar_tf.embed": (embed.EmbedArgs, embed.HELP, None, "files"),
    "clar_tf.prepare": (prepare.PrepareArgs, prepare.HELP, prepare.CHOICES, None),
    "clar_tf.demo_data": (demo_data.DemoDataArgs, demo_data.HELP, None, None),
    "clar_tf.experiments.augmentation_matrix": (
        experiments_cli.args_class("results/fig4"), experiments_cli.HELP,
        experiments_cli.CHOICES, None),
    "clar_tf.experiments.learning_curves": (
        learning_curves.Args, learning_curves.HELP, experiments_cli.CHOICES, None),
}


def _flagfile_values(path):
    return cli.flagfile_values(config.Config, path, *config.flag_spec())


def _parse(module, argv):
    cls, help_texts, choices, positional = TOOLS[module]
    return cli.parse(cls, [module, *argv], help_texts, choices, positional)


@pytest.mark.parametrize("module, argv, expected", [
    ("clar_tf.train", ["--model_dir=m", "--method=simclr", "--width=0.5", "--noexport",
                       "--steps_per_epoch=3", "--dataset=esc50"],
     config.Config(model_dir="m", method="simclr", width=0.5, export=False,
                   steps_per_epoch=3, dataset="esc50")),
    ("clar_tf.evaluate", ["--model_dir=r", "--manual_dir=/d"],
     evaluate.EvaluateArgs(model_dir="r", manual_dir="/d")),
    ("clar_tf.export", ["--model_dir=r", "--tflite=a.tflite", "--version=7"],
     export.ExportArgs(model_dir="r", tflite="a.tflite", version=7)),
    ("clar_tf.embed", ["--model=r", "--out=o", "--hop_ms=250", "a.wav", "--skip_bad_files",
                       "dir"],
     embed.EmbedArgs(model="r", out="o", files=("a.wav", "dir"), hop_ms=250.0,
                     skip_bad_files=True)),
    ("clar_tf.prepare", ["--dataset=folder", "--data_dir=d", "--clip_length=1600",
                         "--unlabeled"],
     prepare.PrepareArgs(dataset="folder", data_dir="d", clip_length=1600, unlabeled=True)),
    ("clar_tf.demo_data", ["--out=o", "--seed=3"], demo_data.DemoDataArgs(out="o", seed=3)),
    ("clar_tf.experiments.augmentation_matrix", ["--preset=tiny", "--seeds=2"],
     experiments_cli.ExperimentArgs(preset="tiny", out="results/fig4", seeds=2)),
    ("clar_tf.experiments.learning_curves", ["--table2_dir=t", "--data_dir=d"],
     learning_curves.Args(out="results/fig5", table2_dir="t", data_dir="d")),
])
def test_args_round_trip_through_flags(module, argv, expected):
    parsed = _parse(module, argv)
    assert dataclasses.astuple(parsed) == dataclasses.astuple(expected)
    # and back: the parsed values written as flags parse to the same dataclass
    cls, _, _, positional = TOOLS[module]
    again = [f"--{f.name}={_flag_text(getattr(parsed, f.name))}"
             for f in cli.flag_fields(cls, positional) if getattr(parsed, f.name) is not None]
    extra = list(getattr(parsed, positional)) if positional else []
    assert _parse(module, again + extra) == parsed


def _flag_text(value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


@pytest.mark.parametrize("module, argv, flag", [
    ("clar_tf.train", ["--model_dir=m", "--batch_size=0"], "batch_size"),
    ("clar_tf.train", ["--model_dir=m", "--encoder=3d"], "encoder"),
    ("clar_tf.train", ["--method=clar"], "--model_dir"),  # required
    ("clar_tf.evaluate", [], "--model_dir"),
    ("clar_tf.export", ["--model_dir=r"], "--export_dir"),
    ("clar_tf.export", ["--model_dir=r", "--tflite=a", "--version=x"], "--version"),
    ("clar_tf.embed", ["--model=r", "--out=o"], "audio file"),
    ("clar_tf.embed", ["--model=r", "--hop_ms=fast", "a.wav"], "--hop_ms"),
    ("clar_tf.prepare", ["--dataset=sc11", "--data_dir=d"], "--dataset"),
    ("clar_tf.prepare", ["--dataset=sc10"], "--data_dir"),
    ("clar_tf.demo_data", ["--out=o", "--clips_per_word=2"], "clips_per_word"),
    ("clar_tf.experiments.augmentation_matrix", ["--preset=huge"], "--preset"),
    ("clar_tf.experiments.augmentation_matrix", ["--seeds=0"], "seeds"),
    ("clar_tf.experiments.learning_curves", ["--seeds=two"], "--seeds"),
])
def test_a_bad_flag_is_an_error_naming_it(module, argv, flag):
    with pytest.raises(SystemExit, match=flag):
        _parse(module, argv)


def test_stray_arguments_are_refused():
    with pytest.raises(SystemExit, match="Unexpected arguments: extra"):
        _parse("clar_tf.evaluate", ["--model_dir=r", "extra"])


# Every module whose `__main__` is a CLI, and its args class there.
MAIN_ARGS = {
    "clar_tf.train": "config_lib.Config", "clar_tf.evaluate": "EvaluateArgs",
    "clar_tf.export": "ExportArgs", "clar_tf.embed": "EmbedArgs",
    "clar_tf.prepare": "PrepareArgs", "clar_tf.demo_data": "DemoDataArgs",
    "clar_tf.experiments.augmentation_matrix": "Args",
    "clar_tf.experiments.label_fraction": "Args", "clar_tf.experiments.raw_vs_tf": "Args",
    "clar_tf.experiments.learning_curves": "Args",
}


def _main_args_class(module, namespace):
    """`module`'s args class (`MAIN_ARGS`) in `namespace`, its `__main__`'s or the module."""
    name, *attributes = MAIN_ARGS[module].split(".")
    cls = namespace[name] if isinstance(namespace, dict) else getattr(namespace, name)
    for attribute in attributes:
        cls = getattr(cls, attribute)
    return cls


def _positional(module):
    return "files" if module == "clar_tf.embed" else None


# runpy warns that the module was imported before it runs as __main__ (the test does so).
@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
@pytest.mark.parametrize("module", sorted(MAIN_ARGS))
def test_main_defines_exactly_the_dataclass_fields_as_listed_flags(module, monkeypatch):
    namespace, defaults, listed, _ = cli_testing.script_flags(module, monkeypatch)
    cls = _main_args_class(module, namespace)
    assert defaults == cli_testing.field_defaults(cls, _positional(module))
    assert set(defaults) <= listed  # what `--help` shows


def _lists_the_flags(text, cls, positional=None):
    return all(re.search(rf"^  --(\[no\])?{f.name}:", text, re.M)
               for f in cli.flag_fields(cls, positional))


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
@pytest.mark.parametrize("module", sorted(MAIN_ARGS))
def test_help_exits_0_after_listing_the_flags(module, monkeypatch, capsys):
    status, out = cli_testing.script_exit_and_output(module, ["--help"], monkeypatch, capsys)
    assert status == 0  # absl's own --help exits 1
    assert out.startswith(f"USAGE: python -m {module} [flags]")
    cls = _main_args_class(module, importlib.import_module(module))
    assert _lists_the_flags(out, cls, _positional(module)), out
    assert "--helpfull" in out and "--verbosity" not in out  # absl's flags: --helpfull


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
def test_helpfull_exits_0_listing_every_flag(monkeypatch, capsys):
    status, out = cli_testing.script_exit_and_output("clar_tf.export", ["--helpfull"],
                                                     monkeypatch, capsys)
    assert status == 0
    assert _lists_the_flags(out, export.ExportArgs) and "  -v,--verbosity:" in out


def test_console_script_help_names_the_positional_arguments(monkeypatch, capsys):
    # As `clar-embed --help`: `__main__` is the console script, without a docstring.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    status, out = cli_testing.exit_and_output(embed.cli_main, ["clar-embed", "--help"],
                                              monkeypatch, capsys)
    assert status == 0
    assert out.startswith("USAGE: clar-embed [flags] FILES...\n  FILES...: Audio files and "
                          "folders to embed")
    assert _lists_the_flags(out, embed.EmbedArgs, "files")
    assert cli.usage() == "USAGE: clar-embed [flags]"  # no positional arguments: none shown


def test_drivers_default_out_is_their_own():
    assert experiments_cli.args_class("results/fig4")().out == "results/fig4"
    assert learning_curves.Args() == learning_curves.Args(
        preset="cpu_small", out="results/fig5", seeds=1, table2_dir="results/table2")
    assert issubclass(learning_curves.Args, experiments_cli.ExperimentArgs)


# smoke.flags before it read demo.flags (typed as the flags parse them).
OLD_SMOKE = dict(dataset="spoken_digits", method="clar", encoder="2d", width=0.25,
                 augment="FD+TM", batch_size=32, epochs=3, warmup_epochs=1.0,
                 head_hidden_units=64, projection_units=32, linear_eval_epochs=20,
                 verbose=2)
# What smoke.flags sets after `--flagfile=demo.flags`.
SMOKE_OVERRIDES = dict(model_dir="runs/smoke", batch_size=32, epochs=3, eval_every=0,
                       head_hidden_units=64, projection_units=32, linear_eval_epochs=20)


def test_smoke_flags_are_the_demo_plus_size_overrides(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # any folder: the packaged presets (clar_tf.flagfiles)
    smoke = _flagfile_values("smoke.flags")
    demo = _flagfile_values("demo.flags")
    assert smoke == {**demo, **SMOKE_OVERRIDES}
    # Against the file before: the same values, plus the demo's data folders, its model_dir
    # replaced by runs/smoke, and fields the demo sets to Config's defaults.
    assert {k: smoke[k] for k in OLD_SMOKE} == OLD_SMOKE
    added = {k: v for k, v in smoke.items() if k not in OLD_SMOKE}
    assert added == dict(model_dir="runs/smoke", data_dir="data/tfds",
                         manual_dir="data/spoken_digits", optimizer="lars",
                         learning_rate=1.0, eval_every=0)
    defaults = config.Config(model_dir="m")
    assert all(getattr(defaults, k) == v for k, v in added.items()
               if k in ("optimizer", "learning_rate", "eval_every"))
    # The command line comes after the file, so it wins.
    parsed = _parse("clar_tf.train", ["--flagfile=smoke.flags",
                                      "--model_dir=elsewhere", "--epochs=1"])
    assert (parsed.model_dir, parsed.epochs, parsed.batch_size) == ("elsewhere", 1, 32)


# The smallest valid command line of each tool (its required flags and arguments).
BASE_ARGV = {"clar_tf.train": ["--model_dir=m"], "clar_tf.evaluate": ["--model_dir=r"],
             "clar_tf.export": ["--model_dir=r", "--export_dir=e"],
             "clar_tf.embed": ["--model=r", "--out=o", "a.wav"],
             "clar_tf.prepare": ["--dataset=sc10", "--data_dir=d"],
             "clar_tf.demo_data": ["--out=o"]}
FLOAT_FLAGS = [(module, f.name) for module, (cls, _, _, positional) in TOOLS.items()
               for f in cli.flag_fields(cls, positional) if checks.field_type(f) is float]


def test_every_tool_float_flag_is_listed():
    names = {name for module, name in FLOAT_FLAGS if module == "clar_tf.train"}
    assert {"learning_rate", "weight_decay", "temperature", "ce_weight",
            "labeled_fraction", "warmup_epochs", "width"} <= names


@pytest.mark.parametrize("module, name", FLOAT_FLAGS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_float_flag_is_refused_naming_it(module, name, value):
    argv = BASE_ARGV.get(module, [])
    with pytest.raises(SystemExit, match=f"--{name} must be a finite number"):
        _parse(module, [*argv, f"--{name}={value}"])
