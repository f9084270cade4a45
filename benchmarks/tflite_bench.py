"""On-device export: size, latency and accuracy of the TFLite files, float32 and quantized.

    python -m benchmarks.tflite_bench                  # the demo's model, untrained
    python -m benchmarks.tflite_bench --model_dir=runs/demo [--data_dir=data/tfds \
        --manual_dir=data/spoken_digits]              # a trained run: + accuracy

Converts the run's `inference.keras` three times (`clar_tf.tflite_export.convert`:
`none`, `dynamic`, `float16`, the `--tflite_quantize` modes) and for each file:

  * its size, and its latency per 1-s clip: one clip per call (batch 1, as on a
    device), raw audio in, embedding and logits out, STFT inside, in
    `clar_tf.tflite_export.interpreter()` (LiteRT's interpreter, XNNPACK) with 1 thread,
    median call time (`common.time_calls`). The reference, timed in the same invocation:
    the Keras model as a `tf.function` (TensorFlow's threads).
  * with `--model_dir` (a finished run) the accuracy change on its evaluation dataset's
    test split: a linear classifier fitted on the float32 file's embeddings of the
    training split (`clar_tf.evaluate`'s recipe: standardised embeddings, one dense
    layer, Adam 1e-3, the run's linear-eval epochs, batch and seed), then applied to
    the test split's embeddings from each file: top-1, and agreement with the classes
    of the float32 file's embeddings. Where the model has a classifier (supervised,
    CLAR) also its own logits: top-1 and agreement with the float32 file's.

Without `--model_dir` the model is the demo's architecture (configs/demo.flags: CLAR, 2D
ResNet18 at width 0.25, paper frontend, 10 classes) with its initial weights: size and
speed do not depend on them; there is no accuracy then.
"""
import argparse
import json
import os
import tempfile

from benchmarks import common

common.setup_environment()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from clar_tf import config as config_lib  # noqa: E402
from clar_tf import evaluate, export, input_pipeline, run_dir, tflite_export  # noqa: E402
from clar_tf.models import factory, loading  # noqa: E402

MODES = tflite_export.QUANTIZE_MODES
BATCH = 50  # clips per interpreter call when embedding a split


def _demo_inference(tmp):
    """The demo run's inference model (initial weights), saved like a run saves it."""
    config = config_lib.Config(model_dir=tmp, dataset="spoken_digits", width=0.25,
                               head_hidden_units=512, projection_units=128)
    model = factory.build_model(config, 10, 16000)
    info = type("Info", (), {"class_names": [str(i) for i in range(10)]})()
    export.save_inference_model(model, info, tmp)
    return os.path.join(tmp, "inference.keras")


def _runner(flatbuffer, batch, threads):
    interpreter = tflite_export.interpreter(model_content=flatbuffer, num_threads=threads)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"],
                                    [batch, interpreter.get_input_details()[0]["shape"][1]])
    interpreter.allocate_tensors()
    return interpreter.get_signature_runner("serving_default")


def _outputs(flatbuffer, audio):
    """The file's outputs on `audio` [N, L], `BATCH` clips a call (the last zero-padded)."""
    runner = _runner(flatbuffer, BATCH, os.cpu_count())
    outs = {}
    for start in range(0, len(audio), BATCH):
        chunk = audio[start:start + BATCH]
        padded = np.zeros((BATCH, audio.shape[1]), np.float32)
        padded[:len(chunk)] = chunk
        for name, value in runner(audio=padded).items():
            outs.setdefault(name, []).append(value[:len(chunk)])
    return {name: np.concatenate(parts) for name, parts in outs.items()}


def _split(ds):
    clips = list(ds.as_numpy_iterator())
    return (np.stack([c["audio"] for c in clips]).astype(np.float32),
            np.array([c["label"] for c in clips], np.int64))


def _linear_classifier(x_train, y_train, num_classes, *, epochs, batch_size, seed):
    """`clar_tf.evaluate.linear_eval`'s classifier (same standardisation, layer, optimizer,
    steps and seed), kept to classify several test sets: returns x → classes."""
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    keras.utils.set_random_seed(seed)
    classifier = keras.Sequential([keras.Input((x_train.shape[1],)),
                                   keras.layers.Dense(num_classes)])
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    steps = max(epochs * -(-len(x_train) // batch_size), evaluate.MIN_STEPS)
    data = (tf.data.Dataset.from_tensor_slices(((x_train - mean) / std, y_train))
            .shuffle(len(x_train), seed=seed).repeat().batch(batch_size))
    classifier.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    return lambda x: keras.ops.convert_to_numpy(classifier((x - mean) / std)).argmax(1)


def _accuracy(args, files, inference):
    """{mode: figures} of the accuracy change on the run's evaluation test split."""
    config = config_lib.Config.from_json(
        run_dir.read_text(run_dir.path(args.model_dir, run_dir.CONFIG)))
    config = config.replace(**{k: getattr(args, k) for k in ("data_dir", "manual_dir")
                               if getattr(args, k)})
    input_pipeline.make_demo_data(config)
    clip_length = int(inference.inputs[0].shape[1])
    info, train_ds, test_ds = input_pipeline.eval_datasets(config, clip_length)
    (x_train, y_train), (x_test, y_test) = _split(train_ds), _split(test_ds)
    train = _outputs(files["none"], x_train)["embedding"]
    tests = {mode: _outputs(flatbuffer, x_test) for mode, flatbuffer in files.items()}
    classify = _linear_classifier(train, y_train, info.num_classes,
                                  **evaluate.classifier_args(config))
    classes = {mode: classify(out["embedding"]) for mode, out in tests.items()}
    scale = float(np.abs(tests["none"]["embedding"]).max())
    rows = {}
    for mode, out in tests.items():
        row = {"linear_top1": float((classes[mode] == y_test).mean()),
               "linear_agreement": float((classes[mode] == classes["none"]).mean()),
               "max_abs_embedding_diff": float(
                   np.abs(out["embedding"] - tests["none"]["embedding"]).max())}
        if "logits" in out:
            own, ref = out["logits"].argmax(1), tests["none"]["logits"].argmax(1)
            row.update(logits_top1=float((own == y_test).mean()),
                       logits_agreement=float((own == ref).mean()))
        rows[mode] = row
    # The same recipe through clar_tf.evaluate itself, on the float32 file's embeddings
    # (a check of the copy above), and the run's own score (Keras, results.json).
    reference = evaluate.linear_eval((train, y_train), (tests["none"]["embedding"], y_test),
                                     info.num_classes, **evaluate.classifier_args(config))
    results = run_dir.read_json(args.model_dir, run_dir.RESULTS) or {}
    return rows, {"train_clips": len(x_train), "test_clips": len(x_test),
                  "max_abs_embedding_float": scale,
                  "evaluate_linear_eval_top1_float": reference["top1"],
                  "results_json_top1": results.get("top1"),
                  "eval_dataset": config.eval_dataset or config.dataset}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", help="a finished clar_tf run (default: the demo's "
                        "architecture, untrained; no accuracy)")
    parser.add_argument("--data_dir", help="the run's TFDS folder (default: its config's)")
    parser.add_argument("--manual_dir", help="the run's dataset folder (default: its "
                        "config's)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing per row")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = (os.path.join(args.model_dir, "inference.keras") if args.model_dir
                else _demo_inference(tmp))
        inference = loading.load_model(path)
        keras_bytes = os.path.getsize(path)
    files = {mode: tflite_export.convert(inference, mode) for mode in MODES}
    clip = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 16000)).astype(np.float32)
    keras_fn = tf.function(lambda x: inference(x, training=False))
    keras_fn(clip)
    runners = {mode: _runner(flatbuffer, 1, 1) for mode, flatbuffer in files.items()}
    figures = {"runtime": tflite_export.runtime(), "cpu": common.cpu_description(),
               "parameters": int(inference.count_params()), "keras_file_bytes": keras_bytes,
               "keras_ms_per_clip": 1e3 * common.time_calls(
                   lambda: keras_fn(clip)["embedding"].numpy(), args.seconds, warmup=3)}
    rows = {mode: {"file_bytes": len(files[mode]),
                   "ms_per_clip_1_thread": 1e3 * common.time_calls(
                       lambda r=runner: r(audio=clip), args.seconds, warmup=3)}
            for mode, runner in runners.items()}
    if args.model_dir:
        accuracy, figures["accuracy"] = _accuracy(args, files, inference)
        for mode in MODES:
            rows[mode].update(accuracy[mode])
    figures["files"] = rows

    print(f"{figures['runtime']}; {figures['cpu']}; parameters {figures['parameters']:,}; "
          f"Keras (tf.function, TensorFlow's threads) {figures['keras_ms_per_clip']:.2f} "
          f"ms per clip, .keras {keras_bytes / 2**20:.2f} MiB")
    header = ["--tflite_quantize", "file size", "vs none", "ms per 1-s clip (1 thread)"]
    if args.model_dir:
        header += ["linear top-1", "agreement with none", "logits top-1",
                   "logits agreement"]
    table = []
    for mode, row in rows.items():
        line = [mode, f"{row['file_bytes'] / 2**20:.2f} MiB ({row['file_bytes']:,} B)",
                f"{row['file_bytes'] / rows['none']['file_bytes']:.2f}",
                f"{row['ms_per_clip_1_thread']:.2f}"]
        if args.model_dir:
            line += [f"{row['linear_top1']:.4f}", f"{row['linear_agreement']:.4f}",
                     f"{row['logits_top1']:.4f}" if "logits_top1" in row else "–",
                     f"{row['logits_agreement']:.4f}" if "logits_top1" in row else "–"]
        table.append(line)
    common.print_table(header, table)
    if args.model_dir:
        a = figures["accuracy"]
        print(f"{a['eval_dataset']}: classifier fitted on {a['train_clips']} training clips "
              f"(float32 file), scored on {a['test_clips']} test clips; max |embedding| "
              f"{a['max_abs_embedding_float']:.3g}, max |difference| from the float32 "
              "file's: " + ", ".join(f"{m} {rows[m]['max_abs_embedding_diff']:.3g}"
                                     for m in MODES[1:]) + "; clar_tf.evaluate."
              f"linear_eval on the float32 file's embeddings: top-1 "
              f"{a['evaluate_linear_eval_top1_float']:.4f}; the run's results.json: "
              f"{a['results_json_top1']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
