"""`--flagfile` resolution and expansion (`clar_tf.flagfiles`): the packaged presets from
any folder, files here first, nested files beside the file that names them, and absl's
own reading of a flag file as the reference for the expansion."""
import os

import pytest
from absl import flags

from clar_tf import cli, config, datasets, flagfiles

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _flagfile_values(path):
    return cli.flagfile_values(config.Config, path, *config.flag_spec())


def _write(path, *lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_packaged_presets_are_the_flag_files_in_the_package():
    names = sorted(n[:-6] for n in os.listdir(os.path.join(REPO, "clar_tf", "configs"))
                   if n.endswith(".flags"))
    assert flagfiles.presets() == names
    assert {"demo", "smoke", "sc10", "sc35", "nsynth11", "esc50"} <= set(names)


@pytest.mark.parametrize("name", ["sc10.flags", "sc10", "configs/sc10.flags"])
def test_a_preset_resolves_from_any_folder(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert flagfiles.resolve(name) == os.path.join(flagfiles.CONFIG_DIR, "sc10.flags")
    values = _flagfile_values(name)
    assert (values["dataset"], values["batch_size"], values["epochs"]) == ("sc10", 1024, 1000)


def test_a_file_here_wins_over_the_preset_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "sc10.flags", "--dataset=esc10", "--model_dir=mine")
    assert flagfiles.resolve("sc10.flags") == "sc10.flags"
    assert _flagfile_values("sc10.flags") == dict(dataset="esc10", model_dir="mine")


def test_expansion_matches_absl_reading_the_same_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "a.flags", "# a comment", "", "  --epochs=3  ", "// another",
                  "--method=simclr", "--noexport", "--augment=FD+TM")
    argv = ["prog", "--width=0.5", f"--flagfile={path}", "--epochs=4", "stray"]
    reference = flags.FlagValues().read_flags_from_files(argv, force_gnu=False)
    assert flagfiles.expand_argv(argv) == reference
    # The two-argument form and a bare `--` (after which nothing is a flag file).
    assert flagfiles.expand_argv(["prog", "--flagfile", path]) == reference[:1] + reference[2:6]
    assert (flagfiles.expand_argv(["prog", "--", f"--flagfile={path}"])
            == ["prog", "--", f"--flagfile={path}"])


def test_nested_files_beside_the_including_file_and_presets(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    _write(conf / "base.flags", "--epochs=7", "--width=0.5")
    _write(conf / "mine.flags", "--flagfile=base.flags", "--flagfile=demo.flags",
           "--epochs=2")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    values = _flagfile_values(str(conf / "mine.flags"))
    demo = _flagfile_values("demo.flags")
    # In order: base, then the packaged demo (its width wins), then epochs=2.
    assert values == {**demo, "epochs": 2}
    assert demo["width"] == 0.25


def test_smoke_preset_reads_the_demo_preset_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    smoke = _flagfile_values("smoke.flags")
    demo = _flagfile_values("demo.flags")
    assert smoke["dataset"] == demo["dataset"] == "spoken_digits"
    assert (smoke["model_dir"], smoke["epochs"], smoke["batch_size"]) == ("runs/smoke", 3, 32)


def test_a_missing_flag_file_names_the_flag_and_the_presets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"--flagfile=nope\.flags: no such file.*sc10"):
        flagfiles.expand_argv(["prog", "--flagfile=nope.flags"])
    with pytest.raises(SystemExit, match=r"Flag error: --flagfile=nope\.flags"):
        cli.parse(config.Config, ["train", "--flagfile=nope.flags"],
                  *config.flag_spec(datasets.NAMES))
    with pytest.raises(ValueError, match="needs a file name"):
        flagfiles.expand_argv(["prog", "--flagfile"])


def test_a_flag_file_that_includes_itself_is_refused(tmp_path):
    a = _write(tmp_path / "a.flags", "--epochs=1", "--flagfile=b.flags")
    _write(tmp_path / "b.flags", "--flagfile=a.flags")
    with pytest.raises(ValueError, match="includes itself"):
        flagfiles.expand_argv(["prog", f"--flagfile={a}"])


def test_the_design_card_command_parses_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parsed = cli.parse(config.Config, ["train", "--flagfile=sc10.flags", "--epochs=2"],
                       *config.flag_spec(datasets.NAMES))
    assert (parsed.dataset, parsed.batch_size, parsed.epochs) == ("sc10", 1024, 2)


def test_console_scripts_name_each_tools_cli_main():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert {"clar-train", "clar-prepare", "clar-evaluate", "clar-export",
            "clar-embed"} <= set(scripts)
    for name, target in scripts.items():
        module, function = target.split(":")
        assert module == "clar_tf." + name.removeprefix("clar-").replace("-", "_")
        assert callable(getattr(__import__(module, fromlist=[function]), function))


def test_package_data_ships_the_flag_files():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        setuptools = tomllib.load(f)["tool"]["setuptools"]
    assert "configs/*.flags" in setuptools["package-data"]["clar_tf"]
