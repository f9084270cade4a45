"""TFX components of clar_tf (run in the TFX venv: `bash tools/tfx_env.sh`).

* `audio_example_gen.AudioExampleGen`: a clar_tf dataset, prepared by its TFDS builder,
  as an `Examples` artifact whose uri is the TFDS data_dir.
* `trainer_module.run_fn`: the standard TFX `Trainer`'s entry point; calls
  `clar_tf.train.run` and `clar_tf.export.export_saved_model`.
* `linear_evaluator.LinearEvaluator`: the run's linear-evaluation top-1 → a
  `ModelEvaluation` (metrics.json) and a `ModelBlessing` the standard `Pusher` obeys.

The rest of `clar_tf` never imports TFX, nor this package or `clar_tf.pipelines`: these
two are its only TFX-facing code (`pip install "clar_tf[tfx]"`). See docs/tfx.md.
"""
