"""Tests for clar_tf.audio.io against NumPy references (FFT peaks, hand-built arrays)."""
import io
import struct

import numpy as np
import pytest
import soundfile as sf

from clar_tf.audio import io as audio_io


def _sine(freq, sr, seconds, amplitude=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x, sr):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.shape[0])))
    return np.fft.rfftfreq(x.shape[0], 1 / sr)[np.argmax(spectrum)]


def test_8khz_file_becomes_16khz_with_the_sine_at_1khz(tmp_path):
    path = tmp_path / "low.wav"
    sf.write(path, _sine(1000, 8000, 1.0), 8000, subtype="PCM_16")
    x = audio_io.read_audio(path)
    assert x.dtype == np.float32 and x.shape == (16000,)
    assert abs(_peak_hz(x, 16000) - 1000) <= 1.0
    # soxr's band-limited resampling keeps the tone's RMS (0.5 / sqrt 2) away from edges.
    np.testing.assert_allclose(np.sqrt(np.mean(x[1000:-1000] ** 2)), 0.5 / np.sqrt(2),
                               rtol=0.01)


def test_44k1_stereo_file_becomes_16khz_mono_mean_of_channels(tmp_path):
    left, right = _sine(1000, 44100, 1.0, 0.6), _sine(1000, 44100, 1.0, 0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    x = audio_io.read_audio(path)
    assert x.shape == (16000,)
    assert abs(_peak_hz(x, 16000) - 1000) <= 1.0
    # Mean of a 0.6 and a 0.2 amplitude in-phase sine: amplitude 0.4.
    np.testing.assert_allclose(np.sqrt(np.mean(x[1000:-1000] ** 2)), 0.4 / np.sqrt(2),
                               rtol=0.01)


def test_16khz_file_is_returned_unchanged(tmp_path):
    signal = _sine(440, 16000, 0.25)
    path = tmp_path / "same.wav"
    sf.write(path, signal, 16000, subtype="FLOAT")
    np.testing.assert_array_equal(audio_io.read_audio(path), signal)


def test_to_mono_and_resample_helpers():
    stereo = np.array([[1.0, 3.0], [2.0, -2.0]], np.float32)
    np.testing.assert_array_equal(audio_io.to_mono(stereo), [2.0, 0.0])
    np.testing.assert_array_equal(audio_io.to_mono([0.5, 0.25]), [0.5, 0.25])
    up = audio_io.resample(_sine(1000, 8000, 1.0), 8000, 16000)
    assert up.shape == (16000,) and abs(_peak_hz(up, 16000) - 1000) <= 1.0
    with pytest.raises(ValueError, match="orig_sr=0"):
        audio_io.resample(up, 0, 16000)


def test_pad_or_clip_pads_zeros_and_clips_on_the_right():
    x = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(audio_io.pad_or_clip(x, 8), [1, 2, 3, 4, 5, 0, 0, 0])
    np.testing.assert_array_equal(audio_io.pad_or_clip(x, 3), [1, 2, 3])
    np.testing.assert_array_equal(audio_io.pad_or_clip(x, 5), x)
    with pytest.raises(ValueError, match="length=0"):
        audio_io.pad_or_clip(x, 0)


def _wav_bytes(n=1600):
    buf = io.BytesIO()
    sf.write(buf, _sine(1000, 16000, n / 16000), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.mark.parametrize("content, reason", [
    (b"", "Cannot read"),
    (b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(200), "Cannot read"),
    (bytes(range(256)) * 20, "Cannot read"),
    # libsndfile tries MPEG on random bytes and says the file does not exist.
    (np.random.default_rng(1).bytes(20000), "not in a format soundfile decodes, or damaged"),
    (_wav_bytes()[:44 + 1000], "Truncated"),
])
def test_unusable_file_raises_audio_error_naming_it(tmp_path, content, reason):
    path = tmp_path / "bad_file.wav"
    path.write_bytes(content)
    with pytest.raises(audio_io.AudioError, match=reason) as err:
        audio_io.read_audio(path)
    assert str(path) in str(err.value)


def test_empty_and_non_finite_and_missing_files(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(audio_io.AudioError, match=f"Empty audio file {empty}"):
        audio_io.read_audio(empty)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2], np.float32), 16000, subtype="FLOAT")
    with pytest.raises(audio_io.AudioError, match="NaN"):
        audio_io.read_audio(nan)
    with pytest.raises(audio_io.AudioError, match="nowhere.wav"):
        audio_io.read_audio(tmp_path / "nowhere.wav")


def test_a_file_that_cannot_be_opened_gets_the_os_reason_not_system_error(tmp_path):
    # soundfile says only "System error." (what the folder dataset used to print).
    link = tmp_path / "b.wav"
    link.symlink_to(tmp_path / "gone.wav")
    with pytest.raises(audio_io.AudioError) as raised:
        audio_io.read_audio(str(link))
    assert str(raised.value) == (f"Cannot read audio file {link}: a symlink to "
                                 f"{tmp_path / 'gone.wav'}, which does not exist")
    with pytest.raises(audio_io.AudioError,
                       match=f"Cannot read audio file {tmp_path}: Is a directory"):
        audio_io.read_audio(str(tmp_path))


def test_streamed_wav_with_placeholder_sizes_is_not_truncated():
    # Like `espeak-ng --stdout`: RIFF and data sizes set to 0x7ffff000 placeholders.
    wav = bytearray(_wav_bytes(800))
    wav[4:8] = struct.pack("<I", 0x7FFFF024)
    wav[40:44] = struct.pack("<I", 0x7FFFF000)
    x = audio_io.read_audio(io.BytesIO(bytes(wav)))
    expected = np.frombuffer(bytes(wav[44:]), np.int16) / 32768.0
    np.testing.assert_allclose(x, expected, atol=1e-7)
