"""Shared TFDS machinery of the clar_tf audio builders: config, features, examples.

Every builder stores `{"audio": int16[clip_length], "label": ClassLabel}` with audio
already decoded, mixed to mono, resampled to 16 kHz and padded/clipped (paper §3.1) by
`audio_io`, so training reads ready tensors and never resamples per epoch.
Subclasses list `(key, path, label)` items per split in `split_items(manual_dir)`
(`{split: [item]}`), which TFDS's preparation and `clar_tf.datasets.source_items` (the
TFX AudioExampleGen's file list) share; `example(item)` decodes one.

Storage (version 2.0.0): the float32 waveform x from `audio_io` is stored as 16-bit PCM,
q = clip(rint(x * 32768), -32768, 32767), as raw bytes (TFDS's `Encoding.BYTES`: 2
bytes a sample, half of float32); `float_decoders()` turns it back into float32
q / 32768 in [-1, 1) when read. 32768 is libsndfile's scale for 16-bit PCM, so a 16-bit source at 16 kHz
(Speech Commands, NSynth) comes back bit-exactly as `audio_io` decoded it; resampled or
mixed audio is quantised after resampling, an error of at most 2**-16. Samples outside
[-1, 1] (float sources, resampling overshoot) saturate, and each such file is logged and
listed per split. Version 1.0.0 stored float32 (4 bytes a sample): it is still read
(`version="1.0.0"`) and prepared with `storage="float32"`.
"""
import dataclasses
import functools
import inspect
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from clar_tf.audio import io as audio_io


PCM16_SCALE = 32768.0
# Storage of each builder version: what `audio` holds on disk.
VERSION_STORAGE = {"1.0.0": "float32", "2.0.0": "int16"}
STORAGE_VERSION = {storage: version for version, storage in VERSION_STORAGE.items()}


def to_pcm16(x):
    """Quantises float audio `[n]` to int16 PCM: clip(rint(x * 32768), -32768, 32767).

    Returns `(q, out_of_range)`: the int16 array `[n]` and how many samples of `x` lay
    outside [-1, 1] and were clipped (values in [32767.5, 32768] / 32768 round to 32767,
    within one step, and do not count).
    """
    x = np.asarray(x, dtype=np.float32)
    out_of_range = int(np.count_nonzero(np.abs(x) > 1.0))
    q = np.clip(np.rint(x * np.float32(PCM16_SCALE)), -32768, 32767).astype(np.int16)
    return q, out_of_range


def from_pcm16(q):
    """int16 PCM tensor → float32 q / 32768 in [-1, 1) (exact: a power-of-two scale)."""
    return tf.cast(q, tf.float32) * (1.0 / PCM16_SCALE)


@tfds.decode.make_decoder(output_dtype=tf.float32)
def _pcm16_decoder(serialized, feature):
    return from_pcm16(feature.decode_example(serialized))


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
      storage: "int16" (version 2.0.0, the default) or "float32" (version 1.0.0, the
        storage before 2.0.0, twice the disk): the version this builder prepares. Either
        version can be read with `version=`; `float_decoders()` gives float32 audio.
    """
    VERSION = tfds.core.Version(STORAGE_VERSION["int16"])
    SUPPORTED_VERSIONS = [tfds.core.Version(STORAGE_VERSION["float32"])]
    RELEASE_NOTES = {
        "1.0.0": "Initial release: audio stored as float32.",
        "2.0.0": "Audio stored as int16 PCM bytes, clip(rint(x * 32768)), half the disk "
                 "of 1.0.0; clar_tf.datasets.load decodes it to float32 q / 32768. "
                 "Prepare again (or keep reading 1.0.0, which load still does).",
    }
    HOMEPAGE = ""
    CITATION = ""

    def __init__(self, *, skip_bad_files=False, storage="int16", **kwargs):
        if storage not in STORAGE_VERSION:
            raise ValueError(f"storage must be one of {', '.join(STORAGE_VERSION)}. "
                             f"Received: storage={storage!r}")
        self._storage = storage  # read by canonical_version inside TFDS's __init__
        super().__init__(**kwargs)
        self._skip_bad_files = skip_bad_files
        self._init_kwargs = dict(kwargs, skip_bad_files=skip_bad_files, storage=storage)

    # Beam pickles the builder into its workers: it is rebuilt from its arguments, ours
    # included (TFDS's own pickling keeps only data_dir, config and version).
    def __getstate__(self):
        return {"init_kwargs": self._init_kwargs}

    def __setstate__(self, state):
        self.__init__(**state["init_kwargs"])
        self._use_beam = False

    @functools.cached_property
    def canonical_version(self):
        """The version `storage` prepares (TFDS prepares only its canonical version)."""
        return tfds.core.Version(STORAGE_VERSION[self._storage])

    @property
    def storage(self):
        """What this builder's version stores: "int16" or "float32"."""
        return VERSION_STORAGE[str(self.version)]

    def float_decoders(self):
        """`as_dataset(decoders=...)` that give float32 audio in [-1, 1); None when the
        stored audio is already float32."""
        return {"audio": _pcm16_decoder()} if self.storage == "int16" else None

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
        doc = f"mono audio at {audio_io.SAMPLE_RATE} Hz, zero-padded or clipped"
        if self.storage == "int16":
            audio = tfds.features.Tensor(
                shape=(config.clip_length,), dtype=np.int16,
                encoding=tfds.features.Encoding.BYTES,
                doc=f"{doc}; 16-bit PCM, float = value / {PCM16_SCALE:.0f}")
        else:
            audio = tfds.features.Tensor(shape=(config.clip_length,), dtype=np.float32,
                                         doc=doc)
        features = tfds.features.FeaturesDict({
            "audio": audio,
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

    def _read(self, item):
        """`([(key, example)], clipped)` for one `(key, path, label)` item: no example
        for a skipped file; `clipped` whether int16 storage clipped its samples."""
        key, path, label = item
        try:
            audio = audio_io.read_audio(path)
        except audio_io.AudioError as e:
            if not self._skip_bad_files:
                raise audio_io.AudioError(f"{e}. Pass skip_bad_files=True (prepare: "
                                          "--skip_bad_files) to skip such files.") from e
            logging.warning("Skipping bad audio file: %s", e)
            return [], False
        audio = audio_io.pad_or_clip(audio, self.builder_config.clip_length)
        clipped = 0
        if self.storage == "int16":
            pcm, clipped = to_pcm16(audio)
            if clipped:
                logging.warning("Clipped %d samples of %s to [-1, 1] for int16 storage "
                                "(peak %.4f after decoding and resampling)", clipped,
                                path, float(np.max(np.abs(audio))))
            audio = pcm
        return [(key, {"audio": audio, "label": label})], bool(clipped)

    def example(self, item):
        """[(key, example)] for one `(key, path, label)` item, [] for a skipped bad file
        (Beam workers: clipping is only logged)."""
        return self._read(item)[0]

    def split_items(self, manual_dir):
        """{split: [(key, path, label)]} of the published layout in `manual_dir`."""
        raise NotImplementedError

    def _split_generators(self, dl_manager):
        manual_dir = self._manual_dir(dl_manager)
        return {split: self._generate_examples(items, split)
                for split, items in self.split_items(manual_dir).items()}

    @staticmethod
    def _manual_dir(dl_manager):
        try:
            return os.fspath(dl_manager.manual_dir)
        except AssertionError:  # TFDS: no manual_dir given (the folder dataset's case)
            return None

    def _generate_examples(self, items, split):
        if self._use_beam:
            beam = tfds.core.lazy_imports.apache_beam
            return beam.Create(items) | beam.FlatMap(self.example)
        return self._generate_locally(items, split)

    def _generate_locally(self, items, split):
        skipped, clipped = [], []
        for item in items:
            examples, was_clipped = self._read(item)
            if not examples:
                skipped.append(str(item[1]))
            if was_clipped:
                clipped.append(str(item[1]))
            yield from examples
        name = f"{self.builder_config.name} {split}"
        if skipped:
            report(f"{name}: skipped {len(skipped)} bad audio file(s): {', '.join(skipped)}")
        if clipped:
            report(f"{name}: clipped {len(clipped)} file(s) with samples outside [-1, 1] "
                   f"to int16 full scale: {', '.join(clipped)}")


def report(message):
    """Tells the user what preparation left out: the log and stdout."""
    logging.warning(message)
    print(message)
