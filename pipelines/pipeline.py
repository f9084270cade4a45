"""The clar_tf TFX pipeline: AudioExampleGen → Trainer → LinearEvaluator → Pusher.

    AudioExampleGen(dataset, manual_dir)            Examples (uri = TFDS data_dir)
      └► Trainer(run_fn=components.trainer_module.run_fn, custom_config=train_config)
           ├ model_run (clar_tf model_dir) ──► LinearEvaluator(threshold)
           └ model (SavedModel) ─────────────────┐   ├ evaluation (metrics.json)
                                                 ▼   └ blessing (blessed = 1/0)
                                 Pusher(model, model_blessing) ──► serving_dir/<unix time>/

`create_pipeline` is a pure function of its arguments (no flags, no environment); the
runners in this folder only choose paths and an orchestrator.
"""
from tfx import v1 as tfx

from clar_tf import config as config_lib
from components.audio_example_gen import AudioExampleGen
from components.linear_evaluator import LinearEvaluator
from components.trainer_module import PIPELINE_FIELDS

RUN_FN = "components.trainer_module.run_fn"


def trainer_config(dataset, manual_dir, train_config):
    """train_config with the pipeline's dataset and manual_dir, checked as a Config.

    Raises ValueError for a field clar_tf does not know, an invalid value, or a
    dataset/manual_dir in train_config that contradicts the pipeline's.
    """
    custom = dict(train_config or {})
    for key, value in (("dataset", dataset), ("manual_dir", manual_dir)):
        if custom.get(key, value) != value:
            raise ValueError(f"train_config[{key!r}]={custom[key]!r} contradicts the "
                             f"pipeline's {key}={value!r}")
        custom[key] = value
    if custom["manual_dir"] is None:
        del custom["manual_dir"]
    fixed = sorted(set(custom) & set(PIPELINE_FIELDS))
    if fixed:
        raise ValueError(f"train_config may not set {', '.join(fixed)}: the Trainer uses "
                         "the Examples artifact as data_dir and its ModelRun as model_dir")
    try:
        config_lib.Config(model_dir="<model_run>", data_dir="<examples>", **custom)
    except TypeError as e:
        raise ValueError(f"train_config has a key that is not a clar_tf Config field: "
                         f"{e}") from None
    return custom


def create_pipeline(pipeline_name, pipeline_root, dataset, manual_dir, train_config,
                    serving_dir, accuracy_threshold, metadata_connection_config=None,
                    beam_pipeline_args=None, enable_cache=False):
    """The four-component clar_tf pipeline.

    Args:
      pipeline_name: the pipeline's name in ML Metadata / Kubeflow.
      pipeline_root: where the components' artifacts go.
      dataset: clar_tf dataset name (clar_tf.datasets.NAMES).
      manual_dir: the dataset's published layout (None: spoken_digits is generated).
      train_config: dict of clar_tf `Config` fields for the Trainer (all but model_dir
        and data_dir), e.g. {"method": "clar", "epochs": 100, "batch_size": 256}.
      serving_dir: the Pusher's filesystem destination (versioned SavedModels).
      accuracy_threshold: least linear-evaluation top-1 that lets the Pusher push.
      metadata_connection_config: ML Metadata connection (the runner's choice).
      beam_pipeline_args: Beam options for components that use Beam.
      enable_cache: reuse the outputs of components whose inputs are unchanged.

    Returns:
      A `tfx.dsl.Pipeline` with components AudioExampleGen, Trainer, LinearEvaluator,
      Pusher, in that order.
    """
    custom_config = trainer_config(dataset, manual_dir, train_config)
    example_gen = AudioExampleGen(dataset=dataset, manual_dir=manual_dir,
                                  clip_length=custom_config.get("clip_length"))
    # TFX checks that the examples have the eval split; `folder` has only "train".
    eval_split = "train" if dataset == "folder" else "test"
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=example_gen.outputs["examples"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=[eval_split]),
        custom_config=custom_config)
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
        components=[example_gen, trainer, evaluator, pusher],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args)
