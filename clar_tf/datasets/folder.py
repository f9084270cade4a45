"""Your own audio: a folder of class folders, or (unlabeled) any folder of audio files.

    <path>/<class>/**/<file>    labeled: classes = sorted class folder names
    <path>/**/<file>            unlabeled=True: every label is -1

Files are found recursively; every extension soundfile decodes counts (wav, flac, ogg,
mp3, aiff, ...); hidden files and folders are skipped. All clips are resampled to 16 kHz
and padded/clipped to the given `clip_length`. There is one split, `train`. A class
folder without audio files, or whose name is blank or holds a control character
(newline, tab, ...), is refused.

Symlinks (to files or folders) are followed while they stay inside `--manual_dir` (its
real path), so a folder whose clips are links into itself (a git-annex or DataLad
dataset, links into a hidden store) is read as the files they reach, and `--manual_dir`
may itself be a symlink.
Every file is read once, under one label, and nothing outside `--manual_dir` is read:
  * a symlink whose target lies outside `--manual_dir` is refused, naming the link and
    its target (copy the data in instead of linking to it);
  * a file or folder reached twice (`loop -> .`, `up -> ..` inside a class folder, two
    class folders or two files that are one, hard links included) is refused, naming
    both paths.
Refused means an error before any example is written, never a silent skip.

The prepared name is `<folder name>_<hash>`, the hash covering the absolute path, the
clip length, `unlabeled` and the class names, so two folders (or two clip lengths) never
share a preparation. Files added later inside existing class folders are not seen:
delete `<data_dir>/clar_folder/<name>` to prepare again.
"""
import dataclasses
import hashlib
import json
import os
import re
import unicodedata

import numpy as np
import tensorflow_datasets as tfds

from clar_tf import checks
from clar_tf.audio import io as audio_io
from clar_tf.datasets import base

@dataclasses.dataclass(eq=False)
class FolderConfig(base.AudioConfig):
    """A user folder as a dataset: its absolute path and whether it has labels."""
    path: str = ""
    unlabeled: bool = False


def make_config(path, clip_length, unlabeled=False):
    """The FolderConfig of `path` with clips of `clip_length` samples at 16 kHz."""
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise ValueError(f"The folder dataset needs an existing folder. Received: "
                         f"manual_dir={path}")
    if clip_length is None:
        raise ValueError("The folder dataset needs a positive --clip_length (samples at "
                         f"16 kHz). Received: clip_length={clip_length}")
    checks.check_clip_length(clip_length, allow_none=False)
    class_names = () if unlabeled else tuple(sorted(
        d for d in os.listdir(path)
        if os.path.isdir(os.path.join(path, d)) and not d.startswith(".")))
    if not unlabeled and not class_names:
        raise ValueError(f"{path} holds no class folders (<class>/<file>); pass "
                         "unlabeled=True (--unlabeled) to read its files without labels")
    for name in class_names:
        _check_class_name(name, os.path.join(path, name))
    # Class folders that are symlinks out of `path` or onto each other: refused here,
    # before a builder exists (`list_audio` checks everything below them).
    real, seen = os.path.realpath(path), {}
    for folder in [path] + [os.path.join(path, name) for name in class_names]:
        _identify(folder, real, seen, "folder")
    identity = json.dumps([path, int(clip_length), unlabeled, class_names])
    digest = hashlib.sha1(identity.encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "_", os.path.basename(path).lower()).strip("_")[:40]
    return FolderConfig(name=f"{slug or 'folder'}_{digest}", class_names=class_names,
                        clip_length=int(clip_length), path=path, unlabeled=unlabeled,
                        description=f"Audio files under {path}.")


def _check_class_name(name, folder):
    """Refuses a class folder name that would be an unreadable or ambiguous label."""
    if not name.strip() or any(unicodedata.category(c).startswith("C") for c in name):
        raise ValueError("Class folder names become label names and must hold visible "
                         "characters and no control characters (newline, tab, ...); "
                         f"rename the folder. Received: {folder!r}")


def _identify(path, root, seen, kind):
    """Records the file or folder `path` in `seen` ({identity: path}); refuses it when
    it leads outside the real folder `root` or was reached before (same device and
    inode, or same real path for a broken symlink)."""
    real = os.path.realpath(path)
    if os.path.commonpath([real, root]) != root:
        raise ValueError(f"The symlink {path!r} leads outside --manual_dir ({root}), to "
                         f"{real!r}; the folder dataset reads only what lies inside "
                         "--manual_dir: copy that data into it instead of linking to it")
    try:
        stat = os.stat(path)
        identity = (stat.st_dev, stat.st_ino)
    except OSError:  # a broken symlink: reading it fails as a bad audio file
        identity = real
    if identity in seen:
        raise ValueError(f"{path!r} and {seen[identity]!r} are the same {kind} (through a "
                         "symlink or hard link); the folder dataset reads every file once, "
                         "under one label: remove one of them")
    seen[identity] = path


def list_audio(path, folders):
    """[sorted audio files under each of `folders`] inside the manual_dir `path`,
    following symlinks that stay inside it; raises ValueError for one that leads
    outside, or for a file or folder reached twice (see the module docstring)."""
    root = os.path.realpath(path)
    seen = {}
    _identify(path, root, seen, "folder")
    listed = []
    for top in folders:
        if top != path:
            _identify(top, root, seen, "folder")
        found = []
        for parent, dirs, files in os.walk(top, followlinks=True):
            dirs[:] = [d for d in sorted(dirs) if not d.startswith(".")]
            for d in dirs:  # every folder is checked before os.walk enters it
                _identify(os.path.join(parent, d), root, seen, "folder")
            for f in sorted(files):
                if audio_io.is_audio_name(f):
                    found.append(os.path.join(parent, f))
                    _identify(found[-1], root, seen, "file")
        listed.append(sorted(found))
    return listed


class ClarFolder(base.AudioBuilder):
    """Audio files from a local folder; build with `config=make_config(...)`."""
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Pass the folder itself: make_config(path, clip_length)."

    def _label_feature(self):
        if self.builder_config.unlabeled:
            return tfds.features.Scalar(dtype=np.int64, doc="-1: unlabeled")
        return super()._label_feature()

    def split_items(self, root=None):
        """{"train": items} of the config's folder (`root` is ignored: the folder is part
        of the config)."""
        root = self.builder_config.path
        if self.builder_config.unlabeled:
            groups = [(root, -1)]
        else:
            groups = [(os.path.join(root, name), label)
                      for label, name in enumerate(self.builder_config.class_names)]
        files = list_audio(root, [folder for folder, _ in groups])
        if not any(files):
            raise FileNotFoundError(f"No audio files under {root} (looked for "
                                    f"{', '.join(sorted(audio_io.AUDIO_EXTENSIONS))})")
        for (folder, _), paths in zip(groups, files):
            if not paths:
                raise ValueError(f"The class folder {folder!r} holds no audio files; "
                                 "every class needs clips")
        items = [(os.path.relpath(path, root).replace(os.sep, "/"), path, label)
                 for (_, label), paths in zip(groups, files) for path in paths]
        return {"train": items}
