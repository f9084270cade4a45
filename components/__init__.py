"""The TFX components around clar_tf (run in the TFX venv, `bash tools/tfx_env.sh`, from
the repository root, as in TFX's templates; on Kubeflow, the image's working folder).

* `audio_example_gen.AudioExampleGen`: a clar_tf dataset's source files as standard
  `Examples` (`Split-*/` gzipped TFRecords of tf.Example), written by a Beam pipeline.
* `anomaly_gate.AnomalyGate`: fails the run before the Trainer when ExampleValidator
  found anomalies (unless `allow_anomalies`).
* `trainer_module.run_fn`: the standard TFX `Trainer`'s entry point; calls
  `clar_tf.train.run` and `clar_tf.export.export_saved_model`.
* `linear_evaluator.LinearEvaluator`: the run's linear-evaluation top-1 → a
  `ModelEvaluation` (metrics.json) and a `ModelBlessing` the standard `Pusher` obeys.

They import `clar_tf`; `clar_tf` never imports TFX, this folder or `pipelines/`
(`tests/imports_test.py`), so `pip install clar_tf` is the library alone. See docs/tfx.md.
"""
