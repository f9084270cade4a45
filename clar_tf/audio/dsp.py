"""Batched signal processing on `[B, L]` float32 waveforms, in TensorFlow ops.

The pieces of CLAR's augmentations (paper §5) that are signal processing rather than
random draws: a centred STFT and its inverse (librosa's conventions), librosa's phase
vocoder with one rate per example, per-example linear resampling and integer row shifts.
Every function works in plain graphs and under XLA (`clar_tf.audio.xla.in_xla` picks the
kernels that are fast in each), with a static or dynamic batch size.
"""
import tensorflow as tf

from clar_tf.audio import xla


def static_length(x):
    """Clip length: a Python int when static (needed by XLA), else a scalar tensor."""
    n = x.shape[1]
    return int(n) if n is not None else tf.shape(x)[1]


def stft(x, n_fft, hop):
    """Centred STFT like librosa (zero padding n_fft//2 both sides, periodic Hann).

    [B, L] -> [B, L//hop + 1, n_fft//2 + 1] complex64.
    """
    pad = n_fft // 2
    x = tf.pad(x, [[0, 0], [pad, pad]])
    return tf.signal.stft(x, n_fft, hop, fft_length=n_fft,
                          window_fn=tf.signal.hann_window)


def overlap_add(frames, hop):
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


def istft(re, im, n_fft, hop, n_valid, out_length):
    """Inverse of `stft` for a vocoder output (real and imaginary parts) whose example b
    has n_valid[b] real frames (the rest zero), as
    librosa.istft(frames[:n_valid], length=out_length[b]).

    Windowed overlap-add divided by the summed squared window of each example's own
    frames, so edges and the stretched signal's end are exact; samples from out_length[b]
    on are zero. [B, J, F] -> [B, (J-1)·hop + n_fft//2].
    """
    pad = n_fft // 2
    window = tf.signal.hann_window(n_fft)
    frames = tf.signal.irfft(tf.complex(re, im), fft_length=[n_fft]) * window
    y = overlap_add(frames, hop)
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


def phase_vocoder(spec, rate, out_frames, max_bin=None):
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
    stops there. The increment out of the last input frame is taken as 0; librosa reads
    its zero padding there (angle 0 − φ[T−1]), so the output frames after the first one
    that reads the last input frame (rate < 1 only) differ from librosa's in phase.

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
    fused = xla.in_xla()
    re, im = tf.math.real(spec), tf.math.imag(spec)
    mag = tf.sqrt(re * re + im * im)
    phi = (xla.atan2 if fused else tf.math.atan2)(im, re)  # [B, T, F]
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
    sin, cos = xla.sincos(phase) if fused else (tf.sin(phase), tf.cos(phase))
    return m * cos, m * sin, tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)


def resample_linear(s, factor, length, valid=None):
    """out[b, i] = s[b](i·factor[b]), linear interpolation, i < length: [B, N] -> [B, length].

    Positions past the last sample read the last sample. With `valid` [B], samples
    i >= valid[b] are zero. In plain graphs this is one ImageProjectiveTransformV3 op on
    [B, 1, N, 1] "images" (a native per-example affine resampler, several times faster
    than two batched gathers on CPU); under XLA, which lacks that op, two gathers.
    """
    if xla.in_xla():
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


def shift_rows(x, shift, wrap):
    """out[b, i] = x[b, i - shift[b]] for integer shifts [B]; indices outside [0, N) wrap
    around (`wrap=True`, np.roll) or read 0. [B, N] -> [B, N].

    Plain graphs: one ImageProjectiveTransformV3 op (nearest neighbour at integer
    positions, so exact); under XLA, which lacks that op, a batched gather.
    """
    n = tf.shape(x)[1]
    if xla.in_xla():
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


def fit_length(y, length):
    """Crop or zero-pad [B, N] on the right to `length`."""
    y = y[:, :length]
    return tf.pad(y, [[0, 0], [0, length - tf.shape(y)[1]]])

