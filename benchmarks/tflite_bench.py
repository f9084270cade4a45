"""On-device export: size and per-clip latency of the TFLite file vs the Keras model.

    python -m benchmarks.tflite_bench                     # the demo's model, untrained
    python -m benchmarks.tflite_bench --model_dir=runs/demo

One clip of 1 s per call (batch 1, as on a device), raw audio in, embedding and logits
out, STFT inside both. The Keras model runs as a `tf.function` (TensorFlow's default
threads); the TFLite file in `tf.lite.Interpreter` (XNNPACK) with 1 and with all threads.
Both are timed in this invocation, alternately, median call time (`common.time_calls`);
the ratio is Keras / TFLite (above 1: TFLite faster). Without `--model_dir` the model is
the demo's architecture (configs/demo.flags: CLAR, 2D ResNet18 at width 0.25, paper
frontend, 10 classes) with its initial weights: size and speed do not depend on them.
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
from clar_tf import export, tflite_export  # noqa: E402
from clar_tf.models import factory  # noqa: E402


def _demo_inference(tmp):
    """The demo run's inference model (initial weights), saved like a run saves it."""
    config = config_lib.Config(model_dir=tmp, dataset="spoken_digits", width=0.25,
                               head_hidden_units=512, projection_units=128)
    model = factory.build_model(config, 10, 16000)
    info = type("Info", (), {"class_names": [str(i) for i in range(10)]})()
    export.save_inference_model(model, info, tmp)
    return os.path.join(tmp, "inference.keras")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", help="a finished clar_tf run (default: the demo's "
                        "architecture, untrained)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing per row")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = (os.path.join(args.model_dir, "inference.keras") if args.model_dir
                else _demo_inference(tmp))
        inference = keras.saving.load_model(path)
        keras_bytes = os.path.getsize(path)
        flatbuffer = tflite_export.convert(inference)
    clip = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 16000)).astype(np.float32)
    keras_fn = tf.function(lambda x: inference(x, training=False))
    expected = {k: np.asarray(v) for k, v in keras_fn(clip).items()}

    rows = {"keras_file_bytes": keras_bytes, "tflite_file_bytes": len(flatbuffer),
            "parameters": int(inference.count_params())}
    runners = {}
    for threads in (1, os.cpu_count()):
        interpreter = tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads)
        runner = interpreter.get_signature_runner("serving_default")
        out = runner(audio=clip)
        rows[f"max_abs_diff_threads{threads}"] = max(
            float(np.abs(out[k] - expected[k]).max()) for k in expected)
        runners[threads] = runner
    for threads, runner in runners.items():
        keras_s = common.time_calls(lambda: keras_fn(clip)["embedding"].numpy(),
                                    args.seconds, warmup=3)
        tflite_s = common.time_calls(lambda: runner(audio=clip), args.seconds, warmup=3)
        rows[f"keras_ms_per_clip_vs_threads{threads}"] = 1e3 * keras_s
        rows[f"tflite_ms_per_clip_threads{threads}"] = 1e3 * tflite_s
        rows[f"ratio_keras_over_tflite_threads{threads}"] = keras_s / tflite_s

    print(f"parameters {rows['parameters']:,}; .keras {keras_bytes / 2**20:.2f} MiB, "
          f".tflite {len(flatbuffer) / 2**20:.2f} MiB "
          f"(ratio {len(flatbuffer) / keras_bytes:.2f})")
    print("| TFLite threads | Keras ms/clip | TFLite ms/clip | Keras / TFLite | max |diff| |")
    print("|---|---|---|---|---|")
    for threads in runners:
        print(f"| {threads} | {rows[f'keras_ms_per_clip_vs_threads{threads}']:.2f} | "
              f"{rows[f'tflite_ms_per_clip_threads{threads}']:.2f} | "
              f"{rows[f'ratio_keras_over_tflite_threads{threads}']:.2f}× | "
              f"{rows[f'max_abs_diff_threads{threads}']:.1e} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
