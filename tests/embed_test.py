"""Embeddings of users' audio: `embed.load`, `embed.embed` windows, and the CLI."""
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import soundfile as sf
import soxr

from clar_tf import embed, export
from clar_tf.audio import io as audio_io
from testing import tiny_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = 16000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny SimCLR run, its exported SavedModel folder and its encoder."""
    root = tmp_path_factory.mktemp("embed")
    model_dir = tiny_run(root, method="simclr")
    export_dir = str(root / "serving")
    export.export_saved_model(model_dir, export_dir, version=1)
    export.export_saved_model(model_dir, export_dir, version=2)
    encoder = keras.saving.load_model(os.path.join(model_dir, "encoder.keras"))
    return {"model_dir": model_dir, "export_dir": export_dir,
            "encoder": lambda x: np.asarray(encoder(np.asarray(x, np.float32)))}


def _reference(encoder, audio, hop):
    """Windows by hand: starts 0, hop, ... until the audio's end is covered."""
    starts = [0]
    while starts[-1] + CLIP < audio.shape[0]:
        starts.append(starts[-1] + hop)
    windows = np.zeros((len(starts), CLIP), np.float32)
    for i, s in enumerate(starts):
        piece = audio[s:s + CLIP]
        windows[i, :piece.shape[0]] = piece
    frames = encoder(windows)
    return frames.mean(0), frames, (np.array(starts) + CLIP / 2) / 16000


@pytest.mark.slow
@pytest.mark.parametrize("source", ["model_dir", "export_dir", "version_dir"])
def test_load_reads_rate_length_and_size(run, source):
    path = (os.path.join(run["export_dir"], "1") if source == "version_dir"
            else run[source])
    model = embed.load(path)
    assert (model.sample_rate, model.clip_length, model.embedding_size) == (16000, CLIP, 64)
    if source == "export_dir":
        assert model.source == os.path.join(run["export_dir"], "2")  # the newest version
    audio = np.random.default_rng(0).standard_normal((3, CLIP), dtype=np.float32)
    np.testing.assert_allclose(model(audio), run["encoder"](audio), atol=1e-4)


def test_load_refuses_other_folders(tmp_path):
    with pytest.raises(ValueError, match="neither a clar_tf run"):
        embed.load(str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("samples, hop_ms", [(40000, None), (37000, 300), (16000, None),
                                             (5000, None)])
def test_windows_match_a_hand_made_reference(run, samples, hop_ms):
    model = embed.load(run["model_dir"])
    model.batch_size = 3  # windows of different rows share batches
    audio = 0.1 * np.random.default_rng(samples).standard_normal((2, samples),
                                                                 dtype=np.float32)
    clips, frames, seconds = embed.embed(audio, 16000, model, hop_ms=hop_ms)
    hop = CLIP // 2 if hop_ms is None else int(hop_ms * 16)
    for row in range(2):
        clip, want_frames, want_seconds = _reference(run["encoder"], audio[row], hop)
        np.testing.assert_allclose(frames[row], want_frames, atol=1e-4)
        np.testing.assert_allclose(clips[row], clip, atol=1e-4)
        np.testing.assert_allclose(seconds, want_seconds)
    assert clips.dtype == frames.dtype == seconds.dtype == np.float32


@pytest.mark.slow
def test_short_clip_is_its_padded_encoder_embedding(run):
    model = embed.load(run["model_dir"])
    audio = np.random.default_rng(1).standard_normal(7000).astype(np.float32)
    clip, frames, seconds = embed.embed(audio, 16000, model)
    padded = np.pad(audio, (0, CLIP - 7000))[None]
    np.testing.assert_allclose(clip, run["encoder"](padded)[0], atol=1e-4)
    assert frames.shape == (1, 64) and seconds.tolist() == [0.5]


@pytest.mark.slow
def test_other_sample_rates_are_resampled(run):
    model = embed.load(run["model_dir"])
    t = np.arange(int(1.5 * 44100)) / 44100
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    clip, frames, _ = embed.embed(audio, 44100, model)
    at_16k = soxr.resample(audio, 44100, 16000, quality="HQ").astype(np.float32)
    want, want_frames, _ = _reference(run["encoder"], at_16k, CLIP // 2)
    assert frames.shape == want_frames.shape == (2, 64)
    np.testing.assert_allclose(clip, want, atol=1e-4)


def _cli(run, out, *args):
    return subprocess.run([sys.executable, "-m", "clar_tf.embed", f"--model={run['model_dir']}",
                           f"--out={out}", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True)


@pytest.fixture
def files(run, tmp_path):
    """A folder with nested mono 16 kHz wavs and a stereo 44.1 kHz FLAC, plus a loose file."""
    rng = np.random.default_rng(2)
    root = tmp_path / "recordings"
    os.makedirs(root / "day1" / "morning")
    sf.write(root / "day1" / "morning" / "a.wav", 0.1 * rng.standard_normal(24000), 16000)
    stereo = 0.1 * rng.standard_normal((30000, 2))
    sf.write(root / "b.flac", stereo, 44100)
    loose = tmp_path / "loose.wav"
    sf.write(loose, 0.1 * rng.standard_normal(8000), 16000)
    return root, loose, stereo


@pytest.mark.slow
def test_cli_writes_npz_per_file(run, files, tmp_path):
    root, loose, stereo = files
    proc = _cli(run, tmp_path / "out", root, loose, "--hop_ms=250")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "embedded 3 files" in proc.stdout
    a = np.load(tmp_path / "out" / "recordings" / "day1" / "morning" / "a.wav.npz")
    assert a["embedding"].shape == (64,) and a["frames"].shape == (3, 64)
    np.testing.assert_allclose(a["timestamps"], [0.5, 0.75, 1.0])
    np.testing.assert_allclose(a["embedding"], a["frames"].mean(0), atol=1e-6)
    b = np.load(tmp_path / "out" / "recordings" / "b.flac.npz")
    # Stereo: the mean of the channels, PCM16-quantised by FLAC, resampled to 16 kHz.
    mono = sf.read(root / "b.flac", dtype="float32")[0].mean(1)
    want, _, _ = _reference(run["encoder"], soxr.resample(mono, 44100, 16000, "HQ"), 4000)
    np.testing.assert_allclose(b["embedding"], want, atol=1e-4)
    np.testing.assert_allclose(mono, stereo.mean(1), atol=1e-4)
    assert np.load(tmp_path / "out" / "loose.wav.npz")["frames"].shape == (1, 64)


@pytest.mark.slow
def test_bad_file_stops_or_is_skipped(run, files, tmp_path):
    root, _, _ = files
    bad = root / "day1" / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt not audio")
    with pytest.raises(audio_io.AudioError, match="broken.wav"):
        embed.embed_files([root], embed.load(run["model_dir"]), tmp_path / "out", verbose=0)
    proc = _cli(run, tmp_path / "skipping", root, "--skip_bad_files")
    assert proc.returncode == 1
    assert "skipped 1 unreadable files" in proc.stderr and str(bad) in proc.stderr
    assert "embedded 2 files" in proc.stdout
    assert (tmp_path / "skipping" / "recordings" / "b.flac.npz").exists()


def _stub_model():
    """An untrained stand-in `Embedder` (as in `embed.embed`'s docstring): no training."""
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((CLIP,)), keras.layers.Dense(8)])
    return embed.Embedder(encoder, 16000, CLIP, 8, "stub")


def _npz(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def test_same_names_in_different_folders_get_different_outputs(tmp_path):
    """Speech Commands' layout: `yes/x.wav` and `no/x.wav` are different recordings."""
    rng = np.random.default_rng(3)
    for word in ("yes", "no"):
        os.makedirs(tmp_path / "sc" / word)
        sf.write(tmp_path / "sc" / word / "0a7c_nohash_0.wav",
                 0.1 * rng.standard_normal(20000), 16000)
    model = _stub_model()
    files = [str(tmp_path / "sc" / w / "0a7c_nohash_0.wav") for w in ("yes", "no")]
    written, _ = embed.embed_files(files, model, str(tmp_path / "out"), verbose=0)
    assert written == [str(tmp_path / "out" / w / "0a7c_nohash_0.wav.npz")
                       for w in ("yes", "no")]
    for word, path in zip(("yes", "no"), written):
        alone = tmp_path / f"alone_{word}"
        (single,), _ = embed.embed_files([str(tmp_path / "sc" / word / "0a7c_nohash_0.wav")],
                                         model, str(alone), verbose=0)
        assert single == str(alone / "0a7c_nohash_0.wav.npz")  # one file: its name
        got, want = _npz(path), _npz(single)
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
    assert not np.array_equal(_npz(written[0])["embedding"], _npz(written[1])["embedding"])
    # Two folders: each keeps its own name below their common parent.
    written, _ = embed.embed_files([str(tmp_path / "sc" / "yes"), str(tmp_path / "sc" / "no")],
                                   model, str(tmp_path / "folders"), verbose=0)
    assert written == [str(tmp_path / "folders" / w / "0a7c_nohash_0.wav.npz")
                       for w in ("yes", "no")]
    # One folder: its own name, then the path below it (as documented).
    written, _ = embed.embed_files([str(tmp_path / "sc")], model, str(tmp_path / "one"),
                                   verbose=0)
    assert sorted(written) == [str(tmp_path / "one" / "sc" / w / "0a7c_nohash_0.wav.npz")
                               for w in ("no", "yes")]


def test_only_the_same_file_given_twice_is_refused(tmp_path):
    os.makedirs(tmp_path / "recordings")
    sf.write(tmp_path / "recordings" / "a.wav", np.zeros(800), 16000)
    a = str(tmp_path / "recordings" / "a.wav")
    for paths in ([a, a], [str(tmp_path / "recordings"), a],
                  [a, os.path.join(str(tmp_path), "recordings", "..", "recordings", "a.wav")]):
        with pytest.raises(ValueError, match=f"The same file is given twice.*{re.escape(a)}$"):
            embed.embed_files(paths, _stub_model(), str(tmp_path / "out"), verbose=0)
    assert not os.path.exists(tmp_path / "out")
