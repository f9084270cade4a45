"""An offline set of musical notes in the NSynth layout, rendered with fluidsynth: gm_notes.

    clar-demo-data --dataset=gm_notes --out=DIR [--seed=0] [--clips_per_family=240]

writes, like NSynth (so the `gm_notes` config of the `clar_nsynth` builder reads it with
the same code as `nsynth11`):

    DIR/nsynth-{train,valid,test}/examples.json   {note_str: {"instrument_family": ..., ...}}
    DIR/nsynth-{train,valid,test}/audio/<note_str>.wav   16 kHz mono PCM16, 1 s

Each clip is one MIDI note played by one General MIDI instrument of a sound font with
Debian's `fluidsynth` (`fluid-soundfont-gm`'s FluidR3_GM.sf2, plus any other .sf2/.sf3
in `SOUNDFONT_DIRS`, e.g. `musescore-general-soundfont`, as further instruments), dry
(no reverb or chorus), held 0.75 s from sample 0 and released inside the clip.
Deviation from NSynth: its notes are 4 s (64000 samples, held 3 s); gm_notes' are 1 s
(16000 samples), to keep CPU costs like the spoken digits'. Classes are NSynth's 11
instrument families (`clar_tf.datasets.labels.NSYNTH_FAMILIES`), each a group of GM
programs. The splits are instrument-disjoint: every GM program is in one split only,
in every sound font (an instrument is a (sound font, program) pair), so the test split
measures generalisation to instruments never heard in training:

| family | train | validation | test |
|---|---|---|---|
| bass | 32 acoustic, 34 picked, 36 slap 1, 38 synth 1, 39 synth 2 | 35 fretless | 33 finger, 37 slap 2 |
| brass | 56 trumpet, 58 tuba, 60 French horn, 62 synth brass 1, 63 synth brass 2 | 59 muted trumpet | 57 trombone, 61 brass section |
| flute | 72 piccolo, 74 recorder, 76 blown bottle, 78 whistle, 79 ocarina | 75 pan flute | 73 flute, 77 shakuhachi |
| guitar | 24 nylon, 26 jazz, 28 muted, 30 distortion, 31 harmonics | 27 clean | 25 steel, 29 overdriven |
| keyboard | 0 grand piano, 2 electric grand, 4 e-piano 1, 6 harpsichord, 7 clavinet | 3 honky-tonk | 1 bright piano, 5 e-piano 2 |
| mallet | 8 celesta, 10 music box, 12 marimba, 14 tubular bells, 15 dulcimer | 11 vibraphone | 9 glockenspiel, 13 xylophone |
| organ | 16 drawbar, 18 rock, 20 reed organ, 22 harmonica, 23 tango accordion | 19 church | 17 percussive, 21 accordion |
| reed | 64 soprano sax, 66 tenor sax, 68 oboe, 70 bassoon, 71 clarinet | 67 baritone sax | 65 alto sax, 69 English horn |
| string | 40 violin, 42 cello, 44 tremolo, 46 harp, 48 ensemble 1, 49 ensemble 2, 51 synth strings 2 | 43 contrabass | 41 viola, 45 pizzicato, 50 synth strings 1 |
| synth_lead | 80 square, 82 calliope, 84 charang, 87 bass + lead | 83 chiff | 81 sawtooth, 86 fifths |
| vocal | 52 choir aahs, 54 synth voice | 85 voice lead | 53 voice oohs |

(GM's groups: piano 0-7 = keyboard, chromatic percussion 8-15 = mallet, pipe 72-79 =
flute, strings 40-46 and ensembles 48-51 = string (47, timpani, a drum, is left out),
synth leads 80-87 but 85 = synth_lead, 52-54 and lead 85 "voice" = vocal. In each
family's sorted program list, positions 1, 5, 9 are test and 3 validation.)

Per family, `clips_per_family` notes (default 240: 160 train, 40 validation, 40 test;
validation and test each round(clips_per_family / 6), at least 1), shared evenly among
the split's instruments. Each instrument plays distinct (pitch, velocity) pairs, as in
NSynth: pitches in the family's range (`PITCH_RANGES`) that its sound-font preset has
samples for, velocities NSynth's 25, 50, 75, 100, 127. examples.json holds NSynth's
fields (`note`, `note_str` = `<instrument_str>-<pitch>-<velocity>`, `instrument` =
128 * the sound font's index + program, `instrument_str` = `<family>_<font>_<program>`
(e.g. `flute_fluidr3gm_073`), `instrument_family`,
`instrument_family_str`, `pitch`, `velocity`, `sample_rate`) and `program`,
`soundfont`. Everything is drawn from `--seed` up front: the same seed and sound fonts
give the same files. With FluidR3 alone the default 2,640 clips (84 MB) render in about
5 s on two shared cores: fluidsynth plays each (sound font, family, split) group as one
MIDI file, one note per 1.1 s slot (all sound stopped at the clip's end), cut into clips.
"""
import concurrent.futures
import glob
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from clar_tf.audio import io as audio_io

# NSynth's instrument families in label order (== clar_tf.datasets.labels.NSYNTH_FAMILIES;
# not imported from there, so that this module needs no TensorFlow).
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed",
            "string", "synth_lead", "vocal")
SPLITS = ("train", "validation", "test")
SPLIT_DIRS = {"train": "nsynth-train", "validation": "nsynth-valid", "test": "nsynth-test"}
# family -> (train, validation, test) GM programs (0-based), disjoint: see the docstring.
PROGRAMS = {
    "bass": ((32, 34, 36, 38, 39), (35,), (33, 37)),
    "brass": ((56, 58, 60, 62, 63), (59,), (57, 61)),
    "flute": ((72, 74, 76, 78, 79), (75,), (73, 77)),
    "guitar": ((24, 26, 28, 30, 31), (27,), (25, 29)),
    "keyboard": ((0, 2, 4, 6, 7), (3,), (1, 5)),
    "mallet": ((8, 10, 12, 14, 15), (11,), (9, 13)),
    "organ": ((16, 18, 20, 22, 23), (19,), (17, 21)),
    "reed": ((64, 66, 68, 70, 71), (67,), (65, 69)),
    "string": ((40, 42, 44, 46, 48, 49, 51), (43,), (41, 45, 50)),
    "synth_lead": ((80, 82, 84, 87), (83,), (81, 86)),
    "vocal": ((52, 54), (85,), (53,)),
}
# The MIDI pitches each family plays (inclusive), within its instruments' usual ranges.
PITCH_RANGES = {
    "bass": (28, 55), "brass": (40, 77), "flute": (60, 93), "guitar": (40, 76),
    "keyboard": (36, 84), "mallet": (60, 96), "organ": (36, 84), "reed": (45, 79),
    "string": (43, 79), "synth_lead": (48, 84), "vocal": (48, 76),
}
VELOCITIES = (25, 50, 75, 100, 127)  # NSynth's
CLIPS_PER_FAMILY = 240
CLIP_SAMPLES = audio_io.SAMPLE_RATE  # 1 s (NSynth: 4 s)
HOLD_MS = 750  # note on to note off
SLOT_MS = 1100  # one note per slot in the rendered MIDI file: the clip, then 100 ms silence
BLOCK = 64  # fluidsynth's period (-z): it plays MIDI events at the next block, one late
GAIN = 1.0  # fluidsynth's master gain (-g); its default, 0.2, leaves soft notes near 0
SILENT = 2.0 ** -12  # a clip whose peak is below this (8 steps of 16-bit PCM) is an error
SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts")
PRIMARY_SOUNDFONT = "FluidR3_GM.sf2"
_INSTALL = ("fluidsynth is needed for the offline music demo data (gm_notes) but was not "
            "found on PATH. Install it with: apt-get install fluidsynth fluid-soundfont-gm"
            "  (or run setup.sh)")
_INSTALL_FONT = ("No General MIDI sound font (.sf2/.sf3) was found in {dirs}; the offline "
                 "music demo data (gm_notes) needs one. Install it with: apt-get install "
                 "fluid-soundfont-gm  (or run setup.sh)")


def split_counts(clips_per_family):
    """{split: notes per family}: validation and test round(clips_per_family / 6) (at
    least 1), train the rest."""
    _check_clips_per_family(clips_per_family)
    held = max(1, round(clips_per_family / 6))
    return {"train": clips_per_family - 2 * held, "validation": held, "test": held}


def find_soundfonts(dirs=SOUNDFONT_DIRS):
    """The distinct sound fonts (.sf2, .sf3) in `dirs`, FluidR3_GM first, then by path;
    links to the same file (Debian's default-GM.sf2) count once."""
    found = {}
    for folder in dirs:
        for path in sorted(glob.glob(os.path.join(folder, "*.sf[23]"))):
            found.setdefault(os.path.realpath(path), path)
    return sorted(found, key=lambda p: (os.path.basename(p) != PRIMARY_SOUNDFONT, p))


def _chunks(f, end):
    """(id, size, start) of each RIFF chunk from the file position up to `end`."""
    while f.tell() + 8 <= end:
        chunk_id, size = struct.unpack("<4sI", f.read(8))
        start = f.tell()
        yield chunk_id, size, start
        f.seek(start + size + (size & 1))


def _records(data, fmt):
    size = struct.calcsize(fmt)
    return [struct.unpack_from(fmt, data, i) for i in range(0, len(data) - size + 1, size)]


def _zones(bags, gens, first, last, terminal):
    """[(keys bool[128], target)] of the zones with bag indices [first, last): `target` is
    the zone's `terminal` generator (instrument or sample); a leading zone without it is
    global, its key range the others' default."""
    zones, default = [], np.ones(128, bool)
    for bag in range(first, last):
        keys, target = default, None
        for oper, lo, hi in gens[bags[bag][0]:bags[bag + 1][0]]:
            if oper == 43:  # keyRange
                keys = np.zeros(128, bool)
                keys[lo:hi + 1] = True
            elif oper == terminal:
                target = lo | hi << 8
        if target is not None:
            zones.append((keys, target))
        elif bag == first:
            default = keys
    return zones


def preset_keys(path):
    """{GM program: bool[128], the MIDI keys it has samples for} of bank 0 of the sound
    font `path` (its presets' key ranges, read from the SoundFont 2 `pdta` chunk)."""
    pdta = {}
    with open(path, "rb") as f:
        riff, size, form = struct.unpack("<4sI4s", f.read(12))
        if riff != b"RIFF" or form != b"sfbk":
            raise ValueError(f"{path} is not a SoundFont (RIFF sfbk) file")
        for chunk_id, chunk_size, start in _chunks(f, 8 + size):
            if chunk_id == b"LIST" and f.read(4) == b"pdta":
                for sub_id, sub_size, _ in _chunks(f, start + chunk_size):
                    pdta[sub_id.decode("latin-1")] = f.read(sub_size)
    missing = {"phdr", "pbag", "pgen", "inst", "ibag", "igen"} - set(pdta)
    if missing:
        raise ValueError(f"{path}: no SoundFont preset data ({', '.join(sorted(missing))})")
    phdr = _records(pdta["phdr"], "<20sHHH12x")
    inst = _records(pdta["inst"], "<20sH")
    pbag, ibag = _records(pdta["pbag"], "<HH"), _records(pdta["ibag"], "<HH")
    pgen, igen = _records(pdta["pgen"], "<HBB"), _records(pdta["igen"], "<HBB")
    inst_keys = []
    for i in range(len(inst) - 1):  # the last record terminates the list
        keys = np.zeros(128, bool)
        for zone_keys, _ in _zones(ibag, igen, inst[i][1], inst[i + 1][1], 53):  # sampleID
            keys |= zone_keys
        inst_keys.append(keys)
    result = {}
    for i in range(len(phdr) - 1):
        _, program, bank, bag = phdr[i]
        if bank != 0 or program > 127:
            continue
        keys = np.zeros(128, bool)
        for zone_keys, target in _zones(pbag, pgen, bag, phdr[i + 1][3], 41):  # instrument
            if target < len(inst_keys):
                keys |= zone_keys & inst_keys[target]
        result[program] = keys
    return result


def _vlq(n):
    """MIDI variable-length quantity."""
    out = [n & 0x7F]
    while n := n >> 7:
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def midi_file(notes):
    """A Standard MIDI File (format 0, 1 tick = 1 ms) that plays `notes`, [(program,
    pitch, velocity)], on channel 1, note i from i * SLOT_MS ms, held HOLD_MS ms; all
    sound stops at i * SLOT_MS + 1000 ms (controller 120), cutting release tails."""
    events = []
    for i, (program, pitch, velocity) in enumerate(notes):
        start = i * SLOT_MS
        events += [(start, 0, bytes([0xC0, program])), (start, 1, bytes([0x90, pitch, velocity])),
                   (start + HOLD_MS, 2, bytes([0x80, pitch, 64])),
                   (start + 1000, 3, bytes([0xB0, 120, 0]))]
    track, now = _vlq(0) + b"\xff\x51\x03" + (1000 * 1000).to_bytes(3, "big"), 0  # tempo
    for time_ms, _, data in sorted(events, key=lambda e: e[:2]):
        track += _vlq(time_ms - now) + data
        now = time_ms
    track += _vlq(len(notes) * SLOT_MS - now) + b"\xff\x2f\x00"  # end of track
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1000) + b"MTrk"
            + struct.pack(">I", len(track)) + track)


def render(soundfont, notes):
    """float32 [len(notes), CLIP_SAMPLES]: each (program, pitch, velocity) of `notes` played
    by `soundfont` with fluidsynth, 16 kHz mono (dry, GAIN); a note starts at sample 0."""
    with tempfile.TemporaryDirectory(prefix="clar_tf_gm_notes_") as tmp:
        midi, wav = os.path.join(tmp, "notes.mid"), os.path.join(tmp, "notes.wav")
        with open(midi, "wb") as f:
            f.write(midi_file(notes))
        cmd = ["fluidsynth", "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", str(GAIN),
               "-r", str(audio_io.SAMPLE_RATE), "-z", str(BLOCK), "-T", "wav", "-O", "float",
               "-o", "synth.dynamic-sample-loading=1", "-o", "player.timing-source=sample",
               "-F", wav, soundfont, midi]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode or not os.path.exists(wav):
            raise RuntimeError(f"fluidsynth failed (exit {done.returncode}) on {soundfont}: "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        x = audio_io.read_audio(wav, audio_io.SAMPLE_RATE)
    slot = SLOT_MS * audio_io.SAMPLE_RATE // 1000
    starts = BLOCK + slot * np.arange(len(notes))
    if x.shape[0] < starts[-1] + CLIP_SAMPLES:
        raise RuntimeError(f"fluidsynth wrote {x.shape[0]} samples for {len(notes)} notes "
                           f"of {soundfont}; expected at least {starts[-1] + CLIP_SAMPLES}")
    return np.stack([x[s:s + CLIP_SAMPLES] for s in starts])


def _render(job):
    """Renders one (sound font, family, split) group and writes its clips as 16-bit PCM."""
    clips = render(job["soundfont"], [n[:3] for n in job["notes"]])
    for clip, (program, pitch, velocity, path) in zip(clips, job["notes"]):
        if np.abs(clip).max() < SILENT:
            raise RuntimeError(f"{job['soundfont']} program {program} played pitch {pitch} "
                               f"velocity {velocity} silent")
        sf.write(path, np.clip(clip, -1.0, 1.0), audio_io.SAMPLE_RATE, subtype="PCM_16")
    return len(clips)


def _font_names(soundfonts):
    """A short lowercase alphanumeric name per sound font (its file stem), unique."""
    names = []
    for path in soundfonts:
        name = re.sub(r"[^a-z0-9]", "", os.path.splitext(os.path.basename(path))[0].lower())
        name = name or "font"
        names.append(f"{name}{len(names)}" if name in names else name)
    return names


def _share(n, capacities, what):
    """n split among len(capacities) instruments as evenly as their capacities allow."""
    counts, open_ = [0] * len(capacities), list(range(len(capacities)))
    while n and open_:
        per, extra = divmod(n, len(open_))
        for j, i in enumerate(open_):
            add = min(per + (j < extra), capacities[i] - counts[i])
            counts[i] += add
            n -= add
        open_ = [i for i in open_ if counts[i] < capacities[i]]
    if n:
        raise ValueError(f"{what}: its instruments have only {sum(capacities)} distinct "
                         "(pitch, velocity) notes; use a smaller clips_per_family")
    return counts


def _jobs(out_dir, rng, clips_per_family, soundfonts):
    """The render jobs (one per sound font, family and split) and {split: examples.json
    contents}, every note drawn from `rng` in a fixed order."""
    fonts = [(path, name, preset_keys(path)) for path, name in
             zip(soundfonts, _font_names(soundfonts))]
    counts = split_counts(clips_per_family)
    meta = {split: {} for split in SPLITS}
    jobs, note_ids = {}, itertools.count()
    for label, family in enumerate(FAMILIES):
        lo, hi = PITCH_RANGES[family]
        for split, programs in zip(SPLITS, PROGRAMS[family]):
            audio_dir = os.path.join(out_dir, SPLIT_DIRS[split], "audio")
            os.makedirs(audio_dir, exist_ok=True)
            instruments = [(f, path, name, program, np.flatnonzero(keys[program][lo:hi + 1]) + lo)
                           for f, (path, name, keys) in enumerate(fonts)
                           for program in programs if program in keys]
            instruments = [i for i in instruments if i[-1].size]
            if not instruments:
                raise RuntimeError(f"No sound font has an instrument of family {family} for "
                                   f"split {split} (GM programs {programs})")
            shares = _share(counts[split], [i[-1].size * len(VELOCITIES) for i in instruments],
                            f"{family}, {split}")
            for (f, path, name, program, pitches), share in zip(instruments, shares):
                instrument_str = f"{family}_{name}_{program:03d}"
                combos = rng.choice(pitches.size * len(VELOCITIES), size=share, replace=False)
                for combo in combos:
                    pitch = int(pitches[combo // len(VELOCITIES)])
                    velocity = VELOCITIES[combo % len(VELOCITIES)]
                    note_str = f"{instrument_str}-{pitch:03d}-{velocity:03d}"
                    meta[split][note_str] = dict(
                        note=next(note_ids), note_str=note_str,
                        instrument=128 * f + program, instrument_str=instrument_str,
                        instrument_family=label, instrument_family_str=family,
                        pitch=pitch, velocity=velocity, sample_rate=audio_io.SAMPLE_RATE,
                        program=program, soundfont=os.path.basename(path))
                    jobs.setdefault((path, family, split), []).append(
                        (program, pitch, velocity, os.path.join(audio_dir, f"{note_str}.wav")))
    return [dict(soundfont=key[0], notes=notes) for key, notes in jobs.items()], meta


def check_tools(soundfonts=None):
    """The sound fonts to render with (`soundfonts`, default `find_soundfonts()`).

    Raises:
      RuntimeError: fluidsynth or every sound font is missing (with the apt-get line).
    """
    if shutil.which("fluidsynth") is None:
        raise RuntimeError(_INSTALL)
    soundfonts = list(soundfonts) if soundfonts is not None else find_soundfonts()
    if not soundfonts:
        raise RuntimeError(_INSTALL_FONT.format(dirs=", ".join(SOUNDFONT_DIRS)))
    missing = [p for p in soundfonts if not os.path.isfile(p)]
    if missing:
        raise RuntimeError(f"Sound font file not found: {', '.join(map(str, missing))}")
    return soundfonts


def make(out_dir, seed=0, clips_per_family=CLIPS_PER_FAMILY, workers=2, log=None,
         soundfonts=None):
    """Writes the gm_notes set into `out_dir` (see the module docstring).

    Args:
      out_dir: folder to create or fill; existing files of the same names are replaced.
      seed: every random choice derives from it; same seed (and sound fonts), same files.
      clips_per_family: notes of each of the 11 families, over the three splits (at least
        3, so that every split has one).
      workers: fluidsynth processes rendering at once.
      log: called with a progress line after each tenth of the clips (None: silent).
      soundfonts: paths of the sound fonts whose GM instruments play (default: every one
        in SOUNDFONT_DIRS, `find_soundfonts`).

    Returns:
      The number of clips written.

    Raises:
      RuntimeError: fluidsynth or a sound font is not installed (the message gives the
        apt-get line), or an instrument played a note silent.
    """
    _check_clips_per_family(clips_per_family)
    soundfonts = check_tools(soundfonts)
    out_dir = os.fspath(out_dir)
    jobs, meta = _jobs(out_dir, np.random.default_rng(seed), clips_per_family, soundfonts)
    total, done, step = sum(map(len, meta.values())), 0, 0
    # Threads: the work is in the fluidsynth processes (and soundfile, which frees the GIL).
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for n in pool.map(_render, jobs):
            done += n
            if log and (done * 10 // total > step or done == total):
                step = done * 10 // total
                log(f"gm_notes: {done}/{total} clips rendered in {out_dir}")
    for split, notes in meta.items():  # last: `is_complete` looks for them
        with open(os.path.join(out_dir, SPLIT_DIRS[split], "examples.json"), "w") as f:
            json.dump(notes, f, indent=1, sort_keys=True)
    return total


def is_complete(root):
    """Whether `make` finished writing into `root` (it writes examples.json last)."""
    return all(os.path.exists(os.path.join(root, folder, "examples.json"))
               for folder in SPLIT_DIRS.values())


def _check_clips_per_family(clips_per_family):
    if clips_per_family < 3:  # one note each for train, validation and test
        raise ValueError("clips_per_family must be >= 3. Received: "
                         f"clips_per_family={clips_per_family}")
