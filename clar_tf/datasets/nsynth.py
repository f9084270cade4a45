"""NSynth (Engel et al., 2017) from its extracted json/wav archives: nsynth11, nsynth128.

Layout read from manual_dir (the three `nsynth-{train,valid,test}.jsonwav.tar.gz`
archives, extracted side by side):

    nsynth-train/examples.json    {note_str: {"instrument_family": int, "pitch": int, ...}}
    nsynth-train/audio/<note_str>.wav
    nsynth-valid/...              same, split `validation`
    nsynth-test/...               same, split `test`

Labels: nsynth11 = `instrument_family` (0..10, bass..vocal), nsynth128 = `pitch`
(MIDI 0..127). Clips: 64000 samples (4 s at 16 kHz).
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
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Download nsynth-train.jsonwav.tar.gz, nsynth-valid.jsonwav.tar.gz and
nsynth-test.jsonwav.tar.gz from https://magenta.tensorflow.org/datasets/nsynth and
extract all three into manual_dir. Expected layout:
{LAYOUT}"""
    HOMEPAGE = "https://magenta.tensorflow.org/datasets/nsynth"
    CITATION = """@inproceedings{engel2017neural, title={Neural Audio Synthesis of Musical
Notes with WaveNet Autoencoders}, author={Engel, Jesse and others}, booktitle={ICML},
year={2017}}"""

    def split_items(self, root):
        field = {"nsynth11": "instrument_family", "nsynth128": "pitch"}[
            self.builder_config.name]
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
