"""The TFX components around clar_tf (run in the TFX venv, `bash tools/tfx_env.sh`, from
the repository root, as in TFX's templates; on Kubeflow, the image's working folder).

* `audio_example_gen.AudioExampleGen`: a clar_tf dataset, prepared by its TFDS builder,
  as an `Examples` artifact whose uri is the TFDS data_dir.
* `trainer_module.run_fn`: the standard TFX `Trainer`'s entry point; calls
  `clar_tf.train.run` and `clar_tf.export.export_saved_model`.
* `linear_evaluator.LinearEvaluator`: the run's linear-evaluation top-1 → a
  `ModelEvaluation` (metrics.json) and a `ModelBlessing` the standard `Pusher` obeys.

They import `clar_tf`; `clar_tf` never imports TFX, this folder or `pipelines/`
(`tests/imports_test.py`), so `pip install clar_tf` is the library alone. See docs/tfx.md.
"""
