"""Tests for clar_tf.layers.Frontend against librosa (independent reference).

Measured agreement (float32 layer vs float64 librosa, 1 s test signal at 16 kHz):
log-power STFT ≤ 1.4e-3 dB, log-mel ≤ 4e-4 dB, phase ≤ 1e-4 rad; the asserted
tolerances below leave ~10× headroom. The export frontend (`ExportFrontend`, mode
"export") passes the same librosa comparisons, and is compared with the Kapre
`Frontend` on spoken digits (`test_export_frontend_equals_the_kapre_frontend...`).
"""
import glob
import os
import warnings

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import demo_data
from clar_tf.audio import io as audio_io
from clar_tf.layers.frontend import (ExportFrontend, Frontend, dft_kernels, log_frequencies,
                                     log_interpolation_filterbank)
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
# The training frontend's modes and the export frontend (in a tf.function).
LIBROSA_MODES = MODES + ("export",)


def _run(x, mode, **kwargs):
    """Frontend(**kwargs) on x [B, L] eagerly, in a tf.function (whose post-STFT work is a
    nested XLA call by default, or plain ops), or in a jit_compile=True tf.function;
    mode "export": ExportFrontend(**kwargs) in a tf.function."""
    if mode == "export":
        layer = ExportFrontend(**kwargs)
        return tf.function(lambda a: layer(a))(tf.constant(x)).numpy()
    layer = Frontend(jit_compile=mode != "graph_no_nested_xla", **kwargs)
    if mode == "eager":
        return keras.ops.convert_to_numpy(layer(x))
    fn = tf.function(lambda a: layer(a), jit_compile=mode == "xla")
    return fn(tf.constant(x)).numpy()


@pytest.mark.parametrize("mode", LIBROSA_MODES)
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


@pytest.mark.parametrize("mode", LIBROSA_MODES)
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


@pytest.mark.parametrize("mode", LIBROSA_MODES)
def test_floors_on_silence(mode):
    x = _signal(silent_tail=SR // 2)
    for variant, mel_floor in (("paper", -100.0), ("authors", -50.0)):
        out = _run(x[None], mode, variant=variant)[0]
        tail = out[-20:]  # frames well inside the silent half
        np.testing.assert_allclose(tail[..., 0], -100.0, atol=1e-4)
        np.testing.assert_allclose(tail[..., 2], mel_floor, atol=1e-4)
        assert np.all(np.isfinite(out))


@pytest.mark.parametrize("mode", ("eager", "graph", "export"))
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


@pytest.mark.parametrize("make, mixed", [(lambda: Frontend(), "mixed_float16"),
                                         (lambda: ExportFrontend(), "mixed_bfloat16")],
                         ids=["training", "export"])
def test_stays_float32_under_mixed_precision(make, mixed):
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(mixed)
    try:
        layer = make()
        out = layer(_signal(2000)[None])
    finally:
        keras.config.set_dtype_policy(policy)
    assert layer.dtype_policy.name == "float32" and out.dtype == tf.float32


# --- The export frontend (public Keras layers, no Kapre) against the Kapre frontend ------

@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The spoken digits, 3 clips of each word (synthetic speech over a light noise floor)
    as trained on: 1 s at 16 kHz; then the first 10 cut to 9000 samples and zero-padded to
    1 s (the padding a short clip gets: silent frames at the end)."""
    root = str(tmp_path_factory.mktemp("digits"))
    demo_data.make(root, seed=0, clips_per_word=3)
    files = sorted(f for word in demo_data.WORDS
                   for f in glob.glob(os.path.join(root, word, "*.wav")))
    clips = np.stack([audio_io.pad_or_clip(audio_io.read_audio(f), SR) for f in files])
    assert clips.shape == (30, SR) and np.abs(clips).max(axis=1).min() > 0.05  # speech
    short = np.pad(clips[:10, :9000], [[0, 0], [0, SR - 9000]])
    return np.concatenate([clips, short]).astype(np.float32)


def _per_clip_max(x):
    return x.reshape(len(x), -1).max(axis=1)[:, None, None]


@pytest.mark.parametrize("variant", ["paper", "authors"])
def test_export_frontend_equals_the_kapre_frontend_on_spoken_digits(digits, variant):
    """The three channels of `ExportFrontend` (convolution STFT) against the training
    `Frontend` (Kapre, FFT), both float32. Measured on these 40 clips (paper / authors):
    |S| within 7.5e-7 / 2.1e-6 of each clip's largest |S|; STFT dB within 4.4e-4 / 2.1e-4
    dB where |S|² > 1e-6 of the clip's largest (0.015 dB at most anywhere: bins near the
    1e-10 floor); mel dB within 5.7e-4 / 8.8e-5 dB everywhere; phase within 4.6e-5 /
    1.2e-4 rad where |S| > 1e-3 of the clip's largest, not wrapped (no bin flips
    between π and -π; below that level the phase of either is rounding noise: 7e-4 rad
    at most); silent frames identical (floors, phase 0). Asserted with ~10× headroom."""
    kapre_layer = Frontend(variant=variant, jit_compile=False)
    export_layer = ExportFrontend.from_frontend(kapre_layer)
    want = kapre_layer(digits).numpy()
    got = export_layer(digits).numpy()
    assert got.shape == want.shape == (40, 1 + SR // 128, 128, 3)

    power = 10.0 ** (want[..., 0] / 10.0)  # |S|² of the kept bins, floored at 1e-10
    mag, got_mag = np.sqrt(power), np.sqrt(10.0 ** (got[..., 0] / 10.0))
    assert np.abs(got_mag - mag).max() <= 1e-5 * np.abs(mag).max()
    assert (np.abs(got_mag - mag) <= 1e-5 * _per_clip_max(mag)).all()
    loud = power > 1e-6 * _per_clip_max(power)
    assert loud.mean() > 0.8
    np.testing.assert_allclose(got[..., 0][loud], want[..., 0][loud], atol=5e-3)
    np.testing.assert_allclose(got[..., 2], want[..., 2], atol=5e-3)

    away = mag > 1e-3 * _per_clip_max(mag)
    assert away.mean() > 0.8
    np.testing.assert_allclose(got[..., 1][away], want[..., 1][away], atol=1e-3)
    wrapped = np.angle(np.exp(1j * (got[..., 1] - want[..., 1])))
    np.testing.assert_allclose(wrapped, 0.0, atol=1e-2)  # every bin, near-zero ones too

    # The zero-padded end: frames whose window sees no sample of the clip.
    silent = slice((9000 + export_layer.n_fft // 2) // 128 + 1, None)
    np.testing.assert_array_equal(got[30:, silent], want[30:, silent])
    assert (got[30:, silent, :, 1] == 0.0).all()


@pytest.mark.parametrize("variant", ["paper", "authors"])
def test_export_frontend_top_db_equals_the_kapre_clamp(digits, variant):
    """With `top_db` (Kapre's `MagnitudeToDecibel` clamp in training): every dB value
    within 5e-3 dB (measured 4.4e-4 / 2.1e-4: the clamp sits 60 dB below each clip's
    maximum, where the unclamped tolerance above holds)."""
    kapre_layer = Frontend(variant=variant, top_db=60.0, jit_compile=False)
    want = kapre_layer(digits).numpy()
    got = ExportFrontend.from_frontend(kapre_layer)(digits).numpy()
    for ch in (0, 2):
        floor = _per_clip_max(want[..., ch]) - 60.0
        assert np.isclose(want[..., ch], floor, atol=1e-3).mean() > 0.05  # clamped
        np.testing.assert_allclose(got[..., ch], want[..., ch], atol=5e-3)


@pytest.mark.parametrize("n_fft", [256, 255, 2048])
def test_dft_kernels_equal_numpy_rfft(n_fft):
    """frames · kernels = the real and imaginary parts of NumPy's rfft of the
    periodic-Hann-windowed frames (float64 reference); exact +0 where sin or cos is 0."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    real, imag = dft_kernels(window)
    assert real.shape == imag.shape == (n_fft, 1, n_fft // 2 + 1)
    assert real.dtype == imag.dtype == np.float32
    frames = np.random.RandomState(2).randn(5, n_fft)
    ref = np.fft.rfft(frames * window, axis=-1)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(frames @ real[:, 0].astype(np.float64), ref.real,
                               atol=1e-6 * scale)
    np.testing.assert_allclose(frames @ imag[:, 0].astype(np.float64), ref.imag,
                               atol=1e-6 * scale)
    # The DC column of the imaginary kernel is +0 (so is Nyquist's for even n_fft); and
    # every zero of the kernels is +0, never -0.
    assert (imag[:, 0, 0] == 0).all()
    for kernel in (real, imag):
        assert not np.signbit(kernel[kernel == 0]).any()
    if n_fft % 2 == 0:
        assert (imag[:, 0, -1] == 0).all()


def test_export_frontend_is_public_keras_layers_and_no_fft():
    layer = ExportFrontend(variant="authors")
    # Built by a traced first call (as in a functional model or a tf.function): its
    # kernels are still the exact DFT of Kapre's window, not Keras' initial values.
    tf.function(lambda a: layer(a))(tf.constant(_signal(4000)[None]))
    real, imag = dft_kernels(tf.signal.hann_window(2048).numpy())
    np.testing.assert_array_equal(layer.stft.real_kernel.numpy(), real)
    np.testing.assert_array_equal(layer.stft.imag_kernel.numpy(), imag)
    sublayers = [v for v in vars(layer).values() if isinstance(v, keras.layers.Layer)]
    assert sorted(type(sub).__name__ for sub in sublayers) == ["Dense", "STFTSpectrogram"]
    assert all(type(sub).__module__.startswith("keras.") for sub in sublayers)
    assert len(layer.weights) == 3 and not layer.trainable_weights  # 2 DFT kernels, mel
    graph = tf.function(lambda a: layer(a)).get_concrete_function(
        tf.TensorSpec([None, None], tf.float32)).graph.as_graph_def()
    ops = {node.op for node in graph.node}
    assert "Conv2D" in ops and "Atan2" in ops, ops
    assert not [op for op in ops if "FFT" in op or "Complex" in op], ops


@pytest.mark.parametrize("kwargs", [{}, {"variant": "authors", "top_db": 80.0},
                                    {"win_ms": 15.0, "n_mels": 120}])
def test_export_frontend_roundtrip(kwargs):
    assert_layer_roundtrip(ExportFrontend(**kwargs), _signal(4000)[None], atol=1e-4)


def test_export_frontend_takes_the_frontends_settings_and_checks():
    frontend = Frontend(variant="authors", top_db=60.0, f_min=50.0, name="frontend")
    layer = ExportFrontend.from_frontend(frontend)
    assert layer.name == "frontend" and layer.get_config()["top_db"] == 60.0
    assert (layer.n_fft, layer.hop_length) == (frontend.n_fft, frontend.hop_length)
    assert "jit_compile" not in layer.get_config()
    for x_len in (4000, 1000):
        assert layer.output_frames(x_len) == frontend.output_frames(x_len)
    inp = keras.Input((None,))
    assert tuple(layer(inp).shape) == (None, None, 128, 3)
    with pytest.raises(ValueError, match="Received: n_mels="):
        ExportFrontend(n_mels=64)

