"""LinearEvaluator: the run's linear-evaluation score → metrics and a `ModelBlessing`.

clar_tf's measure of an encoder is linear evaluation (paper §3.2): a linear classifier
on frozen embeddings, top-1 on the test split. `clar_tf.train.run` already computes it
and writes `results.json` into the Trainer's `ModelRun`; this component reads it (or,
with `recompute=True` or without results.json, recomputes it with
`clar_tf.evaluate.linear_evaluation` from the run's config.json and encoder.keras) and

* writes `evaluation.uri/metrics.json`: {"top1", "metric", "value", "threshold",
  "blessed", "per_class_accuracy", "class_names", ...} (the run's results plus the
  decision), and sets float custom properties `top1` and `<metric>` on the artifact;
* blesses the model when `value >= threshold`, the way TFX's Evaluator does: custom
  property `blessed` = 1 or 0 (what the standard `Pusher` checks), a `BLESSED` or
  `NOT_BLESSED` file in `blessing.uri`, and `current_model` / `current_model_id` when
  the `Model` is given (names from TFX's `evaluator.constants`).

Every file is read and written through `tfx.dsl.io.fileio` (`clar_tf.run_dir` for the
run's files, which uses `tf.io.gfile`), so `gs://` artifact URIs work as they do for TFX's
own Evaluator.
"""
import json
import os

from tfx import v1 as tfx
from tfx.components.evaluator import constants

from clar_tf import run_dir

_A = tfx.types.standard_artifacts
RESULTS_FILE = run_dir.RESULTS
METRICS_FILE = "metrics.json"


def _scalar_metrics(results):
    return sorted(k for k, v in results.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool))


def _recompute(model_dir):
    """Linear evaluation of the run's encoder, as clar_tf.train.run does it."""
    from clar_tf import config as config_lib
    from clar_tf import evaluate
    from clar_tf.models import loading

    config = config_lib.Config.from_json(run_dir.read_text(
        run_dir.path(model_dir, run_dir.CONFIG)))
    embedder = loading.load_model(run_dir.path(model_dir, run_dir.ENCODER))
    return evaluate.linear_evaluation(config, embedder)


def evaluate_run(model_dir, threshold, metric="top1", recompute=False):
    """The metrics dict of the run in `model_dir`, with the blessing decision."""
    results = None if recompute else run_dir.read_json(model_dir, RESULTS_FILE)
    if results is None:
        results, source = _recompute(model_dir), "recomputed"
    else:
        source = RESULTS_FILE
    if metric not in results or not isinstance(results[metric], (int, float)):
        raise ValueError(f"metric={metric!r} is not a number in the run's results. "
                         f"Allowed: {', '.join(_scalar_metrics(results))}")
    value = float(results[metric])
    return {**results, "metric": metric, "value": value, "threshold": float(threshold),
            "blessed": bool(value >= threshold), "source": source}


@tfx.dsl.components.component
def LinearEvaluator(
    model_run: tfx.dsl.components.InputArtifact[_A.ModelRun],
    evaluation: tfx.dsl.components.OutputArtifact[_A.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[_A.ModelBlessing],
    threshold: tfx.dsl.components.Parameter[float],
    model: tfx.dsl.components.InputArtifact[_A.Model] = None,
    metric: tfx.dsl.components.Parameter[str] = "top1",
    recompute: tfx.dsl.components.Parameter[bool] = False,
):
    """Blesses the model when its linear-evaluation `metric` is >= `threshold`.

    Args:
      model_run: the Trainer's ModelRun (a clar_tf model_dir).
      evaluation: output; metrics.json.
      blessing: output; custom property `blessed` = 1 / 0 for the Pusher.
      threshold: the least `metric` value that blesses, e.g. 0.9 for top-1.
      model: the Trainer's Model (optional); recorded as the blessed `current_model`.
      metric: a number in results.json: "top1" (default), or e.g. "examples_per_s".
      recompute: run linear evaluation again instead of reading results.json.
    """
    metrics = evaluate_run(model_run.uri, threshold, metric, recompute)
    fileio = tfx.dsl.io.fileio
    fileio.makedirs(evaluation.uri)
    with fileio.open(os.path.join(evaluation.uri, METRICS_FILE), "w") as f:
        f.write(json.dumps(metrics, indent=2))
    for name in {"top1", metric}:
        if isinstance(metrics.get(name), (int, float)):
            evaluation.set_float_custom_property(name, float(metrics[name]))
    blessed = metrics["blessed"]
    fileio.makedirs(blessing.uri)
    name = constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME
    with fileio.open(os.path.join(blessing.uri, name), "w") as f:
        f.write("")  # an empty marker file; gfile creates a file at its first write
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, int(blessed))
    blessing.set_string_custom_property("metric", metric)
    blessing.set_float_custom_property("value", metrics["value"])
    blessing.set_float_custom_property("threshold", float(threshold))
    if model is not None:
        blessing.set_string_custom_property(
            constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri)
        blessing.set_int_custom_property(
            constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    print(f"LinearEvaluator: {metric} = {metrics['value']:.4f} "
          f"{'>=' if blessed else '<'} {threshold} → "
          f"{'BLESSED' if blessed else 'NOT_BLESSED'}")
