"""The layout of a training run's `model_dir`, and who may write there.

    model_dir/
      config.json        the run's frozen `Config` (`clar_tf.config`)
      flags.txt          the same config as a flag file: `clar-train --flagfile=` it
      provenance.json    what made the run: versions, code version (`clar_tf.provenance`)
      .lock[-<task>]     held while a training writes here (`ModelDirLock`, `lock_name`)
      backup/            the resumable checkpoint (`clar_tf.checkpoint`)
      logs/              TensorBoard (training; `logs/linear_eval/` for the curve)
      train_log.csv      per-epoch training metrics
      linear_eval.csv    the Fig. 5 curve, when `eval_every` > 0
      encoder.keras      raw audio → embedding
      inference.keras    raw audio → {"embedding"[, "logits"]}
      labels.json        class names in label order (JSON list); labels.txt, one per line
      results.json       the final linear evaluation and run facts
      linear_eval.json   a standalone `clar_tf.evaluate` of the run
      export/<version>/  the serving SavedModel (`clar_tf.export`)

A run resumes in its own `model_dir` when its config differs from the saved one only in
`RESUMABLE_CHANGES`; `config_changes` and `check_resumable` are the one check that
`clar_tf.train` and the experiment drivers use.

model_dir may be any path `tf.io.gfile` knows (a local folder, `gs://…`, `hdfs://…`,
`ram://…`): every file here is read and written through it. Only the lock differs on a
non-local filesystem (`ModelDirLock`).
"""
import csv
import dataclasses
import fcntl
import io
import json
import os
import re
import socket

import tensorflow as tf

CONFIG = "config.json"
BACKUP = "backup"
LOGS = "logs"
TRAIN_LOG = "train_log.csv"
LINEAR_EVAL_CSV = "linear_eval.csv"
LINEAR_EVAL_JSON = "linear_eval.json"
ENCODER = "encoder.keras"
INFERENCE = "inference.keras"
LABELS_JSON = "labels.json"
LABELS_TXT = "labels.txt"
RESULTS = "results.json"
EXPORT = "export"
FLAGS = "flags.txt"
PROVENANCE = "provenance.json"

# Fields that may change between a run and its resumption without changing its meaning.
RESUMABLE_CHANGES = ("verbose", "epochs", "eval_every", "export")


def path(model_dir, name):
    """`model_dir/name` for one of the names above."""
    return os.path.join(model_dir, name)


def is_local(path_):
    """Whether `path_` is on the local filesystem (no `scheme://`)."""
    return "://" not in str(path_)


def check_model_dir(model_dir):
    """Refuses a `model_dir` that exists as a file (ValueError naming the flag)."""
    if tf.io.gfile.exists(model_dir) and not tf.io.gfile.isdir(model_dir):
        raise ValueError(f"--model_dir={model_dir} is a file, not a folder; give a folder "
                         "(it is created if missing)")


def read_text(path_):
    """The text of the file `path_` (any `tf.io.gfile` filesystem)."""
    with tf.io.gfile.GFile(path_, "r") as f:
        return f.read()


def write_text(path_, text):
    """Writes `text` to `path_`, through a temporary file renamed over it: a reader never
    sees it half written (on filesystems whose rename is atomic, as local disks').

    Raises:
      OSError: the write failed (a full disk, no permission); the message names `path_`,
        the temporary file is removed and the previous `path_`, if any, is intact.
    """
    _write(path_, text, "w")


def write_bytes(path_, data):
    """`write_text` for bytes (an exported model file)."""
    _write(path_, data, "wb")


def _write(path_, data, mode):
    tmp = f"{path_}.tmp"
    try:
        with tf.io.gfile.GFile(tmp, mode) as f:
            f.write(data)
        tf.io.gfile.rename(tmp, path_, overwrite=True)
    except (OSError, tf.errors.OpError) as e:
        try:
            if tf.io.gfile.exists(tmp):
                tf.io.gfile.remove(tmp)
        except (OSError, tf.errors.OpError):
            pass  # the next write replaces it
        raise OSError(f"{path_} could not be written ({reason(e)}); the previous "
                      f"{os.path.basename(path_)}, if any, is intact") from None


def reason(error):
    """The one-line reason of an OSError or a TensorFlow error (its message, whitespace
    collapsed, without TensorFlow's `{{function_node …}}` prefix and `[Op:…]` suffix)."""
    text = getattr(error, "message", None) or getattr(error, "strerror", None) or error
    text = re.sub(r"\{\{function_node [^}]*\}\}", "", str(text))
    return re.sub(r"\s*\[Op:\w+\]\s*$", "", " ".join(text.split()))


def save_keras(model, path_):
    """Saves the Keras `model` as the `.keras` file `path_` through a temporary file
    (`<name>.tmp.keras`: Keras saves only to `.keras` names), synced and renamed over it:
    a crash or a full disk leaves the previous file whole. A failed save removes the
    temporary file; one left by a killed process is overwritten by the next save.

    Raises:
      OSError: the file could not be written; the message names `path_`.
    """
    root, ext = os.path.splitext(path_)
    tmp = f"{root}.tmp{ext}"
    try:
        model.save(tmp)
        if is_local(tmp):
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        tf.io.gfile.rename(tmp, path_, overwrite=True)
    except (OSError, tf.errors.OpError) as e:
        raise OSError(f"{path_} could not be written ({reason(e)}); the previous "
                      f"{os.path.basename(path_)}, if any, is intact") from e
    finally:
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)


def append_csv_row(path_, row):
    """Appends the dict `row` to the CSV file `path_`. The header is the file's, with the
    keys of `row` it lacks added at its end (the earlier rows leave them empty). The file
    is rewritten whole (`write_text`): object stores such as gs:// cannot append."""
    rows, fields = [], []
    if tf.io.gfile.exists(path_):
        reader = csv.DictReader(io.StringIO(read_text(path_)))
        rows, fields = list(reader), list(reader.fieldnames or ())
    fields += [k for k in row if k not in fields]
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows + [row])
    write_text(path_, out.getvalue())


def read_config(model_dir):
    """The saved config.json of `model_dir` as a dict, or None when there is none."""
    config_path = path(model_dir, CONFIG)
    if not tf.io.gfile.exists(config_path):
        return None
    return json.loads(read_text(config_path))


def config_changes(config):
    """Sorted fields in which the run saved in `config.model_dir` differs from `config`
    (None: no run there)."""
    old = read_config(config.model_dir)
    if old is None:
        return None
    new = dataclasses.asdict(config)
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def check_resumable(config, ignore=(), advice="use a new --model_dir"):
    """Refuses a `model_dir` that holds another run (a config that differs in more than
    `RESUMABLE_CHANGES` and `ignore`); writes nothing."""
    diff = [k for k in config_changes(config) or ()
            if k not in RESUMABLE_CHANGES and k not in ignore]
    if diff:
        raise ValueError(f"model_dir={config.model_dir} holds a run with a different "
                         f"config ({', '.join(diff)} differ); {advice}")


def write_config(config, flags_text):
    """Writes config.json and `flags_text`, the same config as a flag file, to flags.txt
    (checked again: another run may have written it meanwhile)."""
    check_resumable(config)
    write_text(path(config.model_dir, CONFIG), config.to_json())
    write_text(path(config.model_dir, FLAGS), flags_text)


def write_json(model_dir, name, value):
    """Writes `value` as indented JSON to `model_dir/name`; returns the path."""
    out = path(model_dir, name)
    write_text(out, json.dumps(value, indent=2))
    return out


def read_json(model_dir, name):
    """`model_dir/name` parsed as JSON, or None when there is no such file."""
    file = path(model_dir, name)
    return json.loads(read_text(file)) if tf.io.gfile.exists(file) else None


def read_json_object(model_dir, name):
    """`model_dir/name` parsed as a JSON object, or None when there is no such file.

    Raises:
      ValueError: the file is not JSON or not an object, named (restore or remove it).
    """
    try:
        value = read_json(model_dir, name)
    except ValueError as e:
        raise ValueError(f"{path(model_dir, name)} is not JSON ({e}); restore or remove "
                         "it") from None
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{path(model_dir, name)} must hold a JSON object; restore or "
                         "remove it")
    return value


def read_run_files(model_dir):
    """(config, results, provenance) of the run in `model_dir`: its config.json,
    results.json and provenance.json as dicts, each None without the file (ValueError
    naming a file that is not a JSON object)."""
    return tuple(read_json_object(model_dir, name) for name in (CONFIG, RESULTS, PROVENANCE))


def read_labels(model_dir):
    """Class names from `labels.json` (a JSON list); `labels.txt`, line by line and
    blank lines kept, for runs written before `labels.json`; [] without either."""
    json_path = path(model_dir, LABELS_JSON)
    if tf.io.gfile.exists(json_path):
        labels = json.loads(read_text(json_path))
        if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            raise ValueError(f"{json_path} must hold a JSON list of class names")
        return labels
    txt_path = path(model_dir, LABELS_TXT)
    if not tf.io.gfile.exists(txt_path):
        return []
    return read_text(txt_path).split("\n")[:-1]


class ModelDirLock:
    """The lock a run holds on model_dir while it writes there.

    Local model_dir: an exclusive `flock` on a lock file, which the kernel drops when the
    process ends, however it ends. Elsewhere (gs://, …), where no filesystem lock exists:
    a marker file naming the host and process, deleted by `release`; a run killed
    without `release` leaves it, and the next start in that model_dir is refused until
    it is deleted by hand (the error says so). Two starts at the same instant can both
    pass the marker check: start one training per model_dir.
    """

    def __init__(self, model_dir):
        self.model_dir, self.file, self.marker = model_dir, None, None

    def acquire(self, name=".lock"):
        """Creates model_dir and locks `name` in it; ValueError if another run has it."""
        check_model_dir(self.model_dir)
        try:
            tf.io.gfile.makedirs(self.model_dir)
        except (tf.errors.OpError, OSError) as e:
            raise ValueError(f"--model_dir={self.model_dir} cannot be created: "
                             f"{getattr(e, 'message', None) or e}") from None
        lock_path = os.path.join(self.model_dir, name)
        if not is_local(lock_path):
            if tf.io.gfile.exists(lock_path):
                raise ValueError(
                    f"model_dir={self.model_dir} is in use by another training, or one "
                    f"that was killed: {lock_path} names {read_text(lock_path).strip()}. "
                    "If no training runs there, delete that file and start again")
            with tf.io.gfile.GFile(lock_path, "w") as f:
                f.write(f"host={socket.gethostname()} pid={os.getpid()}\n")
            self.marker = lock_path
            return
        try:
            self.file = open(lock_path, "w")
        except OSError as e:
            raise ValueError(f"--model_dir={self.model_dir} cannot be written: "
                             f"{e.strerror} ({lock_path})") from None
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise ValueError(f"model_dir={self.model_dir} is in use by another training "
                             f"(it holds the lock on {name}); wait for it to end or use "
                             "another --model_dir") from None

    def release(self):
        if self.file is not None:
            self.file.close()  # closing drops the flock
            self.file = None
        if self.marker is not None:
            tf.io.gfile.remove(self.marker)
            self.marker = None


def lock_name(strategy):
    """`.lock`, or `.lock-<task type>-<index>` for a worker of a multi-worker run: its
    workers share one model_dir, and each locks its own file."""
    resolver = strategy.cluster_resolver
    if resolver is None or resolver.task_type is None:
        return ".lock"
    return f".lock-{resolver.task_type}-{resolver.task_id}"
