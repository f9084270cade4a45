"""The model card each export carries (issue 37, item 4): what the model is, what it was
trained and scored on, what it takes and returns, what made it, and what it is for and
not for.

`card(config, results, metadata, ...)` builds it from the run's own files (config.json,
results.json) and the export's metadata (`clar_tf.export.METADATA_FILE`: sample rate,
clip length, embedding size, labels, the run's provenance.json); `markdown(card)` renders
it for people. `clar_tf.export` writes both into the version folder, beside the metadata
file and in the same atomic write:

    <version>/assets.extra/model_card.json   (this dict)
    <version>/assets.extra/MODEL_CARD.md     (the same facts, same numbers)

The TFLite and ONNX exports (`clar_tf.tflite_export`, `clar_tf.onnx_export`) write the
card of their file beside it, named after the whole file name:

    clar.tflite.model_card.json, clar.tflite.MODEL_CARD.md   (beside clar.tflite)
    clar.onnx.model_card.json,   clar.onnx.MODEL_CARD.md     (beside clar.onnx)

(`card(..., export_format="tflite" | "onnx")`: that file's input contract, outputs and
quantization). One card per file: a TFLite and an ONNX file of the same name in one
folder take different inputs, while their metadata file (`clar.json`) is the same.

Pure functions: nothing here reads a file (the callers read the run's JSON files with
`run_dir.read_run_files`) or runs TensorFlow. A run without a current
results.json (the run's own export is written before its evaluation; an older
results.json of a resumed run describes earlier weights) is "not evaluated": the card
never carries a number it cannot vouch for. Loaders (`clar_tf.embed`, `clar_tf.hear`,
TF Serving) read none of it.
"""
import json

from clar_tf import method_registry

SCHEMA = 1
NOT_EVALUATED = "not evaluated"
JSON_FILE = "model_card.json"
MARKDOWN_FILE = "MODEL_CARD.md"

# The config fields that say how the model was trained (the whole config is in
# card["config"]).
METHOD_FIELDS = ("method", "encoder", "width", "frontend", "augment", "temperature",
                 "ce_weight", "ce_normalization", "labeled_fraction", "labeled_per_batch",
                 "init_from", "freeze_encoder", "batch_size", "epochs", "optimizer",
                 "learning_rate", "weight_decay", "warmup_epochs", "seed")
# The export formats and how the card names them.
FORMATS = {"savedmodel": "TensorFlow SavedModel (tag set serve)",
           "tflite": "TFLite (LiteRT) flatbuffer, builtin ops only",
           "onnx": "ONNX"}
# `quantization` of a TFLite file (`clar_tf.tflite_export.QUANTIZE_MODES`).
QUANTIZATION = {
    "none": "none: float32 weights",
    "dynamic": ("dynamic range: int8 weights (per output channel) of the encoder's and "
                "head's convolutions and dense layers of 1024 weights or more, float32 "
                "activations; the frontend (STFT, mel, decibels) float32"),
    "float16": ("float16 weights of the encoder and head (dequantized to float32 when "
                "loaded); the frontend float32"),
}
# What `clar_tf.provenance` records, in the card's order.
PROVENANCE_FIELDS = ("clar_tf", "git_sha", "git_dirty", "python", "tensorflow", "keras",
                     "kapre", "numpy", "librosa", "platform", "host", "started_at")


def _outputs(has_classifier, export_format="savedmodel"):
    """The outputs of each signature (`clar_tf.export`'s docstring) or graph, name →
    description."""
    default = {"embedding": "float32 [B, D]: the clip embedding"}
    used = ("int32 [B]: samples of each clip the model saw, min(samples, clip_length)")
    if export_format == "tflite":
        return {"serving_default": dict(default, **(
            {"logits": "float32 [B, C]"} if has_classifier else {}))}
    if export_format == "onnx":
        return {"graph": dict(default, samples_used=used, **(
            {"logits": "float32 [B, C]"} if has_classifier else {}))}
    frames = {"frame_embedding": "float32 [B, T, D]: one embedding per window",
              "embedding": "float32 [B, D]: the mean of the windows' embeddings "
                           "(clar-embed's clip embedding)",
              "frame_start_s": "float32 [B, T]: each window's start, seconds",
              "frame_center_s": "float32 [B, T]: each window's centre, seconds"}
    if has_classifier:
        default.update(logits="float32 [B, C]",
                       probabilities="float32 [B, C]: softmax of logits",
                       classes="string [B]: the arg-max class name")
        frames.update(frame_logits="float32 [B, T, C]",
                      frame_probabilities="float32 [B, T, C]",
                      frame_classes="string [B, T]")
    default["samples_used"] = used
    return {"serving_default": default, "serve_frames": frames,
            "metadata": {"sample_rate": "int32 []", "clip_length": "int32 []",
                         "embedding_size": "int32 []",
                         "frame_hop": "int32 [] (samples)",
                         "labels": "string [C] (empty without a classifier)"}}


def _evaluation(config, results):
    """The card's "evaluation": the run's linear-eval score when results.json describes
    the exported weights (status completed, same epochs as config.json), else
    "not evaluated" with the reason."""
    dataset = config.get("eval_dataset") or config.get("dataset")
    base = {"protocol": ("linear evaluation (paper §3.2): a linear classifier on "
                         "standardised frozen embeddings, trained on all training labels"
                         " of the evaluation dataset, scored on its test split"),
            "dataset": dataset, "split": "test"}
    why = None
    if not results:
        why = "the run has no results.json (exported before its evaluation)"
    elif results.get("status") != "completed":
        why = f"results.json has status {results.get('status')!r}"
    elif not isinstance(results.get("top1"), (int, float)) or isinstance(
            results.get("top1"), bool):
        why = "results.json holds no top-1"
    elif results.get("epochs") != config.get("epochs"):
        why = (f"results.json scores {results.get('epochs')} epochs, the exported weights "
               f"have {config.get('epochs')} (an earlier training of a resumed run)")
    if why:
        return dict(base, status=NOT_EVALUATED, reason=why, linear_eval_top1=None)
    classes = list(results.get("class_names") or [])
    confusion = results.get("confusion_matrix")
    per_class = results.get("per_class_accuracy")
    out = dict(base, status="evaluated", linear_eval_top1=float(results["top1"]),
               classes=classes,
               test_clips=(int(sum(map(sum, confusion))) if confusion else None),
               epochs=results.get("epochs"))
    if per_class and len(per_class) == len(classes):
        out["per_class_accuracy"] = dict(zip(classes, per_class))
    return out


def _input(export_format, sr, clip, hop):
    """The card's "input": what the export takes and what it does with other lengths."""
    common = {"name": "audio", "dtype": "float32", "sample_rate": sr, "channels": "mono",
              "clip_length": clip, "clip_seconds": clip / sr, "frame_hop": hop,
              "range": "[-1, 1] as in training; samples are used as sent, not clipped"}
    windows = (f"windows of {clip} samples, one every {clip // 2} samples (the last "
               "zero-padded), as clar-embed cuts them, and average their embeddings")
    if export_format == "tflite":
        return dict(common, shape="[batch, clip_length]", frame_hop=None, **{
            "length": (f"exactly clip_length = {clip} samples (the file's input shape is "
                       "fixed); the batch is resizable (Interpreter.resize_tensor_input), "
                       "1 as converted"),
            "shorter_clips": (f"append zeros up to {clip} samples before calling (as "
                              "training did); the file does not"),
            "longer_clips": (f"cut them before calling: the first {clip} samples (what "
                             f"the SavedModel's serving_default sees), or {windows}"),
            "refused": ("by the interpreter: another dtype, another length; the values "
                        "are not checked (NaN or inf reach the outputs)")})
    if export_format == "onnx":
        return dict(common, shape="[batch, samples]", frame_hop=None, **{
            "length": "any; all clips of one request the same length",
            "shorter_clips": (f"zeros appended up to clip_length ({clip} samples), in "
                              "the graph"),
            "longer_clips": (f"the right side is cut: the model sees the first {clip} "
                             "samples, and samples_used = min(samples, clip_length) says "
                             f"so; for long recordings send {windows}"),
            "refused": ("by onnxruntime: another rank or dtype; nothing else is checked "
                        "(ONNX has no assertion op): clips of no samples, NaN or inf are "
                        "not refused")})
    return dict(common, shape="[batch, samples]", **{
        "length": "any, at least 1 sample; all clips of one request the same length",
        "shorter_clips": f"zeros appended up to clip_length ({clip} samples)",
        "longer_clips": (
            f"serving_default cuts each clip to its first {clip} samples and says so "
            "in samples_used = min(samples, clip_length); serve_frames embeds every "
            f"window of {clip} samples, one every {hop} samples (the last "
            "zero-padded), as clar-embed does"),
        "refused": ("another dtype; not [batch, samples]; no samples; NaN or inf; "
                    "samples beyond about 1e17 (InvalidArgument errors)")})


def card(config, results, metadata, *, version=None, exported_by=None,
         export_format="savedmodel", quantization="none", file=None, opset=None):
    """The model card (a JSON-able dict) of one export.

    Args:
      config: the run's config.json as a dict ({} or None: unknown).
      results: the run's results.json as a dict, or None (not evaluated).
      metadata: the export's metadata as a dict (`sample_rate`, `clip_length`,
        `embedding_size`, `labels`; `frame_hop` for a SavedModel), with `provenance`: the
        run's provenance.json (None or absent: the exporting process's, noted so).
      version: the export's version number (a SavedModel).
      exported_by: `clar_tf.provenance.provenance()` of the exporting process.
      export_format: a key of `FORMATS`: "savedmodel", "tflite" or "onnx".
      quantization: a key of `QUANTIZATION` (a TFLite file's weights).
      file: the exported file's name (TFLite, ONNX).
      opset: the ONNX opset.
    """
    if export_format not in FORMATS:
        raise ValueError(f"export_format must be one of {', '.join(FORMATS)}. "
                         f"Received: export_format={export_format!r}")
    if quantization not in QUANTIZATION:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATION)}. "
                         f"Received: quantization={quantization!r}")
    config = dict(config or {})
    labels = list(metadata["labels"])
    sr, clip = metadata["sample_rate"], metadata["clip_length"]
    hop = metadata.get("frame_hop", clip // 2)
    method = config.get("method")
    entry = method_registry.BY_NAME.get(method)
    dataset = config.get("dataset")
    evaluation = _evaluation(config, results)
    by = exported_by or {}
    made = dict(metadata.get("provenance") or dict(by, note="at export"))
    savedmodel = export_format == "savedmodel"
    export = {"format": FORMATS[export_format] + (f", opset {opset}" if opset else ""),
              "version": version,
              "exported_by": dict(
                  {k: by.get(k) for k in ("clar_tf", "git_sha", "git_dirty", "tensorflow",
                                          "keras")}, at=by.get("started_at"))}
    if not savedmodel:
        export.update(file=file, quantization=quantization,
                      quantization_detail=QUANTIZATION[quantization])
    if savedmodel:
        long_clips = (f"serving_default sees only the first {clip} samples ({clip / sr:g} "
                      "s) of a longer clip (samples_used reports how many); use "
                      "serve_frames or clar-embed for long recordings.")
    elif export_format == "tflite":
        long_clips = (f"The file takes exactly {clip} samples ({clip / sr:g} s) a clip: "
                      "pad or cut first; for long recordings embed windows (clar-embed's) "
                      "and average them.")
    else:
        long_clips = (f"The file sees only the first {clip} samples ({clip / sr:g} s) of a "
                      "longer clip (samples_used reports how many); cut long recordings "
                      "into windows (clar-embed's) and average their embeddings.")
    head_outputs = "logits, probabilities and classes come" if savedmodel else "logits come"
    return {
        "schema": SCHEMA,
        "model": {
            "name": f"CLAR-family audio encoder ({entry.title if entry else method})",
            "method": method,
            "method_title": entry.title if entry else None,
            "encoder": config.get("encoder"),
            "width": config.get("width"),
            "frontend": config.get("frontend") if config.get("encoder") == "2d" else None,
            "embedding_size": metadata["embedding_size"],
            "classifier": bool(labels),
            "labels": labels,
        },
        "data": {
            "dataset": dataset,
            "manual_dir": config.get("manual_dir"),
            "labeled_fraction": config.get("labeled_fraction"),
            "eval_dataset": config.get("eval_dataset") or dataset,
            "sample_rate": sr,
            "channels": "mono",
        },
        "method": {k: config.get(k) for k in METHOD_FIELDS},
        "config": config,
        "evaluation": evaluation,
        "input": _input(export_format, sr, clip, hop),
        "outputs": _outputs(bool(labels), export_format),
        "export": export,
        "provenance": made,
        "intended_use": (
            f"Embedding (and, with a classifier, classifying) {sr / 1000:g} kHz mono "
            f"audio like the training data ({dataset}), as a research model: features "
            "for a downstream classifier, retrieval or similarity within that domain."),
        "limitations": [
            f"Trained on {dataset} at {sr / 1000:g} kHz mono; resample and mix down "
            "first (clar-embed does).",
            long_clips,
            (f"Evaluated only on the test split of {evaluation['dataset']}; not evaluated "
             "on other domains, recording conditions or languages: measure it on your "
             "own audio before relying on it." if evaluation["status"] == "evaluated"
             else f"Not evaluated ({evaluation['reason']}); measure it before relying on "
                  "it."),
            "The paper's numbers (Al-Tahan & Mohsenzadeh 2021) are not this model's; this "
            "model's own score, if any, is the evaluation above.",
        ] + ([
            f"Quantized ({quantization}): the evaluation above is of the float32 model; "
            "this file's embeddings and classes differ a little from it (measured on the "
            "demo: benchmarks/README.md, \"On device: TFLite\"); measure it on your own "
            "audio."] if quantization != "none" else []) + ([
            f"{head_outputs} from the training head (labeled "
            f"fraction {config.get('labeled_fraction')}); the evaluation's top-1 is "
            "a separate linear classifier on the embeddings, not the head's accuracy, "
            "which is not measured."] if labels else []) + [
            "A SavedModel is a program: load and serve only exports you trust."
            if savedmodel else
            "A model file is parsed and run by its runtime: load only files you trust.",
        ],
    }


def _value(v):
    return "–" if v is None else v


def markdown(card_):
    """The card as a Markdown page: every section of the JSON, the same numbers."""
    m, d, e, i = card_["model"], card_["data"], card_["evaluation"], card_["input"]
    x = card_["export"]
    if x.get("file"):  # a TFLite or ONNX file: its card is named after it
        what = (f"{x['format']}, file `{x['file']}`, quantization "
                f"{x['quantization_detail']}. The same facts as data: "
                f"`{x['file']}.{JSON_FILE}`")
    else:
        what = (f"{x['format']}, version {_value(x['version'])}. The same facts as data: "
                f"`{JSON_FILE}`")
    lines = [f"# Model card: {m['name']}", "", f"{what} (schema {card_['schema']}).", "",
             "## Model", "",
             f"- method: {m['method']} ({_value(m['method_title'])}), encoder "
             f"{m['encoder']}, width {m['width']}, frontend {_value(m['frontend'])}",
             f"- embedding size: {m['embedding_size']}",
             f"- classifier: {'yes, ' + str(len(m['labels'])) + ' classes: ' + ', '.join(m['labels']) if m['classifier'] else 'no (embeddings only)'}",
             "", "## Data", "",
             f"- trained on: {d['dataset']} (manual_dir {_value(d['manual_dir'])}), "
             f"labeled fraction {d['labeled_fraction']}",
             f"- evaluated on: {d['eval_dataset']}",
             f"- audio: {d['sample_rate']} Hz, {d['channels']}",
             "", "## Method", "",
             "- " + ", ".join(f"{k} {_value(v)}" for k, v in card_["method"].items()),
             "", "## Evaluation", ""]
    if e["status"] == "evaluated":
        top1 = e["linear_eval_top1"]
        clips = f" of {e['test_clips']} test clips" if e.get("test_clips") else ""
        lines += [f"- linear-eval top-1: {top1:.4f} ({100 * top1:.2f} %{clips}), "
                  f"{e['split']} split of {e['dataset']}, after {e['epochs']} epochs",
                  f"- classes ({len(e['classes'])}): {', '.join(e['classes'])}"]
        if e.get("per_class_accuracy"):
            lines.append("- per class: " + ", ".join(
                f"{k} {'–' if v is None else format(v, '.4f')}"
                for k, v in e["per_class_accuracy"].items()))
    else:
        lines.append(f"- {NOT_EVALUATED}: {e['reason']}")
    lines += [f"- protocol: {e['protocol']}", "",
              "## Input", "",
              f"- `{i['name']}`: {i['dtype']} {i['shape']}, {i['sample_rate']} Hz "
              f"{i['channels']}, values {i['range']}",
              f"- length: {i['length']}; clip_length {i['clip_length']} samples "
              f"({i['clip_seconds']:g} s)" + (f", frame_hop {i['frame_hop']} samples"
                                             if i["frame_hop"] is not None else ""),
              f"- shorter clips: {i['shorter_clips']}",
              f"- longer clips: {i['longer_clips']}",
              f"- refused: {i['refused']}", "",
              "## Outputs", ""]
    for signature, outputs in card_["outputs"].items():
        lines.append(f"- `{signature}`: " + "; ".join(
            f"`{k}` {v}" for k, v in outputs.items()))
    lines += ["", "## Intended use", "", card_["intended_use"], "",
              "## Limits", ""] + [f"- {x}" for x in card_["limitations"]]
    made, by = card_["provenance"], card_["export"]["exported_by"]
    lines += ["", "## Versions and provenance", "",
              "- trained with: " + ", ".join(
                  f"{k} {_value(made.get(k))}" for k in PROVENANCE_FIELDS
                  if k in made) + (f" ({made['note']})" if made.get("note") else ""),
              "- exported with: " + ", ".join(f"{k} {_value(v)}" for k, v in by.items()),
              "", "## Config", "", "```json", json.dumps(card_["config"], indent=1,
                                                        sort_keys=True), "```", ""]
    return "\n".join(lines)


def beside(path):
    """{name in `files`: its path beside the TFLite or ONNX file `path`}:
    `<path>.model_card.json` and `<path>.MODEL_CARD.md`."""
    return {JSON_FILE: f"{path}.{JSON_FILE}", MARKDOWN_FILE: f"{path}.{MARKDOWN_FILE}"}


def files(card_):
    """{name: text} of the card's two renderings (`assets.extra/` of a SavedModel; a
    TFLite or ONNX file's card prefixes them with the file's name)."""
    return {JSON_FILE: json.dumps(card_, indent=1) + "\n", MARKDOWN_FILE: markdown(card_)}
