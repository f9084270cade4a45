"""Tests for clar_tf.datasets: tiny fixtures in each published layout, hand counts.

Every fixture clip is a constant level that identifies its file (level k * 2**-8 is
exact in PCM16), so the loaded examples can be traced back to the files they came from.
"""
import collections
import json
import os

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
import tensorflow_datasets as tfds

from clar_tf import datasets
from clar_tf.audio import io as audio_io

STEP = 2.0 ** -8
# Hand-written: Speech Commands digits in sorted order (sc10 / spoken_digits labels).
SC10_LABEL = {"eight": 0, "five": 1, "four": 2, "nine": 3, "one": 4, "seven": 5, "six": 6,
              "three": 7, "two": 8, "zero": 9}


def _write_level(path, level, n, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(n, level, np.float32), sr, subtype="PCM_16")


def _levels(ds):
    """[(file level index, label, audio)] of every example."""
    return [(int(round(e["audio"][0] / STEP)), int(e["label"]), e["audio"])
            for e in ds.as_numpy_iterator()]


def _speech_commands(root, words, takes=("aaaa0001", "bbbb0002", "cccc0003")):
    """Speech Commands layout; first speaker in train, second validation, third test.

    Returns {relative path: level index}; clips alternate 0.5 s (padded) and 1.5 s
    (clipped).
    """
    files, level = {}, 1
    for word in words:
        for speaker in takes:
            rel = f"{word}/{speaker}_nohash_0.wav"
            _write_level(root / rel, level * STEP, 8000 if level % 2 else 24000)
            files[rel] = level
            level += 1
    (root / "validation_list.txt").write_text(
        "".join(f"{r}\n" for r in files if takes[1] in r))
    (root / "testing_list.txt").write_text(
        "".join(f"{r}\n" for r in files if takes[2] in r))
    _write_level(root / "_background_noise_" / "white_noise.wav", 0.9, 16000)
    (root / "README.md").write_text("not audio")
    return files


def test_sc10_splits_labels_lengths_and_background_excluded(tmp_path):
    root = tmp_path / "sc"
    files = _speech_commands(root, list(SC10_LABEL) + ["bed"])
    by_level = {level: rel for rel, level in files.items()}
    info = datasets.info("sc10", data_dir=tmp_path / "data", manual_dir=root)
    assert info.class_names == tuple(SC10_LABEL) and info.num_classes == 10
    assert info.clip_length == 16000 and (info.train_split, info.test_split) == ("train", "test")
    assert info.splits == {"train": 10, "validation": 10, "test": 10}
    expected_speaker = {"train": "aaaa0001", "validation": "bbbb0002", "test": "cccc0003"}
    for split, speaker in expected_speaker.items():
        seen = _levels(datasets.load("sc10", split, data_dir=tmp_path / "data"))
        assert len(seen) == 10
        for level, label, audio in seen:
            word, name = by_level[level].split("/")
            assert name.startswith(speaker) and label == SC10_LABEL[word]
            assert audio.shape == (16000,) and audio.dtype == np.float32
            n = 8000 if level % 2 else 16000  # 0.5 s padded with zeros, 1.5 s clipped
            np.testing.assert_array_equal(audio[:n], level * STEP)
            np.testing.assert_array_equal(audio[n:], 0.0)
    # "bed" is not a digit and the 0.9-level background noise is not a class.
    assert all(by_level[lv].split("/")[0] != "bed" for lv, _, _ in seen)


def test_builder_pickles_with_its_own_arguments(tmp_path):
    # Beam ships builders to its workers pickled; skip_bad_files and storage go along.
    import pickle
    _speech_commands(tmp_path / "sc", list(SC10_LABEL))
    builder = datasets._BUILDERS["sc10"](data_dir=str(tmp_path / "data"), config="sc10",
                                         skip_bad_files=True, storage="float32")
    copy = pickle.loads(pickle.dumps(builder))
    assert copy.builder_config.name == "sc10" and str(copy.version) == "1.0.0"
    assert copy.storage == "float32" and copy._skip_bad_files is True
    assert os.fspath(copy.data_dir) == os.fspath(builder.data_dir)


def test_sc35_has_all_words_in_sorted_order(tmp_path):
    words = ["yes", "backward", "zero", "wow", "bed", "learn", "dog", "down", "eight",
             "five", "follow", "forward", "four", "go", "happy", "house", "left", "bird",
             "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six",
             "stop", "three", "tree", "two", "up", "visual", "cat"]
    _speech_commands(tmp_path / "sc", words, takes=("aaaa0001", "bbbb0002", "cccc0003"))
    info = datasets.info("sc35", data_dir=tmp_path / "data", manual_dir=tmp_path / "sc")
    assert info.class_names == tuple(sorted(words)) and info.num_classes == 35
    assert info.splits == {"train": 35, "validation": 35, "test": 35}
    labels = [label for _, label, _ in _levels(
        datasets.load("sc35", "test", data_dir=tmp_path / "data"))]
    assert collections.Counter(labels) == {i: 1 for i in range(35)}


def test_missing_split_list_names_the_layout(tmp_path):
    root = tmp_path / "sc"
    _speech_commands(root, list(SC10_LABEL))
    (root / "validation_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="validation_list.txt") as err:
        datasets.info("sc10", data_dir=tmp_path / "data", manual_dir=root)
    assert str(root / "validation_list.txt") in str(err.value)
    assert "testing_list.txt" in str(err.value)  # the expected layout is spelled out


def test_corrupt_file_fails_or_is_skipped_and_reported(tmp_path, capsys):
    root = tmp_path / "sc"
    _speech_commands(root, list(SC10_LABEL))
    bad = root / "two" / "aaaa0001_nohash_0.wav"
    bad.write_bytes(b"RIFF1234WAVEnot really audio")
    with pytest.raises(audio_io.AudioError, match="skip_bad_files") as err:
        datasets.info("sc10", data_dir=tmp_path / "data", manual_dir=root)
    assert str(bad) in str(err.value)
    info = datasets.info("sc10", data_dir=tmp_path / "data", manual_dir=root,
                         skip_bad_files=True)
    assert info.splits == {"train": 9, "validation": 10, "test": 10}
    out = capsys.readouterr().out
    assert "skipped 1 bad audio file(s)" in out and str(bad) in out


def _nsynth(root):
    """Three split folders; returns {split: {note_str: (family, pitch)}}."""
    notes = {"train": {"bass_synthetic_000-024-100": (0, 24),
                       "vocal_acoustic_001-060-050": (10, 60),
                       "guitar_electronic_002-127-025": (3, 127)},
             "validation": {"flute_acoustic_003-072-075": (2, 72)},
             "test": {"organ_electronic_004-000-127": (6, 0),
                      "bass_synthetic_005-033-100": (0, 33)}}
    level = 1
    for split, folder in (("train", "nsynth-train"), ("validation", "nsynth-valid"),
                          ("test", "nsynth-test")):
        meta = {}
        for note, (family, pitch) in notes[split].items():
            meta[note] = {"note_str": note, "instrument_family": family, "pitch": pitch,
                          "sample_rate": 16000}
            _write_level(root / folder / "audio" / f"{note}.wav", level * STEP, 16000)
            level += 1
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "examples.json").write_text(json.dumps(meta))
    return notes


@pytest.mark.parametrize("name, field", [("nsynth11", 0), ("nsynth128", 1)])
def test_nsynth_labels_are_family_or_pitch(tmp_path, name, field):
    notes = _nsynth(tmp_path / "ns")
    info = datasets.info(name, data_dir=tmp_path / "data", manual_dir=tmp_path / "ns")
    assert info.clip_length == 64000 and info.num_classes == (11, 128)[field]
    assert info.splits == {"train": 3, "validation": 1, "test": 2}
    for split, split_notes in notes.items():
        got = sorted((label, audio.shape, float(audio[-1])) for _, label, audio in
                     _levels(datasets.load(name, split, data_dir=tmp_path / "data")))
        want = sorted((labels[field], (64000,), 0.0) for labels in split_notes.values())
        assert got == want


def test_nsynth_missing_metadata_is_a_clear_error(tmp_path):
    _nsynth(tmp_path / "ns")
    (tmp_path / "ns" / "nsynth-test" / "examples.json").unlink()
    with pytest.raises(FileNotFoundError, match="nsynth-test/examples.json"):
        datasets.info("nsynth11", data_dir=tmp_path / "data", manual_dir=tmp_path / "ns")


ESC_ROWS = [  # filename, fold, target, category, esc10
    ("1-100-A-0.wav", 1, 0, "dog", True), ("2-101-A-0.wav", 2, 0, "dog", True),
    ("5-102-A-0.wav", 5, 0, "dog", True), ("3-103-A-41.wav", 3, 41, "chainsaw", True),
    ("5-104-A-41.wav", 5, 41, "chainsaw", True), ("4-105-A-38.wav", 4, 38, "clock_tick", True),
    ("1-106-A-14.wav", 1, 14, "chirping_birds", False),
    ("5-107-A-49.wav", 5, 49, "hand_saw", False),
]


def _esc(root, rows=ESC_ROWS):
    (root / "meta").mkdir(parents=True)
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for i, (filename, fold, target, category, esc10) in enumerate(rows):
        lines.append(f"{filename},{fold},{target},{category},{esc10},{100 + i},A")
        _write_level(root / "audio" / filename, (i + 1) * STEP, 44100 * 5, sr=44100)
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name, expected", [
    # Hand-written: ESC-10 targets 0, 38, 41 are its 1st, 8th and 10th classes.
    ("esc10", {"train": [0, 0, 9, 7], "test": [0, 9]}),
    ("esc50", {"train": [0, 0, 41, 38, 14], "test": [0, 41, 49]}),
])
def test_esc_folds_and_labels(tmp_path, name, expected):
    _esc(tmp_path / "esc")
    info = datasets.info(name, data_dir=tmp_path / "data", manual_dir=tmp_path / "esc")
    assert info.clip_length == 80000 and info.num_classes == int(name[3:])
    assert info.splits == {split: len(v) for split, v in expected.items()}
    for split, labels in expected.items():
        seen = _levels(datasets.load(name, split, data_dir=tmp_path / "data"))
        assert sorted(label for _, label, _ in seen) == sorted(labels)
        # 5 s at 44.1 kHz resampled to exactly 80000 samples at 16 kHz.
        assert all(audio.shape == (80000,) for _, _, audio in seen)
    assert info.class_names[0] == "dog"


def test_esc_missing_csv_is_a_clear_error(tmp_path):
    (tmp_path / "esc" / "audio").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="meta/esc50.csv"):
        datasets.info("esc50", data_dir=tmp_path / "data", manual_dir=tmp_path / "esc")


def _peak_hz(x, sr=16000):
    return np.fft.rfftfreq(x.shape[0], 1 / sr)[np.argmax(np.abs(np.fft.rfft(x)))]


def test_folder_resamples_to_16khz_mono_and_labels_sorted_folders(tmp_path):
    root = tmp_path / "mine"
    (root / "zebra" / "deep").mkdir(parents=True)
    (root / "apple").mkdir()
    t8, t44 = np.arange(8000) / 8000, np.arange(44100) / 44100
    sf.write(root / "zebra" / "deep" / "low.wav", 0.5 * np.sin(2 * np.pi * 1000 * t8), 8000)
    stereo = np.stack([np.sin(2 * np.pi * 1000 * t44)] * 2, axis=1) * 0.3
    sf.write(root / "apple" / "stereo.flac", stereo, 44100)
    (root / "apple" / "notes.txt").write_text("ignored")
    (root / "apple" / ".hidden.wav").write_bytes(b"ignored, not audio")
    kwargs = dict(data_dir=tmp_path / "data", manual_dir=root, clip_length=12000)
    info = datasets.info("folder", **kwargs)
    assert info.class_names == ("apple", "zebra") and info.splits == {"train": 2}
    assert info.test_split == "train"
    got = {int(e["label"]): e["audio"]
           for e in datasets.load("folder", "train", **kwargs).as_numpy_iterator()}
    for label in (0, 1):  # apple = 44.1 kHz stereo, zebra = 8 kHz (both 1 s of 1 kHz)
        assert got[label].shape == (12000,)
        assert abs(_peak_hz(got[label]) - 1000) <= 2


def test_folder_unlabeled_and_distinct_preparations(tmp_path):
    root = tmp_path / "any"
    _write_level(root / "a.wav", STEP, 4000)
    _write_level(root / "sub" / "b.wav", 2 * STEP, 4000)
    info = datasets.info("folder", data_dir=tmp_path / "data", manual_dir=root,
                         clip_length=2000, unlabeled=True)
    assert info.num_classes == 0 and info.splits == {"train": 2}
    ds = datasets.load("folder", "train", data_dir=tmp_path / "data", manual_dir=root,
                       clip_length=2000, unlabeled=True)
    assert sorted((lv, label) for lv, label, _ in _levels(ds)) == [(1, -1), (2, -1)]
    # Another clip length is another preparation, not the first one reused.
    other = datasets.load("folder", "train", data_dir=tmp_path / "data", manual_dir=root,
                          clip_length=3000, unlabeled=True)
    assert other.element_spec["audio"].shape == (3000,)
    prepared = [p for p in (tmp_path / "data" / "clar_folder").iterdir()
                if not p.name.startswith(".")]
    assert len(prepared) == 2
    (tmp_path / "empty" / "notes").mkdir(parents=True)
    (tmp_path / "empty" / "notes" / "readme.txt").write_text("no audio here")
    with pytest.raises(FileNotFoundError, match="No audio files under"):
        datasets.info("folder", data_dir=tmp_path / "data", manual_dir=tmp_path / "empty",
                      clip_length=2000)


def test_bad_arguments_name_the_flag(tmp_path):
    with pytest.raises(ValueError, match="--dataset='sc11'.*sc10, sc35, spoken_digits"):
        datasets.info("sc11", data_dir=tmp_path)
    with pytest.raises(ValueError, match="--manual_dir is required"):
        datasets.info("esc50", data_dir=tmp_path)
    with pytest.raises(ValueError, match="clip_length=8000"):
        datasets.info("sc10", data_dir=tmp_path, clip_length=8000)
    with pytest.raises(ValueError, match="clip_length"):
        datasets.info("folder", data_dir=tmp_path, manual_dir=tmp_path)


def _classes(root):
    """cats/a.wav (level 1), dogs/b.wav (level 2), and outside/o.wav (level 3) beside root."""
    _write_level(root / "cats" / "a.wav", STEP, 800)
    _write_level(root / "dogs" / "b.wav", 2 * STEP, 800)
    _write_level(root.parent / "outside" / "o.wav", 3 * STEP, 800)


@pytest.mark.parametrize("link, target, message", [
    ("up", "..", "leads outside --manual_dir"),  # a class of the files beside the corpus
    ("loop", ".", "are the same folder"),  # a class of every other class's files
    ("cats/up", "..", "are the same folder"),  # found below a class folder
    ("cats/loop", ".", "are the same folder"),
    ("cats/ext", "../../outside", "leads outside --manual_dir"),
    ("cats/o.wav", "../../outside/o.wav", "leads outside --manual_dir"),
    ("cats/b.wav", "../dogs/b.wav", "are the same file"),  # one clip, two labels
    ("kittens", "cats", "are the same folder"),
])
def test_folder_refuses_symlinks_out_of_manual_dir_or_read_twice(tmp_path, link, target,
                                                                 message):
    root = tmp_path / "mine"
    _classes(root)
    os.symlink(target, root / link)
    with pytest.raises(ValueError, match=message) as err:
        datasets.info("folder", data_dir=tmp_path / "data", manual_dir=root,
                      clip_length=800)
    assert repr(str(root / link)) in str(err.value)
    assert "\n" not in str(err.value)
    prepared = tmp_path / "data" / "clar_folder"
    assert not prepared.exists() or not any(prepared.rglob("*.tfrecord*"))


def test_folder_follows_symlinks_that_stay_inside_manual_dir(tmp_path):
    real = tmp_path / "real"
    _classes(real)
    _write_level(real / ".store" / "blob.wav", 4 * STEP, 800)  # git-annex style object
    os.symlink("../.store/blob.wav", real / "dogs" / "annexed.wav")
    (tmp_path / "linked").symlink_to(real)  # --manual_dir itself may be a symlink
    kwargs = dict(data_dir=tmp_path / "data", manual_dir=tmp_path / "linked",
                  clip_length=800)
    info = datasets.info("folder", **kwargs)
    assert info.class_names == ("cats", "dogs") and info.splits == {"train": 3}
    got = sorted((lv, label) for lv, label, _ in _levels(
        datasets.load("folder", "train", **kwargs)))
    assert got == [(1, 0), (2, 1), (4, 1)]


def test_clip_length_has_a_documented_upper_bound(tmp_path):
    from clar_tf import checks, config, prepare
    bound = checks.MAX_CLIP_LENGTH
    assert bound == 10 * 60 * 16000
    too_long = rf"`clip_length` must be an int in \[1, {bound}\].*Received: clip_length="
    assert config.Config(model_dir="m", dataset="folder", clip_length=bound).clip_length == bound
    for value in (bound + 1, 10 ** 9):
        with pytest.raises(ValueError, match=too_long + str(value)):
            config.Config(model_dir="m", dataset="folder", clip_length=value)
        with pytest.raises(ValueError, match=too_long + str(value)):
            prepare.PrepareArgs(dataset="folder", data_dir="d", clip_length=value)
        _write_level(tmp_path / "mine" / "cats" / "a.wav", STEP, 800)
        with pytest.raises(ValueError, match=too_long + str(value)):
            datasets.info("folder", data_dir=tmp_path / "data",
                          manual_dir=tmp_path / "mine", clip_length=value)
    with pytest.raises(ValueError, match=r"`clip_length` must be .*clip_length=0"):
        config.Config(model_dir="m", clip_length=0)
    assert str(bound) in config.HELP["clip_length"] and str(bound) in prepare.HELP["clip_length"]
    assert not (tmp_path / "data").exists()


def _toy(labels):
    n = len(labels)
    return tf.data.Dataset.from_tensor_slices(
        {"audio": np.arange(n, dtype=np.float32)[:, None], "label": np.asarray(labels, np.int64)})


def _relabeled(ds):
    return np.array([int(e["label"]) for e in ds.as_numpy_iterator()])


def test_label_fraction_exact_and_deterministic():
    labels = np.arange(101) % 4
    ds = _toy(labels)
    first = _relabeled(datasets.with_label_fraction(ds, 0.25, seed=3))
    assert (first >= 0).sum() == 25  # round(0.25 * 101)
    kept = first >= 0
    np.testing.assert_array_equal(first[kept], labels[kept])  # labels unchanged
    np.testing.assert_array_equal(first[~kept], -1)
    again = _relabeled(datasets.with_label_fraction(ds, 0.25, seed=3))
    np.testing.assert_array_equal(first, again)
    other = _relabeled(datasets.with_label_fraction(ds, 0.25, seed=4))
    assert (other >= 0).sum() == 25 and not np.array_equal(first, other)
    np.testing.assert_array_equal(_relabeled(datasets.with_label_fraction(ds, 1.0, 3)), labels)
    assert (_relabeled(datasets.with_label_fraction(ds, 0.0, 3)) == -1).all()
    # Unknown cardinality (after a filter) gives the same selection.
    unknown = ds.filter(lambda e: True)
    np.testing.assert_array_equal(_relabeled(datasets.with_label_fraction(unknown, 0.25, 3)),
                                  first)


def test_label_fraction_stratified_per_class_counts():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 3 + [3] * 17)
    out = _relabeled(datasets.with_label_fraction(_toy(labels), 0.1, seed=0,
                                                  stratified=True))
    counts = collections.Counter(labels[out >= 0])
    assert counts == {0: 5, 1: 3, 2: 1, 3: 2}  # round(0.1 * N_c), at least 1
    assert out.shape == labels.shape
    again = _relabeled(datasets.with_label_fraction(_toy(labels), 0.1, seed=0,
                                                    stratified=True))
    np.testing.assert_array_equal(out, again)
    with pytest.raises(ValueError, match="fraction=1.5"):
        datasets.with_label_fraction(_toy(labels), 1.5, seed=0)


def test_labeled_batches_hold_exactly_k_labeled_and_cover_both_pools():
    labels = np.arange(200) % 5
    ds = datasets.with_label_fraction(_toy(labels), 0.05, seed=1)    # 10 labeled
    kept = _relabeled(ds)
    labeled_ids = set(np.flatnonzero(kept >= 0))
    batches = list(datasets.labeled_batches(ds, 16, 3, seed=0).take(40).as_numpy_iterator())
    seen_labeled, seen_unlabeled = collections.Counter(), set()
    for batch in batches:
        ids = batch["audio"][:, 0].astype(int)
        assert batch["audio"].shape == (16, 1)
        assert (batch["label"] >= 0).sum() == 3                       # exactly k
        for i, y in zip(ids, batch["label"]):
            if y >= 0:
                assert i in labeled_ids and y == labels[i]             # labels intact
                seen_labeled[i] += 1
            else:
                assert i not in labeled_ids
                seen_unlabeled.add(i)
    # 120 labeled draws from a pool of 10: every clip 12 times (each pass is a permutation).
    assert set(seen_labeled) == labeled_ids and set(seen_labeled.values()) == {12}
    assert len(seen_unlabeled) == 190                                  # 520 draws cover 190
    again = list(datasets.labeled_batches(ds, 16, 3, seed=0).take(40).as_numpy_iterator())
    np.testing.assert_array_equal(np.stack([b["audio"] for b in batches]),
                                  np.stack([b["audio"] for b in again]))


def test_labeled_batches_refuse_missing_pools_and_bad_k():
    labels = np.arange(20) % 2
    with pytest.raises(ValueError, match="no labeled"):
        datasets.labeled_batches(datasets.with_label_fraction(_toy(labels), 0.0, 0), 8, 2, 0)
    with pytest.raises(ValueError, match="no unlabeled"):
        datasets.labeled_batches(_toy(labels), 8, 2, 0)
    with pytest.raises(ValueError, match="labeled_per_batch=8"):
        datasets.labeled_batches(_toy(labels), 8, 8, 0)


def test_sc10_lists_the_files_it_ignores(tmp_path, capsys):
    root = tmp_path / "sc"
    _speech_commands(root, list(SC10_LABEL))
    ignored = [root / "two" / "dddd0004_nohash_0.WAV",
               root / "six" / "eeee0005_nohash_0.flac"]
    for path in ignored:
        _write_level(path, STEP, 800)
    ignored.append(root / "six" / "notes.txt")
    ignored[-1].write_text("not audio")
    (root / "six" / ".DS_Store").write_text("hidden: not reported")
    info = datasets.info("sc10", data_dir=tmp_path / "data", manual_dir=root)
    assert info.splits == {"train": 10, "validation": 10, "test": 10}  # only the .wav files
    out = capsys.readouterr().out
    assert f"ignored {len(ignored)} file(s) that are not .wav" in out
    assert all(str(path) in out for path in ignored) and ".DS_Store" not in out


@pytest.mark.parametrize("layout", ["sc10", "folder"])
def test_a_class_without_clips_is_refused(tmp_path, layout):
    root = tmp_path / "audio"
    if layout == "sc10":
        _speech_commands(root, list(SC10_LABEL))
        empty = root / "five"
        for path in empty.iterdir():
            path.unlink()
        kwargs = {}
    else:
        _write_level(root / "full" / "a.wav", STEP, 800)
        empty = root / "empty"
        empty.mkdir()
        kwargs = {"clip_length": 800}
    (empty / "readme.txt").write_text("no audio here")
    with pytest.raises(ValueError, match="holds no .*files; every class needs clips") as err:
        datasets.info(layout, data_dir=tmp_path / "data", manual_dir=root, **kwargs)
    assert repr(str(empty)) in str(err.value)


# ------------------------------------------------------------------ int16 storage
def _noise_sources(root, words=tuple(SC10_LABEL)):
    """The Speech Commands layout with full-scale random 16-bit PCM clips (0.5 s or
    1.5 s, both int16 extremes in each). Returns {audio as float32 bytes: (word, ints)}."""
    files = _speech_commands(root, words)
    rng = np.random.default_rng(7)
    by_content = {}
    for rel, level in files.items():
        ints = rng.integers(-32768, 32768, 8000 if level % 2 else 24000).astype(np.int16)
        ints[:2] = (-32768, 32767)
        sf.write(root / rel, ints, 16000, subtype="PCM_16")
        ints = np.pad(ints[:16000], (0, max(0, 16000 - ints.size)))
        floats, _ = sf.read(root / rel, dtype="float32")  # what audio_io decodes
        floats = np.pad(floats[:16000], (0, max(0, 16000 - floats.size)))
        by_content[floats.tobytes()] = (rel.split("/")[0], ints)
    return by_content


def _records(builder, split):
    """(audio feature, label) of each serialized tf.train.Example of a split on disk."""
    paths = sorted(str(p) for p in builder.data_path.iterdir()
                   if f"-{split}.tfrecord" in p.name)
    out = []
    for raw in tf.data.TFRecordDataset(paths).as_numpy_iterator():
        feature = tf.train.Example.FromString(raw).features.feature
        out.append((feature["audio"], feature["label"].int64_list.value[0]))
    return out


def test_pcm16_quantisation_matches_numpy_and_round_trips_every_value():
    x = np.array([-2.0, -1.0, -0.5 / 32768, 0.5 / 32768, 1.5 / 32768, 0.25, 32766.5 / 32768,
                  32767.5 / 32768, 1.0, 1.0 + 2 ** -20, 3.0], np.float32)
    # Hand-written: rint rounds halves to even; +-1.0 stay in range, +1.0 saturates.
    q, out_of_range = datasets.base.to_pcm16(x)
    assert q.dtype == np.int16 and out_of_range == 3
    np.testing.assert_array_equal(q, [-32768, -32768, 0, 0, 2, 8192, 32766, 32767, 32767,
                                      32767, 32767])
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.2, 1.2, 100000).astype(np.float32)
    q, out_of_range = datasets.base.to_pcm16(x)
    reference = [max(-32768, min(32767, round(float(v) * 32768))) for v in x]
    np.testing.assert_array_equal(q, reference)
    assert out_of_range == int(sum(abs(float(v)) > 1 for v in x))
    every = np.arange(-32768, 32768).astype(np.int16)  # all 65536 values, via soundfile
    decoded = (every / 32768.0).astype(np.float32)
    back, out_of_range = datasets.base.to_pcm16(decoded)
    np.testing.assert_array_equal(back, every)
    assert out_of_range == 0
    np.testing.assert_array_equal(datasets.base.from_pcm16(back).numpy(), decoded)


def test_int16_storage_on_disk_and_bit_exact_pcm16_round_trip(tmp_path):
    by_content = _noise_sources(tmp_path / "sc")
    info = datasets.info("sc10", data_dir=tmp_path / "data", manual_dir=tmp_path / "sc")
    builder = datasets.speech_commands.ClarSpeechCommands(data_dir=tmp_path / "data",
                                                          config="sc10")
    assert builder.is_prepared() and str(builder.version) == "2.0.0"
    assert builder.info.features["audio"].dtype == tf.int16
    want = {(word, ints.tobytes()) for word, ints in by_content.values()}
    for split in info.splits:
        on_disk = _records(builder, split)
        assert len(on_disk) == 10
        for audio, label in on_disk:  # 2 bytes a sample, the source's PCM values
            assert not audio.float_list.value and not audio.int64_list.value
            (raw,) = audio.bytes_list.value
            assert len(raw) == 2 * 16000
            ints = np.frombuffer(raw, "<i2")
            word = info.class_names[label]
            assert (word, ints.tobytes()) in want
        loaded = list(datasets.load("sc10", split, data_dir=tmp_path / "data")
                      .as_numpy_iterator())
        assert len(loaded) == 10
        for e in loaded:  # float32 exactly as soundfile decodes the file, label intact
            assert e["audio"].dtype == np.float32 and e["audio"].shape == (16000,)
            word, _ = by_content[e["audio"].tobytes()]
            assert int(e["label"]) == SC10_LABEL[word]


def test_float32_storage_still_loads_with_a_note_and_matches_int16(tmp_path, capsys):
    by_content = _noise_sources(tmp_path / "sc")
    old = datasets.speech_commands.ClarSpeechCommands(
        data_dir=tmp_path / "old", config="sc10", storage="float32")
    assert str(old.version) == "1.0.0"  # the float32 format of clar_tf before int16
    old.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=tmp_path / "sc"))
    assert datasets.info("sc10", data_dir=tmp_path / "old").splits["test"] == 10
    out = capsys.readouterr().out
    assert "Reading the float32 preparation (version 1.0.0)" in out
    assert str(old.data_dir) in out and "prepare again" in out
    datasets.info("sc10", data_dir=tmp_path / "new", manual_dir=tmp_path / "sc")
    sizes = {}
    for name in ("old", "new"):
        sizes[name] = sum(p.stat().st_size for p in (tmp_path / name).rglob("*.tfrecord*"))
        for split in ("train", "validation", "test"):
            seen = sorted((e["audio"].tobytes(), int(e["label"])) for e in datasets.load(
                "sc10", split, data_dir=tmp_path / name).as_numpy_iterator())
            assert len(seen) == 10
            assert all(SC10_LABEL[by_content[a][0]] == label for a, label in seen)
    assert 0.45 < sizes["new"] / sizes["old"] < 0.55
    assert [p.name for p in (tmp_path / "new" / "clar_speech_commands" / "sc10")
            .iterdir()] == ["2.0.0"]
    with pytest.raises(ValueError, match="storage='float16'"):
        datasets.speech_commands.ClarSpeechCommands(data_dir=tmp_path, config="sc10",
                                                    storage="float16")


def test_resampled_audio_is_quantised_after_resampling(tmp_path):
    _esc(tmp_path / "esc")
    as_float = datasets.esc50.ClarEsc50(data_dir=tmp_path / "f32", config="esc50",
                                        storage="float32")
    as_float.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=tmp_path / "esc"))
    datasets.info("esc50", data_dir=tmp_path / "i16", manual_dir=tmp_path / "esc")
    for split in ("train", "test"):
        ref, got = ([(int(e["label"]), e["audio"]) for e in datasets.load(
            "esc50", split, data_dir=tmp_path / name).as_numpy_iterator()]
            for name in ("f32", "i16"))
        ref.sort(key=lambda t: (t[0], float(t[1][40000])))  # by label, then file level
        got.sort(key=lambda t: (t[0], float(t[1][40000])))
        assert [label for label, _ in got] == [label for label, _ in ref]
        for (_, a), (_, b) in zip(got, ref):
            assert np.any(b * 32768 != np.round(b * 32768))  # resampling left fractions
            np.testing.assert_array_equal(a, np.round(b.astype(np.float64) * 32768) / 32768)
            assert np.max(np.abs(a - b)) <= 2.0 ** -16


def test_out_of_range_float_source_is_clipped_and_reported(tmp_path, capsys):
    root = tmp_path / "mine"
    loud = root / "loud" / "over.wav"
    loud.parent.mkdir(parents=True)
    sf.write(loud, np.array([1.5, -2.0, 0.25, 1.0, -1.0, 0.5], np.float32), 16000,
             subtype="FLOAT")
    _write_level(root / "quiet" / "fine.wav", 0.5, 6)
    datasets.info("folder", data_dir=tmp_path / "data", manual_dir=root, clip_length=6)
    out = capsys.readouterr().out
    assert "clipped 1 file(s) with samples outside [-1, 1]" in out and str(loud) in out
    assert "fine.wav" not in out
    got = {int(e["label"]): e["audio"] for e in datasets.load(
        "folder", "train", data_dir=tmp_path / "data", manual_dir=root,
        clip_length=6).as_numpy_iterator()}
    top = 32767 / 32768
    np.testing.assert_array_equal(got[0], np.float32([top, -1.0, 0.25, top, -1.0, 0.5]))
    np.testing.assert_array_equal(got[1], np.float32([0.5] * 6))
