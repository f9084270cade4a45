"""The base of the augmentation layers: seeded per-example draws, the two-step API and
the nested-XLA execution.

See `clar_tf.layers` for the layers themselves and the paper's abbreviations.
"""
import keras
import tensorflow as tf

from clar_tf import checks
from clar_tf.audio import dsp, xla

PACKAGE = "clar_tf"  # registered names: "clar_tf>ClassName"


def randint(gen, batch_size, low, high):
    """Integers uniform in [low, high] (both inclusive, float or tensor bounds), int32 [B]."""
    low = tf.cast(low, tf.float32)
    high = tf.cast(high, tf.float32)
    u = keras.random.uniform((batch_size,), seed=gen)
    k = tf.floor(low + u * (high - low + 1.0))
    return tf.cast(tf.minimum(k, high), tf.int32)



class Augmentation(keras.layers.Layer):
    """Base class: seeded per-example random augmentation of `[B, L]` waveforms.

    Subclasses implement `_sample(batch_size, length) -> dict` and
    `_augment(x, params) -> y` on float32 tensors.

    Args:
      p: probability that an example is augmented at all (per example; the augmented
        version is still computed for the whole batch). Default 1.0 (the paper: the
        parameter ranges themselves include "no transformation"); the authors' code wraps
        each augmentation in a random-apply with p = 0.5.
      seed: int or None, seed of the layer's `keras.random.SeedGenerator`.
      jit_compile: when the layer runs inside a plain (not XLA-compiled) `tf.function`,
        as `model.fit` runs it by default, apply the drawn parameters under XLA anyway (a
        nested `jit_compile=True` function; the random draws stay outside it). XLA fuses
        the elementwise work (envelopes, masks, the vocoder's trigonometry) that a plain
        graph runs op by op, and its gathers are faster on CPU; on GPUs it saves kernel
        launches. On a CPU-only host the batch is cut into one piece per core (at most
        8), each its own XLA call, so the cores share the work. Default True; the result
        is the same up to float rounding. In eager mode and inside XLA functions it
        changes nothing.
    """

    def __init__(self, p=1.0, seed=None, jit_compile=True, **kwargs):
        # The signal processing is float32 (RFFT has no float16 kernel): unless a dtype is
        # given, stay float32 under a global mixed-precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        checks.check_range("p", p, "p", p, lower=0.0, upper=1.0)
        checks.check_seed(seed)
        checks.check_bool("jit_compile", jit_compile)
        self.p = p
        self.seed = seed
        self.jit_compile = jit_compile
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._xla_augment = xla.NestedXla(self._augment)
        self.built = True

    # -- public two-step API
    def sample_params(self, batch_size, length):
        """Draw per-example parameters for a `[batch_size, length]` batch (dict of tensors).

        Under a `tf.distribute` strategy with R replicas every replica holds the same
        seed state, so each draws for the global batch (R · batch_size) and keeps its own
        slice: every example of the global batch gets its own parameters.
        """
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        params = self._sample(batch_size * replicas, length)
        if self.p < 1.0:
            u = keras.random.uniform((batch_size * replicas,), seed=self.seed_generator)
            params["apply"] = u < self.p
        if replicas > 1:
            start = ctx.replica_id_in_sync_group * batch_size
            params = {k: v[start:start + batch_size] for k, v in params.items()}
        return params

    def augment(self, inputs, params):
        """Apply the parameters `params` (from `sample_params`) to `inputs` [B, L]."""
        dtype = inputs.dtype
        x = tf.cast(inputs, tf.float32)
        if self._xla_augment.nested(self.jit_compile):
            y = xla.sharded(self._xla_augment, x,
                            {k: v for k, v in params.items() if k != "apply"})
        else:
            y = self._augment(x, params)
        if "apply" in params:
            y = tf.where(params["apply"][:, None], y, x)
        return tf.cast(y, dtype)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        if len(inputs.shape) != 2:
            raise ValueError(f"{type(self).__name__} expects a [batch, samples] input. "
                             f"Received: shape={inputs.shape}")
        params = self.sample_params(tf.shape(inputs)[0], dsp.static_length(inputs))
        return self.augment(inputs, params)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"p": self.p, "seed": self.seed, "jit_compile": self.jit_compile})
        return config

    def _sample(self, batch_size, length):
        raise NotImplementedError

    def _augment(self, x, params):
        raise NotImplementedError

