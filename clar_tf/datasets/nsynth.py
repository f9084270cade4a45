"""NSynth (Engel et al., 2017) from its extracted json/wav archives: nsynth11, nsynth128;
and gm_notes, its offline stand-in.

Layout read from manual_dir (the three `nsynth-{train,valid,test}.jsonwav.tar.gz`
archives, extracted side by side):

    nsynth-train/examples.json    {note_str: {"instrument_family": int, "pitch": int, ...}}
    nsynth-train/audio/<note_str>.wav
    nsynth-valid/...              same, split `validation`
    nsynth-test/...               same, split `test`

Labels: nsynth11 = `instrument_family` (0..10, bass..vocal), nsynth128 = `pitch`
(MIDI 0..127). Clips: 64000 samples (4 s at 16 kHz). `gm_notes` is the offline stand-in
for nsynth11 written by `clar_tf.demo_music` (General MIDI instruments played by
fluidsynth, instrument-disjoint splits) in this same layout, labeled like nsynth11; it
is its own config so it never overwrites a real nsynth11, and its clips are 16000
samples (1 s; a stated deviation from NSynth's 4 s, to keep CPU costs low).
"""
import json
import os

from clar_tf.datasets import base, labels

LAYOUT = """\
  <manual_dir>/nsynth-{train,valid,test}/examples.json
  <manual_dir>/nsynth-{train,valid,test}/audio/<note_str>.wav"""
SPLIT_DIRS = {"train": "nsynth-train", "validation": "nsynth-valid", "test": "nsynth-test"}


class ClarNsynth(base.AudioBuilder):
    """NSynth musical notes labeled by instrument family or by pitch."""
    BUILDER_CONFIGS = [
        base.AudioConfig(name="nsynth11", class_names=labels.NSYNTH_FAMILIES,
                         clip_length=64000, description="NSynth, instrument family."),
        base.AudioConfig(name="nsynth128", class_names=labels.NSYNTH_PITCHES,
                         clip_length=64000, description="NSynth, MIDI pitch."),
        base.AudioConfig(name="gm_notes", class_names=labels.NSYNTH_FAMILIES,
                         clip_length=16000,
                         description="Offline fluidsynth notes from clar_tf.demo_music, "
                                     "instrument family; 1 s clips."),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
nsynth11/nsynth128: download nsynth-train.jsonwav.tar.gz, nsynth-valid.jsonwav.tar.gz
and nsynth-test.jsonwav.tar.gz from https://magenta.tensorflow.org/datasets/nsynth and
extract all three into manual_dir. gm_notes: run
`clar-demo-data --dataset=gm_notes --out=<manual_dir>` (`clar-train` and `clar-prepare`
do this for you when manual_dir lacks the layout). Expected layout:
{LAYOUT}"""
    HOMEPAGE = "https://magenta.tensorflow.org/datasets/nsynth"
    CITATION = """@inproceedings{engel2017neural, title={Neural Audio Synthesis of Musical
Notes with WaveNet Autoencoders}, author={Engel, Jesse and others}, booktitle={ICML},
year={2017}}"""

    def split_items(self, root):
        field = {"nsynth11": "instrument_family", "nsynth128": "pitch",
                 "gm_notes": "instrument_family"}[self.builder_config.name]
        num_classes = len(self.builder_config.class_names)
        result = {}
        for split, folder in SPLIT_DIRS.items():
            meta_path = os.path.join(root, folder, "examples.json")
            if not os.path.isfile(meta_path):
                raise base.missing_layout(f"the NSynth metadata of split {split}",
                                          meta_path, LAYOUT)
            with open(meta_path) as f:
                notes = json.load(f)
            items = []
            for note_str in sorted(notes):
                label = int(notes[note_str][field])
                if not 0 <= label < num_classes:
                    raise ValueError(f"{meta_path}: {note_str} has {field}={label}, "
                                     f"outside 0..{num_classes - 1}")
                items.append((note_str, os.path.join(root, folder, "audio",
                                                     f"{note_str}.wav"), label))
            result[split] = items
        return result
