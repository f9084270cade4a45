"""Batch normalization whose training step is TensorFlow's fused kernel.

Keras 3's `BatchNormalization` computes the batch moments and the normalization as
separate ops (two reductions, then elementwise work, and as many again in the backward
pass). TensorFlow's `FusedBatchNormV3` (what Keras 2 used with `fused=True`) does each
direction in one kernel; on the CPU (oneDNN) that made a ResNet18-2D training step about
10 % faster (benchmarks/train_bench.py). `FusedBatchNormalization` keeps every argument,
weight and moving statistic of the Keras layer and uses the fused kernel only where it
computes the same thing:

- training mode of a trainable layer (otherwise the Keras path, moving statistics),
- normalization over the last axis, `center` and `scale` on, no mask,
- not `synchronized` (cross-replica moments stay with Keras' all-reduce),
- the TensorFlow backend.

The fused kernel returns the Bessel-corrected batch variance for the moving average;
Keras updates it with the biased one, so it is rescaled by (n - 1) / n (n = values per
channel). Inputs in float16 / bfloat16 are normalized in float32 inside the kernel and
returned in the input dtype (Keras upcasts around the same computation).
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="clar_tf")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with a fused training step (see module docstring).

    Same arguments as the Keras layer. Input: any rank ≥ 2 with channels last (the 1D and
    2D ResNets' `[B, L, C]` and `[B, H, W, C]`); output: same shape and dtype.
    """

    def _fusable(self, inputs, mask):
        return (keras.backend.backend() == "tensorflow" and mask is None
                and not self.synchronized and self.center and self.scale
                and self.axis in (-1, len(inputs.shape) - 1))

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        x = tf.convert_to_tensor(inputs)
        if x.dtype not in (tf.float16, tf.bfloat16, tf.float32):
            x = tf.cast(x, tf.float32)
        shape = tf.shape(x)
        # The kernel wants NHWC; every position of every example is one sample of each
        # channel, so other ranks go in as [1, N, 1, C].
        flat = x if x.shape.rank == 4 else tf.reshape(x, [1, -1, 1, x.shape[-1]])
        y, mean, var = tf.compat.v1.nn.fused_batch_norm(
            flat, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32),
            epsilon=self.epsilon, is_training=True)
        n = tf.cast(tf.size(x) // shape[-1], tf.float32)
        var = var * (n - 1.0) / tf.maximum(n, 1.0)  # Bessel-corrected → biased
        self.moving_mean.assign(self.moving_mean * self.momentum
                                + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum
                                    + var * (1.0 - self.momentum))
        return tf.cast(tf.reshape(y, shape), self.compute_dtype)
