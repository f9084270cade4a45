"""Why CLAR collapses at 1 percent labels: controlled runs that log what each loss does.

    python results/low_labels/low_labels.py --preset=cpu_small --out=results/low_labels

A lab diagnostic, kept here next to its outputs and outside the `clar_tf` package: it
imports `clar_tf` but does not train through `clar_tf.train.run`. It takes its own
gradient step, because it needs each loss term's gradient separately, which `train.run`'s
step (one gradient of the summed loss) does not give. Run it from the repository root
with `clar_tf` installed (`pip install -e .`).

Trains CLAR variants that differ in one thing each (CE normalisation, CE weight, labeled
clips per batch) on the preset's data at one label fraction, with a training step that
takes the gradients of the contrastive and the CE term separately, so it can log per step:

- `labeled`: labeled clips in the batch; `contrastive`, `ce`: the two loss terms;
- `gnorm_cl`, `gnorm_ce`: the norm of each term's (weighted) gradient over the encoder's
  variables, and `cos`: the cosine between them;
- `ce_share_enc`, `ce_share_proj`: ||w·g_CE|| / (||g_CL|| + ||w·g_CE||) over the encoder
  and over the `projection` layer (the head's `dense2`), the share of the update direction
  CE sets: LARS scales each layer's update to eeta·||w||·lr whatever the gradient's size,
  so this share, not the loss's size, is what decides how far one step moves towards CE;
- `trust_enc`: the median LARS trust ratio eeta·||w|| / ||g + wd·w|| of the encoder's
  kernels.

After chosen epochs it scores the frozen encoder by linear evaluation (all labels) and
logs the effective rank of the test embeddings (exp of the entropy of their normalised
singular values; a collapsing encoder loses rank) and the mean moving variance of the
encoder's last batch norm. Writes `steps.csv`, `epochs.csv` and `summary.md` in `--out`.
"""
import csv
import dataclasses
import os
import time
from typing import Tuple

import keras
import numpy as np
import tensorflow as tf

from clar_tf import checks, cli
from clar_tf import config as config_lib
from clar_tf import datasets, evaluate, input_pipeline
from clar_tf.experiments import presets, tables
from clar_tf.models import factory

# name -> Config overrides of the CLAR run; the first is eq. 4 as written.
VARIANTS = {
    "paper": dict(ce_normalization="labeled"),
    "ce_weight_0": dict(ce_weight=0.0),
    "ce_batch": dict(ce_normalization="batch"),
    "lpb8": dict(labeled_per_batch=8, ce_normalization="labeled"),
    "lpb8_ce_batch": dict(labeled_per_batch=8, ce_normalization="batch"),
}
STEP_FIELDS = ("variant", "epoch", "step", "labeled", "contrastive", "ce", "gnorm_cl",
               "gnorm_ce", "cos", "ce_share_enc", "ce_share_proj", "trust_enc")
EPOCH_FIELDS = ("variant", "epoch", "top1", "effective_rank", "contrastive", "ce",
                "ce_share_enc", "bn_moving_variance")


def _norm(tensors):
    return tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(t)) for t in tensors]))


def effective_rank(x):
    """exp(entropy of the normalised singular values) of centred `x` [N, D] (Roy 2007)."""
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    p = s / max(s.sum(), 1e-12)
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def _diagnostic_step(model):
    """A tf.function training step returning the logged quantities (module docstring)."""
    enc = model.embedder.trainable_variables
    enc_ids = {id(v) for v in enc}
    proj = model.head.dense2.trainable_variables  # the layer whose output is "projection"
    kernels = [v for v in enc if len(v.shape) > 1]
    opt = model.optimizer

    @tf.function
    def step(audio, labels):
        variables = model.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            values, _, _ = model.term_losses(audio, labels, training=True)
            ce = model.ce_weight * values["ce_loss"]
        # Keras variables break unconnected_gradients=ZERO (their dtype is a string).
        g_cl, g_ce = ([tf.zeros_like(v) if g is None else g
                       for v, g in zip(variables, tape.gradient(loss, variables))]
                      for loss in (values["contrastive_loss"], ce))
        del tape
        grads = [a + b for a, b in zip(g_cl, g_ce)]
        by_id = {id(v): (a, b, g) for v, a, b, g in zip(variables, g_cl, g_ce, grads)}
        e_cl = [by_id[id(v)][0] for v in variables if id(v) in enc_ids]
        e_ce = [by_id[id(v)][1] for v in variables if id(v) in enc_ids]
        n_cl, n_ce = _norm(e_cl), _norm(e_ce)
        dot = tf.add_n([tf.reduce_sum(a * b) for a, b in zip(e_cl, e_ce)])
        p_cl, p_ce = _norm([by_id[id(v)][0] for v in proj]), _norm([by_id[id(v)][1]
                                                                    for v in proj])
        trust = tf.stack([opt.eeta * tf.norm(v) / tf.maximum(
            tf.norm(by_id[id(v)][2] + opt.lars_weight_decay * v), 1e-12) for v in kernels])
        opt.apply(grads, variables)
        return {"labeled": tf.reduce_sum(tf.cast(labels >= 0, tf.int32)),
                "contrastive": values["contrastive_loss"], "ce": values["ce_loss"],
                "gnorm_cl": n_cl, "gnorm_ce": n_ce,
                "cos": dot / tf.maximum(n_cl * n_ce, 1e-12),
                "ce_share_enc": n_ce / tf.maximum(n_cl + n_ce, 1e-12),
                "ce_share_proj": p_ce / tf.maximum(p_cl + p_ce, 1e-12),
                "trust_enc": tf.sort(trust)[tf.size(trust) // 2]}

    return step


def _last_bn_variance(embedder):
    bns = [v for v in embedder.non_trainable_variables if "moving_variance" in v.path]
    return float(np.mean(keras.ops.convert_to_numpy(bns[-1]))) if bns else float("nan")


def run_variant(name, config, eval_epochs, log=print):
    """Trains one variant; returns (step rows, epoch rows)."""
    keras.utils.set_random_seed(config.seed)
    info = datasets.info(config.dataset, data_dir=config.data_dir,
                         manual_dir=config.manual_dir)
    ds, steps = input_pipeline.train_batches(config, info)
    model = factory.build_model(config, info.num_classes, info.clip_length)
    model.compile(optimizer=factory.build_optimizer(config, steps))
    model.optimizer.build(model.trainable_variables)
    _, eval_train, eval_test = input_pipeline.eval_datasets(config, info.clip_length)
    step = _diagnostic_step(model)
    step_rows, epoch_rows, batches = [], [], iter(ds)
    for epoch in range(1, config.epochs + 1):
        start, rows = time.perf_counter(), []
        for i in range(steps):
            batch = next(batches)
            out = step(batch["audio"], tf.cast(batch["label"], tf.int64))
            rows.append({"variant": name, "epoch": epoch, "step": i,
                         **{k: float(v) for k, v in out.items()}})
        step_rows += rows
        row = {"variant": name, "epoch": epoch,
               **{k: float(np.mean([r[k] for r in rows]))
                  for k in ("contrastive", "ce", "ce_share_enc")},
               "bn_moving_variance": _last_bn_variance(model.embedder)}
        if epoch in eval_epochs:
            train_xy = evaluate.embed_dataset(model.embedder, eval_train)
            test_xy = evaluate.embed_dataset(model.embedder, eval_test)
            row["top1"] = evaluate.linear_eval(train_xy, test_xy, info.num_classes,
                                               seed=config.seed)["top1"]
            row["effective_rank"] = effective_rank(test_xy[0])
        epoch_rows.append(row)
        log(f"{name} epoch {epoch}: " + ", ".join(
            f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float))
            + f" ({time.perf_counter() - start:.0f} s)")
    return step_rows, epoch_rows


def _write(path, fields, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def summary(epoch_rows, step_rows):
    """Markdown: per variant, the last epoch's numbers and the CE share on batches with
    one labeled clip vs more."""
    header = ["variant", "final top-1", "effective rank", "contrastive (last epoch)",
              "CE (last epoch)", "CE share of encoder grad, 1 labeled clip",
              "same, ≥ 4 labeled"]
    lines = []
    for name in dict.fromkeys(r["variant"] for r in epoch_rows):
        last = [r for r in epoch_rows if r["variant"] == name and "top1" in r][-1]
        steps = [r for r in step_rows if r["variant"] == name]
        share = lambda rows: (f"{np.mean([r['ce_share_enc'] for r in rows]):.2f}"
                              if rows else "–")
        lines.append([name, f"{100 * last['top1']:.1f}", f"{last['effective_rank']:.1f}",
                      f"{last['contrastive']:.3f}", f"{last['ce']:.3f}",
                      share([r for r in steps if r["labeled"] == 1]),
                      share([r for r in steps if r["labeled"] >= 4])])
    return tables.markdown_table(header, lines)


def run(preset="cpu_small", out="results/low_labels", fraction=0.01, epochs=5,
        eval_epochs=(1, 3, 5), variants=tuple(VARIANTS), seed=0, log=print, **data):
    """Trains each variant; writes steps.csv, epochs.csv, summary.md. `data`: as
    `Preset.config_kwargs` (dataset, manual_dir, data_dir)."""
    p = presets.get_preset(preset)
    kwargs = {**p.config_kwargs("label_fraction", **data), "encoder": "2d",
              "augment": "FD+TM",
              "method": "clar", "labeled_fraction": fraction, "epochs": epochs,
              "seed": seed, "export": False}
    kwargs.pop("eval_every", None)
    os.makedirs(out, exist_ok=True)
    step_rows, epoch_rows = [], []
    for name in variants:
        config = config_lib.Config(model_dir=os.path.join(out, "runs", name),
                                   **{**kwargs, **VARIANTS[name]})
        s, e = run_variant(name, config, set(eval_epochs), log=log)
        step_rows += s
        epoch_rows += e
        _write(os.path.join(out, "steps.csv"), STEP_FIELDS, step_rows)
        _write(os.path.join(out, "epochs.csv"), EPOCH_FIELDS, epoch_rows)
    text = (f"# CLAR at {100 * fraction:g} % labels: controlled variants\n\n"
            f"Preset `{preset}`, {epochs} epochs, seed {seed}; "
            f"`python results/low_labels/low_labels.py --preset={preset}`.\n\n"
            + summary(epoch_rows, step_rows))
    tables.write_text(os.path.join(out, "summary.md"), text)
    return epoch_rows


@dataclasses.dataclass(frozen=True)
class LowLabelsArgs:
    """`python results/low_labels/low_labels.py`'s flags: `run`'s arguments."""

    preset: str = "cpu_small"
    out: str = "results/low_labels"
    fraction: float = 0.01
    epochs: int = 5
    eval_epochs: Tuple[int, ...] = (1, 3, 5)
    variants: Tuple[str, ...] = tuple(VARIANTS)
    seed: int = 0

    def __post_init__(self):
        checks.check_choice("preset", self.preset, tuple(presets.PRESETS))
        checks.check_names("variants", self.variants, VARIANTS)
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1]. Received: fraction={self.fraction}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1. Received: epochs={self.epochs}")
        if not self.eval_epochs or not all(1 <= e <= self.epochs for e in self.eval_epochs):
            raise ValueError("eval_epochs must be epochs in [1, epochs]. Received: "
                             f"eval_epochs={self.eval_epochs}, epochs={self.epochs}")


HELP = {
    "preset": "Experiment preset (data and model scale).",
    "out": "Output folder.",
    "fraction": "Labeled fraction.",
    "epochs": "Epochs per variant.",
    "eval_epochs": "Epochs after which to evaluate.",
    "variants": "Variants: " + ", ".join(VARIANTS),
    "seed": "Seed.",
}
CHOICES = {"preset": tuple(presets.PRESETS)}


def main(args):
    """Runs the variants `args` names."""
    run(**dataclasses.asdict(args))


if __name__ == "__main__":
    cli.main(LowLabelsArgs, main, HELP, CHOICES)
