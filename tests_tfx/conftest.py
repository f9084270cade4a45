"""Fixtures of the TFX tests (run in the TFX venv: `bash tools/tfx_ci.sh`, or
`.venv-tfx/bin/python -m pytest tests_tfx` from the repository root).

They share one tiny spoken-digits set (100 clips, a few seconds with espeak-ng), one
AudioExampleGen output and one tiny Trainer run, made once per session.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

from tfx_testing import TINY, artifact, run_executor  # noqa: E402


def pytest_configure(config):
    # TFX's Google Cloud dependencies warn on every import that Python 3.10 is old.
    config.addinivalue_line("filterwarnings", "ignore::FutureWarning:google.*")


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory):
    """A spoken-digits manual_dir: 10 words x 10 clips (80 train, 10 val, 10 test)."""
    from clar_tf import demo_data

    out = str(tmp_path_factory.mktemp("digits"))
    demo_data.make(out, seed=0, clips_per_word=10)
    return out


@pytest.fixture(scope="session")
def examples(tmp_path_factory, digits_dir):
    """AudioExampleGen's Examples artifact for the tiny spoken-digits set."""
    from tfx import v1 as tfx

    from components.audio_example_gen import AudioExampleGen

    out = artifact(tfx.types.standard_artifacts.Examples,
                   tmp_path_factory.mktemp("examples"))
    run_executor(AudioExampleGen, {}, {"examples": [out]},
                 {"dataset": "spoken_digits", "manual_dir": digits_dir})
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory, examples, digits_dir):
    """The tiny Trainer run: (fn_args, run_fn's result)."""
    from tfx.components.trainer import fn_args_utils

    from components import trainer_module

    root = tmp_path_factory.mktemp("trainer")
    fn_args = fn_args_utils.FnArgs(
        train_files=[os.path.join(examples.uri, "Split-train", "*")],
        eval_files=[os.path.join(examples.uri, "Split-test", "*")],
        model_run_dir=str(root / "model_run"),
        serving_model_dir=str(root / "model" / "Format-Serving"),
        custom_config=dict(TINY))
    os.makedirs(root / "model")  # TFX creates the Model artifact's uri
    result = trainer_module.run_fn(fn_args)
    return fn_args, result
