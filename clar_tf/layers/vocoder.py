"""Phase-vocoder augmentations of CLAR (paper §5): time stretch (TST) and pitch shift (PS),
built on `clar_tf.audio.dsp` (STFT, phase vocoder, inverse STFT, resampling)."""
import math

import keras
import tensorflow as tf

from clar_tf import checks
from clar_tf.audio import dsp
from clar_tf.layers.augmentation import PACKAGE, Augmentation


class _VocoderAugmentation(Augmentation):
    """Base of the phase-vocoder layers; n_fft and hop_length: STFT size and hop (periodic
    Hann window, centred frames)."""

    def __init__(self, n_fft=512, hop_length=128, **kwargs):
        super().__init__(**kwargs)
        checks.check_int("n_fft", n_fft, 4)
        checks.check_int("hop_length", hop_length, 1)
        if hop_length > n_fft // 2:
            raise ValueError("`hop_length` must be <= n_fft // 2. "
                             f"Received: n_fft={n_fft}, hop_length={hop_length}")
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)

    def _stretch(self, x, rate, max_ratio, resample_factor=None):
        """Phase-vocoder stretch of x [B, L] by `rate` [B] (at most max_ratio times longer).

        Returns the stretched signal cropped / zero-padded on the right to L or, with
        `resample_factor` [B], the stretched signal read at i·factor (anti-aliased, linear
        interpolation) for i < L.
        """
        length = dsp.static_length(x)
        spec = dsp.stft(x, self.n_fft, self.hop_length)
        n_in = spec.shape[1] if spec.shape[1] is not None else tf.shape(spec)[1]
        if isinstance(n_in, int):
            out_frames = int(math.ceil(n_in * max_ratio)) + 1
        else:
            out_frames = tf.cast(tf.math.ceil(tf.cast(n_in, tf.float32) * max_ratio),
                                 tf.int32) + 1
        max_bin = None
        if resample_factor is not None:  # anti-aliasing: keep bins below Nyquist / factor
            max_bin = (self.n_fft // 2) / tf.maximum(resample_factor, 1.0)
        re, im, n_valid = dsp.phase_vocoder(spec, rate, out_frames, max_bin=max_bin)
        # librosa.effects.time_stretch keeps round(L / rate) samples
        out_length = tf.cast(tf.round(tf.cast(length, tf.float32) / rate), tf.int32)
        y = dsp.istft(re, im, self.n_fft, self.hop_length, n_valid, out_length)
        if resample_factor is None:
            return dsp.fit_length(y, length)
        return dsp.resample_linear(y, resample_factor, length)

    def get_config(self):
        return {**super().get_config(), "n_fft": self.n_fft, "hop_length": self.hop_length}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TimeStretch(_VocoderAugmentation):
    """Time stretching (TST): phase-vocoder speed change with the pitch kept.

    Per example a rate r uniform in [min_rate, max_rate] (r > 1 speeds up): STFT (Hann,
    n_fft, hop_length, centred), librosa's phase vocoder with output frame j reading input
    frame j·r, inverse STFT. The stretched signal (length ≈ L/r) is then, with
    `fit="crop"` (default, the paper's "cropped ... to match the same number of samples"),
    cropped or zero-padded on the right to L, so content lasts 1/r as long at the same
    pitch; with `fit="resample"` (authors' code) it is linearly resampled back to L
    samples, which restores the duration and moves the pitch by 1/r.
    Params: {"rate": float32 [B]}.

    Example:

    >>> import keras
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((2, 8000), seed=0)
    >>> layer = layers.TimeStretch(seed=0)
    >>> out = layer(x, training=True)
    >>> tuple(out.shape)
    (2, 8000)
    >>> bool(keras.ops.all(layer(x) == x))  # training=False (default): the identity
    True
    >>> bool(keras.ops.all(out == x))  # training=True: stretched
    False
    >>> # Twice as fast: the content fills L / 2 samples, the rest is zero padding.
    >>> fast = layers.TimeStretch(min_rate=2.0, max_rate=2.0, seed=0)(x, training=True)
    >>> bool(keras.ops.all(fast[:, 4000:] == 0)), bool(keras.ops.any(fast[:, :4000] != 0))
    (True, True)
    """

    def __init__(self, min_rate=0.5, max_rate=1.5, n_fft=512, hop_length=128, fit="crop",
                 **kwargs):
        super().__init__(n_fft=n_fft, hop_length=hop_length, **kwargs)
        checks.check_range("min_rate", min_rate, "max_rate", max_rate)
        if min_rate <= 0:
            raise ValueError(f"`min_rate` must be > 0. Received: min_rate={min_rate}, "
                             f"max_rate={max_rate}")
        if fit not in ("crop", "resample"):
            raise ValueError(f"`fit` must be 'crop' or 'resample'. Received: fit={fit!r}")
        self.min_rate = min_rate
        self.max_rate = max_rate
        self.fit = fit

    def _sample(self, batch_size, length):
        return {"rate": keras.random.uniform((batch_size,), self.min_rate, self.max_rate,
                                             seed=self.seed_generator)}

    def _augment(self, x, params):
        rate = params["rate"]
        if self.fit == "crop":
            return self._stretch(x, rate, 1.0)
        return self._stretch(x, rate, 1.0 / self.min_rate, resample_factor=1.0 / rate)

    def get_config(self):
        return {**super().get_config(), "min_rate": self.min_rate,
                "max_rate": self.max_rate, "fit": self.fit}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PitchShift(_VocoderAugmentation):
    """Pitch shift (PS) by n semitones, n uniform (continuous) in [min, max], duration kept.

    As librosa.effects.pitch_shift: with ratio = 2^(n/12), phase-vocoder time stretch by
    rate 1/ratio (the clip becomes ratio times longer at the same pitch), then resample it
    back to L samples (out[i] = stretched(i·ratio), linear interpolation). For ratio > 1
    the bins above Nyquist/ratio are zeroed in the vocoder's output spectrogram first, so
    the resampling does not alias (librosa uses a band-limited resampler instead).
    Params: {"semitones": float32 [B]}.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((2, 8000), seed=0)
    >>> layer = layers.PitchShift(seed=0)
    >>> out = layer(x, training=True)
    >>> tuple(out.shape)
    (2, 8000)
    >>> bool(keras.ops.all(layer(x) == x))  # training=False (default): the identity
    True
    >>> bool(keras.ops.all(out == x))  # training=True: pitch shifted
    False
    >>> # An octave up moves a 440 Hz tone (0.5 s at 16 kHz) to 880 Hz:
    >>> t = np.arange(8000) / 16000
    >>> tone = keras.ops.convert_to_tensor(np.sin(2 * np.pi * 440 * t)[None], "float32")
    >>> up = layers.PitchShift(min_semitones=12.0, max_semitones=12.0, seed=0)(
    ...     tone, training=True)
    >>> spectrum = np.abs(np.fft.rfft(keras.ops.convert_to_numpy(up)[0]))
    >>> int(np.argmax(spectrum)) * 16000 // 8000  # peak bin in Hz
    880
    """

    def __init__(self, min_semitones=-15.0, max_semitones=15.0, n_fft=512, hop_length=128,
                 **kwargs):
        super().__init__(n_fft=n_fft, hop_length=hop_length, **kwargs)
        checks.check_range("min_semitones", min_semitones, "max_semitones", max_semitones)
        self.min_semitones = min_semitones
        self.max_semitones = max_semitones

    def _sample(self, batch_size, length):
        return {"semitones": keras.random.uniform(
            (batch_size,), self.min_semitones, self.max_semitones, seed=self.seed_generator)}

    def _augment(self, x, params):
        ratio = tf.pow(2.0, params["semitones"] / 12.0)
        max_ratio = 2.0 ** (max(self.max_semitones, 0.0) / 12.0)
        return self._stretch(x, 1.0 / ratio, max_ratio, resample_factor=ratio)

    def get_config(self):
        return {**super().get_config(), "min_semitones": self.min_semitones,
                "max_semitones": self.max_semitones}

