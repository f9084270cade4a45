"""Temporal augmentations of CLAR (paper §5): time shift (TS), fade in/out (FD) and time
masking (TM)."""
import math

import keras
import tensorflow as tf

from clar_tf import checks
from clar_tf.audio import dsp
from clar_tf.layers.augmentation import PACKAGE, Augmentation, randint


@keras.saving.register_keras_serializable(package=PACKAGE)
class TimeShift(Augmentation):
    """Time shift (TS): circular roll by an integer k uniform in [-m, m].

    With m = ⌊max_fraction·L⌋, y[i] = x[(i - k) mod L], i.e. `np.roll(x, k)`; samples that leave one end re-enter at
    the other. Params: {"shift": int32 [B]}.

    Args:
      max_fraction: largest shift as a fraction of the clip, in [0, 1]. Default 0.5 (paper).

    Example:

    >>> import keras
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((2, 8000), seed=0)
    >>> layer = layers.TimeShift(seed=0)
    >>> out = layer(x, training=True)
    >>> tuple(out.shape)
    (2, 8000)
    >>> bool(keras.ops.all(layer(x) == x))  # training=False (default): the identity
    True
    >>> bool(keras.ops.all(out == x))  # training=True: shifted
    False
    >>> clip = keras.ops.convert_to_tensor([[1.0, 2.0, 3.0, 4.0]])
    >>> shift = keras.ops.convert_to_tensor([1])  # the two-step API with a fixed shift
    >>> keras.ops.convert_to_numpy(layer.augment(clip, {"shift": shift})).tolist()
    [[4.0, 1.0, 2.0, 3.0]]
    """

    def __init__(self, max_fraction=0.5, **kwargs):
        super().__init__(**kwargs)
        checks.check_range("max_fraction", max_fraction, "max_fraction", max_fraction, 0.0, 1.0)
        self.max_fraction = max_fraction

    def _sample(self, batch_size, length):
        m = tf.floor(self.max_fraction * tf.cast(length, tf.float32))
        return {"shift": randint(self.seed_generator, batch_size, -m, m)}

    def _augment(self, x, params):
        return dsp.shift_rows(x, params["shift"], wrap=True)

    def get_config(self):
        return {**super().get_config(), "max_fraction": self.max_fraction}


def _fade_linear(t):
    return t


def _fade_logarithmic(t):
    return tf.math.log(1.0 + 9.0 * t) / math.log(10.0)


def _fade_exponential(t):
    return (tf.pow(10.0, t) - 1.0) / 9.0


def _fade_quarter_sine(t):
    return tf.sin(0.5 * math.pi * t)


def _fade_half_sine(t):
    return 0.5 - 0.5 * tf.cos(math.pi * t)


_FADES = {
    "linear": _fade_linear,
    "logarithmic": _fade_logarithmic,
    "exponential": _fade_exponential,
    "quarter_sine": _fade_quarter_sine,
    "half_sine": _fade_half_sine,
}
FADE_SHAPES = tuple(_FADES)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Fade(Augmentation):
    """Fade in/out (FD): gain ramps at both ends of the clip.

    Per example: fade-in length a and fade-out length b, each an integer uniform in
    [⌊min_fraction·L⌋, ⌊max_fraction·L⌋], and one shape g drawn uniformly from `shapes`,
    used at both ends. Sample i (0-based) is multiplied by

        g(min(i / a, 1)) · g(min((L - 1 - i) / b, 1))      (a factor is 1 when its length is 0)

    so the first (last) sample is 0 when a > 0 (b > 0), and the middle is untouched. Shapes,
    t ∈ [0, 1], all rising from g(0) = 0 to g(1) = 1:

        linear        g(t) = t
        logarithmic   g(t) = log10(1 + 9t)        (fast start, concave)
        exponential   g(t) = (10^t - 1) / 9       (slow start, convex; inverse of log)
        quarter_sine  g(t) = sin(πt/2)            (authors' code only)
        half_sine     g(t) = (1 - cos πt) / 2     (authors' code only)

    The paper uses linear / logarithmic / exponential with probability 1/3 each (default).
    Params: {"fade_in": int32 [B], "fade_out": int32 [B], "shape": int32 [B] index into
    `shapes`}.

    Args:
      min_fraction, max_fraction: fade length range as fractions of L, 0 ≤ min ≤ max ≤ 1.
        Default [0, 0.5] (paper: "at maximum ... half of the audio signal").
      shapes: names from `FADE_SHAPES`.

    Example:

    >>> import keras
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((2, 8000), seed=0)
    >>> layer = layers.Fade(seed=0)
    >>> out = layer(x, training=True)
    >>> tuple(out.shape)
    (2, 8000)
    >>> bool(keras.ops.all(layer(x) == x))  # training=False (default): the identity
    True
    >>> bool(keras.ops.all(out == x))  # training=True: faded
    False
    >>> # A linear fade-in over 4 samples and fade-out over 2, on an 8-sample clip:
    >>> params = {"fade_in": keras.ops.convert_to_tensor([4]),
    ...           "fade_out": keras.ops.convert_to_tensor([2]),
    ...           "shape": keras.ops.convert_to_tensor([0])}  # index into `shapes`
    >>> keras.ops.convert_to_numpy(layers.Fade(shapes=["linear"]).envelope(8, params)).tolist()
    [[0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.0]]
    """

    def __init__(self, min_fraction=0.0, max_fraction=0.5,
                 shapes=("linear", "logarithmic", "exponential"), **kwargs):
        super().__init__(**kwargs)
        checks.check_range("min_fraction", min_fraction, "max_fraction", max_fraction, 0.0, 1.0)
        shapes = checks.check_names("shapes", shapes, FADE_SHAPES)
        self.min_fraction = min_fraction
        self.max_fraction = max_fraction
        self.shapes = shapes

    def _sample(self, batch_size, length):
        n = tf.cast(length, tf.float32)
        lo = tf.floor(self.min_fraction * n)
        hi = tf.floor(self.max_fraction * n)
        return {
            "fade_in": randint(self.seed_generator, batch_size, lo, hi),
            "fade_out": randint(self.seed_generator, batch_size, lo, hi),
            "shape": randint(self.seed_generator, batch_size, 0, len(self.shapes) - 1),
        }

    def envelope(self, length, params):
        """The gain [B, length] that `augment` multiplies by."""
        i = tf.range(length, dtype=tf.float32)[None, :]
        a = tf.cast(params["fade_in"], tf.float32)[:, None]
        b = tf.cast(params["fade_out"], tf.float32)[:, None]
        t_in = tf.where(a > 0, tf.minimum(i / tf.maximum(a, 1.0), 1.0), 1.0)
        t_out = tf.where(b > 0, tf.minimum((tf.cast(length, tf.float32) - 1.0 - i)
                                           / tf.maximum(b, 1.0), 1.0), 1.0)
        shape = params["shape"][:, None]
        env = None
        for k, name in enumerate(self.shapes):
            g = _FADES[name]
            e = g(t_in) * g(t_out)
            env = e if env is None else tf.where(shape == k, e, env)
        return env

    def _augment(self, x, params):
        return x * self.envelope(tf.shape(x)[1], params)

    def get_config(self):
        return {**super().get_config(), "min_fraction": self.min_fraction,
                "max_fraction": self.max_fraction, "shapes": list(self.shapes)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TimeMask(Augmentation):
    """Time masking (TM): overwrite one random segment.

    Per example a length n, an integer uniform in [⌊min_fraction·L⌋, ⌊max_fraction·L⌋],
    and a start s uniform in [0, L - n]; samples s ≤ i < s + n are replaced by Gaussian noise of
    standard deviation `noise_std` (`fill="noise"`, the default, as in the authors' code) or
    by zeros (`fill="zeros"`). Params: {"start": int32 [B], "length": int32 [B],
    "noise": float32 [B, max(⌊max_fraction·L⌋, 1)] standard normal, sample s + k of the
    segment gets noise[k] (fill="noise" only)}.

    Args:
      min_fraction, max_fraction: 0 ≤ min ≤ max ≤ 1. Default [0, 1/8] (paper); the authors'
        code masks exactly 1/8 (min_fraction=max_fraction=0.125).
      fill: "noise" or "zeros".
      noise_std: standard deviation of the noise fill. Default 0.01.

    Example:

    >>> import keras
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((2, 8000), seed=0)
    >>> layer = layers.TimeMask(seed=0)
    >>> out = layer(x, training=True)
    >>> tuple(out.shape)
    (2, 8000)
    >>> bool(keras.ops.all(layer(x) == x))  # training=False (default): the identity
    True
    >>> bool(keras.ops.all(out == x))  # training=True: one segment masked
    False
    >>> # The authors' fixed mask of L/8 = 1000 samples, filled with zeros:
    >>> zeros = layers.TimeMask(min_fraction=0.125, fill="zeros", seed=0)(x, training=True)
    >>> keras.ops.convert_to_numpy(keras.ops.sum(zeros == 0, axis=1)).tolist()
    [1000, 1000]
    """

    def __init__(self, min_fraction=0.0, max_fraction=0.125, fill="noise", noise_std=0.01,
                 **kwargs):
        super().__init__(**kwargs)
        checks.check_range("min_fraction", min_fraction, "max_fraction", max_fraction, 0.0, 1.0)
        checks.check_choice("fill", fill, ("noise", "zeros"))
        checks.check_range("noise_std", noise_std, "noise_std", noise_std, lower=0.0)
        self.min_fraction = min_fraction
        self.max_fraction = max_fraction
        self.fill = fill
        self.noise_std = noise_std

    def _sample(self, batch_size, length):
        n = tf.cast(length, tf.float32)
        size = randint(self.seed_generator, batch_size, tf.floor(self.min_fraction * n),
                        tf.floor(self.max_fraction * n))
        start = randint(self.seed_generator, batch_size, 0,
                         n - tf.cast(size, tf.float32))
        params = {"start": start, "length": size}
        if self.fill == "noise":  # only as many draws as the longest segment needs
            params["noise"] = keras.random.normal((batch_size, self._max_size(length)),
                                                  seed=self.seed_generator)
        return params

    def _max_size(self, length):
        if isinstance(length, int):
            return max(int(math.floor(self.max_fraction * length)), 1)
        return tf.maximum(tf.cast(tf.floor(self.max_fraction * tf.cast(length, tf.float32)),
                                  tf.int32), 1)

    def mask(self, length, params):
        """Boolean [B, length], True inside the masked segment."""
        i = tf.range(length)[None, :]
        s = params["start"][:, None]
        return (i >= s) & (i < s + params["length"][:, None])

    def _augment(self, x, params):
        length = tf.shape(x)[1]
        if self.fill == "noise":  # noise[k] at sample start + k
            noise = dsp.fit_length(params["noise"], length)
            fill = self.noise_std * dsp.shift_rows(noise, params["start"], wrap=False)
        else:
            fill = tf.zeros_like(x)
        return tf.where(self.mask(length, params), fill, x)

    def get_config(self):
        return {**super().get_config(), "min_fraction": self.min_fraction,
                "max_fraction": self.max_fraction, "fill": self.fill,
                "noise_std": self.noise_std}

