"""AnomalyGate: the Trainer runs only on Examples that ExampleValidator found clean.

TFX's ExampleValidator compares each split's statistics with the schema (SchemaGen's:
the label domain, `label_name`'s ten words for the digits, and the clip length, the
shape of `audio`) and records `blessed` = {split: 1 clean / 0 anomalous} on its
`anomalies` artifact, the details in `Split-<split>/SchemaDiff.pb`. The standard Trainer
does not read them, so the pipeline puts this gate before it (`add_upstream_node`): with
anomalies it fails the run with one message naming each split, feature and anomaly, and
the Trainer never starts, unless `allow_anomalies` (the pipeline's parameter of the
same name) says to train anyway; then it only reports them.
"""
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.components.example_validator import executor as validator_executor
from tfx.types import artifact_utils


def anomaly_lines(anomalies):
    """["<split>: <feature>: <description>", ...] of the anomalous splits of an
    ExampleAnomalies artifact (its `blessed` property and SchemaDiff.pb files)."""
    blessed = anomalies.get_json_value_custom_property(
        validator_executor.ARTIFACT_PROPERTY_BLESSED_KEY) or {}
    lines = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        if blessed.get(split, validator_executor.BLESSED_VALUE) == \
                validator_executor.BLESSED_VALUE:
            continue
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split),
                            validator_executor.DEFAULT_FILE_NAME)
        with tfx.dsl.io.fileio.open(path, "rb") as f:
            found = anomalies_pb2.Anomalies.FromString(f.read())
        lines += [f"{split}: {feature}: {info.short_description} ({info.description})"
                  for feature, info in sorted(found.anomaly_info.items())]
        if found.HasField("dataset_anomaly_info"):
            lines.append(f"{split}: dataset: "
                         f"{found.dataset_anomaly_info.short_description}")
    return lines


@tfx.dsl.components.component
def AnomalyGate(
    anomalies: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ExampleAnomalies],
    allow_anomalies: tfx.dsl.components.Parameter[bool] = False,
):
    """Fails when ExampleValidator found anomalies, unless `allow_anomalies`.

    Args:
      anomalies: ExampleValidator's output.
      allow_anomalies: train on anomalous data anyway (the anomalies are printed).
    """
    lines = anomaly_lines(anomalies)
    if not lines:
        print("AnomalyGate: ExampleValidator found no anomalies")
        return
    text = "; ".join(lines)
    if not allow_anomalies:
        raise ValueError(f"ExampleValidator found anomalies in the Examples, so the Trainer "
                         f"will not run: {text}. Fix the data (or the schema), or pass "
                         "allow_anomalies=True to train anyway")
    print(f"AnomalyGate: training despite anomalies (allow_anomalies=True): {text}")
