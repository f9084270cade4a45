"""Runs the clar_tf pipeline on this machine: LocalDagRunner, sqlite ML Metadata.

    python -m pipelines.local_runner --preset=tiny --manual_dir=/tmp/digits \\
        --pipeline_root=runs/tfx --serving_dir=runs/tfx/serving --accuracy_threshold=0.0

(from the repository root, where `components/` and `pipelines/` are, in the TFX venv:
`bash tools/tfx_env.sh`). Artifacts go under --pipeline_root,
ML Metadata to `<pipeline_root>/metadata.sqlite`, blessed SavedModels to
`--serving_dir/<unix time>/`. Presets (--preset) are Trainer configs:

* `tiny`: a seconds-long run for CI (`clar_tf.config.TINY`: width 0.125, 2 steps, 1 epoch);
* `smoke`, `demo`: the packaged `smoke.flags`, `demo.flags` (their dataset and
  paths are ignored: the pipeline decides those);
* `none`: clar_tf's defaults (the paper's; needs --train_config to be practical).

`--train_config='{"epochs": 5}'` overrides preset fields (JSON of clar_tf Config fields).
"""
import dataclasses
import json
import os
from typing import Optional

from clar_tf import checks, cli
from clar_tf import config as config_lib
from components.trainer_module import PIPELINE_FIELDS

PRESETS = ("tiny", "smoke", "demo", "none")
# The CI preset: the smallest model that still runs every stage of clar_tf.train.run.
TINY = dict(config_lib.TINY, shuffle_buffer=256, verbose=2)
# Flag-file fields that the runner sets from its own arguments (and the Trainer from
# its artifacts).
_RUNNER_FIELDS = PIPELINE_FIELDS


@dataclasses.dataclass(frozen=True)
class LocalRunnerArgs:
    """`python -m pipelines.local_runner`'s flags."""

    pipeline_name: str = "clar-tf"
    pipeline_root: str = "runs/tfx"
    metadata_path: Optional[str] = None
    dataset: str = "spoken_digits"
    manual_dir: Optional[str] = None
    preset: str = "demo"
    train_config: Optional[str] = None
    serving_dir: Optional[str] = None
    accuracy_threshold: float = 0.5
    enable_cache: bool = False
    clip_length: Optional[int] = None
    skip_bad_files: bool = False
    allow_anomalies: bool = False
    beam_workers: int = 1

    def __post_init__(self):
        checks.check_choice("preset", self.preset, PRESETS)
        checks.check_number("accuracy_threshold", self.accuracy_threshold)
        checks.check_clip_length(self.clip_length)
        if self.beam_workers < 1:
            raise ValueError(f"beam_workers must be >= 1. Received: "
                             f"beam_workers={self.beam_workers}")
        train_overrides(self.train_config)


HELP = {
    "pipeline_name": "Pipeline name (ML Metadata context; Kubeflow allows [a-z0-9-]).",
    "pipeline_root": "Folder for artifacts and metadata.",
    "metadata_path": "sqlite ML Metadata file (default: <pipeline_root>/metadata.sqlite).",
    "dataset": "clar_tf dataset name.",
    "manual_dir": ("The dataset's published layout (spoken_digits: generated in a "
                   "temporary folder when unset)."),
    "preset": "Trainer config preset (see module doc).",
    "train_config": "JSON dict of clar_tf Config fields that override the preset.",
    "serving_dir": "Pusher destination (default: <pipeline_root>/serving).",
    "accuracy_threshold": "Least linear-eval top-1 that pushes.",
    "enable_cache": "Reuse outputs of unchanged components.",
    "clip_length": "Samples per clip at 16 kHz (--dataset=folder only).",
    "skip_bad_files": "Leave out (and list) unreadable audio files instead of failing.",
    "allow_anomalies": "Train even when ExampleValidator finds anomalies in the Examples.",
    "beam_workers": ("Beam DirectRunner workers of the data components (>1: separate "
                     "processes)."),
}


def beam_args(workers):
    """The DirectRunner's `beam_pipeline_args` for `workers` workers."""
    if workers <= 1:
        return ["--direct_num_workers=1"]
    return [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
CHOICES = {"preset": PRESETS}


def train_overrides(overrides_json):
    """`--train_config`'s JSON object as a dict ({} when unset)."""
    if not overrides_json:
        return {}
    try:
        overrides = json.loads(overrides_json)
    except json.JSONDecodeError as e:
        raise ValueError(f"`train_config` is not JSON ({e}). "
                         f"Received: train_config={overrides_json!r}") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"`train_config` must be a JSON object. "
                         f"Received: train_config={overrides_json!r}")
    return overrides


def flagfile_config(path):
    """The Config fields set in a clar_tf flag file (a path, or a packaged preset such as
    `demo.flags`: `clar_tf.flagfiles`), minus dataset and paths."""
    values = cli.flagfile_values(config_lib.Config, path, *config_lib.flag_spec())
    return {name: value for name, value in values.items() if name not in _RUNNER_FIELDS}


def preset_config(preset, overrides_json=None):
    """The Trainer's train_config dict for a preset plus JSON overrides."""
    checks.check_choice("preset", preset, PRESETS)
    if preset == "tiny":
        values = dict(TINY)
    elif preset == "none":
        values = {}
    else:
        values = flagfile_config(f"{preset}.flags")
    values.update(train_overrides(overrides_json))
    return values


def main(args):
    """Runs the pipeline that the `LocalRunnerArgs` `args` describe, here."""
    from tfx import v1 as tfx

    from pipelines import pipeline

    root = os.path.abspath(args.pipeline_root)
    serving_dir = os.path.abspath(args.serving_dir or os.path.join(root, "serving"))
    metadata_path = os.path.abspath(args.metadata_path
                                    or os.path.join(root, "metadata.sqlite"))
    manual_dir = os.path.abspath(args.manual_dir) if args.manual_dir else None
    os.makedirs(root, exist_ok=True)
    p = pipeline.create_pipeline(
        pipeline_name=args.pipeline_name, pipeline_root=root, dataset=args.dataset,
        manual_dir=manual_dir, train_config=preset_config(args.preset, args.train_config),
        serving_dir=serving_dir, accuracy_threshold=args.accuracy_threshold,
        metadata_connection_config=tfx.orchestration.metadata
        .sqlite_metadata_connection_config(metadata_path),
        beam_pipeline_args=beam_args(args.beam_workers), enable_cache=args.enable_cache,
        clip_length=args.clip_length, skip_bad_files=args.skip_bad_files,
        allow_anomalies=args.allow_anomalies)
    tfx.orchestration.LocalDagRunner().run(p)
    print(f"clar_tf pipeline {args.pipeline_name}: artifacts under {root}, metadata "
          f"{metadata_path}, pushes to {serving_dir}")


if __name__ == "__main__":
    cli.main(LocalRunnerArgs, main, HELP, CHOICES)
