"""TFX pipelines of clar_tf: `pipeline.create_pipeline` and its two thin runners,
`local_runner` (LocalDagRunner, sqlite ML Metadata) and `kubeflow_runner` (Kubeflow
Pipelines v2 JSON). Run from the repository root in the TFX venv; see docs/tfx.md."""
