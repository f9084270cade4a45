"""The layout of a training run's `model_dir`, and who may write there.

    model_dir/
      config.json        the run's frozen `Config` (`clar_tf.config`)
      .lock[-<task>]     held while a training writes here (`ModelDirLock`, `lock_name`)
      backup/            the resumable checkpoint (Keras `BackupAndRestore`)
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
"""
import dataclasses
import fcntl
import json
import os

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

# Fields that may change between a run and its resumption without changing its meaning.
RESUMABLE_CHANGES = ("verbose", "epochs", "eval_every", "export")


def path(model_dir, name):
    """`model_dir/name` for one of the names above."""
    return os.path.join(model_dir, name)


def read_config(model_dir):
    """The saved config.json of `model_dir` as a dict, or None when there is none."""
    config_path = path(model_dir, CONFIG)
    if not os.path.exists(config_path):
        return None
    with open(config_path) as f:
        return json.load(f)


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


def write_config(config):
    """Writes config.json (checked again: another run may have written it meanwhile)."""
    check_resumable(config)
    with open(path(config.model_dir, CONFIG), "w") as f:
        f.write(config.to_json())


def write_json(model_dir, name, value):
    """Writes `value` as indented JSON to `model_dir/name`; returns the path."""
    out = path(model_dir, name)
    with open(out, "w") as f:
        json.dump(value, f, indent=2)
    return out


def read_labels(model_dir):
    """Class names from `labels.json` (a JSON list); `labels.txt`, line by line and
    blank lines kept, for runs written before `labels.json`; [] without either."""
    json_path = path(model_dir, LABELS_JSON)
    if os.path.exists(json_path):
        with open(json_path) as f:
            labels = json.load(f)
        if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            raise ValueError(f"{json_path} must hold a JSON list of class names")
        return labels
    txt_path = path(model_dir, LABELS_TXT)
    if not os.path.exists(txt_path):
        return []
    with open(txt_path, newline="") as f:
        return f.read().split("\n")[:-1]


class ModelDirLock:
    """An exclusive `flock` on a lock file in model_dir, held while a run writes there.

    The kernel drops it when the process ends, however it ends; `release` drops it
    earlier.
    """

    def __init__(self, model_dir):
        self.model_dir, self.file = model_dir, None

    def acquire(self, name=".lock"):
        """Creates model_dir and locks `name` in it; ValueError if another run has it."""
        os.makedirs(self.model_dir, exist_ok=True)
        self.file = open(os.path.join(self.model_dir, name), "w")
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


def lock_name(strategy):
    """`.lock`, or `.lock-<task type>-<index>` for a worker of a multi-worker run: its
    workers share one model_dir, and each locks its own file."""
    resolver = strategy.cluster_resolver
    if resolver is None or resolver.task_type is None:
        return ".lock"
    return f".lock-{resolver.task_type}-{resolver.task_id}"
