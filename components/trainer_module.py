"""`run_fn` of the standard TFX `Trainer`: clar_tf's one training path, then export.

    Trainer(run_fn="components.trainer_module.run_fn",
            examples=audio_example_gen.outputs["examples"],
            eval_args=tfx.proto.EvalArgs(splits=["test"]),
            custom_config={"method": "clar", "epochs": 100, ...})

`fn_args.custom_config` holds `clar_tf.config.Config` fields (any of them except
`PIPELINE_FIELDS`, which the pipeline decides). The run:

1. the data: `dataset="examples"`, `manual_dir` = the `Examples` artifact's uri
   (AudioExampleGen's `Split-<split>/` TFRecords of tf.Example, read with tf.data by
   `clar_tf.datasets.examples`; no TFDS), found from `fn_args.train_files`
   (`<uri>/Split-train/*`);
2. `model_dir` = `fn_args.model_run_dir`, so the `ModelRun` artifact holds
   config.json, logs/, train_log.csv, encoder.keras, inference.keras, labels.txt and
   results.json (what `LinearEvaluator` reads);
3. `clar_tf.train.run(config)`: training and linear evaluation, nothing re-implemented;
4. `clar_tf.export.export_saved_model` into a staging folder beside
   `fn_args.serving_model_dir`, then the version folder is renamed to
   `serving_model_dir`: the Pusher copies *that folder's contents* (saved_model.pb at
   its top) to `<push base>/<unix time>/`, the layout TF Serving watches.

Files are moved through `tfx.dsl.io.fileio` and the run's model_dir goes through
`tf.io.gfile` (`clar_tf.run_dir`).
"""
import dataclasses
import os

from tfx import v1 as tfx

from clar_tf import config as config_lib
from clar_tf import datasets, export, train
from clar_tf.datasets import examples

# Config fields the pipeline sets from artifacts; custom_config (train_config) may not.
PIPELINE_FIELDS = ("model_dir", "data_dir", "dataset", "manual_dir", "clip_length",
                   "unlabeled")
_SPLIT_PREFIX = examples.SPLIT_PREFIX


def examples_uri(train_files):
    """The Examples uri from TFX's `['<uri>/Split-train/*', ...]`."""
    if not train_files:
        raise ValueError("fn_args.train_files is empty: the Trainer got no Examples")
    roots = set()
    for pattern in train_files:
        split_dir = os.path.dirname(pattern.rstrip("/"))
        if not os.path.basename(split_dir).startswith(_SPLIT_PREFIX):
            raise ValueError(f"Unexpected Trainer train file pattern {pattern!r}: expected "
                             f"<examples uri>/{_SPLIT_PREFIX}<split>/*")
        roots.add(os.path.dirname(split_dir))
    if len(roots) != 1:
        raise ValueError(f"The Trainer got several Examples artifacts ({sorted(roots)}); "
                         "clar_tf trains on one prepared dataset")
    return roots.pop()


def config_from_fn_args(fn_args):
    """The frozen `Config` of this Trainer run (see the module docstring)."""
    fields = dict(fn_args.custom_config or {})
    known = {f.name for f in dataclasses.fields(config_lib.Config)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"custom_config has keys that are not clar_tf Config fields: "
                         f"{', '.join(unknown)}")
    fixed = sorted(set(fields) & set(PIPELINE_FIELDS))
    if fixed:
        raise ValueError(f"custom_config may not set {', '.join(fixed)}: the Trainer reads "
                         "the Examples artifact (AudioExampleGen's dataset) and writes its "
                         "ModelRun")
    uri = examples_uri(fn_args.train_files)
    return config_lib.Config(model_dir=fn_args.model_run_dir, dataset=datasets.EXAMPLES,
                             manual_dir=uri, data_dir=uri, **fields)


def export_for_pusher(model_dir, serving_model_dir):
    """Exports the run and puts the SavedModel itself (not a version folder) at
    `serving_model_dir`, the layout TFX's Pusher and Evaluator expect. Every operation
    goes through `tfx.dsl.io.fileio` (local, or a `gs://` artifact store)."""
    fileio = tfx.dsl.io.fileio
    staging = os.path.join(os.path.dirname(serving_model_dir.rstrip("/")),
                           ".clar_export_staging")
    if fileio.exists(staging):
        fileio.rmtree(staging)
    version_dir = export.export_saved_model(model_dir, staging, version=1)
    if fileio.isdir(serving_model_dir):
        if fileio.listdir(serving_model_dir):
            raise ValueError(f"serving_model_dir={serving_model_dir} is not empty")
        fileio.rmtree(serving_model_dir)
    fileio.rename(version_dir, serving_model_dir)
    fileio.rmtree(staging)
    return serving_model_dir


def run_fn(fn_args):
    """TFX Trainer entry point: `clar_tf.train.run`, then the serving export."""
    config = config_from_fn_args(fn_args)
    result = train.run(config)
    export_for_pusher(config.model_dir, fn_args.serving_model_dir)
    print(f"clar_tf Trainer: top-1 {result['top1']:.4f}; SavedModel → "
          f"{fn_args.serving_model_dir}")
    return result
