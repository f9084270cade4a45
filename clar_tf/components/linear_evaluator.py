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
  the `Model` is given.
"""
import json
import os

from tfx import v1 as tfx

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

    with open(run_dir.path(model_dir, run_dir.CONFIG)) as f:
        config = config_lib.Config.from_json(f.read())
    embedder = loading.load_model(run_dir.path(model_dir, run_dir.ENCODER))
    return evaluate.linear_evaluation(config, embedder)


def evaluate_run(model_dir, threshold, metric="top1", recompute=False):
    """The metrics dict of the run in `model_dir`, with the blessing decision."""
    path = os.path.join(model_dir, RESULTS_FILE)
    if recompute or not os.path.exists(path):
        results, source = _recompute(model_dir), "recomputed"
    else:
        with open(path) as f:
            results, source = json.load(f), RESULTS_FILE
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
    os.makedirs(evaluation.uri, exist_ok=True)
    with open(os.path.join(evaluation.uri, METRICS_FILE), "w") as f:
        json.dump(metrics, f, indent=2)
    for name in {"top1", metric}:
        if isinstance(metrics.get(name), (int, float)):
            evaluation.set_float_custom_property(name, float(metrics[name]))
    blessed = metrics["blessed"]
    os.makedirs(blessing.uri, exist_ok=True)
    with open(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w"):
        pass
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("metric", metric)
    blessing.set_float_custom_property("value", metrics["value"])
    blessing.set_float_custom_property("threshold", float(threshold))
    if model is not None:
        blessing.set_string_custom_property("current_model", model.uri)
        blessing.set_int_custom_property("current_model_id", model.id)
    print(f"LinearEvaluator: {metric} = {metrics['value']:.4f} "
          f"{'>=' if blessed else '<'} {threshold} → "
          f"{'BLESSED' if blessed else 'NOT_BLESSED'}")
