"""Issue 36's probes, rerun as one script: bad input, damaged files and faults against the
command lines, each judged by what a user sees.

    .venv/bin/python tools/probes.py [--out results/tests/probes.txt] [-k PATTERN]

It trains one smoke run (about a minute), exports it, then runs each probe as a new
process on a copy of what it damages, and prints one row per probe:

    OK         the expected outcome: a refusal whose error line ("error: …", or absl's
               "Flag error" / "Flags parsing error") names the flag or file, or a success
               that gives the right result
    TRACEBACK  a Python traceback reached the user
    CRASH      killed by a signal (segfault, abort) or exit status >= 128
    UNCLEAR    refused, but no error line names the flag or file
    WRONG      a silent wrong result: bad input accepted, or a check of the output failed

Exit status 1 when any row is not OK or SKIPPED. The full-disk probes need `mount -t tmpfs`
(root); without it they are SKIPPED, saying so. Everything is written under a temporary
folder (or `--work`), except that the demo data (data/spoken_digits, data/tfds) is made
on first use like `clar-train --flagfile=demo.flags` does.
"""
import argparse
import dataclasses
import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

import numpy as np
import soundfile as sf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
SR = 16000


@dataclasses.dataclass
class Probe:
    """One probe: `argv` (a command, "{w}" = the work folder), an optional `setup(w)` run
    before it, and what is expected: `names` (refusal whose last line holds it) or
    `ok` (exit 0), plus an optional `check(result, w)` returning a reason when wrong."""
    name: str
    argv: list
    names: Optional[str] = None
    ok: bool = False
    setup: Optional[Callable] = None
    check: Optional[Callable] = None
    timeout: int = 600


@dataclasses.dataclass
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def last_line(self):
        lines = [l for l in self.stderr.splitlines() if l.strip()]
        return lines[-1].strip() if lines else ""

    @property
    def error_line(self):
        """The last line of stderr saying "error" ("error: …", "Flag error: …", absl's
        "FATAL Flags parsing error: …" before its "Pass --helpshort …" line)."""
        lines = [l.strip() for l in self.stderr.splitlines() if "error" in l.lower()]
        return lines[-1] if lines else ""


def run(argv, timeout=600, env=None):
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    return Result(proc.returncode, proc.stdout, proc.stderr)


def judge(probe, result, w):
    """(verdict, detail) of one probe's result."""
    text = result.stdout + result.stderr
    if result.rc < 0 or result.rc >= 128:
        return "CRASH", f"rc {result.rc}"
    if "Traceback (most recent call last)" in text:
        return "TRACEBACK", text[text.index("Traceback"):][-300:].replace("\n", " | ")
    if probe.ok and result.rc != 0:
        return "WRONG", f"rc {result.rc}: {result.last_line[:200]}"
    if probe.names is not None:
        if result.rc == 0:
            return "WRONG", "accepted: exit 0"
        line = result.error_line
        names = probe.names.format(w=w)
        if names not in line:
            return "UNCLEAR", f"error line {line[:240]!r} (expected it to name {names})"
    if probe.check:
        reason = probe.check(result, w)
        if reason:
            return "WRONG", reason
    shown = result.last_line or (result.stdout.strip().splitlines() or [""])[-1]
    return "OK", shown[:160]


# ------------------------------------------------------------------ fixtures
def write_wav(path, audio, sr=SR, subtype="PCM_16"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, audio, sr, subtype=subtype)


def speech(seconds=1.0, seed=0):
    """A clip of the demo's speech (a real spoken digit), else noise."""
    digits = os.path.join(REPO, "data", "spoken_digits", "seven")
    files = sorted(os.listdir(digits)) if os.path.isdir(digits) else []
    if files:
        audio, _ = sf.read(os.path.join(digits, files[seed % len(files)]), dtype="float32")
    else:
        audio = np.random.default_rng(seed).uniform(-0.3, 0.3, SR).astype(np.float32)
    n = int(seconds * SR)
    return np.pad(audio, (0, max(0, n - len(audio))))[:n]


def folder_corpus(root, classes=("cat", "dog"), clips=4):
    """A labeled folder dataset: `classes` × `clips` speech clips."""
    for c, name in enumerate(classes):
        for i in range(clips):
            write_wav(os.path.join(root, name, f"{i}.wav"), speech(seed=10 * c + i))
    return root


def copy_run(w, name):
    """A copy of the smoke run, its config.json naming the copy's model_dir (else the
    run refuses it as a run with a different config)."""
    dst = os.path.join(w, name)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(os.path.join(w, "smoke"), dst, symlinks=True)
    edit_json(os.path.join(dst, "config.json"), model_dir=dst)
    return dst


def edit_json(path, **changes):
    with open(path) as f:
        data = json.load(f)
    data.update(changes)
    with open(path, "w") as f:
        json.dump(data, f)


def export_dir(w, name="exp"):
    """A copy of the smoke run's export version folder."""
    src = os.path.join(w, "smoke", "export")
    version = sorted(os.listdir(src))[-1]
    dst = os.path.join(w, name)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(os.path.join(src, version), dst)
    return dst


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["umount", path], capture_output=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise Skip(f"mount -t tmpfs failed: {proc.stderr.strip()[:120]}")


class Skip(Exception):
    pass


def train_argv(model_dir, *flags):
    return ["clar-train", "--flagfile=smoke.flags", "--manual_dir=data/spoken_digits",
            "--data_dir=data/tfds", f"--model_dir={model_dir}", *flags]


def cmd(name, *args):
    """A console script of this environment (beside the interpreter)."""
    return [os.path.join(os.path.dirname(PY), name), *args]


def embed_py(code):
    """A Python snippet run with the export at {w}/exp as `m` (clar_tf.embed)."""
    return [PY, "-c", "import sys\nfrom clar_tf import cli\n" + code]


# ------------------------------------------------------------------ the probes
def probes(w):
    def T(*flags):  # clar-train into a model_dir of its own
        return cmd(*train_argv(f"{w}/new{len(P)}", *flags))
    P = []
    add = P.append

    # Flags of clar-train: refused before anything is written, naming the flag.
    for flag, value in [("batch_size", "0"), ("batch_size", "-3"), ("epochs", "0"),
                        ("learning_rate", "nan"), ("learning_rate", "inf"),
                        ("learning_rate", "-1"), ("temperature", "0"), ("width", "1e-9"),
                        ("width", "100"), ("clip_length", "1000000000"),
                        ("clip_length", "0"), ("labeled_fraction", "0"),
                        ("labeled_fraction", "2"), ("weight_decay", "-1"),
                        ("warmup_epochs", "-1"), ("augment", "XX"), ("augment", "FD+"),
                        ("method", "nope"), ("encoder", "3d"), ("dataset", "nope"),
                        ("frontend", "nope"), ("optimizer", "sgdx")]:
        add(Probe(f"train --{flag}={value}", T(f"--{flag}={value}"), names=flag))
    add(Probe("train --batch_size=abc", T("--batch_size=abc"), names="batch_size"))
    add(Probe("train --no_such_flag", T("--no_such_flag=1"), names="no_such_flag"))
    add(Probe("train --flagfile=missing", cmd("clar-train", f"--flagfile={w}/missing.flags"),
              names="missing.flags"))
    add(Probe("train --manual_dir missing",
              cmd("clar-train", "--flagfile=smoke.flags", "--dataset=sc10",
                  f"--manual_dir={w}/nowhere", f"--data_dir={w}/tfds_new",
                  f"--model_dir={w}/sc10"), names="nowhere"))
    add(Probe("train --model_dir is a file", cmd(*train_argv(f"{w}/afile")), names="afile",
              setup=lambda w: open(f"{w}/afile", "w").close()))
    add(Probe("train --init_from missing", T(f"--init_from={w}/none.keras"),
              names="none.keras"))
    add(Probe("train --init_from random bytes", T(f"--init_from={w}/random.keras"),
              names="random.keras", setup=lambda w: _random_file(f"{w}/random.keras")))
    add(Probe("train --help exits 0", cmd("clar-train", "--help"), ok=True,
              check=lambda r, w: None if "--flagfile" in r.stdout + r.stderr
              or "--model_dir" in r.stdout else "no flags listed"))
    add(Probe("embed --help lists FILES", cmd("clar-embed", "--help"), ok=True,
              check=lambda r, w: None if "FILES" in r.stdout else "no FILES in --help"))

    # The folder dataset (clar-prepare): bad audio named, symlinks kept inside.
    def prep(name, mutate, **kw):
        def setup(w):
            root = folder_corpus(f"{w}/{name}")
            mutate(root)
        add(Probe(f"prepare folder: {name}",
                  cmd("clar-prepare", "--dataset=folder", f"--manual_dir={w}/{name}",
                      f"--data_dir={w}/tfds_{name}", "--clip_length=16000"),
                  setup=setup, **kw))

    prep("empty_wav", lambda r: open(f"{r}/cat/empty.wav", "wb").close(), names="empty.wav")
    prep("random_wav", lambda r: _random_file(f"{r}/cat/noise.wav"), names="noise.wav")
    prep("truncated_wav", lambda r: _truncate(f"{r}/cat/0.wav", 3000), names="0.wav")
    prep("header_only_wav", lambda r: _truncate(f"{r}/cat/1.wav", 44), names="1.wav")
    prep("symlink_up", lambda r: os.symlink("..", f"{r}/cat/up"), names="up")
    prep("symlink_loop", lambda r: os.symlink(".", f"{r}/cat/loop"), names="loop")
    prep("symlink_outside", lambda r: os.symlink("/etc/hostname", f"{r}/cat/host.wav"),
         names="host.wav")
    prep("hard_link", lambda r: os.link(f"{r}/cat/0.wav", f"{r}/dog/same.wav"),
         names="same.wav")
    prep("dangling_link", lambda r: os.symlink(f"{r}/gone.wav", f"{r}/cat/dangling.wav"),
         names="dangling.wav")
    prep("class_no_audio", lambda r: os.makedirs(f"{r}/bird"), names="bird")
    prep("class_newline", lambda r: os.makedirs(f"{r}/b\nad"), names="b\\nad")
    prep("stereo_wav", lambda r: write_wav(f"{r}/cat/stereo.wav",
                                           np.stack([speech(), speech(seed=1)], 1)),
         ok=True, check=lambda r, w: _prepared_count(r, 9))
    prep("44k_wav", lambda r: write_wav(f"{r}/cat/cd.wav", speech()[::1].repeat(1), 44100),
         ok=True, check=lambda r, w: _prepared_count(r, 9))
    prep("float_nan_wav", lambda r: write_wav(f"{r}/cat/nan.wav",
                                              np.full(SR, np.nan, np.float32),
                                              subtype="FLOAT"), names="nan.wav")
    add(Probe("prepare folder: empty manual_dir",
              cmd("clar-prepare", "--dataset=folder", f"--manual_dir={w}/emptydir",
                  f"--data_dir={w}/tfds_e", "--clip_length=16000"),
              setup=lambda w: os.makedirs(f"{w}/emptydir", exist_ok=True), names="emptydir"))
    add(Probe("prepare folder: no --clip_length",
              cmd("clar-prepare", "--dataset=folder", f"--manual_dir={w}/corpus",
                  f"--data_dir={w}/tfds_c"),
              setup=lambda w: folder_corpus(f"{w}/corpus"), names="clip_length"))

    # Resume: a damaged backup/ is refused naming the file; a finished run rewrites nothing.
    def resume(name, mutate, **kw):
        def setup(w):
            mutate(copy_run(w, name))
        add(Probe(f"resume: {name}", cmd(*train_argv(f"{w}/{name}")), setup=setup, **kw))

    resume("weights_deleted", lambda d: _unfinish(d, lambda: os.remove(
        f"{d}/backup/latest.weights.h5")), names="backup")
    resume("epoch_99", lambda d: _unfinish(d, lambda: edit_json(
        f"{d}/backup/training_metadata.json", epoch=99)), names="training_metadata.json")
    resume("epoch_-5", lambda d: _unfinish(d, lambda: edit_json(
        f"{d}/backup/training_metadata.json", epoch=-5)), names="training_metadata.json")
    resume("weights_truncated", lambda d: _unfinish(d, lambda: _truncate(
        f"{d}/backup/latest.weights.h5", 1000)), names="latest.weights.h5")
    resume("weights_random", lambda d: _unfinish(d, lambda: _random_file(
        f"{d}/backup/latest.weights.h5")), names="latest.weights.h5")
    before = {}
    resume("finished_rerun", lambda d: before.update(_files(d)), ok=True,
           check=lambda r, w: _changed(before, _files(f"{w}/finished_rerun")))

    # Loading and export: damaged or hostile model files named, nothing executed.
    def model_file(name, mutate, argv, **kw):
        def setup(w):
            mutate(copy_run(w, name))
        add(Probe(name, argv(f"{w}/{name}"), setup=setup, **kw))

    exp = lambda d: cmd("clar-export", f"--model_dir={d}", f"--export_dir={d}/out")  # noqa
    model_file("export: inference.keras truncated",
               lambda d: _truncate(f"{d}/inference.keras", 2000), exp, names="inference.keras")
    model_file("export: inference.keras empty",
               lambda d: _truncate(f"{d}/inference.keras", 0), exp, names="inference.keras")
    model_file("export: inference.keras random",
               lambda d: _random_file(f"{d}/inference.keras"), exp, names="inference.keras")
    model_file("export: inference.keras calls os.system",
               lambda d: _hostile_keras(f"{d}/inference.keras", f"{w}/pwned"), exp,
               names="inference.keras", check=lambda r, w: "executed!" if os.path.exists(
                   f"{w}/pwned") else None)
    model_file("export: no inference.keras",
               lambda d: os.remove(f"{d}/inference.keras"), exp, names="inference.keras")
    add(Probe("export: --model_dir missing",
              cmd("clar-export", f"--model_dir={w}/none", f"--export_dir={w}/o"),
              names="none"))
    add(Probe("export: nothing asked", cmd("clar-export", f"--model_dir={w}/smoke"),
              names="export_dir"))
    add(Probe("export: --tflite=x.txt",
              cmd("clar-export", f"--model_dir={w}/smoke", f"--tflite={w}/x.txt"),
              names="tflite"))
    add(Probe("export: twice, same version",
              cmd("clar-export", f"--model_dir={w}/smoke", f"--export_dir={w}/twice",
                  "--version=7"), names="twice/7",
              setup=lambda w: run(cmd("clar-export", f"--model_dir={w}/smoke",
                                      f"--export_dir={w}/twice", "--version=7"))))

    # Embedding: bad audio and bad exports named; outputs right.
    def E(*a, model=None, out=None):  # clar-embed into its own output folder
        return cmd("clar-embed", f"--model={model or w + '/exp'}",
                   f"--out={w}/{out or 'emb_%d' % len(P)}", *a)
    audio = lambda name, make: lambda w: (export_dir(w), make(f"{w}/audio/{name}"))  # noqa
    add(Probe("embed: empty wav", E(f"{w}/audio/empty.wav"), names="empty.wav",
              setup=audio("empty.wav", lambda p: (os.makedirs(os.path.dirname(p),
                                                              exist_ok=True),
                                                  open(p, "wb").close()))))
    add(Probe("embed: random bytes", E(f"{w}/audio/rand.wav"), names="rand.wav",
              setup=audio("rand.wav", _random_file)))
    add(Probe("embed: truncated wav", E(f"{w}/audio/trunc.wav"), names="trunc.wav",
              setup=audio("trunc.wav", lambda p: (write_wav(p, speech()),
                                                  _truncate(p, 44)))))
    add(Probe("embed: dangling link", E(f"{w}/audio/dangling.wav"), names="dangling.wav",
              setup=audio("dangling.wav", lambda p: (os.makedirs(os.path.dirname(p),
                                                                 exist_ok=True),
                                                     os.symlink(p + ".gone", p)))))
    add(Probe("embed: missing file", E(f"{w}/audio/none.wav"), names="none.wav",
              setup=lambda w: export_dir(w)))
    add(Probe("embed: --out is a file",
              cmd("clar-embed", f"--model={w}/exp", f"--out={w}/afile2",
                  f"{w}/audio/ok.wav"), names="afile2",
              setup=lambda w: (export_dir(w), write_wav(f"{w}/audio/ok.wav", speech()),
                               open(f"{w}/afile2", "w").close())))
    add(Probe("embed: stereo 44.1 kHz = its mono 16 kHz",
              E(f"{w}/audio/st.wav", f"{w}/audio/mono.wav", out="emb_stereo"), ok=True,
              setup=lambda w: (export_dir(w), _stereo_and_mono(w)),
              check=lambda r, w: _close_npz(f"{w}/emb_stereo", "st.wav.npz", "mono.wav.npz",
                                            0.98)))
    add(Probe("embed: a/x.wav b/x.wav (repeated names)",
              E(f"{w}/audio/a/x.wav", f"{w}/audio/b/x.wav"), ok=True,
              setup=lambda w: (export_dir(w), write_wav(f"{w}/audio/a/x.wav", speech()),
                               write_wav(f"{w}/audio/b/x.wav", speech(seed=3)))))
    add(Probe("embed: output has no ANSI codes", E(f"{w}/audio/ok.wav"), ok=True,
              setup=lambda w: (export_dir(w), write_wav(f"{w}/audio/ok.wav", speech())),
              check=lambda r, w: "ANSI code in output" if "\x1b[" in r.stdout + r.stderr
              else None))
    add(Probe("embed: --hop_ms=0", E("--hop_ms=0", f"{w}/audio/ok.wav"), names="hop_ms",
              setup=lambda w: (export_dir(w), write_wav(f"{w}/audio/ok.wav", speech()))))
    add(Probe("embed: --hop_ms=nan", E("--hop_ms=nan", f"{w}/audio/ok.wav"),
              names="hop_ms",
              setup=lambda w: (export_dir(w), write_wav(f"{w}/audio/ok.wav", speech()))))
    add(Probe("embed: no inputs", E(), names="audio file or folder", setup=lambda w: export_dir(w)))

    def bad_export(name, mutate, **kw):
        def setup(w):
            d = export_dir(w, name)
            write_wav(f"{w}/audio/ok.wav", speech())
            mutate(d)
        add(Probe(f"embed export: {name}", E(f"{w}/audio/ok.wav", model=f"{w}/{name}"),
                  setup=setup, **kw))

    meta = "clar_tf_metadata.json"
    bad_export("sample_rate_48000", lambda d: edit_json(f"{d}/assets.extra/{meta}",
                                                         sample_rate=48000), names=meta)
    bad_export("clip_length_8000", lambda d: edit_json(f"{d}/assets.extra/{meta}",
                                                        clip_length=8000), names=meta)
    bad_export("clip_length_0", lambda d: edit_json(f"{d}/assets.extra/{meta}",
                                                     clip_length=0), names=meta)
    bad_export("clip_length_1e12", lambda d: edit_json(f"{d}/assets.extra/{meta}",
                                                        clip_length=10**12), names=meta)
    bad_export("metadata_not_json", lambda d: _write(f"{d}/assets.extra/{meta}", "{oops"),
               names=meta)
    bad_export("metadata_missing", lambda d: os.remove(f"{d}/assets.extra/{meta}"),
               names=name_of(meta))
    bad_export("saved_model_garbage", lambda d: _random_file(f"{d}/saved_model.pb"),
               names="saved_model.pb")

    # Serving: the SavedModel's endpoints check their input.
    serve = ("import tensorflow as tf, numpy as np\n"
             "m = tf.saved_model.load(sys.argv[1])\n"
             "try:\n"
             "    m.signatures[sys.argv[2]](audio=tf.constant(np.zeros({shape}, np.float32)))\n"
             "except tf.errors.InvalidArgumentError as e:\n"
             "    print('error: ' + ' '.join(e.message.split()), file=sys.stderr); sys.exit(1)\n")
    for sig, shape, words in [("serve_frames", "[16000]", "audio"),
                              ("serve_frames", "[1, 1, 16000]", "audio"),
                              ("serving_default", "[16000]", "audio"),
                              ("serve_frames", "[1100, 16000]", "serve_frames"),
                              ("serving_default", "[1, 0]", "samples")]:
        add(Probe(f"SavedModel {sig} {shape}",
                  [PY, "-c", "import sys\n" + serve.format(shape=shape), f"{w}/exp", sig],
                  names=words, setup=lambda w: export_dir(w)))
    add(Probe("hear: sample rate -16000",
              [PY, "-c", "import sys, numpy as np\nfrom clar_tf import hear\n"
               "try:\n    m = hear.load_model(sys.argv[1]); m.sample_rate = -16000\n"
               "    hear.get_scene_embeddings(np.zeros([1, 16000], np.float32), m)\n"
               "except ValueError as e:\n    print('error:', e, file=sys.stderr); "
               "sys.exit(1)\n", f"{w}/exp"], names="-16000", setup=lambda w: export_dir(w)))

    # Faults: a full disk and a kill lose nothing and say one line.
    def full_disk(size):
        def setup(w):
            mount_tmpfs(f"{w}/full{size}", size)
        add(Probe(f"train on a full disk ({size})", cmd(*train_argv(f"{w}/full{size}/run")),
                  names=f"full{size}", setup=setup,
                  check=lambda r, w: _no_tmp_left(f"{w}/full{size}/run")))
        add(Probe(f"train again on the full disk ({size})",
                  cmd(*train_argv(f"{w}/full{size}/run")), names=f"full{size}"))
    full_disk("9m")
    full_disk("2m")
    add(Probe("export on a full disk", cmd("clar-export", f"--model_dir={w}/smoke",
                                           f"--export_dir={w}/fullexp/out"),
              names="fullexp", setup=lambda w: mount_tmpfs(f"{w}/fullexp", "1m"),
              check=lambda r, w: _no_tmp_left(f"{w}/fullexp")))
    add(Probe("kill -9 after epoch 1, resume = uninterrupted",
              cmd(*train_argv(f"{w}/killed")), ok=True, setup=_kill_after_epoch_1,
              check=lambda r, w: _same_losses(f"{w}/smoke", f"{w}/killed")))
    return P


def name_of(path):
    return os.path.basename(path)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _random_file(path, size=20000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(np.random.default_rng(1).bytes(size))


def _truncate(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


def _hostile_keras(path, marker):
    """A .keras archive whose config asks to call os.system (safe mode must refuse)."""
    import zipfile
    config = {"module": "os", "class_name": "system", "config": f"touch {marker}",
              "registered_name": "system"}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.13.2"}))


def _unfinish(d, mutate):
    """Makes the copied run look interrupted after epoch 1 (no results.json, no models),
    then damages its backup/."""
    for name in ("results.json", "encoder.keras", "inference.keras"):
        if os.path.exists(f"{d}/{name}"):
            os.remove(f"{d}/{name}")
    shutil.rmtree(f"{d}/export", ignore_errors=True)
    mutate()


def _files(root):
    """{relative path: hash of its bytes} of the files under `root` (the lock excepted)."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            if n != ".lock" and not os.path.islink(p):
                with open(p, "rb") as f:
                    out[os.path.relpath(p, root)] = hash(f.read())
    return out


def _changed(before, after):
    """None when `after` has the same files with the same bytes as `before`."""
    changed = sorted(set(before) ^ set(after)) + sorted(
        k for k in before if k in after and before[k] != after[k])
    return f"rewrote {changed[:5]}" if changed else None


def _prepared_count(result, expected):
    text = result.stdout + result.stderr
    return None if str(expected) in text else (
        f"expected {expected} examples mentioned; got {text.strip()[-200:]!r}")


def _stereo_and_mono(w):
    import librosa
    mono = speech()
    write_wav(f"{w}/audio/mono.wav", mono)
    up = librosa.resample(mono, orig_sr=SR, target_sr=44100)
    write_wav(f"{w}/audio/st.wav", np.stack([up, up], 1), 44100)


def _close_npz(out, a, b, min_cosine):
    files = {}
    for dirpath, _, names in os.walk(out):
        for n in names:
            files[n] = os.path.join(dirpath, n)
    if a not in files or b not in files:
        return f"missing outputs: {sorted(files)}"
    ea = np.load(files[a])["embedding"].ravel()  # the clip's embedding [D]
    eb = np.load(files[b])["embedding"].ravel()
    cos = float(ea @ eb / np.linalg.norm(ea) / np.linalg.norm(eb))
    return None if cos >= min_cosine else f"cosine {cos:.3f} < {min_cosine}"


def _no_tmp_left(root):
    left = [os.path.join(d, n) for d, dirs, names in os.walk(root)
            for n in names + dirs if "tmp" in n]
    return f"temporary files left: {left[:3]}" if left else None


def _kill_after_epoch_1(w):
    """Starts the smoke run in {w}/killed and kills -9 it once epoch 1 is backed up."""
    d = f"{w}/killed"
    shutil.rmtree(d, ignore_errors=True)
    proc = subprocess.Popen(cmd(*train_argv(d)), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    meta = f"{d}/backup/training_metadata.json"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        try:
            with open(meta) as f:
                if json.load(f).get("epoch", -1) >= 1:
                    break
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    if proc.poll() is not None:
        raise Skip(f"the run ended (rc {proc.returncode}) before it could be killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _same_losses(a, b):
    import csv
    def losses(d):
        with open(f"{d}/train_log.csv") as f:
            return [(r["epoch"], float(r["loss"])) for r in csv.DictReader(f)]
    la, lb = losses(a), losses(b)
    if [e for e, _ in la] != [e for e, _ in lb]:
        return f"epochs differ: {la} vs {lb}"
    worst = max(abs(x - y) for (_, x), (_, y) in zip(la, lb))
    return None if worst <= 1e-4 else f"losses differ by {worst:.2e}: {la} vs {lb}"


# ------------------------------------------------------------------ main
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="also write the table here")
    parser.add_argument("--work", help="work folder (default: a temporary one, removed)")
    parser.add_argument("-k", dest="pattern", default="*", help="only probes matching this "
                        "shell pattern (the smoke run is trained anyway)")
    args = parser.parse_args()
    w = args.work or tempfile.mkdtemp(prefix="clar_probes_")
    os.makedirs(w, exist_ok=True)
    env_note = f"{time.strftime('%Y-%m-%d %H:%M')} UTC, {_git_sha()}, work {w}"
    rows, counts = [], {}
    try:
        start = time.time()
        if not os.path.exists(f"{w}/smoke/results.json"):
            smoke = run(cmd(*train_argv(f"{w}/smoke")))
            if smoke.rc != 0:
                sys.exit(f"the smoke run failed: {smoke.stderr[-2000:]}")
        print(f"smoke run ready ({time.time() - start:.0f} s); probing", flush=True)
        for probe in probes(w):
            if not fnmatch.fnmatch(probe.name, args.pattern):
                continue
            t = time.time()
            try:
                if probe.setup:
                    probe.setup(w)
                result = run(probe.argv, probe.timeout)
                verdict, detail = judge(probe, result, w)
            except Skip as e:
                verdict, detail = "SKIPPED", str(e)
            except subprocess.TimeoutExpired:
                verdict, detail = "CRASH", f"no answer in {probe.timeout} s"
            counts[verdict] = counts.get(verdict, 0) + 1
            row = f"{verdict:9} {time.time() - t:5.1f}s  {probe.name}  —  {detail}"
            rows.append(row)
            print(row, flush=True)
    finally:
        for d in ("full9m", "full2m", "fullexp"):
            subprocess.run(["umount", f"{w}/{d}"], capture_output=True)
        if not args.work:
            shutil.rmtree(w, ignore_errors=True)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(summary)
    if args.out:
        with open(args.out, "w") as f:
            f.write(f"# tools/probes.py, {env_note}\n# {summary}\n" + "\n".join(rows) + "\n")
    sys.exit(0 if set(counts) <= {"OK", "SKIPPED"} else 1)


def _git_sha():
    proc = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                          capture_output=True, text=True)
    return proc.stdout.strip() or "no git"


if __name__ == "__main__":
    main()
