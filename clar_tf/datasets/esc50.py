"""ESC-50 (Piczak, 2015) from its GitHub repository: esc10, esc50.

Layout read from manual_dir (https://github.com/karolpiczak/ESC-50, cloned or its zip
extracted):

    meta/esc50.csv    columns filename, fold, target, category, esc10, src_file, take
    audio/<filename>  5 s, 44.1 kHz mono wav

Labels: esc50 = `target` (0..49); esc10 = the rows with esc10 == True, whose ten
targets are remapped to 0..9 in increasing target order (dog, rooster, rain, ...).
Splits (paper §3.3): `train` = folds 1-4, `test` = fold 5. Clips: 80000 samples (5 s).
"""
import csv
import os

from clar_tf.datasets import base, labels

LAYOUT = """\
  <manual_dir>/meta/esc50.csv
  <manual_dir>/audio/<fold>-<src_file>-<take>-<target>.wav"""
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
TEST_FOLD = 5


class ClarEsc50(base.AudioBuilder):
    """ESC environmental sounds, 50 classes or the 10-class ESC-10 subset."""
    BUILDER_CONFIGS = [
        base.AudioConfig(name="esc10", class_names=labels.ESC10_CATEGORIES,
                         clip_length=80000, description="ESC-10 subset of ESC-50."),
        base.AudioConfig(name="esc50", class_names=labels.ESC50_CATEGORIES,
                         clip_length=80000, description="ESC-50, all 50 classes."),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Download https://github.com/karoldvl/ESC-50/archive/master.zip and extract it; pass the
ESC-50-master folder as manual_dir. Expected layout:
{LAYOUT}"""
    HOMEPAGE = "https://github.com/karolpiczak/ESC-50"
    CITATION = """@inproceedings{piczak2015dataset, title={{ESC}: Dataset for Environmental
Sound Classification}, author={Piczak, Karol J.}, booktitle={ACM Multimedia},
year={2015}}"""

    def split_items(self, root):
        meta_path = os.path.join(root, "meta", "esc50.csv")
        if not os.path.isfile(meta_path):
            raise base.missing_layout("the ESC-50 metadata", meta_path, LAYOUT)
        with open(meta_path, newline="") as f:
            reader = csv.DictReader(f)
            missing = set(COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{meta_path} lacks columns {sorted(missing)}; expected "
                                 f"{', '.join(COLUMNS)}")
            rows = list(reader)
        esc10 = self.builder_config.name == "esc10"
        items = {"train": [], "test": []}
        for row in rows:
            target = int(row["target"])
            if labels.ESC50_CATEGORIES[target] != row["category"]:
                raise ValueError(f"{meta_path}: {row['filename']} has target {target} but "
                                 f"category '{row['category']}', expected "
                                 f"'{labels.ESC50_CATEGORIES[target]}'")
            label = target
            if esc10:
                if row["esc10"] != "True":
                    continue
                if target not in labels.ESC10_TARGETS:
                    raise ValueError(f"{meta_path}: {row['filename']} is marked esc10 but "
                                     f"has target {target}, not one of the ESC-10 targets "
                                     f"{labels.ESC10_TARGETS}")
                label = labels.ESC10_TARGETS.index(target)
            split = "test" if int(row["fold"]) == TEST_FOLD else "train"
            items[split].append((row["filename"],
                                 os.path.join(root, "audio", row["filename"]), label))
        return {split: sorted(split_items) for split, split_items in items.items()}
