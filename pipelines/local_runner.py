"""Runs the clar_tf pipeline on this machine: LocalDagRunner, sqlite ML Metadata.

    python -m pipelines.local_runner --preset=tiny --manual_dir=/tmp/digits \\
        --pipeline_root=runs/tfx --serving_dir=runs/tfx/serving --accuracy_threshold=0.0

(from the repository root, in the TFX venv). Artifacts go under --pipeline_root,
ML Metadata to `<pipeline_root>/metadata.sqlite`, blessed SavedModels to
`--serving_dir/<unix time>/`. Presets (--preset) are Trainer configs:

* `tiny`: a seconds-long run for CI (`clar_tf.config.TINY`: width 0.125, 2 steps, 1 epoch);
* `smoke`, `demo`: `configs/smoke.flags`, `configs/demo.flags` (their dataset and
  paths are ignored: the pipeline decides those);
* `none`: clar_tf's defaults (the paper's; needs --train_config to be practical).

`--train_config='{"epochs": 5}'` overrides preset fields (JSON of clar_tf Config fields).
"""
import json
import os
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # `python pipelines/local_runner.py` works too
    sys.path.insert(0, REPO)

from clar_tf import config as config_lib  # noqa: E402

PRESETS = ("tiny", "smoke", "demo", "none")
# The CI preset: the smallest model that still runs every stage of clar_tf.train.run.
TINY = dict(config_lib.TINY, shuffle_buffer=256, verbose=2)
# Flag-file fields that the pipeline sets from its own arguments.
_PIPELINE_FIELDS = ("dataset", "manual_dir", "data_dir", "model_dir")

flags.DEFINE_string("pipeline_name", "clar-tf", "Pipeline name (ML Metadata context; Kubeflow "
                    "allows [a-z0-9-]).")
flags.DEFINE_string("pipeline_root", "runs/tfx", "Folder for artifacts and metadata.")
flags.DEFINE_string("metadata_path", None, "sqlite ML Metadata file "
                    "(default: <pipeline_root>/metadata.sqlite).")
flags.DEFINE_string("dataset", "spoken_digits", "clar_tf dataset name.")
flags.DEFINE_string("manual_dir", None, "The dataset's published layout (spoken_digits: "
                    "generated inside the Examples artifact when unset).")
flags.DEFINE_enum("preset", "demo", PRESETS, "Trainer config preset (see module doc).")
flags.DEFINE_string("train_config", None, "JSON dict of clar_tf Config fields that "
                    "override the preset.")
flags.DEFINE_string("serving_dir", None, "Pusher destination (default: "
                    "<pipeline_root>/serving).")
flags.DEFINE_float("accuracy_threshold", 0.5, "Least linear-eval top-1 that pushes.")
flags.DEFINE_bool("enable_cache", False, "Reuse outputs of unchanged components.")


def flagfile_config(path):
    """The Config fields set in a clar_tf flag file, minus dataset and paths.

    Read from the repository root, whatever the current folder: a nested
    `--flagfile=configs/...` (smoke.flags reads demo.flags) is relative to it."""
    path, cwd = os.path.abspath(path), os.getcwd()
    os.chdir(REPO)
    try:
        values = config_lib.flagfile_values(path)
    finally:
        os.chdir(cwd)
    return {name: value for name, value in values.items() if name not in _PIPELINE_FIELDS}


def preset_config(preset, overrides_json=None):
    """The Trainer's train_config dict for a preset plus JSON overrides."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}. "
                         f"Received: preset={preset!r}")
    if preset == "tiny":
        values = dict(TINY)
    elif preset == "none":
        values = {}
    else:
        values = flagfile_config(os.path.join(REPO, "configs", f"{preset}.flags"))
    if overrides_json:
        overrides = json.loads(overrides_json)
        if not isinstance(overrides, dict):
            raise ValueError("--train_config must be a JSON object")
        values.update(overrides)
    return values


def main(argv):
    if len(argv) > 1:
        raise SystemExit(f"Unexpected arguments: {' '.join(argv[1:])}")
    from tfx import v1 as tfx

    from pipelines import pipeline

    f = flags.FLAGS
    root = os.path.abspath(f.pipeline_root)
    serving_dir = os.path.abspath(f.serving_dir or os.path.join(root, "serving"))
    metadata_path = os.path.abspath(f.metadata_path or os.path.join(root, "metadata.sqlite"))
    manual_dir = os.path.abspath(f.manual_dir) if f.manual_dir else None
    os.makedirs(root, exist_ok=True)
    p = pipeline.create_pipeline(
        pipeline_name=f.pipeline_name, pipeline_root=root, dataset=f.dataset,
        manual_dir=manual_dir, train_config=preset_config(f.preset, f.train_config),
        serving_dir=serving_dir, accuracy_threshold=f.accuracy_threshold,
        metadata_connection_config=tfx.orchestration.metadata
        .sqlite_metadata_connection_config(metadata_path),
        enable_cache=f.enable_cache)
    tfx.orchestration.LocalDagRunner().run(p)
    print(f"clar_tf pipeline {f.pipeline_name}: artifacts under {root}, metadata "
          f"{metadata_path}, pushes to {serving_dir}")


if __name__ == "__main__":
    app.run(main)
