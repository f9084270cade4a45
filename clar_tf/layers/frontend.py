"""The 3-channel time-frequency frontend of CLAR's 2D models (paper §3.1), built from Kapre.

`Frontend` maps raw audio `[B, L]` to `[B, T, F, 3]` with channels

    0: log-power STFT magnitude, 10·log10(max(|S|², amin))
    1: STFT phase angle, radians in (-π, π]
    2: log-power mel spectrogram, 10·log10(max(M, amin)) with M = mel filterbank · |S|²

(eq. 3 of the paper: f(S) = 10·log10 |S|²). All three come from one Kapre `STFT`; then
the power |S|² = re² + im², the phase atan2(im, re) of only the kept bins, Kapre's mel
`ApplyFilterbank`, and decibels (Kapre's `MagnitudeToDecibel` when `top_db` clamps),
all inside this single registered layer, so a saved `.keras` model rebuilds it from its
config. `clar_tf.export` turns the nested XLA call below off (plain ops in SavedModels).

Speed (benchmarks/frontend_bench.py): inside a plain `tf.function` the work after the STFT
runs as one nested XLA call (argument `jit_compile`, default True), which fuses the
elementwise ops, the dB conversions and the channel stack that a graph runs op by op;
under XLA the phase uses a fused polynomial atan2 (`clar_tf.audio.xla.atan2`, max error
2e-6 rad).
Eagerly, and with `jit_compile=False`, TensorFlow's own kernels run.

Two variants:

`variant="paper"` (default) — the paper's text: 16 ms Hann windows, 8 ms hop (256 / 128
samples at 16 kHz), FFT size = window, 128 Slaney mel bands on 0 Hz – sr/2 (librosa's
defaults, which Kapre's mel filterbank uses). The STFT has n_fft/2 + 1 = 129 bins but the
mel spectrogram 128: **the STFT channels drop the Nyquist bin** (the mel bands still see
it), so F = n_fft/2 = n_mels. The window must therefore satisfy n_fft/2 == n_mels, checked
in `__init__`. Note: at this resolution (62.5 Hz per bin) 13 of the 128 Slaney mel bands
cover no FFT bin centre and are identically zero, so that mel channel sits at the floor
(10·log10(amin)) in those rows; this is a property of the paper's settings, not a bug,
and librosa's "Empty filters" warning about it is silenced here.

`variant="authors"` — the frontend of the authors' public code, an nnAudio log-frequency
STFT and mel spectrogram (summarised in README.md, "Paper vs. the authors' code";
benchmarks/torch_reference.py rebuilds that nnAudio frontend as a timing reference):
window = FFT size = 128 ms (2048 samples at 16 kHz), 8 ms hop; the STFT magnitude is
projected to `n_mels` log-spaced frequencies f_k = f_min·(f_max/f_min)^(k/n_mels),
k = 0..n_mels-1, f_min = 40 Hz, f_max = 8 kHz (the spacing of the authors' log-frequency
STFT, so the top centre is ≈ 7.68 kHz, just below f_max) by linear interpolation between
the two neighbouring FFT bins (`log_interpolation_taps`; two gathers, the same values
as the `(n_freq, n_mels)` matrix `log_interpolation_filterbank`). The authors' nnAudio STFT evaluates the DFT exactly at each f_k;
interpolating the FFT magnitude approximates that (exact at bin centres). Phase cannot be
interpolated like a magnitude, so the phase channel takes the phase of the FFT bin
nearest each centre frequency. Magnitude in dB is
20·log10(max(|S|, 1e-5)) = 10·log10(max(|S|², 1e-10)); the mel spectrogram (n_fft 2048,
128 Slaney bands, 40 Hz – 8 kHz, power) uses 10·log10(max(M, 1e-5)).

Framing: with `center=True` (default, as librosa) the signal is zero-padded by n_fft // 2
on both sides (librosa's `pad_mode="constant"`; the authors' nnAudio used reflection) and
T = 1 + L // hop; with `center=False`, T = 1 + (L - n_fft) // hop (needs L >= n_fft).
`Frontend.output_frames(L)` returns T for a layer's settings.

Decibels use reference 1.0 (no `ref=max`), floor `amin` on the power, and by default no
dynamic-range clamp (`top_db=None`); with `top_db` set, each channel of each example is
clamped to `top_db` below its own maximum (Kapre's / librosa's `top_db`).

`ExportFrontend` computes the same channels from public Keras layers (the STFT a
`keras.layers.STFTSpectrogram` convolution with the DFT kernels of Kapre's window, the mel
filterbank a `Dense` holding Kapre's matrix), no Kapre and no FFT in its graph: the ONNX
export (`clar_tf.onnx_export`) swaps it in, as tf2onnx cannot convert Kapre's STFT.
Training and the SavedModel use `Frontend`. Its tolerances against `Frontend` are in its
docstring.
"""
import math
import warnings

import keras
import kapre
import numpy as np
import tensorflow as tf

from clar_tf import checks
from clar_tf.audio import xla

VARIANTS = ("paper", "authors")

# Per-variant defaults for arguments left as None.
_DEFAULTS = {
    "paper": dict(win_ms=16.0, hop_ms=8.0, f_min=0.0, f_max=None,
                  amin=1e-10, mel_amin=1e-10),
    "authors": dict(win_ms=128.0, hop_ms=8.0, f_min=40.0, f_max=8000.0,
                    amin=1e-10, mel_amin=1e-5),
}


def num_frames(length, n_fft, hop_length, center=True):
    """Number of STFT frames for a signal of `length` samples (None stays None)."""
    if length is None:
        return None
    if center:
        return 1 + length // hop_length
    if length < n_fft:
        raise ValueError(f"With center=False the signal must be at least n_fft={n_fft} "
                         f"samples long. Received: length={length}")
    return 1 + (length - n_fft) // hop_length


def log_frequencies(n_bins, f_min, f_max):
    """Log-spaced centre frequencies f_min·(f_max/f_min)^(k/n_bins), k = 0..n_bins-1."""
    return f_min * (f_max / f_min) ** (np.arange(n_bins) / n_bins)


def log_interpolation_taps(sample_rate, n_fft, n_bins, f_min, f_max):
    """Two-tap linear interpolation of a spectrum at log-spaced centre frequencies
    (`log_frequencies`): for centre k, p = f_k·n_fft/sample_rate, returns (`lo`, `hi`,
    `frac`) with lo = ⌊p⌋, hi = min(lo + 1, n_fft // 2), frac = p - ⌊p⌋, so that the value
    is (1 - frac)·X[lo] + frac·X[hi]."""
    pos = log_frequencies(n_bins, f_min, f_max) * n_fft / sample_rate
    lo = np.floor(pos).astype(np.int32)
    hi = np.minimum(lo + 1, n_fft // 2).astype(np.int32)
    return lo, hi, (pos - lo).astype(np.float32)


def log_interpolation_filterbank(sample_rate, n_fft, n_bins, f_min, f_max):
    """The same interpolation as a `(n_fft//2 + 1, n_bins)` matrix (column k: weight
    1 - frac on bin lo, frac on bin hi; see `log_interpolation_taps`)."""
    lo, hi, frac = log_interpolation_taps(sample_rate, n_fft, n_bins, f_min, f_max)
    fb = np.zeros((n_fft // 2 + 1, n_bins), dtype=np.float32)
    cols = np.arange(n_bins)
    np.add.at(fb, (lo, cols), 1.0 - frac)
    np.add.at(fb, (hi, cols), frac)
    return fb


def nearest_bins(sample_rate, n_fft, n_bins, f_min, f_max):
    """Index of the FFT bin nearest each log-spaced centre frequency."""
    pos = log_frequencies(n_bins, f_min, f_max) * n_fft / sample_rate
    return np.minimum(np.round(pos).astype(np.int32), n_fft // 2)


@keras.saving.register_keras_serializable(package="clar_tf")
class Frontend(keras.layers.Layer):
    """Raw audio `[B, L]` → `[B, T, n_mels, 3]` (log-power STFT, phase, log-power mel).

    See the module docstring for the exact definition of each channel and the two variants.

    Args:
        sample_rate: input sample rate in Hz.
        variant: "paper" (16 ms / 8 ms, linear STFT bins without Nyquist) or "authors"
            (2048-sample window, log-spaced STFT bins 40 Hz – 8 kHz).
        win_ms: window (= FFT) length in ms; None → 16 (paper) or 128 (authors).
        hop_ms: hop in ms; None → 8.
        n_mels: mel bands, and the output F. Paper variant: must equal n_fft // 2.
        f_min, f_max: mel (and, authors, log-bin) range in Hz; None → 0 and sr/2 (paper)
            or 40 and 8000 (authors).
        center: zero-pad n_fft // 2 samples at both ends (librosa `center=True`).
        amin: power floor of both dB channels; None → 1e-10 for the STFT channel (both
            variants) and 1e-10 (paper) or 1e-5 (authors) for the mel channel.
        top_db: optional per-example, per-channel dynamic-range clamp in dB.
        jit_compile: inside a plain (not XLA-compiled) `tf.function`, compute the
            channels from the STFT in a nested `jit_compile=True` function (see above).

    Input shape: `[B, L]` float. Output shape: `[B, T, n_mels, 3]` float32 with
    T = `output_frames(L)`.

    Example:

    >>> import math
    >>> import keras
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((2, 16000), minval=-1.0, maxval=1.0, seed=0)
    >>> frontend = layers.Frontend()  # paper: 16 ms window, 8 ms hop, 128 mel bands
    >>> features = frontend(x)
    >>> tuple(features.shape)  # [B, T, n_mels, 3] with T = 1 + 16000 // 128
    (2, 126, 128, 3)
    >>> frontend.output_frames(16000)
    126
    >>> bool(keras.ops.all(keras.ops.abs(features[..., 1]) <= math.pi))  # phase channel
    True
    >>> tuple(layers.Frontend(variant="authors")(x[:, :8000]).shape)  # 1 + 8000 // 128
    (2, 63, 128, 3)
    """

    def __init__(self, sample_rate=16000, variant="paper", win_ms=None, hop_ms=None,
                 n_mels=128, f_min=None, f_max=None, center=True, amin=None, top_db=None,
                 jit_compile=True, **kwargs):
        # STFT needs float32 (RFFT has no float16 kernel): unless a dtype is given, stay
        # float32 under a global mixed-precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        checks.check_int("sample_rate", sample_rate)
        checks.check_choice("variant", variant, VARIANTS)
        for arg, value in (("win_ms", win_ms), ("hop_ms", hop_ms), ("amin", amin),
                           ("top_db", top_db)):
            checks.check_number(arg, value, positive=True, allow_none=True)
        checks.check_int("n_mels", n_mels)
        checks.check_bool("center", center)
        checks.check_bool("jit_compile", jit_compile)

        # The user's arguments, kept for get_config.
        self.sample_rate = sample_rate
        self.variant = variant
        self.win_ms = win_ms
        self.hop_ms = hop_ms
        self.n_mels = n_mels
        self.f_min = f_min
        self.f_max = f_max
        self.center = center
        self.amin = amin
        self.top_db = top_db
        self.jit_compile = jit_compile
        self._xla_features = xla.NestedXla(self._features)

        # Resolved settings.
        d = _DEFAULTS[variant]
        win_ms = d["win_ms"] if win_ms is None else win_ms
        hop_ms = d["hop_ms"] if hop_ms is None else hop_ms
        self.n_fft = int(round(sample_rate * win_ms / 1000.0))
        self.hop_length = int(round(sample_rate * hop_ms / 1000.0))
        if self.n_fft < 2 or self.hop_length < 1:
            raise ValueError(f"Window and hop must be at least 2 and 1 samples. Received: "
                             f"win_ms={self.win_ms}, hop_ms={self.hop_ms}")
        nyquist = sample_rate / 2.0
        self._f_min = float(d["f_min"] if f_min is None else f_min)
        self._f_max = float(nyquist if (f_max is None and d["f_max"] is None)
                            else (d["f_max"] if f_max is None else f_max))
        if not 0.0 <= self._f_min < self._f_max <= nyquist:
            raise ValueError(f"Need 0 <= f_min < f_max <= sample_rate / 2 = {nyquist}. "
                             f"Received: f_min={f_min}, f_max={f_max}")
        if variant == "paper" and self.n_fft // 2 != n_mels:
            raise ValueError(
                f"The paper variant stacks the STFT without its Nyquist bin (n_fft // 2 "
                f"bins) with n_mels mel bands, so they must be equal; got n_fft="
                f"{self.n_fft} (win_ms={win_ms} at {sample_rate} Hz). Received: "
                f"n_mels={n_mels}")
        if variant == "authors" and self._f_min <= 0.0:
            raise ValueError(f"The authors variant needs f_min > 0 for log-spaced bins. "
                             f"Received: f_min={f_min}")
        self._amin = d["amin"] if amin is None else float(amin)
        self._mel_amin = d["mel_amin"] if amin is None else float(amin)
        dynamic_range = math.inf if top_db is None else float(top_db)

        n_freq = self.n_fft // 2 + 1
        sub = dict(dtype=self.dtype_policy)  # sublayers share this layer's policy
        self.stft = kapre.STFT(n_fft=self.n_fft, win_length=self.n_fft,
                               hop_length=self.hop_length, window_name="hann_window",
                               input_data_format="channels_last",
                               output_data_format="channels_last", name="stft", **sub)
        with warnings.catch_warnings():
            # Paper settings leave some Slaney mel bands empty (documented above).
            warnings.filterwarnings("ignore", message=".*[Ee]mpty filters")
            self.mel_filterbank = kapre.ApplyFilterbank(
                type="mel",
                filterbank_kwargs=dict(sample_rate=sample_rate, n_freq=n_freq,
                                       n_mels=n_mels, f_min=self._f_min, f_max=self._f_max,
                                       htk=False, norm="slaney"),
                data_format="channels_last", name="mel_filterbank", **sub)
        if variant == "authors":
            # Interpolating at 128 log-spaced frequencies reads two FFT bins per output:
            # two gathers instead of a dense (1025, 128) matmul (12× faster on CPU).
            self._log_lo, self._log_hi, self._log_frac = log_interpolation_taps(
                sample_rate, self.n_fft, n_mels, self._f_min, self._f_max)
            self._phase_bins = nearest_bins(sample_rate, self.n_fft, n_mels,
                                            self._f_min, self._f_max)
        self.stft_db = kapre.MagnitudeToDecibel(
            ref_value=1.0, amin=self._amin, dynamic_range=dynamic_range, name="stft_db", **sub)
        self.mel_db = kapre.MagnitudeToDecibel(
            ref_value=1.0, amin=self._mel_amin, dynamic_range=dynamic_range, name="mel_db",
            **sub)

    def build(self, input_shape):
        # The Kapre sublayers hold no weights; mark them built so Keras does not warn.
        for layer in (self.stft, self.mel_filterbank, self.stft_db, self.mel_db):
            if not layer.built:
                layer.build(input_shape)
        self.built = True

    def output_frames(self, length):
        """T for an input of `length` samples under this layer's settings."""
        return num_frames(length, self.n_fft, self.hop_length, self.center)

    def call(self, inputs, training=None):
        del training  # deterministic
        x = tf.convert_to_tensor(inputs)
        x = tf.cast(x, tf.float32)
        if self.center:
            pad = self.n_fft // 2
            x = tf.pad(x, [[0, 0], [pad, pad]])
        spec = self.stft(x[:, :, tf.newaxis])[..., 0]  # [B, T, n_freq] complex64
        if self._xla_features.nested(self.jit_compile):
            return self._xla_features(spec)
        return self._features(spec)

    def _features(self, spec):
        """[B, T, n_freq] complex STFT → [B, T, n_mels, 3] channels."""
        return self._channels(tf.math.real(spec), tf.math.imag(spec))

    def _channels(self, re, im):
        """The STFT's real and imaginary parts, [B, T, n_freq] → [B, T, n_mels, 3]."""
        # expand_dims, not [..., tf.newaxis]: TFLite's builtin StridedSlice has no new axes
        power = tf.expand_dims(re * re + im * im, -1)  # |S|², [B, T, n_freq, 1]
        mel_db = self._db(self.mel_db, self.mel_filterbank(power))
        if self.variant == "paper":
            stft_db = self._db(self.stft_db, power[:, :, :self.n_mels])  # drop Nyquist
            re, im = re[:, :, :self.n_mels], im[:, :, :self.n_mels]
        else:
            mag = tf.sqrt(power)
            mag = (tf.gather(mag, self._log_lo, axis=2) * (1.0 - self._log_frac[:, None])
                   + tf.gather(mag, self._log_hi, axis=2) * self._log_frac[:, None])
            stft_db = self._db(self.stft_db, tf.square(mag))
            re = tf.gather(re, self._phase_bins, axis=2)
            im = tf.gather(im, self._phase_bins, axis=2)
        atan2 = xla.atan2 if xla.in_xla() else tf.math.atan2
        phase = tf.expand_dims(atan2(im, re), -1)
        return tf.concat([stft_db, phase, mel_db], axis=-1)

    def _db(self, layer, power):
        """10·log10(max(power, amin)) with reference 1. Kapre's `MagnitudeToDecibel` also
        clamps to its dynamic range below each example's maximum, an extra reduction that
        only matters when `top_db` is set, so it runs only then (same values otherwise)."""
        if self.top_db is not None:
            return layer(power)
        return (10.0 / math.log(10.0)) * tf.math.log(tf.maximum(power, layer.amin))

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"Frontend expects [B, L] audio. "
                             f"Received: input_shape={input_shape}")
        return (input_shape[0], self.output_frames(input_shape[1]), self.n_mels, 3)

    def get_config(self):
        config = super().get_config()
        config.update(sample_rate=self.sample_rate, variant=self.variant,
                      win_ms=self.win_ms, hop_ms=self.hop_ms, n_mels=self.n_mels,
                      f_min=self.f_min, f_max=self.f_max, center=self.center,
                      amin=self.amin, top_db=self.top_db, jit_compile=self.jit_compile)
        return config


def dft_kernels(window):
    """The real and imaginary DFT kernels of `keras.layers.STFTSpectrogram`, each
    `(n_fft, 1, n_fft // 2 + 1)` float32, for the window `window` (`n_fft` values):
    window[n]·cos(2πnk/n_fft) and -window[n]·sin(2πnk/n_fft), the parts of
    `tf.signal.rfft` (X_k = Σ x_n e^{-2πink/n_fft}). The angles are reduced modulo
    n_fft in integers and evaluated in float64, so a 2048-point kernel is as exact as a
    256-point one (Keras' own initializer rounds angles up to 2π·1023 in float32).
    Where the sine or cosine is zero (multiples of π/2) the kernel is exactly +0, not
    ±1e-16: a real spectrum (an impulse at the frame centre) keeps an imaginary part of
    +0, and the phase of a negative bin stays π, as with the FFT, not -π."""
    window = np.asarray(window, np.float64)
    n_fft = window.shape[0]
    n = np.arange(n_fft)
    angle = 2.0 * np.pi * (np.outer(n, np.arange(n_fft // 2 + 1)) % n_fft) / n_fft
    cos, sin = np.cos(angle), np.sin(angle)
    cos[np.abs(cos) < 1e-9] = 0.0  # the smallest non-zero value is sin(2π/n_fft)
    sin[np.abs(sin) < 1e-9] = 0.0
    # + 0.0 turns -0 into +0.
    real = (window[:, None] * cos + 0.0)[:, None, :]
    imag = (-window[:, None] * sin + 0.0)[:, None, :]
    return real.astype(np.float32), imag.astype(np.float32)


@keras.saving.register_keras_serializable(package="clar_tf")
class ExportFrontend(keras.layers.Layer):
    """`Frontend`'s three channels from public Keras layers and ops, no Kapre: what the
    ONNX export (`clar_tf.onnx_export`) puts in place of the training `Frontend`.

    The STFT is a `keras.layers.STFTSpectrogram` (a strided convolution with DFT kernels,
    `mode="stft"`, `padding="valid"` after the same centre padding, no window scaling)
    whose kernels are Kapre's window (`tf.signal.hann_window`, periodic) times the DFT
    (`dft_kernels`); the mel filterbank is a bias-free `keras.layers.Dense` holding
    Kapre's Slaney matrix; decibels, the authors' log-frequency interpolation, the phase
    and the `top_db` clamp are `keras.ops`. Graphs of it contain no RFFT and no complex
    tensor, so tf2onnx converts them (Kapre's `STFT` it does not). Everything is taken
    from a `Frontend` of the same arguments (checked and resolved by it), so both have
    the same settings; its weights are those constants (not trainable).

    Agreement with `Frontend` (float32 both: convolution against FFT), measured on 40
    spoken-digit clips, paper and authors variants, asserted in `tests/frontend_test.py`
    with the tolerance in brackets: STFT magnitude |S| within 2.1e-6 of each clip's
    largest |S| [1e-5]; STFT dB within 4.4e-4 dB where |S|² > 1e-6 of the clip's
    largest [5e-3] (0.015 dB anywhere: bins near the 1e-10 floor); mel dB within 5.7e-4
    dB everywhere [5e-3]; phase within 1.2e-4 rad where |S| > 1e-3 of the clip's largest
    [1e-3], 7.2e-4 rad anywhere (wrapped) [1e-2]: where |S| is near zero the phase of
    either is rounding noise; silent frames identical. The DC bin's imaginary part is
    +0 as `tf.signal.stft` returns it, so its phase is exactly 0 or π as in training.
    Where a bin's spectrum is real up to rounding (im ≈ 0, re < 0; e.g. an impulse at a
    frame's centre, not seen in speech or noise) either STFT may give π or -π.

    Arguments: those of `Frontend` (`jit_compile` is not one: plain ops only).
    Input shape: `[B, L]` float. Output shape: `[B, T, n_mels, 3]` float32, as `Frontend`.

    Example:

    >>> import keras
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((2, 16000), minval=-1.0, maxval=1.0, seed=0)
    >>> frontend = layers.Frontend(variant="authors")
    >>> portable = layers.ExportFrontend.from_frontend(frontend)  # same settings
    >>> tuple(portable(x).shape)
    (2, 126, 128, 3)
    >>> mel_db = portable(x)[..., 2] - frontend(x)[..., 2]
    >>> float(keras.ops.max(keras.ops.abs(mel_db))) < 5e-3
    True
    """

    def __init__(self, sample_rate=16000, variant="paper", win_ms=None, hop_ms=None,
                 n_mels=128, f_min=None, f_max=None, center=True, amin=None, top_db=None,
                 **kwargs):
        kwargs.setdefault("dtype", "float32")
        kwargs["trainable"] = False  # its weights are the STFT's and the mel constants
        super().__init__(**kwargs)
        args = dict(sample_rate=sample_rate, variant=variant, win_ms=win_ms,
                    hop_ms=hop_ms, n_mels=n_mels, f_min=f_min, f_max=f_max, center=center,
                    amin=amin, top_db=top_db)
        self._args = args
        # The training layer checks and resolves the arguments and holds Kapre's window
        # and filterbank; it is read here and not kept (no Kapre layer in this one).
        reference = Frontend(**args, jit_compile=False)
        self.variant = variant
        self.center = center
        self.top_db = top_db
        self.n_mels = n_mels
        self.n_fft, self.hop_length = reference.n_fft, reference.hop_length
        self._amin, self._mel_amin = reference._amin, reference._mel_amin
        self._window = reference.stft.window_fn(self.n_fft, dtype=tf.float32).numpy()
        self._mel_matrix = np.asarray(reference.mel_filterbank.filterbank, np.float32)
        if variant == "authors":
            self._log_lo, self._log_hi, self._log_frac = (
                reference._log_lo, reference._log_hi, reference._log_frac)
            self._phase_bins = reference._phase_bins
        sub = dict(dtype=self.dtype_policy, trainable=False)
        with warnings.catch_warnings():
            # The FFT size is the window (win_ms = 15 gives 240), as in `Frontend`.
            warnings.filterwarnings("ignore", message=".*fft_length.*power of two")
            self.stft = keras.layers.STFTSpectrogram(
                mode="stft", frame_length=self.n_fft, frame_step=self.hop_length,
                fft_length=self.n_fft, window="hann", periodic=True, scaling=None,
                padding="valid", name="stft", **sub)
        self.mel_filterbank = keras.layers.Dense(n_mels, use_bias=False,
                                                 name="mel_filterbank", **sub)

    @classmethod
    def from_frontend(cls, frontend):
        """The `ExportFrontend` of a `Frontend` layer (same settings and name)."""
        config = frontend.get_config()
        config.pop("jit_compile")
        return cls.from_config(config)

    def build(self, input_shape):
        n_freq = self.n_fft // 2 + 1
        self.stft.build((None, None, 1))
        self.mel_filterbank.build((None, None, n_freq))
        real, imag = dft_kernels(self._window)
        # Eagerly, even when the first call is traced in a tf.function: an assignment
        # traced there is not applied to the variable.
        with tf.init_scope():
            self.stft.real_kernel.assign(real)
            self.stft.imag_kernel.assign(imag)
            self.mel_filterbank.kernel.assign(self._mel_matrix)
        self.built = True

    def output_frames(self, length):
        """T for an input of `length` samples under this layer's settings."""
        return num_frames(length, self.n_fft, self.hop_length, self.center)

    def call(self, inputs, training=None):
        del training  # deterministic
        ops = keras.ops
        x = ops.cast(inputs, "float32")
        if self.center:
            pad = self.n_fft // 2
            x = ops.pad(x, [[0, 0], [pad, pad]])
        n_freq = self.n_fft // 2 + 1
        spec = self.stft(ops.expand_dims(x, -1))  # [B, T, 2·n_freq]: real, imaginary
        re, im = spec[:, :, :n_freq], spec[:, :, n_freq:]
        # The imaginary part of the DC bin (and of the Nyquist bin, n_fft even) is +0 in
        # tf.signal.stft; the convolution may give -0 there, which would turn a phase of
        # π into -π.
        zero = ops.zeros_like(im[:, :, :1])
        last = n_freq - 1 if self.n_fft % 2 == 0 else n_freq
        im = ops.concatenate([zero, im[:, :, 1:last]]
                             + ([zero] if self.n_fft % 2 == 0 else []), axis=-1)
        power = re * re + im * im  # |S|², [B, T, n_freq]
        mel_db = self._db(self.mel_filterbank(power), self._mel_amin)
        if self.variant == "paper":
            stft_db = self._db(power[:, :, :self.n_mels], self._amin)  # drop Nyquist
            re, im = re[:, :, :self.n_mels], im[:, :, :self.n_mels]
        else:
            mag = ops.sqrt(power)
            frac = ops.convert_to_tensor(self._log_frac)
            mag = (ops.take(mag, self._log_lo, axis=2) * (1.0 - frac)
                   + ops.take(mag, self._log_hi, axis=2) * frac)
            stft_db = self._db(ops.square(mag), self._amin)
            re = ops.take(re, self._phase_bins, axis=2)
            im = ops.take(im, self._phase_bins, axis=2)
        phase = ops.arctan2(im, re)
        return ops.stack([stft_db, phase, mel_db], axis=-1)

    def _db(self, power, amin):
        """10·log10(max(power, amin)), clamped to `top_db` below each example's maximum
        when set (Kapre's `MagnitudeToDecibel`)."""
        db = (10.0 / math.log(10.0)) * keras.ops.log(keras.ops.maximum(power, amin))
        if self.top_db is not None:
            db = keras.ops.maximum(
                db, keras.ops.max(db, axis=(1, 2), keepdims=True) - float(self.top_db))
        return db

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"ExportFrontend expects [B, L] audio. "
                             f"Received: input_shape={input_shape}")
        return (input_shape[0], self.output_frames(input_shape[1]), self.n_mels, 3)

    def get_config(self):
        config = super().get_config()
        config.update(self._args)
        return config
