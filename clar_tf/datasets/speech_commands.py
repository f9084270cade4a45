"""Speech Commands v0.02 (Warden, 2018) from its extracted archive: sc10, sc35, spoken_digits.

Layout read from manual_dir (the archive `speech_commands_v0.02.tar.gz`, extracted):

    <word>/<speaker>_nohash_<n>.wav      one folder per word
    validation_list.txt, testing_list.txt    "<word>/<file>.wav" per line
    _background_noise_/                  noise recordings: not a class, ignored

Splits: `validation` and `test` are the listed files, `train` every other .wav file of a
class folder. Other files in word folders are ignored and listed at preparation (hidden
ones silently); a word folder without .wav files is an error. Classes are the sorted
word names: sc10 the digits zero..nine, sc35 all 35 words. `spoken_digits` is the
offline stand-in for sc10 written by `clar_tf.demo_data` in this same layout; it is its
own config so it never overwrites a real sc10.
Clips: 16000 samples (1 s at 16 kHz).
"""
import os

from clar_tf.datasets import base, labels

LAYOUT = """\
  <manual_dir>/<word>/<speaker>_nohash_<n>.wav   (one folder per word)
  <manual_dir>/validation_list.txt
  <manual_dir>/testing_list.txt
  <manual_dir>/_background_noise_/               (ignored)"""


def _read_list(root, name):
    path = os.path.join(root, name)
    if not os.path.isfile(path):
        raise base.missing_layout(f"the Speech Commands split list {name}", path, LAYOUT)
    with open(path) as f:
        return {line.strip() for line in f if line.strip()}


class ClarSpeechCommands(base.AudioBuilder):
    """Speech Commands keyword spotting, 10 digits or 35 words, plus spoken_digits."""
    BUILDER_CONFIGS = [
        base.AudioConfig(name="sc10", class_names=labels.SC10_WORDS,
                         description="Speech Commands v0.02, the ten digit words."),
        base.AudioConfig(name="sc35", class_names=labels.SC35_WORDS,
                         description="Speech Commands v0.02, all 35 words."),
        base.AudioConfig(name="spoken_digits", class_names=labels.SC10_WORDS,
                         description="Offline espeak-ng digits from clar_tf.demo_data."),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
sc10/sc35: download http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz and
extract it into manual_dir. spoken_digits: run
`clar-demo-data --out=<manual_dir>` (`clar-train` and `clar-prepare` do this for you
when manual_dir lacks the layout). Expected layout:
{LAYOUT}"""
    HOMEPAGE = "https://arxiv.org/abs/1804.03209"
    CITATION = """@article{warden2018speech, title={Speech Commands: A Dataset for
Limited-Vocabulary Speech Recognition}, author={Warden, Pete}, journal={arXiv preprint
arXiv:1804.03209}, year={2018}}"""

    def split_items(self, root):
        held_out = {"validation": _read_list(root, "validation_list.txt"),
                    "test": _read_list(root, "testing_list.txt")}
        items = {"train": [], "validation": [], "test": []}
        ignored = []
        for label, word in enumerate(self.builder_config.class_names):
            folder = os.path.join(root, word)
            if not os.path.isdir(folder):
                raise base.missing_layout(f"the word folder '{word}'", folder, LAYOUT)
            names = [n for n in sorted(os.listdir(folder)) if not n.startswith(".")]
            ignored += [os.path.join(folder, n) for n in names if not n.endswith(".wav")]
            wavs = [n for n in names if n.endswith(".wav")]
            if not wavs:
                raise ValueError(f"The word folder {folder!r} holds no .wav files; every "
                                 "class needs clips")
            for name in wavs:
                key = f"{word}/{name}"
                split = next((s for s, listed in held_out.items() if key in listed), "train")
                items[split].append((key, os.path.join(folder, name), label))
        if ignored:
            base.report(f"{self.builder_config.name}: ignored {len(ignored)} file(s) that "
                        f"are not .wav (the layout is .wav only): {', '.join(ignored)}")
        return items
