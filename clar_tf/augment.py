"""Batched, seeded audio augmentations of CLAR (Al-Tahan & Mohsenzadeh 2021, section 5).

Every augmentation is a Keras layer on a batch of mono waveforms `[B, L]` (float, 16 kHz in
CLAR) that returns a batch of the same shape and dtype. In training mode
(`layer(x, training=True)`) every example draws its own random parameters from the layer's
`keras.random.SeedGenerator`; otherwise (`training` falsy, the default) the layer is the
identity. The work is done with batched tensor ops (no Python loop over examples, no
`numpy_function`), so the layers run inside the model on the accelerator and compile with
XLA (`tf.function(jit_compile=True)`; needs a static clip length `L`, the batch size may be
dynamic without XLA). Inside a plain `tf.function` each layer still applies its drawn
parameters under XLA (argument `jit_compile`, default True): on CPU that fuses the
elementwise work a plain graph runs op by op (speed: benchmarks/augment_bench.py).

Paper abbreviations (`from_spec`):

| code | layer | default parameter range (uniform per example) |
|---|---|---|
| PS  | `PitchShift`  | n ∈ [-15, 15] semitones, continuous |
| WN  | `WhiteNoise`  | SNR ∈ [0, 40] dB |
| MN  | `MixedNoise`  | colour ∈ {white, pink, brown}, SNR ∈ [0, 40] dB |
| FD  | `Fade`        | fade-in, fade-out ∈ [0, L/2] samples; shape ∈ {linear, log, exp} |
| TM  | `TimeMask`    | segment ∈ [0, L/8] samples at a uniform start; Gaussian noise, std 0.01 |
| TS  | `TimeShift`   | circular shift ∈ [-L/2, L/2] samples |
| TST | `TimeStretch` | rate ∈ [0.5, 1.5], cropped / zero-padded on the right to L |

As the paper asks, every range contains "no transformation" (0 semitones, 40 dB SNR ≈ none,
length 0, rate 1). Setting a range's low end equal to its high end fixes that parameter.
The authors' code differs in places (integer semitones in [-15, 15), SNR in [0, 20) dB, a
mask of exactly L/8, five fade shapes, time stretch resampled back to L, every augmentation
applied with probability 0.5); each of those is reachable through the arguments here
(`WhiteNoise(0, 20)`, `TimeMask(min_fraction=0.125)`, `Fade(shapes=FADE_SHAPES)`,
`TimeStretch(fit="resample")`, `p=0.5`).

Two-step API, for tests and inspection: `params = layer.sample_params(batch_size, length)`
draws the per-example parameters (a dict of tensors, advancing the seed generator exactly
as a training call does) and `layer.augment(x, params)` applies them deterministically;
`layer(x, training=True)` is `layer.augment(x, layer.sample_params(B, L))`.
"""
import math
import os

import keras
import numpy as np
import tensorflow as tf

from clar_tf import xla_math

__all__ = [
    "Augmentation", "PitchShift", "TimeStretch", "WhiteNoise", "MixedNoise", "Fade",
    "TimeMask", "TimeShift", "Chain", "from_spec", "SPEC_CODES", "FADE_SHAPES",
    "NOISE_COLORS",
]

_PACKAGE = "clar_tf"


# --------------------------------------------------------------------------- helpers
def _length(x):
    """Clip length: a Python int when static (needed by XLA), else a scalar tensor."""
    n = x.shape[1]
    return int(n) if n is not None else tf.shape(x)[1]


def _randint(gen, batch_size, low, high):
    """Integers uniform in [low, high] (both inclusive, float or tensor bounds), int32 [B]."""
    low = tf.cast(low, tf.float32)
    high = tf.cast(high, tf.float32)
    u = keras.random.uniform((batch_size,), seed=gen)
    k = tf.floor(low + u * (high - low + 1.0))
    return tf.cast(tf.minimum(k, high), tf.int32)


def _rms(x):
    return tf.sqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True))


def _mix_at_snr(x, noise, snr_db):
    """x + noise rescaled so that 20·log10(rms(x) / rms(noise)) equals snr_db (per row)."""
    unit = noise / tf.maximum(_rms(noise), 1e-12)
    gain = _rms(x) * tf.pow(10.0, -snr_db[:, None] / 20.0)
    return x + gain * unit


def _stft(x, n_fft, hop):
    """Centred STFT like librosa (zero padding n_fft//2 both sides, periodic Hann).

    [B, L] -> [B, L//hop + 1, n_fft//2 + 1] complex64.
    """
    pad = n_fft // 2
    x = tf.pad(x, [[0, 0], [pad, pad]])
    return tf.signal.stft(x, n_fft, hop, fft_length=n_fft,
                          window_fn=tf.signal.hann_window)


def _overlap_add(frames, hop):
    """tf.signal.overlap_and_add for [B, J, N] frames; when hop divides N, as q = N/hop
    shifted adds of [B, J, hop] blocks (cheaper than the general op, and fusable)."""
    n = frames.shape[-1]
    if n % hop:
        return tf.signal.overlap_and_add(frames, hop)
    q = n // hop
    batch, n_frames = tf.shape(frames)[0], tf.shape(frames)[1]
    blocks = tf.reshape(frames, [batch, n_frames, q, hop])
    y = None
    for k in range(q):  # sub-block k of frame j lands in output block j + k
        part = tf.pad(blocks[:, :, k], [[0, 0], [k, q - 1 - k], [0, 0]])
        y = part if y is None else y + part
    return tf.reshape(y, [batch, (n_frames + q - 1) * hop])


def _istft(re, im, n_fft, hop, n_valid, out_length):
    """Inverse of `_stft` for a vocoder output (real and imaginary parts) whose example b
    has n_valid[b] real frames (the rest zero), as
    librosa.istft(frames[:n_valid], length=out_length[b]).

    Windowed overlap-add divided by the summed squared window of each example's own
    frames, so edges and the stretched signal's end are exact; samples from out_length[b]
    on are zero. [B, J, F] -> [B, (J-1)·hop + n_fft//2].
    """
    pad = n_fft // 2
    window = tf.signal.hann_window(n_fft)
    frames = tf.signal.irfft(tf.complex(re, im), fft_length=[n_fft]) * window
    y = _overlap_add(frames, hop)
    n = tf.shape(y)[1]
    # squared-window sum of frames 0 <= j < n_valid[b] at each sample s:
    # sum over sub-blocks k (frame j = s // hop - k) of w²[k·hop + s % hop]
    q = -(-n_fft // hop)
    w2 = tf.pad(tf.square(window), [[0, q * hop - n_fft]])
    w2 = tf.reshape(w2, [q, hop])  # [q, hop]
    n_blocks = -(-n // hop)
    m = tf.range(n_blocks)[None, :, None] - tf.range(q)[None, None, :]  # frame index
    live = tf.cast((m >= 0) & (m < n_valid[:, None, None]), tf.float32)  # [B, blocks, q]
    norm = tf.reshape(tf.einsum("bmk,kr->bmr", live, w2), [-1, n_blocks * hop])[:, :n]
    s = tf.range(n)[None, :]
    y = y / tf.where(norm > 1e-6, norm, 1.0)
    y = tf.where(s < out_length[:, None] + pad, y, 0.0)
    return y[:, pad:]




def _phase_vocoder(spec, rate, out_frames, max_bin=None):
    """librosa.phase_vocoder with a rate per example, batched.

    Output frame j reads input position t = j·rate[b]: magnitudes are interpolated
    linearly between frames i = floor(t) and i + 1, and the phase accumulates, starting
    from the phase of frame 0, the phase increment between those two input frames.
    librosa adds the increment as `ω·hop + princarg(Δφ − ω·hop)`, which equals the raw
    increment Δφ[t] = φ[t+1] − φ[t] (φ the phase of input frame t) modulo 2π; only cos
    and sin of the sum are used, so the increments need no wrapping.

    The running sum over output frames, Φ[j] = φ[0] + Σ_{m<j} Δφ[floor(m·rate)], is
    regrouped over input frames: input frame s is read by the output frames
    lo[s] ≤ m < lo[s+1], lo[s] = ceil(s / rate), so
    Φ[j] = φ[0] + Σ_{s<i} (lo[s+1] − lo[s])·Δφ[s] + (j − lo[i])·Δφ[i], i = floor(j·rate):
    a fixed integer combination of the input phases φ. Both that and the magnitude
    interpolation are therefore one batched matrix product each, [B, J, T] × [B, T, F],
    with matrices built from the rates alone: no cumulative sum, no gathers, and one
    atan2 on the input (none on the output). Output frames that read at or past the
    input's end (t ≥ T) are zero and not counted as real frames, as librosa's output
    stops there (librosa pads two zero frames, whose increments are 0).

    On CPU this costs two [J, T] × [T, F] products per example (about 4 J·T·F flops)
    where gathers and a cumulative sum over time would be O(J·F) but run several times
    slower in TensorFlow and XLA alike; on accelerators matrix products are cheapest.

    Args:
      spec: [B, T, F] complex64 STFT.
      rate: [B] float32 > 0; rate > 1 speeds up.
      out_frames: J, number of output frames (int or scalar tensor).
      max_bin: optional [B] float32; bins k > max_bin[b] of the output are zeroed.
    Returns:
      (real part [B, J, F], imaginary part [B, J, F], number of real frames [B] int32).
    """
    n_frames = spec.shape[1] if spec.shape[1] is not None else tf.shape(spec)[1]
    n_bins = spec.shape[2]
    xla = xla_math.in_xla()
    re, im = tf.math.real(spec), tf.math.imag(spec)
    mag = tf.sqrt(re * re + im * im)
    phi = (xla_math.atan2 if xla else tf.math.atan2)(im, re)  # [B, T, F]
    if max_bin is not None:
        k = tf.range(n_bins, dtype=tf.float32)
        mag = mag * tf.cast(k[None, None, :] <= max_bin[:, None, None], tf.float32)

    j = tf.range(out_frames, dtype=tf.float32)[None, :]
    pos = j * rate[:, None]  # [B, J]
    valid = pos < tf.cast(n_frames, tf.float32)
    floor = tf.floor(pos)
    i0 = tf.cast(floor, tf.int32)[..., None]  # [B, J, 1]
    alpha = (pos - floor)[..., None]
    s = tf.range(n_frames)[None, None, :]  # [1, 1, T]
    # magnitude: (1 - α)·|X[i]| + α·|X[i+1]| on valid output frames
    w_mag = (tf.where(s == i0, 1.0 - alpha, 0.0) + tf.where(s == i0 + 1, alpha, 0.0))
    w_mag = w_mag * tf.cast(valid, tf.float32)[..., None]
    # phase: coefficient c[s] of Δφ[s] is lo[s+1] - lo[s] for s < i, j - lo[i] for s = i,
    # and 0 for the increment out of the last frame; then Δφ[s] = φ[s+1] - φ[s]
    lo = tf.math.ceil(tf.range(n_frames + 1, dtype=tf.float32)[None, :] / rate[:, None])
    steps = (lo[:, 1:] - lo[:, :-1])[:, None, :]  # [B, 1, T]
    repeats = j[..., None] - tf.math.ceil(floor / rate[:, None])[..., None]  # j - lo[i]
    c = tf.where(s < i0, steps, tf.where(s == i0, repeats, 0.0))
    c = c * tf.cast(s < n_frames - 1, tf.float32)
    w_phase = tf.pad(c, [[0, 0], [0, 0], [1, 0]])[:, :, :-1] - c
    w_phase = w_phase + tf.cast(tf.equal(s, 0), tf.float32)  # φ[0]
    m = tf.matmul(w_mag, mag)  # [B, J, F]
    phase = tf.matmul(w_phase, phi)
    sin, cos = xla_math.sincos(phase) if xla else (tf.sin(phase), tf.cos(phase))
    return m * cos, m * sin, tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)


def _resample_linear(s, factor, length, valid=None):
    """out[b, i] = s[b](i·factor[b]), linear interpolation, i < length: [B, N] -> [B, length].

    Positions past the last sample read the last sample. With `valid` [B], samples
    i >= valid[b] are zero. In plain graphs this is one ImageProjectiveTransformV3 op on
    [B, 1, N, 1] "images" (a native per-example affine resampler, several times faster
    than two batched gathers on CPU); under XLA, which lacks that op, two gathers.
    """
    if xla_math.in_xla():
        n = tf.shape(s)[1]
        pos = tf.range(length, dtype=tf.float32)[None, :] * factor[:, None]
        floor = tf.floor(pos)
        a = pos - floor
        i0 = tf.clip_by_value(tf.cast(floor, tf.int32), 0, n - 2)
        s0 = tf.gather(s, i0, batch_dims=1)
        s1 = tf.gather(s, i0 + 1, batch_dims=1)
        out = tf.where(pos > tf.cast(n - 1, tf.float32), s1, s0 + a * (s1 - s0))
    else:
        zero = tf.zeros_like(factor)
        # output pixel (x, y) reads input pixel (factor·x, y)
        transforms = tf.stack([factor, zero, zero, zero, zero + 1.0, zero, zero, zero], 1)
        out = tf.raw_ops.ImageProjectiveTransformV3(
            images=s[:, None, :, None], transforms=transforms,
            output_shape=tf.stack([1, length]), fill_value=0.0, interpolation="BILINEAR",
            fill_mode="NEAREST")[:, 0, :, 0]
    if valid is not None:
        out = tf.where(tf.range(length)[None, :] < valid[:, None], out, 0.0)
    return out


def _shift_rows(x, shift, wrap):
    """out[b, i] = x[b, i - shift[b]] for integer shifts [B]; indices outside [0, N) wrap
    around (`wrap=True`, np.roll) or read 0. [B, N] -> [B, N].

    Plain graphs: one ImageProjectiveTransformV3 op (nearest neighbour at integer
    positions, so exact); under XLA, which lacks that op, a batched gather.
    """
    n = tf.shape(x)[1]
    if xla_math.in_xla():
        idx = tf.range(n)[None, :] - shift[:, None]
        if wrap:  # |shift| <= n, so idx is in (-n, 2n)
            idx = tf.where(idx < 0, idx + n, tf.where(idx >= n, idx - n, idx))
            return tf.gather(x, idx, batch_dims=1)
        inside = (idx >= 0) & (idx < n)
        return tf.where(inside, tf.gather(x, tf.clip_by_value(idx, 0, n - 1), batch_dims=1),
                        tf.zeros_like(x))
    zero = tf.zeros_like(shift, tf.float32)
    transforms = tf.stack([zero + 1.0, zero, -tf.cast(shift, tf.float32),
                           zero, zero + 1.0, zero, zero, zero], 1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x[:, None, :, None], transforms=transforms, output_shape=tf.stack([1, n]),
        fill_value=0.0, interpolation="NEAREST",
        fill_mode="WRAP" if wrap else "CONSTANT")[:, 0, :, 0]


def _fit_length(y, length):
    """Crop or zero-pad [B, N] on the right to `length`."""
    y = y[:, :length]
    return tf.pad(y, [[0, 0], [0, length - tf.shape(y)[1]]])


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. "
                         f"Received: {name}={value!r}")


def _check_range(low_name, low, high_name, high, lower=None, upper=None):
    for name, v in ((low_name, low), (high_name, high)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v):
            raise ValueError(f"`{name}` must be a finite number. Received: {name}={v!r}")
    if low > high:
        raise ValueError(f"`{low_name}` must be <= `{high_name}`. "
                         f"Received: {low_name}={low}, {high_name}={high}")
    if lower is not None and low < lower:
        raise ValueError(f"`{low_name}` must be >= {lower}. Received: {low_name}={low}")
    if upper is not None and high > upper:
        raise ValueError(f"`{high_name}` must be <= {upper}. Received: {high_name}={high}")


# --------------------------------------------------------------------------- base
_MAX_SHARDS = 8


def _host_shards():
    """How many pieces to cut a batch into for nested XLA calls: the host's cores (at
    most `_MAX_SHARDS`) when no GPU is visible, else 1. On CPU one XLA call runs its
    elementwise loops on one thread; independent calls run side by side on TensorFlow's
    inter-op threads (benchmarks/augment_bench.py)."""
    if tf.config.list_logical_devices("GPU"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_SHARDS))


def _sharded(fn, x, params):
    """fn(x, params) computed on `_host_shards()` consecutive pieces of the batch and
    concatenated. Every op is per example, so the result equals one call on the whole
    batch; pieces may be empty when the batch is smaller than the number of pieces."""
    shards = _host_shards()
    if shards == 1:
        return fn(x, params)
    n = tf.shape(x)[0]
    sizes = n // shards + tf.cast(tf.range(shards) < n % shards, tf.int32)
    xs = tf.split(x, sizes, axis=0, num=shards)
    ps = {k: tf.split(v, sizes, axis=0, num=shards) for k, v in params.items()}
    return tf.concat([fn(xs[i], {k: v[i] for k, v in ps.items()}) for i in range(shards)],
                     axis=0)


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
        super().__init__(**kwargs)
        _check_range("p", p, "p", p, lower=0.0, upper=1.0)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
        if not isinstance(jit_compile, bool):
            raise ValueError(f"`jit_compile` must be a bool. "
                             f"Received: jit_compile={jit_compile!r}")
        self.p = p
        self.seed = seed
        self.jit_compile = jit_compile
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._xla_augment = None
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
        if self.jit_compile and not tf.executing_eagerly() and not xla_math.in_xla():
            if self._xla_augment is None:
                self._xla_augment = tf.function(self._augment, jit_compile=True)
            y = _sharded(self._xla_augment, x,
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
        params = self.sample_params(tf.shape(inputs)[0], _length(inputs))
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


# --------------------------------------------------------------------------- temporal
@keras.saving.register_keras_serializable(package=_PACKAGE)
class TimeShift(Augmentation):
    """Time shift (TS): circular roll by an integer k uniform in [-m, m].

    With m = ⌊max_fraction·L⌋, y[i] = x[(i - k) mod L], i.e. `np.roll(x, k)`; samples that leave one end re-enter at
    the other. Params: {"shift": int32 [B]}.

    Args:
      max_fraction: largest shift as a fraction of the clip, in [0, 1]. Default 0.5 (paper).
    """

    def __init__(self, max_fraction=0.5, **kwargs):
        super().__init__(**kwargs)
        _check_range("max_fraction", max_fraction, "max_fraction", max_fraction, 0.0, 1.0)
        self.max_fraction = max_fraction

    def _sample(self, batch_size, length):
        m = tf.floor(self.max_fraction * tf.cast(length, tf.float32))
        return {"shift": _randint(self.seed_generator, batch_size, -m, m)}

    def _augment(self, x, params):
        return _shift_rows(x, params["shift"], wrap=True)

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


@keras.saving.register_keras_serializable(package=_PACKAGE)
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
    """

    def __init__(self, min_fraction=0.0, max_fraction=0.5,
                 shapes=("linear", "logarithmic", "exponential"), **kwargs):
        super().__init__(**kwargs)
        _check_range("min_fraction", min_fraction, "max_fraction", max_fraction, 0.0, 1.0)
        if isinstance(shapes, str):
            shapes = [shapes]
        shapes = list(shapes)
        if not shapes or any(s not in _FADES for s in shapes):
            raise ValueError(f"`shapes` must be a non-empty list of {list(FADE_SHAPES)}. "
                             f"Received: shapes={shapes}")
        self.min_fraction = min_fraction
        self.max_fraction = max_fraction
        self.shapes = shapes

    def _sample(self, batch_size, length):
        n = tf.cast(length, tf.float32)
        lo = tf.floor(self.min_fraction * n)
        hi = tf.floor(self.max_fraction * n)
        return {
            "fade_in": _randint(self.seed_generator, batch_size, lo, hi),
            "fade_out": _randint(self.seed_generator, batch_size, lo, hi),
            "shape": _randint(self.seed_generator, batch_size, 0, len(self.shapes) - 1),
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
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
    """

    def __init__(self, min_fraction=0.0, max_fraction=0.125, fill="noise", noise_std=0.01,
                 **kwargs):
        super().__init__(**kwargs)
        _check_range("min_fraction", min_fraction, "max_fraction", max_fraction, 0.0, 1.0)
        if fill not in ("noise", "zeros"):
            raise ValueError(f"`fill` must be 'noise' or 'zeros'. Received: fill={fill!r}")
        _check_range("noise_std", noise_std, "noise_std", noise_std, lower=0.0)
        self.min_fraction = min_fraction
        self.max_fraction = max_fraction
        self.fill = fill
        self.noise_std = noise_std

    def _sample(self, batch_size, length):
        n = tf.cast(length, tf.float32)
        size = _randint(self.seed_generator, batch_size, tf.floor(self.min_fraction * n),
                        tf.floor(self.max_fraction * n))
        start = _randint(self.seed_generator, batch_size, 0,
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
            noise = _fit_length(params["noise"], length)
            fill = self.noise_std * _shift_rows(noise, params["start"], wrap=False)
        else:
            fill = tf.zeros_like(x)
        return tf.where(self.mask(length, params), fill, x)

    def get_config(self):
        return {**super().get_config(), "min_fraction": self.min_fraction,
                "max_fraction": self.max_fraction, "fill": self.fill,
                "noise_std": self.noise_std}


# --------------------------------------------------------------------------- noise
@keras.saving.register_keras_serializable(package=_PACKAGE)
class WhiteNoise(Augmentation):
    """White noise (WN): add Gaussian noise at a signal-to-noise ratio uniform per example.

    The noise is normalised to unit RMS and scaled to rms(x)·10^(-SNR/20), so the SNR of
    the output, 20·log10(rms(x) / rms(y - x)), is exactly the drawn value (a silent clip
    gets no noise). The paper gives no range; the default [0, 40] dB spans heavy noise to
    practically none (40 dB: noise 1 % of the signal RMS), following the paper's "a degree
    of transformation or none at all"; the authors' code uses integers in [0, 20).
    Params: {"snr_db": float32 [B], "noise": float32 [B, L] standard normal}.
    """

    def __init__(self, min_snr_db=0.0, max_snr_db=40.0, **kwargs):
        super().__init__(**kwargs)
        _check_range("min_snr_db", min_snr_db, "max_snr_db", max_snr_db)
        self.min_snr_db = min_snr_db
        self.max_snr_db = max_snr_db

    def _sample(self, batch_size, length):
        return {
            "snr_db": keras.random.uniform((batch_size,), self.min_snr_db, self.max_snr_db,
                                           seed=self.seed_generator),
            "noise": keras.random.normal((batch_size, length), seed=self.seed_generator),
        }

    def _augment(self, x, params):
        return _mix_at_snr(x, params["noise"], params["snr_db"])

    def get_config(self):
        return {**super().get_config(), "min_snr_db": self.min_snr_db,
                "max_snr_db": self.max_snr_db}


_NOISE_EXPONENT = {"white": 0.0, "pink": 0.5, "brown": 1.0}  # amplitude ∝ f^-exponent
NOISE_COLORS = tuple(_NOISE_EXPONENT)


@keras.saving.register_keras_serializable(package=_PACKAGE)
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
    """

    def __init__(self, min_snr_db=0.0, max_snr_db=40.0, colors=("white", "pink", "brown"),
                 **kwargs):
        super().__init__(**kwargs)
        _check_range("min_snr_db", min_snr_db, "max_snr_db", max_snr_db)
        if isinstance(colors, str):
            colors = [colors]
        colors = list(colors)
        if not colors or any(c not in _NOISE_EXPONENT for c in colors):
            raise ValueError(f"`colors` must be a non-empty list of {list(NOISE_COLORS)}. "
                             f"Received: colors={colors}")
        self.min_snr_db = min_snr_db
        self.max_snr_db = max_snr_db
        self.colors = colors

    def _sample(self, batch_size, length):
        return {
            "snr_db": keras.random.uniform((batch_size,), self.min_snr_db, self.max_snr_db,
                                           seed=self.seed_generator),
            "color": _randint(self.seed_generator, batch_size, 0, len(self.colors) - 1),
            "noise": keras.random.normal((batch_size, length), seed=self.seed_generator),
        }

    def colored_noise(self, params):
        """The unscaled noise [B, L] of each example's colour."""
        white = params["noise"]
        exps = [_NOISE_EXPONENT[c] for c in self.colors]
        if all(e == 0.0 for e in exps):
            return white
        n = _length(white)
        spec = tf.signal.rfft(white, fft_length=[n])
        k = tf.range(tf.shape(spec)[1], dtype=tf.float32)[None, :]
        exponent = tf.gather(tf.constant(exps, tf.float32), params["color"])[:, None]
        gain = tf.where(k > 0, tf.pow(tf.maximum(k, 1.0), -exponent),
                        tf.cast(exponent == 0.0, tf.float32))
        colored = tf.signal.irfft(spec * tf.complex(gain, 0.0), fft_length=[n])
        return colored

    def _augment(self, x, params):
        return _mix_at_snr(x, self.colored_noise(params), params["snr_db"])

    def get_config(self):
        return {**super().get_config(), "min_snr_db": self.min_snr_db,
                "max_snr_db": self.max_snr_db, "colors": list(self.colors)}


# --------------------------------------------------------------------------- vocoder
class _VocoderAugmentation(Augmentation):
    """Base of the phase-vocoder layers; n_fft and hop_length: STFT size and hop (periodic
    Hann window, centred frames)."""

    def __init__(self, n_fft=512, hop_length=128, **kwargs):
        super().__init__(**kwargs)
        _check_int("n_fft", n_fft, 4)
        _check_int("hop_length", hop_length, 1)
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
        length = _length(x)
        spec = _stft(x, self.n_fft, self.hop_length)
        n_in = spec.shape[1] if spec.shape[1] is not None else tf.shape(spec)[1]
        if isinstance(n_in, int):
            out_frames = int(math.ceil(n_in * max_ratio)) + 1
        else:
            out_frames = tf.cast(tf.math.ceil(tf.cast(n_in, tf.float32) * max_ratio),
                                 tf.int32) + 1
        max_bin = None
        if resample_factor is not None:  # anti-aliasing: keep bins below Nyquist / factor
            max_bin = (self.n_fft // 2) / tf.maximum(resample_factor, 1.0)
        re, im, n_valid = _phase_vocoder(spec, rate, out_frames, max_bin=max_bin)
        # librosa.effects.time_stretch keeps round(L / rate) samples
        out_length = tf.cast(tf.round(tf.cast(length, tf.float32) / rate), tf.int32)
        y = _istft(re, im, self.n_fft, self.hop_length, n_valid, out_length)
        if resample_factor is None:
            return _fit_length(y, length)
        return _resample_linear(y, resample_factor, length)

    def get_config(self):
        return {**super().get_config(), "n_fft": self.n_fft, "hop_length": self.hop_length}


@keras.saving.register_keras_serializable(package=_PACKAGE)
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
    """

    def __init__(self, min_rate=0.5, max_rate=1.5, n_fft=512, hop_length=128, fit="crop",
                 **kwargs):
        super().__init__(n_fft=n_fft, hop_length=hop_length, **kwargs)
        _check_range("min_rate", min_rate, "max_rate", max_rate)
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PitchShift(_VocoderAugmentation):
    """Pitch shift (PS) by n semitones, n uniform (continuous) in [min, max], duration kept.

    As librosa.effects.pitch_shift: with ratio = 2^(n/12), phase-vocoder time stretch by
    rate 1/ratio (the clip becomes ratio times longer at the same pitch), then resample it
    back to L samples (out[i] = stretched(i·ratio), linear interpolation). For ratio > 1
    the bins above Nyquist/ratio are zeroed in the vocoder's output spectrogram first, so
    the resampling does not alias (librosa uses a band-limited resampler instead).
    Params: {"semitones": float32 [B]}.
    """

    def __init__(self, min_semitones=-15.0, max_semitones=15.0, n_fft=512, hop_length=128,
                 **kwargs):
        super().__init__(n_fft=n_fft, hop_length=hop_length, **kwargs)
        _check_range("min_semitones", min_semitones, "max_semitones", max_semitones)
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


# --------------------------------------------------------------------------- chains
SPEC_CODES = {
    "PS": PitchShift,
    "WN": WhiteNoise,
    "MN": MixedNoise,
    "FD": Fade,
    "TM": TimeMask,
    "TS": TimeShift,
    "TST": TimeStretch,
}


def _derived_seed(seed, index):
    if seed is None:
        return None
    return (seed * 1_000_003 + 7_919 * (index + 1)) % (2**31 - 1)


def _parse_spec(spec):
    text = spec.strip()
    if text == "" or text.lower() == "none":
        return []
    codes = [c.strip().upper() for c in text.split("+")]
    unknown = [c for c in codes if c not in SPEC_CODES]
    if unknown:
        raise ValueError(f"Unknown augmentation code(s) {unknown} in spec {spec!r}; allowed: "
                         f"{', '.join(SPEC_CODES)} joined by '+', or '' / 'none'.")
    return codes


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Chain(keras.layers.Layer):
    """Augmentations applied one after the other (identity when not training).

    Args:
      layers: a spec string of paper abbreviations joined by "+" (e.g. "FD+TM+TS"; codes
        in `SPEC_CODES`; "" or "none" is the identity), each code built with its default
        arguments, or a list of augmentation layers.
      seed: with a spec string, the i-th layer gets a distinct seed derived from it (None:
        unseeded). Must be None with a list of layers (seed those yourself).
    """

    def __init__(self, layers=(), seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        if isinstance(layers, str):
            self.spec = layers
            built = [SPEC_CODES[c](seed=_derived_seed(seed, i))
                     for i, c in enumerate(_parse_spec(layers))]
        else:
            if seed is not None:
                raise ValueError("`seed` applies to a spec string only; seed the layers "
                                 f"themselves. Received: seed={seed}")
            self.spec = None
            built = [keras.saving.deserialize_keras_object(l) if isinstance(l, dict) else l
                     for l in layers]
            for l in built:
                if not isinstance(l, keras.layers.Layer):
                    raise ValueError(f"`layers` must hold Keras layers. Received: {l!r}")
        self.augmentations = built
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.augmentations:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        if self.spec is not None:
            config.update({"layers": self.spec, "seed": self.seed})
        else:
            config.update({"layers": [keras.saving.serialize_keras_object(l)
                                      for l in self.augmentations], "seed": None})
        return config


def from_spec(spec, seed=None):
    """`Chain` from the paper's abbreviations, e.g. `from_spec("FD+TM+TS", seed=0)`.

    Codes: PS (pitch shift), WN (white noise), MN (mixed noise), FD (fade), TM (time mask),
    TS (time shift), TST (time stretch); "" or "none" gives the identity. Unknown codes
    raise ValueError listing the allowed ones.
    """
    if not isinstance(spec, str):
        raise ValueError(f"`spec` must be a string. Received: spec={spec!r}")
    return Chain(spec, seed=seed)
