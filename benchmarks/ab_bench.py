"""A/B timings of the design choices behind clar_tf's speed, each pair in one process.

    python -m benchmarks.ab_bench            # about 2 min on 2 cores

Each row times the old way (A) and the current way (B) of one piece, alternating A, B, A, B
and reporting medians, so both see the same machine load:

  chain shards   the 6-op augmentation chain (batch 128 × 1 s) in a plain tf.function,
                 one nested XLA call per layer (A) vs one per core (B, `clar_tf.audio.xla.sharded`)
  batch norm     a ResNet18-2D training step (batch 64, [126, 128, 3], Adam) with Keras'
                 `BatchNormalization` (A) vs `FusedBatchNormalization` (B)
  padding        the same step with explicit `ZeroPadding2D` before every convolution (A)
                 vs `padding="same"` for the stride-1 ones (B)
  phase          the paper frontend's phase (batch 64): angle of every STFT bin (A, what
                 `kapre.Phase` computes) vs atan2 of the 128 kept bins (B)
  log bins       the authors' frontend's log-frequency interpolation (batch 64): a dense
                 (1025, 128) matmul (A) vs two gathers (B), both under XLA as in the
                 layer's nested call

The last two run with one TensorFlow thread (per-core figures, as frontend_bench.py).
"""
import argparse
import os
import time

from benchmarks import common

common.setup_environment()


def _median_seconds(fn, calls=6):
    fn()
    fn()  # compile / warm up
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _ab(name, make_a, make_b, unit_count, unit):
    """Builds both callables, alternates them twice, prints A, B and B's speed-up."""
    a, b = make_a(), make_b()
    ta = min(_median_seconds(a), _median_seconds(a))
    tb = min(_median_seconds(b), _median_seconds(b))
    print(f"| {name} | {unit_count / ta:,.0f} | {unit_count / tb:,.0f} | {unit} | "
          f"{ta / tb:.2f}× |", flush=True)


def main():
    import keras
    import numpy as np
    import tensorflow as tf

    from clar_tf import layers
    from clar_tf.audio import xla
    from clar_tf.models import resnet

    print(f"CPU: {common.cpu_description()}\n")
    print("| piece | A (old) | B (current) | unit | B / A speed |")
    print("|---|---:|---:|---|---:|")
    rng = np.random.default_rng(0)

    # --- chain shards
    audio = tf.constant(rng.normal(size=(128, 16000)).astype("float32"))

    def chain_fn(shards):
        def make():
            xla.host_shards = lambda: shards
            chain = layers.from_spec("FD+TM+TST+PS+TS+WN", seed=0)
            fn = tf.function(lambda v: chain(v, training=True))
            fn(audio)  # trace with this shard count
            return lambda: fn(audio).numpy()
        return make

    cores = xla.host_shards()
    _ab(f"chain shards (1 vs {cores})", chain_fn(1), chain_fn(cores), 128, "clips/s")

    # --- batch norm and padding on a ResNet18-2D step
    features = tf.random.normal((64, 126, 128, 3))

    def step_fn(bn_cls=None, explicit_pad=False):
        def make():
            saved = (resnet.FusedBatchNormalization, resnet._Ops.conv)
            if bn_cls is not None:
                resnet.FusedBatchNormalization = bn_cls
            if explicit_pad:
                def conv(self, x, filters, kernel, stride, name):
                    x = self.pad(x, kernel // 2, name=f"{name}_pad")
                    return self.conv_cls(filters, kernel, strides=stride, padding="valid",
                                         use_bias=False, name=name)(x)
                resnet._Ops.conv = conv
            try:
                model = resnet.resnet18_2d((126, 128, 3))
            finally:
                resnet.FusedBatchNormalization, resnet._Ops.conv = saved
            optimizer = keras.optimizers.Adam()

            @tf.function
            def step(x):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.square(model(x, training=True)))
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables))
                return loss
            return lambda: step(features).numpy()
        return make

    _ab("batch norm (Keras vs fused), ResNet18-2D step", step_fn(keras.layers.BatchNormalization),
        step_fn(), 64, "examples/s")
    _ab("stride-1 padding (ZeroPadding2D vs same), ResNet18-2D step",
        step_fn(explicit_pad=True), step_fn(), 64, "examples/s")

    # --- frontend pieces: TF's thread counts are fixed once it has run an op, so the
    # one-thread rows run in a child process
    import subprocess
    subprocess.run(common.worker_command(__spec__.name), check=True,
                   env={**os.environ, "AB_CHILD": "1"})


def frontend_pieces():
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import numpy as np

    from clar_tf.layers import frontend

    rng = np.random.default_rng(0)
    paper = frontend.Frontend()
    x = tf.constant(rng.normal(size=(64, 16256)).astype("float32"))
    spec = paper.stft(x[:, :, None])[..., 0]
    angle_all = tf.function(lambda s: tf.math.angle(s)[..., :128])
    atan2_kept = tf.function(lambda s: tf.math.atan2(tf.math.imag(s)[..., :128],
                                                     tf.math.real(s)[..., :128]))
    _ab("phase, paper (angle of all bins vs atan2 of kept bins), 1 thread",
        lambda: lambda: angle_all(spec).numpy(), lambda: lambda: atan2_kept(spec).numpy(),
        64, "clips/s")

    authors = frontend.Frontend(variant="authors")
    y = tf.constant(rng.normal(size=(64, 18048)).astype("float32"))
    mag = tf.abs(authors.stft(y[:, :, None])[..., 0])
    matrix = tf.constant(frontend.log_interpolation_filterbank(16000, 2048, 128, 40.0, 8000.0))
    lo, hi, frac = frontend.log_interpolation_taps(16000, 2048, 128, 40.0, 8000.0)
    dense = tf.function(lambda m: tf.tensordot(m, matrix, 1), jit_compile=True)
    taps = tf.function(lambda m: tf.gather(m, lo, axis=2) * (1.0 - frac)
                       + tf.gather(m, hi, axis=2) * frac, jit_compile=True)
    _ab("log bins, authors (dense matmul vs two gathers, XLA as in the layer), 1 thread",
        lambda: lambda: dense(mag).numpy(), lambda: lambda: taps(mag).numpy(), 64, "clips/s")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    if os.environ.get("AB_CHILD") == "1":
        frontend_pieces()
    else:
        main()
