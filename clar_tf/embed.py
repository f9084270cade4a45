"""Embeddings of your own audio with a trained or exported CLAR model.

    python -m clar_tf.embed --model=runs/sc10 --out=embeddings [--hop_ms=500] \\
        [--skip_bad_files] recordings/ extra/take1.flac

reads every file soundfile decodes (folders recursively; stereo mixed to mono and
resampled to the model's rate by `clar_tf.audio.io`) and writes one
`<out>/<name>.npz` per file, where `<name>` is the file's path below the deepest folder
that holds every input given (each folder given with its own name, each file given
directly with the folders between): one folder gives `recordings/a/b.wav` →
`<out>/recordings/a/b.wav.npz`, one file its name (`<out>/take1.flac.npz`), and inputs
from several folders keep those folders apart (`yes/0a7c_0.wav no/0a7c_0.wav` →
`<out>/yes/0a7c_0.wav.npz`, `<out>/no/0a7c_0.wav.npz`; the example above writes
`<out>/recordings/…` and `<out>/extra/take1.flac.npz`); the original extension is kept.
Only the same file given twice (directly, or also inside a folder given) is refused.
Each `.npz` holds

    embedding   float32 [D]     the clip embedding
    frames      float32 [T, D]  one embedding per window
    timestamps  float32 [T]     window centres, seconds from the file's start

An unreadable file stops the run with an error naming it (exit status 1). With
`--skip_bad_files` the run goes on, lists the skipped files at the end, and still exits
with status 1, so scripts see that something is missing; 0 means every file was
embedded.

Windows (`embed`): the encoder sees clips of exactly `clip_length` samples, as in
training. Audio is cut into windows of `clip_length` starting at 0, hop, 2·hop, ...
(default hop: clip_length / 2), as many as needed to reach its end; the last window, or
the only one of audio shorter than a clip, is zero-padded on the right, exactly as
training padded short clips (paper §3.1). Frame t is the embedding of window t, its
timestamp the window's centre, and the clip embedding the mean of the frames — for
audio of at most one clip, simply the encoder's embedding of the padded clip.

From Python:

    model = embed.load("runs/sc10")             # or an export dir from clar_tf.export
    clip, frames, seconds = embed.embed(audio, 44100, model)

An export's sample rate, clip length and embedding size come from its metadata file
(`export.METADATA_FILE`), read without running any of its graph. The graph's own
`metadata` signature answers the same values; the file is checked against it before the
first embedding (the first call of the `Embedder`, which runs the graph anyway), not at
`load`: a file that says otherwise (edited, or copied from another export) is refused
with a ValueError naming the file and each field that differs, before any embedding is
returned or written. `Embedder.verify()` runs that check at once.
"""
import dataclasses
import json
import os
import sys
import time
from typing import Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from clar_tf import checks, cli, export, run_dir, serving
from clar_tf.audio import io as audio_io
from clar_tf.models import loading

BATCH_SIZE = 64


class Embedder:
    """A loaded model: `embedder(windows)` maps float32 [B, clip_length] to [B, D].

    Attributes:
      sample_rate: Hz the model expects (audio is resampled to it).
      clip_length: samples per window, the trained clip length.
      embedding_size: D.
      batch_size: windows per forward pass in `embed_windows`.
      source: the folder it was loaded from.

    `verify`, if given, is called (without arguments) before the first embedding and
    raises if the attributes above are wrong for `fn` (`load` passes the check of an
    export's metadata file against its graph); it runs again until it passes once.
    """

    def __init__(self, fn, sample_rate, clip_length, embedding_size, source,
                 batch_size=BATCH_SIZE, verify=None):
        self._fn = fn
        self.sample_rate = int(sample_rate)
        self.clip_length = int(clip_length)
        self.embedding_size = int(embedding_size)
        self.source = source
        self.batch_size = int(batch_size)
        self._verify = verify

    def verify(self):
        """Runs the check given as `verify` now (once it has passed, never again).

        Raises:
          ValueError: an export's metadata file disagrees with its graph (see the module
            docstring).
        """
        if self._verify is not None:
            self._verify()
            self._verify = None

    def __call__(self, windows):
        """float32 [B, D] embeddings of `windows` [B, clip_length] (B may be 0).

        Raises:
          ValueError: a window holds NaN or inf, or its samples are so large (beyond
            about 1e17; the model was trained on [-1, 1]) that the embedding is not
            finite; the first call: `verify()` fails.
        """
        self.verify()  # before the shape check: it uses the clip_length under test
        windows = np.asarray(windows, np.float32)
        if windows.ndim != 2 or windows.shape[1] != self.clip_length:
            raise ValueError(f"Expected windows of shape [B, {self.clip_length}]. "
                             f"Received: shape={windows.shape}")
        if not np.all(np.isfinite(windows)):
            raise ValueError("audio must hold finite samples; it holds NaN or inf")
        if not len(windows):
            return np.zeros((0, self.embedding_size), np.float32)
        try:
            out = np.asarray(self._fn(tf.constant(windows)), np.float32)
        except tf.errors.InvalidArgumentError as e:  # an export's own check, as below
            if serving.OVERFLOW not in e.message:
                raise
            out = None
        if out is None or not np.all(np.isfinite(out)):
            raise ValueError("audio samples too large: the embedding is not finite "
                             "(samples are expected in [-1, 1]; received a peak of "
                             f"{np.abs(windows).max():.3g})")
        return out

    def __repr__(self):
        return (f"Embedder(source={self.source!r}, sample_rate={self.sample_rate}, "
                f"clip_length={self.clip_length}, embedding_size={self.embedding_size})")


def _saved_model_dir(path):
    """`path` if it is a SavedModel, else its newest integer version folder, else None."""
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        return path
    names = [d.rstrip("/") for d in tf.io.gfile.listdir(path)]
    versions = sorted((int(d) for d in names if d.isdigit()
                       and tf.io.gfile.exists(os.path.join(path, d, "saved_model.pb"))),
                      reverse=True)
    return os.path.join(path, str(versions[0])) if versions else None


def load(path, batch_size=BATCH_SIZE):
    """Loads a model for embedding; returns an `Embedder`.

    Args:
      path: a finished training run's `model_dir` (reads `encoder.keras`; its frontend
        settings are inside it), or a `clar_tf.export` SavedModel: a version folder, or
        the export folder holding versions (the newest is used; sample rate and clip
        length come from its metadata file, `export.METADATA_FILE`).
      batch_size: windows per forward pass.

    Loading runs no code from the folder: `encoder.keras` is loaded in Keras' safe mode
    (a Lambda layer is refused), and a SavedModel's graph runs only when audio is
    embedded (a SavedModel is a program: embed with those you trust). The first
    embedding first runs the export's `metadata` signature and refuses a metadata file
    that disagrees with it (module docstring; `Embedder.verify()` to check at once).
    """
    if not tf.io.gfile.isdir(path):
        raise ValueError(f"Model path must be a folder. Received: path={path}")
    encoder_path = run_dir.path(path, run_dir.ENCODER)
    if (tf.io.gfile.exists(encoder_path)
            and tf.io.gfile.exists(run_dir.path(path, run_dir.CONFIG))):
        encoder = loading.load_model(encoder_path)
        clip_length = int(encoder.inputs[0].shape[1])
        fn = tf.function(lambda x: tf.cast(encoder(x, training=False), tf.float32),
                         input_signature=[tf.TensorSpec([None, clip_length], tf.float32)])
        return Embedder(fn, audio_io.SAMPLE_RATE, clip_length, encoder.outputs[0].shape[-1],
                        path, batch_size)
    saved = _saved_model_dir(path)
    if saved is None:
        raise ValueError(f"{path} is neither a clar_tf run (config.json + encoder.keras) "
                         "nor a clar_tf.export SavedModel (saved_model.pb, or version "
                         "folders holding one)")
    meta_path = os.path.join(saved, export.METADATA_FILE)
    if not tf.io.gfile.exists(meta_path):
        raise ValueError(f"{saved} is a SavedModel without {export.METADATA_FILE}: not "
                         "written by clar_tf.export (or by an older one: export the run "
                         "again)")
    try:
        meta = json.loads(run_dir.read_text(meta_path))
    except ValueError as e:
        raise ValueError(f"{meta_path} is not JSON ({e}): damaged, or not written by "
                         "clar_tf.export") from None
    keys = ("sample_rate", "clip_length", "embedding_size")
    try:
        sizes = [int(meta[k]) for k in keys]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{meta_path} lacks the integer sample_rate, clip_length and "
                         "embedding_size of clar_tf.export") from None
    for key, size in zip(keys, sizes):
        if size < 1:
            raise ValueError(f"{meta_path} holds an invalid {key}: it must be a positive "
                             f"integer. Received: {key}={meta[key]!r}")
    if sizes[1] > checks.MAX_CLIP_LENGTH:  # before any clip is padded to it
        raise ValueError(f"{meta_path} holds an invalid clip_length: at most "
                         f"{checks.MAX_CLIP_LENGTH} (10 minutes). Received: "
                         f"clip_length={meta['clip_length']!r}")
    try:
        loaded = tf.saved_model.load(saved)
    except (OSError, ValueError, tf.errors.OpError) as e:
        raise ValueError(f"{os.path.join(saved, 'saved_model.pb')} is not a readable "
                         f"SavedModel (damaged or truncated?): {run_dir.reason(e)}") from None
    for name in ("serving_default", "metadata"):
        if name not in loaded.signatures:
            raise ValueError(f"{saved} is a SavedModel without a {name} signature: not "
                             "written by clar_tf.export")
    meta.update(zip(keys, sizes))

    def verify():  # runs the graph: only when embedding (see the module docstring)
        _check_metadata(meta_path, meta, _graph_metadata(saved, loaded))

    # The closures hold `loaded`, which owns the signature's variables.
    return Embedder(lambda x: loaded.signatures["serving_default"](audio=x)["embedding"],
                    *sizes, saved, batch_size, verify=verify)


# The fields of an export's metadata file that its `metadata` signature also answers.
_GRAPH_FIELDS = ("sample_rate", "clip_length", "embedding_size", "frame_hop", "labels")


def _graph_metadata(saved, loaded):
    """The values of the `metadata` signature of the SavedModel `loaded` (from the folder
    `saved`) as JSON-like Python values: ints, and a list of str for `labels`."""
    try:
        out = loaded.signatures["metadata"]()
        return {k: ([x.decode() for x in v.numpy().tolist()] if v.dtype == tf.string
                    else v.numpy().tolist())
                for k, v in out.items() if k in _GRAPH_FIELDS}
    except (TypeError, ValueError, AttributeError, tf.errors.OpError) as e:
        raise ValueError(f"{saved}'s metadata signature cannot be run to check "
                         f"{export.METADATA_FILE} ({run_dir.reason(e)}): not written by "
                         "clar_tf.export, or damaged") from None


def _shown(key, value):
    """`key=value` for a one-line message (long label lists summarised)."""
    if value is _MISSING:
        return f"no {key}"
    if isinstance(value, list) and len(value) > 4:
        return f"{len(value)} {key} ({', '.join(map(repr, value[:2]))}, …)"
    return f"{key}={value!r}"


_MISSING = object()  # a field the metadata file lacks


def _check_metadata(meta_path, meta, graph):
    """Raises ValueError when the metadata file `meta_path` (its values `meta`) differs
    from `graph`, the SavedModel's `metadata()`, in any field that both should hold."""
    differ = [k for k in _GRAPH_FIELDS if k in graph and meta.get(k, _MISSING) != graph[k]]
    if not differ:
        return
    if len(differ) == 1 and isinstance(graph[differ[0]], list):
        key = differ[0]
        file_value, graph_value = meta.get(key, _MISSING), graph[key]
        if (isinstance(file_value, list) and len(file_value) == len(graph_value)
                and len(graph_value) > 4):  # one label renamed: show the first one
            i = next(i for i, (a, b) in enumerate(zip(file_value, graph_value)) if a != b)
            raise ValueError(f"{meta_path} says {key}[{i}]={file_value[i]!r} but the "
                             f"SavedModel's metadata signature says {graph_value[i]!r}: "
                             "the file was edited or belongs to another export; re-export")
    said = ", ".join(_shown(k, meta.get(k, _MISSING)) for k in differ)
    truth = ", ".join(_shown(k, graph[k]) for k in differ)
    raise ValueError(f"{meta_path} says {said} but the SavedModel's metadata signature "
                     f"says {truth}: the file was edited or belongs to another export; "
                     "re-export")


def embed_windows(model, audio, hop, offset, num_windows):
    """Embeddings of regularly spaced windows of each row of `audio`.

    Window t of row n covers samples [t·hop − offset, t·hop − offset + clip_length) of
    `audio[n]`; samples outside the row are zeros. Windows go through `model` in batches
    of `model.batch_size`, whichever rows they come from.

    Args:
      model: an `Embedder`.
      audio: float32 [N, L] at `model.sample_rate`.
      hop: samples between window starts (>= 1).
      offset: samples of zeros before the row's start in window 0 (0 <= offset).
      num_windows: T >= 1.

    Returns:
      float32 [N, T, D].
    """
    audio = np.asarray(audio, np.float32)
    n, length = audio.shape
    clip = model.clip_length
    right = max(0, (num_windows - 1) * hop - offset + clip - length)
    padded = np.pad(audio, ((0, 0), (offset, right)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, clip, axis=1)[:, ::hop]
    out = np.zeros((n, num_windows, model.embedding_size), np.float32)
    for start in range(0, n * num_windows, model.batch_size):
        rows, cols = np.divmod(np.arange(start, min(start + model.batch_size,
                                                    n * num_windows)), num_windows)
        out[rows, cols] = model(windows[rows, cols])
    return out


def to_model_rate(audio, sample_rate, model):
    """float32 [N, L'] audio at `model.sample_rate` from [N, L] or [L] at `sample_rate`."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim not in (1, 2) or audio.shape[-1] == 0:
        raise ValueError("Expected audio of shape [samples] or [N, samples] with at "
                         f"least one sample. Received: shape={audio.shape}")
    rows = audio.reshape(-1, audio.shape[-1])
    if sample_rate != model.sample_rate:
        # No rows: resample a silent one for the length (it sets the number of frames).
        rows = np.stack([audio_io.resample(r, sample_rate, model.sample_rate)
                         for r in (rows if len(rows) else np.zeros((1, rows.shape[1])))
                         ])[:len(rows)]
    return rows


def embed(audio, sample_rate, model, hop_ms=None):
    """Clip and frame embeddings of `audio` (see the module docstring for the windows).

    Args:
      audio: float32 [N, samples] or [samples], any length, at `sample_rate`.
      sample_rate: Hz; resampled to `model.sample_rate` with `audio_io.resample`.
      model: an `Embedder` from `load`.
      hop_ms: milliseconds between windows; default half a clip.

    Returns:
      `(clip, frames, timestamps)`: float32 [N, D], [N, T, D] and [T] (window centres in
      seconds); for [samples] input, [D], [T, D] and [T].

    Example (a tiny untrained stand-in for `load(model_dir)`: an `Embedder` wraps any
    function from [B, clip_length] windows to [B, D] embeddings):

    >>> import keras
    >>> import numpy as np
    >>> from clar_tf import embed
    >>> encoder = keras.Sequential([keras.Input((1600,)), keras.layers.Dense(8)])
    >>> model = embed.Embedder(encoder, sample_rate=16000, clip_length=1600,
    ...                        embedding_size=8, source="example")
    >>> audio = np.random.default_rng(0).uniform(-1, 1, 4000).astype("float32")
    >>> clip, frames, seconds = embed.embed(audio, 16000, model)  # hop: half a clip
    >>> clip.shape, frames.shape  # windows start at 0, 800, 1600, 2400 samples
    ((8,), (4, 8))
    >>> [round(float(s), 3) for s in seconds]  # window centres
    [0.05, 0.1, 0.15, 0.2]
    >>> bool(np.allclose(clip, frames.mean(axis=0)))
    True
    >>> clips, frames, _ = embed.embed(np.stack([audio, audio]), 16000, model)
    >>> clips.shape, frames.shape
    ((2, 8), (2, 4, 8))
    """
    rows = to_model_rate(audio, sample_rate, model)
    clip = model.clip_length
    hop = clip // 2 if hop_ms is None else int(round(hop_ms * model.sample_rate / 1000))
    if hop < 1:
        raise ValueError(f"hop_ms must give at least one sample. Received: hop_ms={hop_ms}")
    num_windows = 1 + -(-max(0, rows.shape[1] - clip) // hop)
    frames = embed_windows(model, rows, hop, 0, num_windows)
    timestamps = ((np.arange(num_windows) * hop + clip / 2) / model.sample_rate)
    clips = frames.mean(axis=1)
    if np.ndim(audio) == 1:
        return clips[0], frames[0], timestamps.astype(np.float32)
    return clips, frames, timestamps.astype(np.float32)


def _inputs(paths):
    """[(file, output name)] for files and folders (recursive), in the order given.

    A name is the file's path below the deepest folder holding every path given (the
    common folder of their parent folders), so files of different folders get different
    names; only the same file given twice (by the same path once made absolute) is
    refused.
    """
    for path in paths:
        if not os.path.isdir(path) and not os.path.exists(path):
            raise ValueError(f"No such file or folder: {path}")
    if not paths:
        return []
    base = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    found = []
    for path in paths:
        files = audio_io.audio_files(path) if os.path.isdir(path) else [path]
        found += [(f, os.path.relpath(os.path.abspath(f), base)) for f in files]
    names = [name for _, name in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError("The same file is given twice (each file is embedded once; "
                         f"its output would be written twice): "
                         f"{', '.join(os.path.join(base, n) for n in twice)}")
    return found


def embed_files(paths, model, out_dir, hop_ms=None, skip_bad_files=False, verbose=1):
    """Writes `<out_dir>/<name>.npz` for every audio file under `paths`.

    Returns:
      `(written, skipped)`: lists of output paths and of skipped input files.

    Raises:
      ValueError: `out_dir` is not a folder and cannot be made one.
      audio_io.AudioError: a file cannot be read, unless `skip_bad_files`.
    """
    inputs = _inputs(paths)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"--out={out_dir} is a file, not a folder; give a folder (it is "
                         "created if missing)")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out={out_dir} cannot be created: {e.strerror}") from None
    # A bar on a terminal; redirected, plain lines (a bar's escape codes in a log file
    # are noise), about ten of them.
    bar = (keras.utils.Progbar(len(inputs), verbose=verbose, unit_name="file")
           if verbose and sys.stdout.isatty() else None)
    step = max(1, len(inputs) // 10)
    written, skipped = [], []
    for i, (path, name) in enumerate(inputs):
        try:
            audio = audio_io.read_audio(path, model.sample_rate)
        except audio_io.AudioError as e:
            if not skip_bad_files:
                raise
            print(f"\nskipping {path}: {e}", file=sys.stderr)
            skipped.append(path)
        else:
            clip, frames, timestamps = embed(audio, model.sample_rate, model, hop_ms)
            target = os.path.join(out_dir, name + ".npz")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            np.savez(target, embedding=clip, frames=frames, timestamps=timestamps)
            written.append(target)
        if bar is not None:
            bar.update(i + 1)
        elif verbose and ((i + 1) % step == 0 or i + 1 == len(inputs)):
            print(f"embedded {i + 1}/{len(inputs)} files into {out_dir}")
    return written, skipped


@dataclasses.dataclass(frozen=True)
class EmbedArgs:
    """`python -m clar_tf.embed`'s flags, and `files`, its positional arguments."""

    model: str
    out: str
    files: Tuple[str, ...]
    hop_ms: Optional[float] = None
    skip_bad_files: bool = False

    def __post_init__(self):
        if not self.files:
            raise ValueError("Give at least one audio file or folder to embed.")


HELP = {
    "files": ("Audio files and folders to embed (folders recursively: every file "
              "soundfile reads)."),
    "model": "A clar_tf run's model_dir or a clar_tf.export folder.",
    "out": "Folder for the .npz files.",
    "hop_ms": "Milliseconds between windows (default: half a clip).",
    "skip_bad_files": ("Skip unreadable files (listed at the end; the exit status is "
                       "still 1)."),
}


def main(args):
    """Embeds `args.files` into `args.out`; exits 1 naming the files it could not read."""
    start = time.perf_counter()
    try:
        model = load(args.model)
        written, skipped = embed_files(args.files, model, args.out, args.hop_ms,
                                       args.skip_bad_files)
    except (ValueError, audio_io.AudioError) as e:  # AudioError names the file
        raise SystemExit(f"error: {e}") from None
    print(f"embedded {len(written)} files with {model.source} (D={model.embedding_size}) "
          f"→ {args.out} in {time.perf_counter() - start:.1f} s")
    if skipped:
        raise SystemExit(f"skipped {len(skipped)} unreadable files:\n" + "\n".join(skipped))


def cli_main():
    """The `clar-embed` console script (and `python -m clar_tf.embed`)."""
    cli.main(EmbedArgs, main, HELP, positional="files")


if __name__ == "__main__":
    cli_main()
