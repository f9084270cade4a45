"""An offline spoken-digits set in the Speech Commands layout, synthesized with espeak-ng;
the demo-data CLI and `ensure` for it and for the music set `gm_notes`.

    python -m clar_tf.demo_data --out=DIR [--seed=0] [--clips_per_word=300]
    python -m clar_tf.demo_data --dataset=gm_notes --out=DIR [--clips_per_family=240]

The second writes NSynth-layout notes played by General MIDI instruments with fluidsynth
(`clar_tf.demo_music`, which documents it). The first, the default
(`--dataset=spoken_digits`), writes, like Speech Commands v0.02 (so the `spoken_digits`
builder reads it with the same code as `sc10`):

    DIR/<word>/<speaker>_nohash_<n>.wav     16 kHz mono PCM16, 1 s, words zero..nine
    DIR/validation_list.txt, DIR/testing_list.txt
    DIR/_background_noise_/{white,pink}_noise.wav

A "speaker" is one espeak-ng voice plus variant (e.g. `en-gb-scotland+f2`; 8 x 26 of
them), its id a hash of that name. Every speaker says every word equally often (by
default 150 speakers, twice each); 10% of the speakers go to validation and 10% to
test, so the splits are speaker-disjoint and class-balanced. Each clip draws its speed
(`-s`), pitch (`-p`), gain, onset inside the 1 s window and a light noise floor (white
or pink, 25-45 dB below the word's peak). Everything is drawn from `--seed` up front,
so the output is identical for the same seed. espeak-ng writes 22.05 kHz; `clar_tf.audio.io`
decodes and resamples it. Two worker processes render the clips: the default 3000
take 15-30 s on two shared cores.
"""
import concurrent.futures
import dataclasses
import hashlib
import io
import multiprocessing
import os
import shutil
import subprocess
import time

import numpy as np
import soundfile as sf

from clar_tf import cli, demo_music
from clar_tf.audio import io as audio_io

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
          "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "Alex",
            "Andy", "annie", "aunty", "belinda", "david", "ed", "linda", "max", "Michael",
            "paul", "robert", "steph", "zac", "grandpa")
CLIPS_PER_WORD = 300
CLIP_SECONDS = 1
NOISE_SECONDS = 10
_SPEED_WPM = (110, 230)
_PITCH = (20, 80)
_PEAK = (0.2, 0.9)
_SNR_DB = (25.0, 45.0)
_SILENCE = 0.02  # fraction of the peak below which leading/trailing samples are trimmed
_INSTALL = ("espeak-ng is needed for the offline demo data but was not found on PATH. "
            "Install it with: apt-get install espeak-ng  (or run setup.sh)")


def speaker_id(speaker):
    """The 8-hex-digit speaker id of a `voice+variant` name (stable across runs)."""
    return hashlib.sha1(speaker.encode()).hexdigest()[:8]


def _noise(rng, n, color):
    """Unit-RMS white or pink (1/f power) noise of n samples."""
    white = rng.standard_normal(n)
    if color == "pink":
        spectrum = np.fft.rfft(white)
        spectrum[1:] /= np.sqrt(np.arange(1, spectrum.shape[0]))
        spectrum[0] = 0.0
        white = np.fft.irfft(spectrum, n)
    return (white / np.sqrt(np.mean(white ** 2))).astype(np.float32)


def _synthesize(word, speaker, speed, pitch):
    """espeak-ng's rendering of `word`, trimmed of silence, as 16 kHz float32."""
    cmd = ["espeak-ng", "--stdout", "-v", speaker, "-s", str(speed), "-p", str(pitch), word]
    wav = subprocess.run(cmd, capture_output=True, check=True).stdout
    x = audio_io.read_audio(io.BytesIO(wav), audio_io.SAMPLE_RATE)
    voiced = np.flatnonzero(np.abs(x) > _SILENCE * np.abs(x).max())
    return x[voiced[0]:voiced[-1] + 1]


def _render(job):
    """Synthesizes one clip described by `job` and writes it as 16-bit PCM."""
    word = _synthesize(job["word"], job["speaker"], job["speed"], job["pitch"])
    length = CLIP_SECONDS * audio_io.SAMPLE_RATE
    word = job["peak"] * word[:length] / np.abs(word).max()
    onset = int(job["onset"] * (length - word.shape[0]))
    clip = np.zeros(length, np.float32)
    clip[onset:onset + word.shape[0]] = word
    rng = np.random.default_rng(job["noise_seed"])
    clip += job["peak"] * 10 ** (-job["snr_db"] / 20) * _noise(rng, length, job["color"])
    sf.write(job["path"], np.clip(clip, -1.0, 1.0), audio_io.SAMPLE_RATE, subtype="PCM_16")


def _jobs(out_dir, rng, clips_per_word):
    """Every clip's parameters, drawn from `rng` in a fixed order; plus split lists."""
    all_speakers = [f"{v}+{var}" for v in VOICES for var in VARIANTS]
    # Each speaker says every word equally often (`takes` times), as balanced as can be.
    takes = -(-clips_per_word // len(all_speakers))
    order = rng.permutation(len(all_speakers))[:clips_per_word // takes]
    speakers = [all_speakers[i] for i in order]
    n_held = max(1, round(0.1 * len(speakers)))  # ~10% validation, ~10% test, never empty
    val, test = speakers[:n_held], speakers[n_held:2 * n_held]
    lists = {"validation_list.txt": [], "testing_list.txt": []}
    jobs = []
    for word in WORDS:
        os.makedirs(os.path.join(out_dir, word), exist_ok=True)
        for i in range(clips_per_word):
            speaker = speakers[i % len(speakers)]
            rel = f"{word}/{speaker_id(speaker)}_nohash_{i // len(speakers)}.wav"
            if speaker in val:
                lists["validation_list.txt"].append(rel)
            elif speaker in test:
                lists["testing_list.txt"].append(rel)
            jobs.append(dict(
                word=word, speaker=speaker, path=os.path.join(out_dir, rel),
                speed=int(rng.integers(*_SPEED_WPM, endpoint=True)),
                pitch=int(rng.integers(*_PITCH, endpoint=True)),
                peak=float(rng.uniform(*_PEAK)), onset=float(rng.uniform()),
                snr_db=float(rng.uniform(*_SNR_DB)),
                color=("white", "pink")[int(rng.integers(2))],
                noise_seed=int(rng.integers(2 ** 63))))
    return jobs, lists


def make(out_dir, seed=0, clips_per_word=CLIPS_PER_WORD, workers=2, log=None):
    """Writes the spoken-digits set into `out_dir` (see the module docstring).

    Args:
      out_dir: folder to create or fill; existing files of the same names are replaced.
      seed: every random choice derives from it; same seed, same files.
      clips_per_word: clips of each of the 10 digits (10 * clips_per_word in all); at
        least 3, so that every split has a speaker.
      workers: processes rendering clips in parallel.
      log: called with a progress line after each tenth of the clips (None: silent).

    Returns:
      The number of clips written.

    Raises:
      RuntimeError: espeak-ng is not installed (the message gives the apt-get line).
    """
    _check_clips_per_word(clips_per_word)
    if shutil.which("espeak-ng") is None:
        raise RuntimeError(_INSTALL)
    rng = np.random.default_rng(seed)
    jobs, lists = _jobs(out_dir, rng, clips_per_word)
    # "spawn": the caller may hold TensorFlow threads, which fork would copy half-locked.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        step = max(1, len(jobs) // 10)
        for done, _ in enumerate(pool.map(_render, jobs, chunksize=min(32, step)), 1):
            if log and (done % step == 0 or done == len(jobs)):
                log(f"spoken_digits: {done}/{len(jobs)} clips rendered in {out_dir}")
    for name, rel_paths in lists.items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.writelines(p + "\n" for p in rel_paths)
    noise_dir = os.path.join(out_dir, "_background_noise_")
    os.makedirs(noise_dir, exist_ok=True)
    for color in ("white", "pink"):
        noise = 0.1 * _noise(rng, NOISE_SECONDS * audio_io.SAMPLE_RATE, color)
        sf.write(os.path.join(noise_dir, f"{color}_noise.wav"), np.clip(noise, -1, 1),
                 audio_io.SAMPLE_RATE, subtype="PCM_16")
    return len(jobs)


def is_complete(root):
    """Whether `make` finished writing into `root` (it writes these last)."""
    return all(os.path.exists(os.path.join(root, name)) for name in
               ("validation_list.txt", "testing_list.txt", "_background_noise_"))


# The generated datasets: {name: what writes it}.
GENERATED = {"spoken_digits": "clar_tf.demo_data (espeak-ng)",
             "gm_notes": "clar_tf.demo_music (fluidsynth)"}


def ensure(dataset, data_dir, manual_dir=None, log=print):
    """Writes a generated set where `clar_tf.datasets` will look for it, if needed.

    What the commands that train or prepare (`clar-train`, `clar-prepare`, the experiment
    drivers, the TFX AudioExampleGen) call before they read `dataset`: for
    "spoken_digits" or "gm_notes" (`GENERATED`) not yet prepared in `data_dir`, when
    `manual_dir` (default `datasets.default_manual_dir`) lacks a complete set, `make`
    (espeak-ng) or `demo_music.make` (fluidsynth) writes one there. Any other dataset, or
    one already prepared: nothing happens. `clar_tf.datasets.load` itself never
    generates audio.
    """
    if dataset not in GENERATED:
        return
    from clar_tf import datasets  # imported here: the demo-data CLI needs no TFDS

    manual_dir = manual_dir or datasets.default_manual_dir(dataset, data_dir)
    complete = (demo_music.is_complete if dataset == "gm_notes" else is_complete)(manual_dir)
    if not complete and not datasets.is_prepared(dataset, data_dir):
        log(f"{dataset}: no demo data in {manual_dir} yet; generating it with "
            f"{GENERATED[dataset]}")
        (demo_music.make if dataset == "gm_notes" else make)(manual_dir, log=log)


def _check_clips_per_word(clips_per_word):
    if clips_per_word < 3:  # one speaker each for train, validation and test
        raise ValueError(f"clips_per_word must be >= 3. Received: clips_per_word={clips_per_word}")


@dataclasses.dataclass(frozen=True)
class DemoDataArgs:
    """`python -m clar_tf.demo_data`'s flags."""

    out: str
    seed: int = 0
    clips_per_word: int = CLIPS_PER_WORD
    dataset: str = "spoken_digits"
    clips_per_family: int = demo_music.CLIPS_PER_FAMILY

    def __post_init__(self):
        _check_clips_per_word(self.clips_per_word)
        if self.dataset not in GENERATED:
            raise ValueError(f"dataset must be one of {', '.join(GENERATED)}. Received: "
                             f"dataset={self.dataset!r}")
        demo_music.split_counts(self.clips_per_family)  # checks it


HELP = {
    "out": ("Folder to write the set into (spoken_digits: the Speech Commands layout; "
            "gm_notes: the NSynth layout)."),
    "seed": "Seed for every random choice.",
    "clips_per_word": "spoken_digits: clips of each digit word (at least 3).",
    "dataset": ("Which set: spoken_digits (espeak-ng digits) or gm_notes (fluidsynth notes "
                "of 11 instrument families)."),
    "clips_per_family": ("gm_notes: notes of each instrument family, 4:1:1 over train, "
                         "validation and test (at least 3)."),
}


def main(args):
    """Writes the set that `args` (a `DemoDataArgs`) names."""
    start = time.perf_counter()
    if args.dataset == "gm_notes":
        n = demo_music.make(args.out, seed=args.seed,
                            clips_per_family=args.clips_per_family, log=print)
    else:
        n = make(args.out, seed=args.seed, clips_per_word=args.clips_per_word, log=print)
    print(f"wrote {n} clips to {args.out} in {time.perf_counter() - start:.1f} s")


def cli_main():
    """The `clar-demo-data` console script (and `python -m clar_tf.demo_data`)."""
    cli.main(DemoDataArgs, main, HELP)


if __name__ == "__main__":
    cli_main()
