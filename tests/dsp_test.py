"""Tests for clar_tf.audio.dsp on its own, against librosa and NumPy.

Measured agreement (CPU, float32 against librosa's float64 where it computes in float64):
STFT relative L2 error ~1e-7; phase vocoder, per example at its own rate, relative L2
error ≤ 1.3e-6 (asserted 1e-4) on the frames librosa returns, bar the last one at rates < 1
(see `dsp.phase_vocoder`); inverse STFT ~1e-7.
"""
import librosa
import numpy as np
import pytest
import tensorflow as tf

from clar_tf.audio import dsp

N_FFT, HOP = 512, 128


def _signal(batch, length, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 16000
    tones = np.sin(2 * np.pi * rng.uniform(200, 2000, (batch, 1)) * t)
    return (tones + 0.1 * rng.normal(size=(batch, length))).astype("float32")


def _rel(got, want):
    return np.linalg.norm(got - want) / np.linalg.norm(want)


def test_stft_matches_librosa():
    x = _signal(2, 4000)
    got = dsp.stft(tf.constant(x), N_FFT, HOP).numpy()  # [B, T, F]
    for row in range(2):
        want = librosa.stft(x[row].astype(np.float64), n_fft=N_FFT, hop_length=HOP,
                            center=True, pad_mode="constant").T
        assert got[row].shape == want.shape
        assert _rel(got[row], want) < 1e-5


@pytest.mark.parametrize("jit", [False, True])  # TF kernels, XLA's fused polynomials
@pytest.mark.parametrize("rates", [(0.5, 1.0, 1.7), (0.8, 1.25, 1.0)])
def test_phase_vocoder_matches_librosa_per_example(rates, jit):
    x = _signal(len(rates), 8000, seed=1)
    spec = dsp.stft(tf.constant(x), N_FFT, HOP)
    n_in = spec.shape[1]
    out_frames = int(np.ceil(n_in / min(rates))) + 1
    vocoder = tf.function(lambda s, r: dsp.phase_vocoder(s, r, out_frames), jit_compile=jit)
    re, im, n_valid = vocoder(spec, tf.constant(rates, tf.float32))
    got = re.numpy() + 1j * im.numpy()
    for row, rate in enumerate(rates):
        d = librosa.stft(x[row].astype(np.float64), n_fft=N_FFT, hop_length=HOP,
                         center=True, pad_mode="constant")
        want = librosa.phase_vocoder(d, rate=rate, hop_length=HOP, n_fft=N_FFT).T
        assert int(n_valid[row]) == want.shape[0]
        # Frames whose phase sums only increments between real input frames (librosa's
        # last frames at rate < 1 add the increment into its zero padding; dsp takes 0).
        j = np.arange(want.shape[0])
        real = np.floor((j - 1) * rate) < n_in - 1
        assert _rel(got[row, :want.shape[0]][real], want[real]) < 1e-4
        np.testing.assert_allclose(np.abs(got[row, :want.shape[0]]), np.abs(want),
                                   atol=1e-4 * np.abs(want).max())
        assert np.all(got[row, want.shape[0]:] == 0)  # frames past the input's end


def test_istft_inverts_stft_like_librosa():
    x = _signal(2, 4000, seed=2)
    spec = dsp.stft(tf.constant(x), N_FFT, HOP)
    frames = spec.shape[1]
    lengths = np.array([4000, 3000], np.int32)
    y = dsp.istft(tf.math.real(spec), tf.math.imag(spec), N_FFT, HOP,
                  tf.constant([frames, frames], tf.int32), tf.constant(lengths)).numpy()
    for row, n in enumerate(lengths):
        d = librosa.stft(x[row].astype(np.float64), n_fft=N_FFT, hop_length=HOP,
                         center=True, pad_mode="constant")
        want = librosa.istft(d, hop_length=HOP, n_fft=N_FFT, length=int(n))
        assert _rel(y[row, :n], want) < 1e-5
        assert np.all(y[row, n:] == 0)


def test_resample_linear_matches_np_interp():
    x = _signal(3, 1000, seed=3)
    factors = np.array([0.5, 1.0, 1.9], np.float32)
    got = dsp.resample_linear(tf.constant(x), tf.constant(factors), 800,
                              valid=tf.constant([800, 700, 600])).numpy()
    for row, (f, valid) in enumerate(zip(factors, (800, 700, 600))):
        want = np.interp(np.arange(800) * f, np.arange(1000), x[row])
        want[valid:] = 0
        np.testing.assert_allclose(got[row], want, atol=1e-4)  # float32 positions


@pytest.mark.parametrize("wrap", [True, False])
def test_shift_rows(wrap):
    x = _signal(3, 50, seed=4)
    shifts = [7, -12, 0]
    got = dsp.shift_rows(tf.constant(x), tf.constant(shifts), wrap=wrap).numpy()
    for row, k in enumerate(shifts):
        want = np.roll(x[row], k)
        if not wrap:
            want[:k] = 0 if k > 0 else want[:k]
            if k < 0:
                want[k:] = 0
        np.testing.assert_array_equal(got[row], want)
