"""Tests for clar_tf.layers.Frontend against librosa (independent reference).

Measured agreement (float32 layer vs float64 librosa, 1 s test signal at 16 kHz):
log-power STFT ≤ 1.4e-3 dB, log-mel ≤ 4e-4 dB, phase ≤ 1e-4 rad; the asserted
tolerances below leave ~10× headroom.
"""
import warnings

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from clar_tf.layers.frontend import Frontend, log_frequencies, log_interpolation_filterbank
from testing import assert_layer_roundtrip

SR = 16000
DB_ATOL = 1e-2       # dB, on bins whose power is above the floor
PHASE_ATOL = 1e-3    # rad, on bins with |S| > 1e-4·max|S|


def _signal(length=SR, silent_tail=0):
    rng = np.random.RandomState(0)
    t = np.arange(length) / SR
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t * (1 + t))
         + 0.05 * rng.randn(length))
    if silent_tail:
        x[-silent_tail:] = 0.0
    return x.astype(np.float32)


def _librosa_stft(x, n_fft, hop=128):
    """[T, n_fft//2 + 1] complex, librosa's centred zero-padded Hann STFT."""
    return librosa.stft(x.astype(np.float64), n_fft=n_fft, hop_length=hop, win_length=n_fft,
                        window="hann", center=True, pad_mode="constant").T


def _librosa_mel(x, n_fft, fmin, fmax, hop=128):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ee]mpty filters")
        return librosa.feature.melspectrogram(
            y=x.astype(np.float64), sr=SR, n_fft=n_fft, hop_length=hop, win_length=n_fft,
            window="hann", center=True, pad_mode="constant", power=2.0, n_mels=128,
            fmin=fmin, fmax=fmax, htk=False, norm="slaney").T


def _assert_phase_close(got, ref_complex):
    ok = np.abs(ref_complex) > 1e-4 * np.abs(ref_complex).max()
    assert ok.mean() > 0.5
    diff = np.angle(np.exp(1j * (got - np.angle(ref_complex))))  # wrapped to (-π, π]
    np.testing.assert_allclose(diff[ok], 0.0, atol=PHASE_ATOL)


MODES = ("eager", "graph", "graph_no_nested_xla", "xla")


def _run(x, mode, **kwargs):
    """Frontend(**kwargs) on x [B, L] eagerly, in a tf.function (whose post-STFT work is a
    nested XLA call by default, or plain ops), or in a jit_compile=True tf.function."""
    layer = Frontend(jit_compile=mode != "graph_no_nested_xla", **kwargs)
    if mode == "eager":
        return keras.ops.convert_to_numpy(layer(x))
    fn = tf.function(lambda a: layer(a), jit_compile=mode == "xla")
    return fn(tf.constant(x)).numpy()


@pytest.mark.parametrize("mode", MODES)
def test_paper_variant_matches_librosa(mode):
    x = _signal()
    out = _run(x[None], mode, variant="paper")[0]
    stft = _librosa_stft(x, 256)
    power = np.abs(stft) ** 2
    assert out.shape == (1 + SR // 128, 128, 3) == (stft.shape[0], 128, 3)

    mag_ref = librosa.power_to_db(power[:, :128], ref=1.0, amin=1e-10, top_db=None)
    above = power[:, :128] > 1e-9
    np.testing.assert_allclose(out[..., 0][above], mag_ref[above], atol=DB_ATOL)

    _assert_phase_close(out[..., 1], stft[:, :128])

    mel = _librosa_mel(x, 256, 0.0, SR / 2)
    mel_ref = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    above = mel > 1e-9
    assert above.mean() > 0.85  # 13 of 128 Slaney bands are empty at n_fft=256
    np.testing.assert_allclose(out[..., 2][above], mel_ref[above], atol=DB_ATOL)
    # Empty bands sit exactly at the floor.
    np.testing.assert_allclose(out[..., 2][mel == 0.0], -100.0, atol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_authors_variant_matches_librosa(mode):
    x = _signal()
    out = _run(x[None], mode, variant="authors")[0]
    stft = _librosa_stft(x, 2048)
    assert out.shape == (1 + SR // 128, 128, 3)

    # Magnitude at 128 log-spaced frequencies, 40 Hz · 200^(k/128), by linear
    # interpolation between FFT bins (np.interp, independent of the layer's matrix).
    centres = 40.0 * 200.0 ** (np.arange(128) / 128)
    pos = centres * 2048 / SR
    mag = np.stack([np.interp(pos, np.arange(stft.shape[1]), np.abs(s)) for s in stft])
    mag_ref = 20.0 * np.log10(np.maximum(mag, 1e-5))
    above = mag > 1e-4
    np.testing.assert_allclose(out[..., 0][above], mag_ref[above], atol=DB_ATOL)

    _assert_phase_close(out[..., 1], stft[:, np.round(pos).astype(int)])

    mel = _librosa_mel(x, 2048, 40.0, 8000.0)
    mel_ref = librosa.power_to_db(mel, ref=1.0, amin=1e-5, top_db=None)
    above = mel > 1e-4
    np.testing.assert_allclose(out[..., 2][above], mel_ref[above], atol=DB_ATOL)


@pytest.mark.parametrize("mode", MODES)
def test_floors_on_silence(mode):
    x = _signal(silent_tail=SR // 2)
    for variant, mel_floor in (("paper", -100.0), ("authors", -50.0)):
        out = _run(x[None], mode, variant=variant)[0]
        tail = out[-20:]  # frames well inside the silent half
        np.testing.assert_allclose(tail[..., 0], -100.0, atol=1e-4)
        np.testing.assert_allclose(tail[..., 2], mel_floor, atol=1e-4)
        assert np.all(np.isfinite(out))


@pytest.mark.parametrize("mode", ("eager", "graph"))
def test_top_db_clamps_each_channel(mode):
    x = _signal(silent_tail=SR // 2)[None]
    out = _run(x, mode, top_db=60.0)[0]
    for ch in (0, 2):
        assert out[..., ch].min() == pytest.approx(out[..., ch].max() - 60.0, abs=1e-3)


def test_log_interpolation_filterbank_columns():
    fb = log_interpolation_filterbank(SR, 2048, 128, 40.0, 8000.0)
    assert fb.shape == (1025, 128)
    np.testing.assert_allclose(fb.sum(axis=0), 1.0, rtol=1e-6)
    assert np.all((fb > 0).sum(axis=0) <= 2)
    freqs = np.arange(1025) * SR / 2048
    np.testing.assert_allclose(freqs @ fb, log_frequencies(128, 40.0, 8000.0), rtol=1e-5)


def test_modes_agree_on_a_batch():
    """Batched graph / nested-XLA / XLA outputs equal the eager ones example by example
    (phase wrapped; the XLA phase is a polynomial atan2 with error ≤ 2e-6 rad)."""
    rng = np.random.RandomState(1)
    x = np.stack([_signal(), 0.3 * rng.randn(SR).astype(np.float32),
                  np.zeros(SR, np.float32)])
    for variant in ("paper", "authors"):
        ref = _run(x, "eager", variant=variant)
        for mode in MODES[1:]:
            out = _run(x, mode, variant=variant)
            np.testing.assert_allclose(out[..., 0], ref[..., 0], atol=1e-3)
            np.testing.assert_allclose(out[..., 2], ref[..., 2], atol=1e-3)
            dphase = np.angle(np.exp(1j * (out[..., 1] - ref[..., 1])))
            np.testing.assert_allclose(dphase, 0.0, atol=1e-5)


@pytest.mark.parametrize("variant,center,length,frames", [
    ("paper", True, 16000, 126), ("paper", False, 16000, 124),
    ("authors", True, 8000, 63), ("authors", False, 8000, 47),
    ("paper", True, 1000, 8)])
def test_shapes(variant, center, length, frames):
    layer = Frontend(variant=variant, center=center)
    assert layer.output_frames(length) == frames
    out = layer(np.zeros((2, length), np.float32))
    assert tuple(out.shape) == (2, frames, 128, 3)
    assert out.dtype == tf.float32
    sym = keras.Model(*(lambda i: (i, layer(i)))(keras.Input((length,)))).output.shape
    assert tuple(sym) == (None, frames, 128, 3)


def test_variable_length_and_tf_function():
    layer = Frontend()
    inp = keras.Input((None,))
    assert tuple(layer(inp).shape) == (None, None, 128, 3)
    fn = tf.function(lambda a: layer(a), input_signature=[tf.TensorSpec([None, None])])
    x = _signal(4000)[None]
    np.testing.assert_allclose(fn(x).numpy(), layer(x).numpy(), atol=1e-5)
    assert tuple(fn(np.zeros((3, 2000), np.float32)).shape) == (3, 16, 128, 3)


@pytest.mark.parametrize("kwargs", [{}, {"variant": "authors", "top_db": 80.0},
                                    {"jit_compile": False}])
def test_roundtrip(kwargs):
    assert_layer_roundtrip(Frontend(**kwargs), _signal(4000)[None], atol=1e-4)


@pytest.mark.parametrize("kwargs,name", [
    ({"sample_rate": 0}, "sample_rate"), ({"variant": "nnaudio"}, "variant"),
    ({"win_ms": -1.0}, "win_ms"), ({"n_mels": 64}, "n_mels"),
    ({"f_min": 9000.0}, "f_min"), ({"amin": 0.0}, "amin"), ({"top_db": -3.0}, "top_db"),
    ({"variant": "authors", "f_min": 0.0}, "f_min"), ({"center": 1}, "center"),
    ({"jit_compile": "yes"}, "jit_compile")])
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"Received: {name}="):
        Frontend(**kwargs)


def test_stays_float32_under_mixed_precision():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = Frontend()
        out = layer(_signal(2000)[None])
    finally:
        keras.config.set_dtype_policy(policy)
    assert layer.dtype_policy.name == "float32" and out.dtype == tf.float32
