"""Noise augmentations of CLAR (paper §5): white noise (WN) and mixed white / pink / brown
noise (MN), each at a signal-to-noise ratio drawn per example."""
import keras
import tensorflow as tf

from clar_tf import checks
from clar_tf.audio import dsp
from clar_tf.layers.augmentation import PACKAGE, Augmentation, randint


def rms(x):
    return tf.sqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True))


def mix_at_snr(x, noise, snr_db):
    """x + noise rescaled so that 20·log10(rms(x) / rms(noise)) equals snr_db (per row)."""
    unit = noise / tf.maximum(rms(noise), 1e-12)
    gain = rms(x) * tf.pow(10.0, -snr_db[:, None] / 20.0)
    return x + gain * unit



@keras.saving.register_keras_serializable(package=PACKAGE)
class WhiteNoise(Augmentation):
    """White noise (WN): add Gaussian noise at a signal-to-noise ratio uniform per example.

    The noise is normalised to unit RMS and scaled to rms(x)·10^(-SNR/20), so the SNR of
    the output, 20·log10(rms(x) / rms(y - x)), is exactly the drawn value (a silent clip
    gets no noise). The paper gives no range; the default [0, 40] dB spans heavy noise to
    practically none (40 dB: noise 1 % of the signal RMS), following the paper's "a degree
    of transformation or none at all"; the authors' code uses integers in [0, 20).
    Params: {"snr_db": float32 [B], "noise": float32 [B, L] standard normal}.

    Example:

    >>> import keras
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((2, 8000), seed=0)
    >>> layer = layers.WhiteNoise(seed=0)
    >>> out = layer(x, training=True)
    >>> tuple(out.shape)
    (2, 8000)
    >>> bool(keras.ops.all(layer(x) == x))  # training=False (default): the identity
    True
    >>> bool(keras.ops.all(out == x))  # training=True: noise added
    False
    >>> # With a fixed SNR the output's SNR is exactly that value:
    >>> y = layers.WhiteNoise(min_snr_db=20.0, max_snr_db=20.0, seed=0)(x, training=True)
    >>> snr = 10 * keras.ops.log10(keras.ops.mean(x**2, axis=1)
    ...                            / keras.ops.mean((y - x) ** 2, axis=1))
    >>> [round(float(db), 2) for db in snr]
    [20.0, 20.0]
    """

    def __init__(self, min_snr_db=0.0, max_snr_db=40.0, **kwargs):
        super().__init__(**kwargs)
        checks.check_range("min_snr_db", min_snr_db, "max_snr_db", max_snr_db)
        self.min_snr_db = min_snr_db
        self.max_snr_db = max_snr_db

    def _sample(self, batch_size, length):
        return {
            "snr_db": keras.random.uniform((batch_size,), self.min_snr_db, self.max_snr_db,
                                           seed=self.seed_generator),
            "noise": keras.random.normal((batch_size, length), seed=self.seed_generator),
        }

    def _augment(self, x, params):
        return mix_at_snr(x, params["noise"], params["snr_db"])

    def get_config(self):
        return {**super().get_config(), "min_snr_db": self.min_snr_db,
                "max_snr_db": self.max_snr_db}


_NOISE_EXPONENT = {"white": 0.0, "pink": 0.5, "brown": 1.0}  # amplitude ∝ f^-exponent
NOISE_COLORS = tuple(_NOISE_EXPONENT)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MixedNoise(Augmentation):
    """Mixed noise (MN): white, pink or brown noise (uniform choice) at a uniform SNR.

    Coloured noise is white Gaussian noise shaped in the rfft domain: amplitude × f^-1/2
    (pink, power -10 dB/decade) or × f^-1 (brown, -20 dB/decade), DC removed; then, like
    `WhiteNoise`, normalised to unit RMS and scaled so the output SNR is exactly the drawn
    value. Default SNR range [0, 40] dB (see `WhiteNoise`). The authors' code also had a
    recorded fan noise and "none"; use `p` for the latter.
    Params: {"snr_db": float32 [B], "color": int32 [B] index into `colors`,
    "noise": float32 [B, L] standard normal}.

    Args:
      colors: names from `NOISE_COLORS`, drawn with equal probability.

    Example:

    >>> import keras
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((3, 8000), seed=0)
    >>> layer = layers.MixedNoise(seed=0)
    >>> out = layer(x, training=True)
    >>> tuple(out.shape)
    (3, 8000)
    >>> bool(keras.ops.all(layer(x) == x))  # training=False (default): the identity
    True
    >>> bool(keras.ops.all(out == x))  # training=True: noise added
    False
    >>> # The two-step API: each example's colour and SNR, then the mix at that SNR:
    >>> layer = layers.MixedNoise(min_snr_db=10.0, max_snr_db=10.0, seed=0)
    >>> params = layer.sample_params(3, 8000)
    >>> [layer.colors[int(c)] for c in params["color"]]
    ['white', 'pink', 'pink']
    >>> y = layer.augment(x, params)
    >>> snr = 10 * keras.ops.log10(keras.ops.mean(x**2, axis=1)
    ...                            / keras.ops.mean((y - x) ** 2, axis=1))
    >>> [round(float(db), 2) for db in snr]
    [10.0, 10.0, 10.0]
    """

    def __init__(self, min_snr_db=0.0, max_snr_db=40.0, colors=("white", "pink", "brown"),
                 **kwargs):
        super().__init__(**kwargs)
        checks.check_range("min_snr_db", min_snr_db, "max_snr_db", max_snr_db)
        colors = checks.check_names("colors", colors, NOISE_COLORS)
        self.min_snr_db = min_snr_db
        self.max_snr_db = max_snr_db
        self.colors = colors

    def _sample(self, batch_size, length):
        return {
            "snr_db": keras.random.uniform((batch_size,), self.min_snr_db, self.max_snr_db,
                                           seed=self.seed_generator),
            "color": randint(self.seed_generator, batch_size, 0, len(self.colors) - 1),
            "noise": keras.random.normal((batch_size, length), seed=self.seed_generator),
        }

    def colored_noise(self, params):
        """The unscaled noise [B, L] of each example's colour."""
        white = params["noise"]
        exps = [_NOISE_EXPONENT[c] for c in self.colors]
        if all(e == 0.0 for e in exps):
            return white
        n = dsp.static_length(white)
        spec = tf.signal.rfft(white, fft_length=[n])
        k = tf.range(tf.shape(spec)[1], dtype=tf.float32)[None, :]
        exponent = tf.gather(tf.constant(exps, tf.float32), params["color"])[:, None]
        gain = tf.where(k > 0, tf.pow(tf.maximum(k, 1.0), -exponent),
                        tf.cast(exponent == 0.0, tf.float32))
        colored = tf.signal.irfft(spec * tf.complex(gain, 0.0), fft_length=[n])
        return colored

    def _augment(self, x, params):
        return mix_at_snr(x, self.colored_noise(params), params["snr_db"])

    def get_config(self):
        return {**super().get_config(), "min_snr_db": self.min_snr_db,
                "max_snr_db": self.max_snr_db, "colors": list(self.colors)}

