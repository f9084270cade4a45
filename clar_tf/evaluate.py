"""Linear evaluation of a frozen encoder (paper §3.2 item 4, §8.2).

A linear classifier is trained on frozen embeddings of the *fully labeled* training split
and scored top-1 on the test split, whatever fraction of labels pre-training saw. The
embeddings are standardised with the training split's mean and standard deviation first
(an affine map, so the classifier stays linear; it spares the classifier a learning-rate
search per encoder). The classifier is trained with Adam (lr 1e-3) and softmax
cross-entropy for `epochs` passes over the embeddings, and at least `MIN_STEPS` updates
(small evaluation sets would otherwise stop far from convergence).

As a callback (`LinearEvalCallback`) it runs every `eval_every` epochs and writes the
learning curve of Fig. 5 to `model_dir/linear_eval.csv` and TensorBoard; standalone:

    python -m clar_tf.evaluate --model_dir=runs/demo [--data_dir=data/tfds] \
        [--manual_dir=...] [--eval_manual_dir=...]

The standalone evaluation reads (and if need be prepares) the run's evaluation dataset
in `--data_dir` from `--manual_dir` / `--eval_manual_dir`, the user's flags, never in
paths from the run's `config.json`.
"""
import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from clar_tf import cli, input_pipeline, run_dir
from clar_tf.models import loading

MIN_STEPS = 2000


def embed_dataset(embedder, ds, batch_size=256):
    """Embeds a `{"audio", "label"}` dataset. Returns (`[N, D]` float32, `[N]` int64)."""
    fn = tf.function(lambda x: embedder(x, training=False))
    embeddings, labels = [], []
    for batch in ds.batch(batch_size):
        embeddings.append(np.asarray(fn(batch["audio"]), np.float32))
        labels.append(np.asarray(batch["label"], np.int64))
    if not embeddings:
        raise ValueError("linear evaluation got an empty dataset")
    return np.concatenate(embeddings), np.concatenate(labels)


def linear_eval(train, test, num_classes, *, epochs=100, batch_size=256, seed=0):
    """Trains a linear classifier on `train = (x, y)` and scores it on `test`.

    Returns a dict: `top1`, `per_class_accuracy` (list, NaN for absent classes),
    `confusion_matrix` (rows = true class, columns = predicted).
    """
    (x_train, y_train), (x_test, y_test) = train, test
    if np.any(y_train < 0):
        raise ValueError("linear evaluation needs every training example labeled")
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0) + 1e-6
    keras.utils.set_random_seed(seed)
    classifier = keras.Sequential([keras.Input((x_train.shape[1],)),
                                   keras.layers.Dense(num_classes)])
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    steps = max(epochs * -(-len(x_train) // batch_size), MIN_STEPS)
    data = (tf.data.Dataset.from_tensor_slices(((x_train - mean) / std, y_train))
            .shuffle(len(x_train), seed=seed).repeat().batch(batch_size))
    classifier.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    logits = keras.ops.convert_to_numpy(classifier((x_test - mean) / std))
    pred = logits.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (y_test, pred), 1)
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.diag(confusion) / totals
    return {"top1": float((pred == y_test).mean()),
            "per_class_accuracy": [None if np.isnan(a) else float(a) for a in per_class],
            "confusion_matrix": confusion.tolist()}


def evaluate_embedder(embedder, train_ds, test_ds, num_classes, *, epochs=100,
                      batch_size=256, seed=0):
    """Embeds both splits with the frozen `embedder` and runs `linear_eval`."""
    train = embed_dataset(embedder, train_ds, batch_size)
    test = embed_dataset(embedder, test_ds, batch_size)
    return linear_eval(train, test, num_classes, epochs=epochs, batch_size=batch_size,
                       seed=seed)


def classifier_args(config):
    """The linear classifier's settings in a run's `Config` (keyword arguments of
    `evaluate_embedder` and `LinearEvalCallback`)."""
    return dict(epochs=config.linear_eval_epochs, batch_size=config.linear_eval_batch_size,
                seed=config.seed)


def linear_evaluation(config, embedder):
    """Linear evaluation of `embedder` on the config's (evaluation) dataset, all labels."""
    clip_length = int(embedder.inputs[0].shape[1])
    info, train_ds, test_ds = input_pipeline.eval_datasets(config, clip_length)
    result = evaluate_embedder(embedder, train_ds, test_ds, info.num_classes,
                               **classifier_args(config))
    result["class_names"] = list(info.class_names)
    return result


class LinearEvalCallback(keras.callbacks.Callback):
    """Linear evaluation every `every` epochs → CSV rows `epoch,top1` and TensorBoard."""

    def __init__(self, embedder, train_ds, test_ds, num_classes, *, every, csv_path,
                 log_dir=None, epochs=100, batch_size=256, seed=0):
        super().__init__()
        self.embedder, self.train_ds, self.test_ds = embedder, train_ds, test_ds
        self.num_classes, self.every, self.csv_path = num_classes, every, csv_path
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed
        self.writer = tf.summary.create_file_writer(log_dir) if log_dir else None
        self.last = None  # (epoch, result) of the latest evaluation

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every or self.model.stop_training:  # not a diverged epoch
            return
        result = evaluate_embedder(self.embedder, self.train_ds, self.test_ds,
                                   self.num_classes, epochs=self.epochs,
                                   batch_size=self.batch_size, seed=self.seed)
        self.last = (epoch + 1, result)
        run_dir.append_csv_row(self.csv_path,
                               {"epoch": epoch + 1, "top1": f"{result['top1']:.6f}"})
        if self.writer is not None:
            with self.writer.as_default():
                tf.summary.scalar("linear_eval_top1", result["top1"], step=epoch + 1)
            self.writer.flush()
        if logs is not None:
            logs["linear_eval_top1"] = result["top1"]


@dataclasses.dataclass(frozen=True)
class EvaluateArgs:
    """`python -m clar_tf.evaluate`'s flags."""

    model_dir: str
    data_dir: str = "data/tfds"
    manual_dir: Optional[str] = None
    eval_manual_dir: Optional[str] = None


HELP = {
    "model_dir": "A training run's model_dir.",
    "data_dir": ("Where prepared datasets live (prepared there if missing); the run's own "
                 "data_dir is not used."),
    "manual_dir": ("The training dataset's published layout, if it must be prepared (as "
                   "clar_tf.train's flag)."),
    "eval_manual_dir": "The same for the run's --eval_dataset.",
}


def main(args):
    """Scores the encoder of the run in `args.model_dir`; writes `linear_eval.json`."""
    from clar_tf import config as config_lib

    model_dir = args.model_dir
    path = run_dir.path(model_dir, run_dir.CONFIG)
    if not tf.io.gfile.exists(path):
        raise SystemExit(f"--model_dir={model_dir}: no config.json (not a clar_tf run)")
    try:
        config = config_lib.Config.from_json(run_dir.read_text(path))
    except (ValueError, TypeError) as e:
        raise SystemExit(f"error: {path} is not a clar_tf config: {e}") from None
    # The datasets are read, and prepared if need be, where the user's flags say: a
    # model_dir's config.json never decides where files are written.
    config = config.replace(data_dir=args.data_dir, manual_dir=args.manual_dir,
                            eval_manual_dir=args.eval_manual_dir)
    encoder_path = run_dir.path(model_dir, run_dir.ENCODER)
    if not tf.io.gfile.exists(encoder_path):
        raise SystemExit(f"--model_dir={model_dir}: no encoder.keras (training unfinished?)")
    try:
        embedder = loading.load_model(encoder_path)
        input_pipeline.make_demo_data(config)
        result = linear_evaluation(config, embedder)
    except (ValueError, OSError) as e:  # user errors name their flag or file
        raise SystemExit(f"error: {e}") from None
    out = run_dir.write_json(model_dir, run_dir.LINEAR_EVAL_JSON, result)
    print(f"linear-eval top-1 {result['top1']:.4f} → {out}")


def cli_main():
    """The `clar-evaluate` console script (and `python -m clar_tf.evaluate`)."""
    cli.main(EvaluateArgs, main, HELP)


if __name__ == "__main__":
    cli_main()
