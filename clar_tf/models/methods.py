"""The four training methods as `fit()`-compatible Keras models (paper §3.2, §4, §8).

`clar_tf.method_registry` names each class with its flag value and properties; the factory
builds them from there.

Every method shares one pipeline: a batch of clips `[N, L]` is augmented twice inside
`train_step` (the augmentation chain runs in the graph, on the accelerator), both views go
through the embedder (frontend + ResNet18 for 2D, ResNet18 alone for 1D) and the
projection head as one `[2N, ...]` batch, and only the loss differs:

| method       | loss                                                                      |
|--------------|---------------------------------------------------------------------------|
| `supervised` | CE on the head's last layer (`output`), labeled examples only            |
| `simclr`     | NT-Xent (eq. 1) on `output` (128-d); labels unused                        |
| `supcon`     | SupCon (Khosla et al. 2020) on `output`, labeled examples only           |
| `clar`       | NT-Xent on `projection` (the layer before the last) + CE on `output` (eq. 4) |

CE is averaged over both views' logits. Labels of -1 mark unlabeled examples (the
label-fraction runs of §8); they add nothing to CE or SupCon.

Distribution: the loss functions return per-replica values whose mean over replicas is
the global-batch loss (see `clar_tf.losses`); the step divides by the replica count so the
optimizer's all-reduce SUM yields the global-batch gradient.
"""
import keras
import tensorflow as tf

from clar_tf import compat, losses


def _multi_worker(strategy):
    """Whether `strategy` is a MultiWorkerMirroredStrategy over more than one worker (the
    chief and worker tasks of its cluster, as TF counts them)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    jobs = strategy.cluster_resolver.cluster_spec().as_dict()
    return len(jobs.get("chief", ())) + len(jobs.get("worker", ())) > 1


class TwoViewModel(compat.FirstBatchBuildOverride):
    """Base class: two augmented views, one forward pass, method-specific losses.

    Args:
        embedder: `keras.Model` mapping audio `[B, L]` to embeddings `[B, D]`.
        head: `ProjectionHead` returning `{"projection", "output"}`.
        augmenter: layer mapping `[B, L]` to an augmented `[B, L]` when `training=True`.
        temperature: τ of NT-Xent / SupCon.
    """

    loss_names = ("loss",)

    def __init__(self, embedder, head, augmenter, temperature=0.5, **kwargs):
        super().__init__(**kwargs)
        self.embedder = embedder
        self.head = head
        self.augmenter = augmenter
        self.temperature = temperature
        self.trackers = {n: keras.metrics.Mean(name=n) for n in self.loss_names}
        self.accuracy = (keras.metrics.Mean(name="accuracy")
                         if head.num_classes else None)

    @property
    def metrics(self):
        tracked = list(self.trackers.values())
        return tracked + ([self.accuracy] if self.accuracy is not None else [])

    def build(self, input_shape):
        self.augmenter.build(input_shape)
        self.head.build((None, self.embedder.outputs[0].shape[-1]))
        self.built = True

    def call(self, inputs, training=None):
        """Audio `[B, L]` → the head's `{"projection", "output"}`."""
        return self.head(self.embedder(inputs, training=training), training=training)

    def views(self, audio):
        """Two independently augmented views `[2N, L]` (view 1 stacked on view 2)."""
        return tf.concat([self.augmenter(audio, training=True),
                          self.augmenter(audio, training=True)], axis=0)

    def replaces_first_batch_build(self):
        """Keras builds a model under a strategy from the replicas' mean first batch, a
        `strategy.reduce` of the input dict that MultiWorkerMirroredStrategy refuses. A
        built model needs no batch: only the optimizer is left to build
        (`build_without_batch`). The first batch is still drawn as Keras draws it, so the
        batches are those of a single-process run."""
        return self.built and isinstance(self.distribute_strategy,
                                         tf.distribute.MultiWorkerMirroredStrategy)

    def build_without_batch(self):
        with self.distribute_strategy.scope():
            if self.optimizer is not None and not self.optimizer.built:
                self.optimizer.build(self.trainable_variables)

    def compute_losses(self, out1, out2, labels):
        """Returns a dict with at least `"loss"`; `out*` are the head's dicts per view."""
        raise NotImplementedError

    def term_losses(self, audio, labels, training):
        """The loss terms of one step on a batch, two fresh views of it included.

        Args:
            audio: clips `[N, L]`.
            labels: int64 `[N]`, -1 for unlabeled clips.
            training: passed to the embedder and the head (batch norm).

        Returns:
            `(values, out1, out2)`: `values` maps each name of `loss_names` to a float32
            scalar (`"loss"`, what the step minimises, first); `out1`, `out2` are the
            head's float32 `{"projection": [N, P], "output": [N, K]}` per view.
        """
        n = tf.shape(audio)[0]
        outputs = self(self.views(audio), training=training)
        outputs = {k: tf.cast(v, "float32") for k, v in outputs.items()}
        out1 = {k: v[:n] for k, v in outputs.items()}
        out2 = {k: v[n:] for k, v in outputs.items()}
        return self.compute_losses(out1, out2, labels), out1, out2

    def _update_metrics(self, values, out1, out2, labels):
        for name in self.loss_names:
            self.trackers[name].update_state(values[name])
        if self.accuracy is not None:
            labeled = labels >= 0
            for out in (out1, out2):
                pred = tf.argmax(out["output"], axis=-1, output_type=labels.dtype)
                correct = tf.cast(tf.equal(pred, labels), "float32")
                self.accuracy.update_state(tf.boolean_mask(correct, labeled))
        logs = {m.name: m.result() for m in self.metrics}
        if _multi_worker(tf.distribute.get_strategy()):  # when Keras reduces over workers
            # Keras averages each log over the workers' replicas with
            # `strategy.reduce(MEAN, axis=0)`, which needs an axis: a [1] per replica
            # comes back a scalar.
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def train_step(self, data):
        audio, labels = data["audio"], tf.cast(data["label"], "int64")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            values, out1, out2 = self.term_losses(audio, labels, training=True)
            loss = values["loss"] / tf.cast(replicas, "float32")
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        return self._update_metrics(values, out1, out2, labels)

    def test_step(self, data):
        audio, labels = data["audio"], tf.cast(data["label"], "int64")
        values, out1, out2 = self.term_losses(audio, labels, training=False)
        return self._update_metrics(values, out1, out2, labels)


def _cross_entropy(out1, out2, labels, normalization="labeled"):
    return 0.5 * (losses.masked_cross_entropy(out1["output"], labels, normalization)
                  + losses.masked_cross_entropy(out2["output"], labels, normalization))


class Supervised(TwoViewModel):
    """Cross-entropy on the labeled examples (paper Table 2, "Cross-Entropy")."""

    def compute_losses(self, out1, out2, labels):
        return {"loss": _cross_entropy(out1, out2, labels)}


class SimCLR(TwoViewModel):
    """NT-Xent on the head's 128-d output; labels are ignored (Chen et al. 2020)."""

    def compute_losses(self, out1, out2, labels):
        del labels
        return {"loss": losses.nt_xent(out1["output"], out2["output"], self.temperature)}


class SupCon(TwoViewModel):
    """Supervised contrastive loss on the labeled examples (Khosla et al. 2020)."""

    def compute_losses(self, out1, out2, labels):
        z = tf.stack([out1["output"], out2["output"]], axis=1)
        return {"loss": losses.supcon(z, labels, self.temperature)}


class CLAR(TwoViewModel):
    """L = L_CL + w·L_CE (eq. 4, w = 1): NT-Xent on `projection`, CE on `output` (§4).

    Args (besides `TwoViewModel`'s):
        ce_weight: w, the weight of the CE term.
        ce_normalization: "labeled" (CE averaged over the batch's labeled clips, eq. 4 as
            written) or "batch" (summed over them and divided by the batch size); see
            `clar_tf.losses.masked_cross_entropy`.
    """

    loss_names = ("loss", "contrastive_loss", "ce_loss")

    def __init__(self, *args, ce_weight=1.0, ce_normalization="labeled", **kwargs):
        super().__init__(*args, **kwargs)
        self.ce_weight = float(ce_weight)
        self.ce_normalization = ce_normalization

    def compute_losses(self, out1, out2, labels):
        contrastive = losses.nt_xent(out1["projection"], out2["projection"], self.temperature)
        ce = _cross_entropy(out1, out2, labels, self.ce_normalization)
        return {"loss": contrastive + self.ce_weight * ce, "contrastive_loss": contrastive,
                "ce_loss": ce}
