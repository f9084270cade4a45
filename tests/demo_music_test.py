"""Tests for clar_tf.demo_music and the gm_notes dataset built from it."""
import collections
import filecmp
import json
import os
import re
import shutil

import librosa
import numpy as np
import pytest
import soundfile as sf

from clar_tf import cli, datasets, demo_data, demo_music
from clar_tf.datasets import labels as labels_lib
from cli_testing import run_main

FLUID = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SPLIT_DIRS = {"train": "nsynth-train", "validation": "nsynth-valid", "test": "nsynth-test"}
# Hand-written from the General MIDI program groups (issue 38), independent of
# demo_music.PROGRAMS: the programs each NSynth family may be played by.
GM_GROUPS = {
    "keyboard": set(range(0, 8)), "mallet": set(range(8, 16)), "organ": set(range(16, 24)),
    "guitar": set(range(24, 32)), "bass": set(range(32, 40)),
    "string": set(range(40, 48)) | set(range(48, 52)), "vocal": {52, 53, 54, 85},
    "brass": set(range(56, 64)), "reed": set(range(64, 72)), "flute": set(range(72, 80)),
    "synth_lead": set(range(80, 88)) - {85},
}
FIELDS = {"note", "note_str", "instrument", "instrument_str", "instrument_family",
          "instrument_family_str", "pitch", "velocity", "sample_rate", "program", "soundfont"}
PER_FAMILY = 6  # 4 train, 1 validation, 1 test


def _meta(root, split):
    with open(os.path.join(root, SPLIT_DIRS[split], "examples.json")) as f:
        return json.load(f)


def _all_files(root):
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, _, names in os.walk(root) for n in names)


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    assert demo_music.make(root, seed=0, clips_per_family=PER_FAMILY,
                           soundfonts=[FLUID]) == 11 * PER_FAMILY
    return str(root)


def test_split_table_is_instrument_disjoint_and_follows_general_midi():
    assert demo_music.FAMILIES == labels_lib.NSYNTH_FAMILIES
    assert set(demo_music.PROGRAMS) == set(GM_GROUPS) == set(demo_music.PITCH_RANGES)
    seen = collections.Counter()
    for family, splits in demo_music.PROGRAMS.items():
        assert len(splits) == 3 and all(splits), family  # every split has an instrument
        assert set().union(*splits) <= GM_GROUPS[family], family
        seen.update(p for programs in splits for p in programs)
        # The rule the docstring states: sorted, positions 1, 5, 9 test, 3 validation.
        ordered = sorted(set().union(*splits))
        assert splits[1] == (ordered[3],) and splits[2] == tuple(ordered[1::4]), family
    assert max(seen.values()) == 1  # no program in two splits (nor two families)
    assert 47 not in seen  # timpani: a drum
    assert demo_music.split_counts(240) == {"train": 160, "validation": 40, "test": 40}
    assert demo_music.split_counts(3) == {"train": 1, "validation": 1, "test": 1}
    with pytest.raises(ValueError, match="clips_per_family must be >= 3"):
        demo_music.split_counts(2)


def test_midi_file_bytes_by_hand():
    got = demo_music.midi_file([(73, 60, 100)])
    track = bytes.fromhex(
        "00 ff 51 03 0f 42 40"  # tempo: 1,000,000 us a quarter = 1000 ticks -> 1 tick = 1 ms
        "00 c0 49"  # program 73
        "00 90 3c 64"  # note on 60, velocity 100
        "85 6e 80 3c 40"  # +750 ms: note off
        "81 7a b0 78 00"  # +250 ms: all sound off
        "64 ff 2f 00")  # +100 ms: end of track
    assert got == (bytes.fromhex("4d546864 00000006 0000 0001 03e8 4d54726b")
                   + len(track).to_bytes(4, "big") + track)


def test_preset_key_ranges_agree_with_what_fluidsynth_plays():
    keys = demo_music.preset_keys(FLUID)
    assert set(range(128)) <= set(keys)
    # FluidR3's contrabass has samples up to key 57, its tuba up to 72.
    assert keys[43][57] and not keys[43][58] and keys[58][72] and not keys[58][73]
    clips = demo_music.render(FLUID, [(43, 57, 127), (43, 58, 127), (58, 72, 127),
                                      (58, 73, 127)])
    peaks = np.abs(clips).max(axis=1)
    assert peaks[0] > 0.05 and peaks[2] > 0.05
    assert peaks[1] < 1e-4 and peaks[3] < 1e-4


def test_find_soundfonts_counts_links_once_fluid_first(tmp_path):
    for name in ("a.sf2", "FluidR3_GM.sf2", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "default-GM.sf2").symlink_to(tmp_path / "FluidR3_GM.sf2")
    found = demo_music.find_soundfonts([str(tmp_path), str(tmp_path / "absent")])
    assert found == [str(tmp_path / "FluidR3_GM.sf2"), str(tmp_path / "a.sf2")]


def test_layout_fields_and_audio(music):
    notes = 0
    for split, folder in SPLIT_DIRS.items():
        meta = _meta(music, split)
        audio = sorted(os.listdir(os.path.join(music, folder, "audio")))
        assert audio == sorted(f"{k}.wav" for k in meta)
        for note_str, note in meta.items():
            assert set(note) == FIELDS and note["note_str"] == note_str
            assert note["sample_rate"] == 16000 and note["soundfont"] == "FluidR3_GM.sf2"
            assert note["instrument_str"] == (f"{note['instrument_family_str']}_fluidr3gm_"
                                              f"{note['program']:03d}")
            assert note_str == (f"{note['instrument_str']}-{note['pitch']:03d}-"
                                f"{note['velocity']:03d}")
            assert note["instrument"] == note["program"]  # the first sound font: 0..127
            lo, hi = demo_music.PITCH_RANGES[note["instrument_family_str"]]
            assert lo <= note["pitch"] <= hi and note["velocity"] in (25, 50, 75, 100, 127)
            info = sf.info(os.path.join(music, folder, "audio", f"{note_str}.wav"))
            assert (info.samplerate, info.channels, info.frames, info.subtype) == (
                16000, 1, 16000, "PCM_16")
            x, _ = sf.read(os.path.join(music, folder, "audio", f"{note_str}.wav"))
            assert np.abs(x).max() > 2 ** -12  # not silent
            assert np.abs(x[:1600]).max() > 0.1 * np.abs(x).max()  # starts at once
        notes += len(meta)
        counts = collections.Counter(n["instrument_family_str"] for n in meta.values())
        assert counts == {f: demo_music.split_counts(PER_FAMILY)[split]
                          for f in labels_lib.NSYNTH_FAMILIES}
    ids = sorted(n["note"] for s in SPLIT_DIRS for n in _meta(music, s).values())
    assert ids == list(range(notes)) and notes == 66


def test_splits_are_instrument_disjoint_and_labels_match_programs(music):
    instruments, programs = {}, {}
    for split in SPLIT_DIRS:
        meta = _meta(music, split).values()
        instruments[split] = {(n["soundfont"], n["program"]) for n in meta}
        programs[split] = {n["program"] for n in meta}
        assert {n["instrument_family_str"] for n in meta} == set(labels_lib.NSYNTH_FAMILIES)
        for n in meta:
            family = labels_lib.NSYNTH_FAMILIES[n["instrument_family"]]
            assert family == n["instrument_family_str"]
            assert n["program"] in GM_GROUPS[family]
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not instruments[a] & instruments[b] and not programs[a] & programs[b]


def test_same_seed_same_files_other_seed_differs(music, tmp_path):
    demo_music.make(tmp_path / "same", seed=0, clips_per_family=PER_FAMILY,
                    soundfonts=[FLUID])
    files = _all_files(music)
    assert _all_files(tmp_path / "same") == files
    _, mismatch, errors = filecmp.cmpfiles(music, tmp_path / "same", files, shallow=False)
    assert not mismatch and not errors
    demo_music.make(tmp_path / "other", seed=1, clips_per_family=PER_FAMILY,
                    soundfonts=[FLUID])
    assert _meta(tmp_path / "other", "train").keys() != _meta(music, "train").keys()


@pytest.mark.parametrize("program, pitch", [(73, 60), (73, 79), (0, 57), (40, 67), (80, 65),
                                            (32, 40)])
def test_rendered_pitch_is_the_midi_pitch(program, pitch):
    # flute, piano, violin, square lead, bass: pYIN's f0 over the held part, in semitones.
    clip = demo_music.render(FLUID, [(program, pitch, 100)])[0]
    f0, voiced, _ = librosa.pyin(clip[1600:11200], fmin=30, fmax=2000, sr=16000)
    estimate = np.median(librosa.hz_to_midi(f0[voiced]))
    assert abs(estimate - pitch) < 1.0, (program, pitch, estimate)


def test_the_gm_notes_config_reads_the_set(music, tmp_path):
    data = str(tmp_path / "data")
    info = datasets.info("gm_notes", data_dir=data, manual_dir=music)
    assert info.splits == {"train": 44, "validation": 11, "test": 11}
    assert info.class_names == labels_lib.NSYNTH_FAMILIES and info.clip_length == 16000
    for split in SPLIT_DIRS:
        meta = _meta(music, split)
        loaded = list(datasets.load("gm_notes", split, data_dir=data).as_numpy_iterator())
        got = sorted((int(e["label"]), (e["audio"] * 32768).astype(np.int16).tobytes())
                     for e in loaded)
        want = sorted((n["instrument_family"], sf.read(
            os.path.join(music, SPLIT_DIRS[split], "audio", f"{k}.wav"),
            dtype="int16")[0].tobytes()) for k, n in meta.items())
        assert got == want  # labels and bit-exact audio
    prepared = tmp_path / "data" / "clar_nsynth"
    assert (prepared / "gm_notes").is_dir() and not (prepared / "nsynth11").exists()


def test_missing_fluidsynth_or_sound_font_tells_the_apt_line(monkeypatch, tmp_path):
    with monkeypatch.context() as m:
        m.setattr(demo_music.shutil, "which", lambda name: None)
        with pytest.raises(RuntimeError, match="apt-get install fluidsynth fluid-soundfont-gm"):
            demo_music.make(tmp_path)
    monkeypatch.setattr(demo_music, "find_soundfonts", lambda: [])
    with pytest.raises(RuntimeError, match="apt-get install fluid-soundfont-gm") as error:
        demo_music.make(tmp_path)
    assert "\n" not in str(error.value)
    with pytest.raises(RuntimeError, match="absent.sf2"):
        demo_music.make(tmp_path, soundfonts=[str(tmp_path / "absent.sf2")])
    assert not os.listdir(tmp_path)


def test_datasets_never_generate_audio_and_name_the_command(monkeypatch, tmp_path):
    monkeypatch.setattr(demo_music, "make", lambda *a, **k: pytest.fail("generated"))
    with pytest.raises(ValueError, match="(?s)manual_dir.*clar-demo-data --dataset=gm_notes"):
        datasets.info("gm_notes", data_dir=tmp_path / "data")
    assert not (tmp_path / "data" / "downloads").exists()


def test_ensure_generates_when_missing_then_the_set_loads(monkeypatch, tmp_path, capsys):
    calls, real_make = [], demo_music.make

    def small_make(out_dir, log=None):
        calls.append(out_dir)
        return real_make(out_dir, clips_per_family=3, log=log)

    monkeypatch.setattr(demo_music, "make", small_make)
    data = str(tmp_path / "data")
    demo_data.ensure("nsynth11", data)  # not a generated set: nothing to do
    assert calls == []
    demo_data.ensure("gm_notes", data)
    manual = os.path.join(data, "downloads", "manual", "gm_notes")
    out = capsys.readouterr().out
    assert calls == [manual] and "generating it with clar_tf.demo_music" in out
    assert f"gm_notes: 33/33 clips rendered in {manual}" in out  # progress lines
    demo_data.ensure("gm_notes", data)  # complete: not generated again
    assert calls == [manual]
    info = datasets.info("gm_notes", data_dir=data)
    assert info.splits == {"train": 11, "validation": 11, "test": 11}
    labels = [int(e["label"]) for e in datasets.load(
        "gm_notes", "test", data_dir=data).as_numpy_iterator()]
    assert sorted(labels) == list(range(11))
    shutil.rmtree(manual)  # prepared: the raw set is not needed, so not generated again
    demo_data.ensure("gm_notes", data)
    assert calls == [manual]


def test_cli_writes_the_set_and_keeps_the_digits_default(tmp_path, capsys):
    run_main(demo_data, demo_data.DemoDataArgs,
             ["demo_data", "--dataset=gm_notes", f"--out={tmp_path}", "--seed=2",
              "--clips_per_family=3"])
    assert "wrote 33 clips" in capsys.readouterr().out
    assert demo_music.is_complete(tmp_path)
    assert sum(len(_meta(tmp_path, s)) for s in SPLIT_DIRS) == 33
    assert demo_data.DemoDataArgs(out="o").dataset == "spoken_digits"
    for argv, flag in ((["--dataset=gm_chords"], "dataset"),
                       (["--clips_per_family=2"], "clips_per_family")):
        with pytest.raises(SystemExit, match=flag):
            cli.parse(demo_data.DemoDataArgs, ["demo_data", "--out=o", *argv],
                      demo_data.HELP)


def test_note_strings_are_nsynth_like(music):
    for split in SPLIT_DIRS:
        for note_str in _meta(music, split):
            assert re.fullmatch(r"[a-z_]+_[a-z0-9]+_\d{3}-\d{3}-\d{3}", note_str)
