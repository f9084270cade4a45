"""Tests for clar_tf.demo_data and the spoken_digits dataset built from it."""
import collections
import filecmp
import os

import numpy as np
import pytest
import soundfile as sf

from clar_tf import datasets, demo_data
from cli_testing import run_main

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _listed(root, name):
    with open(os.path.join(root, name)) as f:
        return [line.strip() for line in f if line.strip()]


def _all_clips(root):
    return sorted(f"{w}/{n}" for w in WORDS for n in os.listdir(os.path.join(root, w)))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    assert demo_data.make(root, seed=0, clips_per_word=12) == 120
    return str(root)


def test_layout_clips_and_speaker_disjoint_splits(demo):
    clips = _all_clips(demo)
    assert len(clips) == 120
    assert collections.Counter(c.split("/")[0] for c in clips) == {w: 12 for w in WORDS}
    for clip in clips[::7]:
        x, sr = sf.read(os.path.join(demo, clip))
        assert sr == 16000 and x.shape == (16000,)  # mono, 1 s
        assert np.abs(x).max() > 0.1  # a word, not just the noise floor
    val, test = _listed(demo, "validation_list.txt"), _listed(demo, "testing_list.txt")
    assert val and test and set(val) | set(test) <= set(clips)
    train = set(clips) - set(val) - set(test)
    speakers = {name: {c.split("/")[1].split("_nohash_")[0] for c in group}
                for name, group in (("train", train), ("val", val), ("test", test))}
    assert all(speakers.values())
    assert not speakers["train"] & speakers["val"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["val"] & speakers["test"]
    noise = os.listdir(os.path.join(demo, "_background_noise_"))
    assert len(noise) >= 2 and all(n.endswith(".wav") for n in noise)


def test_same_seed_same_files_other_seed_differs(demo, tmp_path):
    demo_data.make(tmp_path / "same", seed=0, clips_per_word=12)
    clips = _all_clips(demo)
    assert _all_clips(tmp_path / "same") == clips
    _, mismatch, errors = filecmp.cmpfiles(demo, tmp_path / "same",
                                           clips + ["validation_list.txt"], shallow=False)
    assert not mismatch and not errors
    demo_data.make(tmp_path / "other", seed=1, clips_per_word=12)
    assert _listed(tmp_path / "other", "testing_list.txt") != _listed(demo, "testing_list.txt")


def test_missing_espeak_tells_the_apt_line(monkeypatch, tmp_path):
    monkeypatch.setattr(demo_data.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        demo_data.make(tmp_path)


def test_datasets_never_generate_audio_and_name_the_command(monkeypatch, tmp_path):
    monkeypatch.setattr(demo_data, "make", lambda *a, **k: pytest.fail("generated"))
    with pytest.raises(ValueError, match="(?s)manual_dir.*clar-demo-data"):
        datasets.info("spoken_digits", data_dir=tmp_path / "data")
    assert not (tmp_path / "data" / "downloads").exists()


def test_ensure_generates_when_missing_then_the_set_loads(monkeypatch, tmp_path, capsys):
    calls, real_make = [], demo_data.make

    def small_make(out_dir, log=None):
        calls.append(out_dir)
        return real_make(out_dir, clips_per_word=5, log=log)

    monkeypatch.setattr(demo_data, "make", small_make)
    data = str(tmp_path / "data")
    demo_data.ensure("sc10", data)  # not the demo set: nothing to do
    assert calls == []
    demo_data.ensure("spoken_digits", data)
    manual = os.path.join(data, "downloads", "manual", "spoken_digits")
    out = capsys.readouterr().out
    assert calls == [manual] and "generating" in out
    assert f"spoken_digits: 50/50 clips rendered in {manual}" in out  # progress lines
    demo_data.ensure("spoken_digits", data)  # complete: not generated again
    assert calls == [manual]
    info = datasets.info("spoken_digits", data_dir=data)
    # 5 speakers: 1 validation, 1 test, 3 train; each says every word once.
    assert info.splits == {"train": 30, "validation": 10, "test": 10}
    assert info.class_names == tuple(sorted(WORDS))
    assert info.clip_length == 16000
    for split in ("validation", "test"):
        labels = [int(e["label"]) for e in datasets.load(
            "spoken_digits", split, data_dir=data).as_numpy_iterator()]
        assert sorted(labels) == list(range(10))
    # Prepared separately from a real sc10 in the same data_dir.
    prepared = tmp_path / "data" / "clar_speech_commands"
    assert (prepared / "spoken_digits").is_dir() and not (prepared / "sc10").exists()
    # Prepared: the raw set is not needed, so it is not generated again.
    import shutil
    shutil.rmtree(manual)
    assert datasets.is_prepared("spoken_digits", data)
    demo_data.ensure("spoken_digits", data)
    assert calls == [manual]
    assert datasets.info("spoken_digits", data_dir=data).splits == info.splits


def test_cli_writes_the_set(tmp_path, capsys):
    run_main(demo_data, demo_data.DemoDataArgs,
             ["demo_data", f"--out={tmp_path}", "--seed=2", "--clips_per_word=3"])
    assert "wrote 30 clips" in capsys.readouterr().out
    assert len(_all_clips(tmp_path)) == 30
