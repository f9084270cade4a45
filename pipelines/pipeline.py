"""The clar_tf TFX pipeline, seven components:

    AudioExampleGen(dataset, manual_dir)   Examples: Split-*/ gzipped TFRecords of tf.Example
      ├► StatisticsGen ─► SchemaGen ─► ExampleValidator ─► AnomalyGate(allow_anomalies)
      │   (label_name's classes,   (label domain,    (anomalies      (fails the run on
      │    audio's length)          clip length)      per split)      anomalies)
      └► Trainer(run_fn=components.trainer_module.run_fn, custom_config=train_config)
           │ (after AnomalyGate)
           ├ model_run (clar_tf model_dir) ──► LinearEvaluator(threshold)
           └ model (SavedModel) ─────────────────┐   ├ evaluation (metrics.json)
                                                 ▼   └ blessing (blessed = 1/0)
                                 Pusher(model, model_blessing) ──► serving_dir/<unix time>/

StatisticsGen computes the statistics of the features the schema is about
(`STATS_FEATURES`: audio, label, label_name, sample_rate; not clip_id or source, whose
values are unique per clip); SchemaGen infers the schema from the train split alone, with
`label_name`'s domain (the class names) and `audio`'s shape (the clip length);
ExampleValidator checks every split against it.

`create_pipeline` is a pure function of its arguments (no flags, no environment); the
runners in this folder only choose paths and an orchestrator.
"""
import tensorflow_data_validation as tfdv
from tfx import v1 as tfx

from clar_tf import config as config_lib
from clar_tf import datasets
from components.anomaly_gate import AnomalyGate
from components.audio_example_gen import AudioExampleGen
from components.linear_evaluator import LinearEvaluator
from components.trainer_module import PIPELINE_FIELDS

STATS_FEATURES = ("audio", "label", "label_name", "sample_rate")
# SchemaGen learns the schema from "train" alone (the other splits of every clar_tf
# dataset), so an anomaly in an evaluation split is found, not learned.
SCHEMA_EXCLUDED_SPLITS = ("validation", "test")
RUN_FN = "components.trainer_module.run_fn"


def trainer_config(train_config):
    """train_config checked as the fields of a clar_tf Config that reads the pipeline's
    Examples. Raises ValueError for a field clar_tf does not know, an invalid value, or a
    field the pipeline decides (`PIPELINE_FIELDS`: the data is AudioExampleGen's)."""
    custom = dict(train_config or {})
    fixed = sorted(set(custom) & set(PIPELINE_FIELDS))
    if fixed:
        raise ValueError(f"train_config may not set {', '.join(fixed)}: the Trainer reads "
                         "AudioExampleGen's Examples (create_pipeline's dataset, manual_dir "
                         "and clip_length) and writes its ModelRun")
    try:
        config_lib.Config(model_dir="<model_run>", dataset=datasets.EXAMPLES,
                          manual_dir="<examples>", data_dir="<examples>", **custom)
    except TypeError as e:
        raise ValueError(f"train_config has a key that is not a clar_tf Config field: "
                         f"{e}") from None
    return custom


def create_pipeline(pipeline_name, pipeline_root, dataset, manual_dir, train_config,
                    serving_dir, accuracy_threshold, metadata_connection_config=None,
                    beam_pipeline_args=None, enable_cache=False, clip_length=None,
                    skip_bad_files=False, allow_anomalies=False):
    """The seven-component clar_tf pipeline (module docstring).

    Args:
      pipeline_name: the pipeline's name in ML Metadata / Kubeflow.
      pipeline_root: where the components' artifacts go.
      dataset: clar_tf dataset name with source files (clar_tf.datasets.NAMES but
        `examples`).
      manual_dir: the dataset's published layout (None: spoken_digits is generated).
      train_config: dict of clar_tf `Config` fields for the Trainer (all but
        `PIPELINE_FIELDS`), e.g. {"method": "clar", "epochs": 100, "batch_size": 256}.
      serving_dir: the Pusher's filesystem destination (versioned SavedModels).
      accuracy_threshold: least linear-evaluation top-1 that lets the Pusher push.
      metadata_connection_config: ML Metadata connection (the runner's choice).
      beam_pipeline_args: Beam options of AudioExampleGen, StatisticsGen, SchemaGen and
        ExampleValidator, e.g. ["--direct_num_workers=2",
        "--direct_running_mode=multi_processing"] or a Dataflow runner's.
      enable_cache: reuse the outputs of components whose inputs are unchanged.
      clip_length: samples per clip (`folder` only).
      skip_bad_files: AudioExampleGen leaves out (and names) unreadable audio files
        instead of failing.
      allow_anomalies: train even when ExampleValidator finds anomalies (AnomalyGate).

    Returns:
      A `tfx.dsl.Pipeline` with components AudioExampleGen, StatisticsGen, SchemaGen,
      ExampleValidator, AnomalyGate, Trainer, LinearEvaluator, Pusher, in that order.
    """
    custom_config = trainer_config(train_config)
    example_gen = AudioExampleGen(dataset=dataset, manual_dir=manual_dir,
                                  clip_length=clip_length,
                                  skip_bad_files=bool(skip_bad_files))
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(feature_allowlist=list(STATS_FEATURES)))
    schema_gen = tfx.components.SchemaGen(  # from the train split; the others are checked
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True,
        exclude_splits=list(SCHEMA_EXCLUDED_SPLITS))
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"])
    gate = AnomalyGate(anomalies=example_validator.outputs["anomalies"],
                       allow_anomalies=bool(allow_anomalies))
    # TFX checks that the examples have the eval split; `folder` has only "train".
    eval_split = "train" if dataset == "folder" else "test"
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=example_gen.outputs["examples"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=[eval_split]),
        custom_config=custom_config)
    trainer.add_upstream_node(gate)
    evaluator = LinearEvaluator(model_run=trainer.outputs["model_run"],
                                model=trainer.outputs["model"],
                                threshold=float(accuracy_threshold))
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_dir)))
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, example_validator, gate,
                    trainer, evaluator, pusher],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args)
