"""Tests for the clar_tf.prepare CLI: it prepares and prints per-split, per-class counts."""
import numpy as np
import pytest
import soundfile as sf

from clar_tf import prepare
from cli_testing import run_main


def _wav(path, n=4410, sr=44100):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(n, 0.25, np.float32), sr)


def _rows(out):
    """{first word: [numbers]} of the printed table."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 1 and all(p.isdigit() for p in parts[1:]):
            rows[parts[0]] = [int(p) for p in parts[1:]]
    return rows


def test_prints_counts_per_split_and_class(tmp_path, capsys):
    root = tmp_path / "ESC-50-master"
    rows = [("1-1-A-0.wav", 1, 0, "dog"), ("2-2-A-0.wav", 2, 0, "dog"),
            ("5-3-A-0.wav", 5, 0, "dog"), ("3-4-A-10.wav", 3, 10, "rain"),
            ("5-5-A-12.wav", 5, 12, "crackling_fire"), ("4-6-A-5.wav", 4, 5, "cat")]
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for filename, fold, target, category in rows:
        lines.append(f"{filename},{fold},{target},{category},{target != 5},1,A")
        _wav(root / "audio" / filename)
    (root / "meta").mkdir()
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    run_main(prepare, prepare.PrepareArgs,
             ["prepare", "--dataset=esc10", f"--manual_dir={root}",
              f"--data_dir={tmp_path / 'data'}"])
    table = _rows(capsys.readouterr().out)
    # Hand counts: ESC-10 keeps dog/rain/crackling_fire (cat is not ESC-10); fold 5 = test.
    assert table["dog"] == [2, 1] and table["rain"] == [1, 0]
    assert table["crackling_fire"] == [0, 1] and table["chainsaw"] == [0, 0]
    assert table["total"] == [3, 2] and "cat" not in table
    assert len(table) == 11  # ten classes and the total


def test_unlabeled_folder_counts_the_unlabeled_row(tmp_path, capsys):
    for name in ("a.wav", "x/b.wav", "x/y/c.wav"):
        _wav(tmp_path / "clips" / name, n=800, sr=8000)
    run_main(prepare, prepare.PrepareArgs,
             ["prepare", "--dataset=folder", f"--manual_dir={tmp_path / 'clips'}",
              f"--data_dir={tmp_path / 'data'}", "--clip_length=1600", "--unlabeled"])
    table = _rows(capsys.readouterr().out)
    assert table == {"(unlabeled)": [3], "total": [3]}


def test_unknown_dataset_lists_the_names(tmp_path):
    with pytest.raises(SystemExit, match="sc10.*esc50.*folder"):
        run_main(prepare, prepare.PrepareArgs,
                 ["prepare", "--dataset=sc11", f"--data_dir={tmp_path}"])
