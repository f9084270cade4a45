"""TFX pipelines of clar_tf: `pipeline.create_pipeline` and its two thin runners,
`local_runner` (LocalDagRunner, sqlite ML Metadata) and `kubeflow_runner` (Kubeflow
Pipelines v2 JSON). Run them in the TFX venv from the repository root
(`python -m pipelines.local_runner`), as in TFX's templates; see docs/tfx.md."""
