"""A trained run as a versioned TensorFlow SavedModel for TF Serving.

    python -m clar_tf.export --model_dir=runs/sc10 --export_dir=serving/clar [--version=N]
    python -m clar_tf.export --model_dir=runs/sc10 --tflite=runs/sc10/clar.tflite  # on-device
    python -m clar_tf.export --model_dir=runs/sc10 --onnx=runs/sc10/clar.onnx  # onnxruntime

The second writes a TFLite file with builtin ops only, STFT inside, its weights float32
or, with `--tflite_quantize=dynamic|float16`, int8 or float16 (see
`clar_tf.tflite_export`); the third an ONNX file, raw audio of any length in, STFT inside
(see `clar_tf.onnx_export`; needs the `[export]` extra). The rest of this docstring is
about the SavedModel.

writes `export_dir/<version>/` (the layout TF Serving watches; default version: the Unix
time, or one more than the newest version already there). The SavedModel holds the whole
path from raw audio, so clients send samples, not spectrograms:

    audio float32 [B, any length] at 16 kHz
      ─► zeros appended / right side cut to the trained clip length (as in training;
          `serve_frames` cuts long audio into windows instead)
      ─► frontend ─► encoder [─► head]

Signatures (tag set `serve`):

  * `serving_default(audio: float32 [batch, samples])` → `embedding` float32 [B, D] and, when
    the run's head ends in a classifier (methods supervised and clar), `logits` float32
    [B, C], `probabilities` (softmax of logits) float32 [B, C] and `classes` string [B]
    (the arg-max class name from the run's `labels.json`). Another dtype is refused by
    the signature; audio that is not [batch, samples] fails with "audio must be a
    [batch, samples] tensor", clips of no samples with "audio has no samples", NaN or
    inf samples with "audio must hold finite samples" (InvalidArgument errors). Samples
    are used as sent, not clipped: the model was trained on [-1, 1], and amplitudes
    beyond about 1e17 fail with "audio samples too large". A batch of no clips
    ([0, samples]) answers outputs of batch 0. `samples_used` int32 [B] says how many
    samples of each clip the model saw: min(samples, clip_length), so a client sees that
    a longer clip was cut to its first clip_length samples.
  * `serve_frames(audio: float32 [batch, samples])`, for clips longer than one: the same
    model on every window, the windows of `clar_tf.embed` (clip_length samples starting
    at 0, hop, 2·hop, … with hop = clip_length / 2, as many as reach the clip's end, the
    last zero-padded) → `frame_embedding` float32 [B, T, D], `embedding` [B, D] (their
    mean: `clar_tf.embed`'s clip embedding), `frame_start_s` and `frame_center_s` float32
    [B, T] (seconds), and with a classifier `frame_logits`, `frame_probabilities` [B, T,
    C] and `frame_classes` string [B, T]. Input checks as for `serving_default`; all T
    windows of a request run as one batch.
  * `metadata()` (no inputs) → `sample_rate` int32 [], `clip_length` int32 [],
    `embedding_size` int32 [], `frame_hop` int32 [] (samples) and `labels` string [C]
    (empty without a classifier).
    Both are also attributes of the object that `tf.saved_model.load` returns
    (`loaded.serving_default(audio)`).

The same metadata is written as data, `assets.extra/clar_tf_metadata.json` in the version
folder; `clar_tf.embed.load` reads that file and runs nothing of the graph (only
embedding audio runs `serving_default`). Before its first embedding, `clar_tf.embed`
runs `metadata()` and refuses a file that differs from it (edited, or another export's),
naming the file and the fields. A SavedModel is a program: serve or embed with those you
trust. Beside the metadata file, `assets.extra/model_card.json` and `MODEL_CARD.md` are
the model card (`clar_tf.model_card`): data, method, the run's evaluation, input
contract, outputs, provenance, intended use and limits; no loader reads them.

The signature leaves the rank of `audio` open (`saved_model_cli show` prints
`unknown_rank`) and checks it first thing in the graph: a fixed [None, None] is not
enforced when a signature is called by name (TF Serving, saved_model_cli), and such a
call would fail later with an indexing error. Trying it from the shell:

    saved_model_cli run --dir serving/clar/<version> --tag_set serve \
        --signature_def serving_default --inputs audio=clips.npy

(`--input_exprs` accepts Python literals only, e.g. `'audio=[[0.0, 0.5, -0.5]]'`.)

Serving it (`docker run -p 8501:8501 -v $PWD/serving/clar:/models/clar -e MODEL_NAME=clar
tensorflow/serving`) and asking for two clips over REST (row format; the rows may have
any length, but all rows of one request the same):

    POST http://localhost:8501/v1/models/clar:predict
    {"signature_name": "serving_default",
     "instances": [[0.0, 0.01, -0.02, ...], [0.1, 0.0, 0.03, ...]]}

answers `{"predictions": [{"embedding": [...], "logits": [...], "probabilities": [...],
"classes": "seven"}, ...]}`; the columnar form `{"inputs": {"audio": [[...], [...]]}}`
answers `{"outputs": {...}}`.
"""
import dataclasses
import json
import os
import shutil
import tempfile
import time
from typing import Optional

import keras
import tensorflow as tf

from clar_tf import cli, layers, model_card, provenance, run_dir, serving
from clar_tf.models import loading


_AUDIO_SPEC = tf.TensorSpec(None, tf.float32, name="audio")
# `metadata()`'s values as JSON, inside each version folder: data that loaders read
# without running the graph (TF Serving ignores assets.extra/).
METADATA_FILE = os.path.join("assets.extra", "clar_tf_metadata.json")
# The model card (`clar_tf.model_card`) beside it, as data and for people.
MODEL_CARD_JSON = os.path.join("assets.extra", model_card.JSON_FILE)
MODEL_CARD_MD = os.path.join("assets.extra", model_card.MARKDOWN_FILE)


def save_inference_model(model, info, model_dir):
    """Writes `inference.keras` (audio → {"embedding"[, "logits"]}) and the labels.

    `logits` exist for the methods whose head ends in a classifier (supervised, CLAR).
    `labels.json` is the JSON list of class names in label order, which
    `export_saved_model` reads (no name can shift it); `labels.txt` has one name per
    line, for reading.
    """
    audio = keras.Input(tuple(model.embedder.inputs[0].shape[1:]), name="audio")
    embedding = model.embedder(audio, training=False)
    outputs = {"embedding": embedding}
    if model.head.num_classes:
        outputs["logits"] = model.head(embedding, training=False)["output"]
    run_dir.save_keras(keras.Model(audio, outputs, name="inference"),
                       run_dir.path(model_dir, run_dir.INFERENCE))
    run_dir.write_text(run_dir.path(model_dir, run_dir.LABELS_JSON),
                       json.dumps(list(info.class_names), indent=1))
    run_dir.write_text(run_dir.path(model_dir, run_dir.LABELS_TXT),
                       "".join(f"{name}\n" for name in info.class_names))


def _all_layers(layer):
    """`layer` and every layer nested in it through the public `layers` of its models."""
    yield layer
    for sub in getattr(layer, "layers", ()):
        yield from _all_layers(sub)


def _versions(export_dir):
    """The integer version folders under `export_dir` (TF Serving's layout)."""
    if not tf.io.gfile.isdir(export_dir):
        return []
    return sorted(int(d.rstrip("/")) for d in tf.io.gfile.listdir(export_dir)
                  if d.rstrip("/").isdigit())


def export_saved_model(model_dir, export_dir, version=None, results=None):
    """Exports the run in `model_dir` to `export_dir/<version>/`; returns that path.

    Args:
      model_dir: a finished `clar_tf.train` run (`inference.keras`, `labels.json`).
      export_dir: the folder TF Serving watches; created if missing.
      version: positive int; default: the Unix time, or the newest existing version + 1
        if that is not larger. An existing version is never overwritten.
      results: the run's results (results.json's dict) for the model card, for a caller
        that exports before writing results.json; default: read results.json (none:
        the card says "not evaluated").

    The version folder's `assets.extra/` holds the metadata file and the model card
    (`model_card.json`, `MODEL_CARD.md`: `clar_tf.model_card`), written with the
    SavedModel in the same atomic write.

    The SavedModel is written to a hidden folder first (`.tmp-<version>`) and renamed, so
    a watching server never sees a half-written version; a failed write removes that
    folder, and one left by a killed export of the same version is replaced. On a remote
    filesystem (gs://, …: no atomic folder rename) it is written locally, then copied
    into the version folder with `saved_model.pb` last.

    Raises:
      ValueError: not a finished run, a damaged `inference.keras`, a bad version, a
        config.json, results.json or provenance.json that is not JSON (named).
      OSError: the version could not be written (a full disk, …); it names the folder.
    """
    path = run_dir.path(model_dir, run_dir.INFERENCE)
    if not tf.io.gfile.exists(path):
        raise ValueError(f"model_dir={model_dir} has no inference.keras (not a finished "
                         "clar_tf run)")
    existing = _versions(export_dir)
    if version is None:
        version = max([int(time.time())] + [v + 1 for v in existing])
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive int. Received: version={version!r}")
    if version in existing:
        raise ValueError(f"{export_dir}/{version} exists already; choose another version")
    inference = loading.load_model(path)
    # No XLA-compiled functions in the SavedModel (TF Serving builds and other loaders
    # need not carry XLA): the frontend's channels run as plain ops there.
    for layer in _all_layers(inference):
        if isinstance(layer, layers.Frontend):
            layer.jit_compile = False
    serve, serve_frames, metadata = serving.serving_functions(
        inference, run_dir.read_labels(model_dir))
    # Keras' archive tracks the Keras 3 variables so that TF1-style loaders (TF Serving,
    # saved_model_cli run) restore them too; a bare tf.saved_model.save does not.
    archive = keras.export.ExportArchive()
    archive.track(inference)
    archive.add_endpoint("serving_default", serve, input_signature=[_AUDIO_SPEC])
    archive.add_endpoint("serve_frames", serve_frames, input_signature=[_AUDIO_SPEC])
    archive.add_endpoint("metadata", metadata, input_signature=[])
    extra = _extra_files(metadata, model_dir, version, results)  # read before writing
    target = os.path.join(export_dir, str(version))
    try:
        tf.io.gfile.makedirs(export_dir)
        if run_dir.is_local(export_dir):
            _write_local(archive, extra, export_dir, target)
        else:
            with tempfile.TemporaryDirectory(prefix="clar_tf_export_") as local:
                _write_version(archive, extra, local)
                _upload(local, target)
    except (OSError, tf.errors.OpError) as e:
        raise OSError(f"export to {target} failed: {run_dir.reason(e)}") from e
    return target


def _write_local(archive, extra, export_dir, target):
    """Writes the version folder `target` through `export_dir/.tmp-<version>`, renamed
    when whole; the hidden folder is gone afterwards, whether the write failed or not."""
    staging = os.path.join(export_dir, f".tmp-{os.path.basename(target)}")
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed export
    try:
        _write_version(archive, extra, staging)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _upload(local, target):
    """Copies the folder `local` to `target` on a `tf.io.gfile` filesystem, with
    `saved_model.pb` last: object stores have no atomic folder rename, and a SavedModel
    without its graph file is not loaded."""
    files = [os.path.relpath(os.path.join(root, name), local)
             for root, _, names in os.walk(local) for name in names]
    for rel in sorted(files, key=lambda f: f == "saved_model.pb"):
        tf.io.gfile.makedirs(os.path.dirname(os.path.join(target, rel)))
        tf.io.gfile.copy(os.path.join(local, rel), os.path.join(target, rel))


def _extra_files(metadata, model_dir, version, results=None):
    """{path in the version folder: text}: the metadata file and the model card."""
    meta = {k: v.numpy().tolist() for k, v in metadata().items()}
    meta["labels"] = [name.decode() for name in meta["labels"]]
    # What made the model: the run's provenance.json, or (a run written before it
    # existed) this export's.
    now = provenance.provenance()
    meta["provenance"] = (run_dir.read_json_object(model_dir, run_dir.PROVENANCE)
                          or dict(now, note="at export"))
    card = model_card.card(
        run_dir.read_json_object(model_dir, run_dir.CONFIG),
        results if results is not None else run_dir.read_json_object(model_dir, run_dir.RESULTS),
        meta, version=version, exported_by=now)
    texts = model_card.files(card)
    return {METADATA_FILE: json.dumps(meta, indent=1),
            MODEL_CARD_JSON: texts[model_card.JSON_FILE],
            MODEL_CARD_MD: texts[model_card.MARKDOWN_FILE]}


def _write_version(archive, extra, staging):
    """Writes the SavedModel of `archive` and the `extra` files (the metadata file, the
    model card: `_extra_files`) to the folder `staging`."""
    archive.write_out(staging, verbose=False)
    for rel, text in extra.items():
        _write_file(os.path.join(staging, rel), text)


def _write_file(path, text):
    """Writes `text` to the local file `path`, creating its folder."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


@dataclasses.dataclass(frozen=True)
class ExportArgs:
    """`python -m clar_tf.export`'s flags."""

    model_dir: str
    export_dir: Optional[str] = None
    version: Optional[int] = None
    tflite: Optional[str] = None
    tflite_quantize: str = "none"
    onnx: Optional[str] = None

    def __post_init__(self):
        if not (self.export_dir or self.tflite or self.onnx):
            raise ValueError("give --export_dir (SavedModel), --tflite (on-device file), "
                             "--onnx (ONNX file) or several")
        from clar_tf import tflite_export
        if self.tflite_quantize not in tflite_export.QUANTIZE_MODES:
            raise ValueError(f"--tflite_quantize must be one of "
                             f"{', '.join(tflite_export.QUANTIZE_MODES)}. Received: "
                             f"--tflite_quantize={self.tflite_quantize}")
        if self.tflite_quantize != "none" and not self.tflite:
            raise ValueError(f"--tflite_quantize={self.tflite_quantize} quantizes the "
                             "TFLite file: give --tflite too")


HELP = {
    "model_dir": "A finished clar_tf.train run.",
    "export_dir": "Folder of versioned SavedModels (TF Serving's model base path).",
    "version": "Version number (default: Unix time).",
    "tflite": ("Also (or only) write the on-device TFLite model to this .tflite file, "
               "metadata and model card beside it (clar_tf.tflite_export)."),
    "tflite_quantize": ("Weights of the TFLite file's encoder and head: none (float32), "
                        "dynamic (int8, dynamic range) or float16; the frontend stays "
                        "float32 (clar_tf.tflite_export)."),
    "onnx": ("Also (or only) write the ONNX model (opset 17, raw audio of any length in) "
             "to this .onnx file, metadata and model card beside it (clar_tf.onnx_export; "
             "needs the [export] extra)."),
}


def main(args):
    """Writes the SavedModel, the TFLite file and/or the ONNX file that `args` asks for."""
    if args.onnx:  # a missing [export] extra fails before anything is written
        from clar_tf import onnx_export
        try:
            onnx_export.require_extra()
        except onnx_export.ExtraMissing as e:
            raise SystemExit(f"error: {e}") from None
    try:
        if args.export_dir:
            path = export_saved_model(args.model_dir, args.export_dir, args.version)
            print(f"exported {args.model_dir} → {path}")
        if args.tflite:
            from clar_tf import tflite_export
            path = tflite_export.export_tflite(args.model_dir, args.tflite,
                                               args.tflite_quantize)
            print(f"exported {args.model_dir} → {path} (TFLite, builtin ops, "
                  f"quantization {args.tflite_quantize})")
        if args.onnx:
            path = onnx_export.export_onnx(args.model_dir, args.onnx)
            print(f"exported {args.model_dir} → {path} (ONNX, opset {onnx_export.OPSET})")
    except (ValueError, OSError) as e:  # user errors; a failed write names its file
        raise SystemExit(f"error: {e}") from None


def cli_main():
    """The `clar-export` console script (and `python -m clar_tf.export`)."""
    cli.main(ExportArgs, main, HELP)


if __name__ == "__main__":
    cli_main()
