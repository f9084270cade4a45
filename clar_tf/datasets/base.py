"""Shared TFDS machinery of the clar_tf audio builders: config, features, examples.

Every builder stores `{"audio": float32[clip_length], "label": ClassLabel}` with audio
already decoded, mixed to mono, resampled to 16 kHz and padded/clipped (paper §3.1) by
`audio_io`, so training reads ready tensors and never resamples per epoch.
Subclasses list `(key, path, label)` items per split in `_split_generators` and return
`{split: self._generate_examples(items, split)}`.
"""
import dataclasses
import inspect

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from clar_tf.audio import io as audio_io


@dataclasses.dataclass(eq=False)
class AudioConfig(tfds.core.BuilderConfig):
    """One prepared variant: label names (label i = class_names[i]) and clip length."""
    class_names: tuple = ()
    clip_length: int = audio_io.SAMPLE_RATE


def missing_layout(what, path, layout):
    """The FileNotFoundError for a manual_dir that lacks part of a published layout."""
    return FileNotFoundError(f"Expected {what} at {path}, which does not exist. The "
                             f"manual_dir must hold the published layout:\n{layout}")


class AudioBuilder(tfds.core.GeneratorBasedBuilder):
    """Base of the clar_tf builders (abstract: subclasses add configs and splits).

    Args (constructor, beyond TFDS's data_dir/config/version):
      skip_bad_files: skip unreadable, empty or truncated audio files (each is logged,
        and a summary per split is printed) instead of failing the preparation.
    """
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    HOMEPAGE = ""
    CITATION = ""

    def __init__(self, *, skip_bad_files=False, **kwargs):
        super().__init__(**kwargs)
        self._skip_bad_files = skip_bad_files
        self._original_state["skip_bad_files"] = skip_bad_files  # survives Beam pickling
        self._use_beam = False

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        """This module's file. TFDS 4.9.10 probes `importlib_resources` here, which it
        only installs for Python < 3.9 (tensorflow/datasets#11212); this is its own
        fallback."""
        return epath.Path(inspect.getfile(cls))

    def _label_feature(self):
        return tfds.features.ClassLabel(names=self.builder_config.class_names)

    def _info(self):
        config = self.builder_config
        features = tfds.features.FeaturesDict({
            "audio": tfds.features.Tensor(
                shape=(config.clip_length,), dtype=np.float32,
                doc=f"mono audio at {audio_io.SAMPLE_RATE} Hz, zero-padded or clipped"),
            "label": self._label_feature(),
        })
        return tfds.core.DatasetInfo(
            builder=self, description=config.description, features=features,
            supervised_keys=("audio", "label"), homepage=self.HOMEPAGE,
            citation=self.CITATION)

    def download_and_prepare(self, *, download_config=None, **kwargs):
        """TFDS preparation; uses Apache Beam when the download config names a runner
        or options (as `tfds build --beam_pipeline_options=...` does)."""
        self._use_beam = bool(download_config and (download_config.beam_runner or
                                                   download_config.beam_options))
        super().download_and_prepare(download_config=download_config, **kwargs)

    def _example(self, item):
        """[(key, example)] for one `(key, path, label)` item; [] for a skipped file."""
        key, path, label = item
        try:
            audio = audio_io.read_audio(path)
        except audio_io.AudioError as e:
            if not self._skip_bad_files:
                raise audio_io.AudioError(f"{e}. Pass skip_bad_files=True (prepare: "
                                          "--skip_bad_files) to skip such files.") from e
            logging.warning("Skipping bad audio file: %s", e)
            return []
        audio = audio_io.pad_or_clip(audio, self.builder_config.clip_length)
        return [(key, {"audio": audio, "label": label})]

    def _generate_examples(self, items, split):
        if self._use_beam:
            beam = tfds.core.lazy_imports.apache_beam
            return beam.Create(items) | beam.FlatMap(self._example)
        return self._generate_locally(items, split)

    def _generate_locally(self, items, split):
        skipped = []
        for item in items:
            examples = self._example(item)
            if not examples:
                skipped.append(str(item[1]))
            yield from examples
        if skipped:
            report(f"{self.builder_config.name} {split}: skipped {len(skipped)} bad "
                   f"audio file(s): {', '.join(skipped)}")


def report(message):
    """Tells the user what preparation left out: the log and stdout."""
    logging.warning(message)
    print(message)
