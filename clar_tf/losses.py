"""CLAR objectives as pure functions: NT-Xent, supervised contrastive, masked cross-entropy.

CLAR (Al-Tahan & Mohsenzadeh 2021) trains with L = L_CL + L_CE (eq. 4): the contrastive
NT-Xent loss of SimCLR on the projection head's output (eq. 1) plus the categorical
cross-entropy (eq. 2) of the labeled examples in the batch, which is zero for a batch
without labels. `supcon` is the supervised contrastive alternative (Khosla et al. 2020).

Every function returns a float32 scalar and computes in float32 whatever its input dtype
(so mixed-precision models get a full-precision loss).

Distribution convention
-----------------------
Under a `tf.distribute` replica context with R > 1 replicas (inside `strategy.run`, or a
Keras `train_step` under a strategy), each replica passes its own shard of the batch and
each function returns a *per-replica* value whose MEAN over the replicas equals the loss
of the global batch. Concretely every loss is a mean over "items" (anchors or labeled
examples); the replica returns ``R * local_sum / global_count``, with ``global_count``
all-reduced across replicas. The training step divides the per-replica value by R before
taking gradients (as Keras does), so the all-reduce SUM of the replicas' gradients is the
gradient of the global-batch loss. This holds for unequal shards too, and makes a replica
whose shard has no labels contribute correctly to the masked cross-entropy.

The contrastive losses draw their negatives from the GLOBAL batch: every replica
all-gathers the embeddings (`ReplicaContext.all_gather`) and contrasts its local anchors
against all global keys (as SimCLR does on TPUs). TensorFlow's `all_gather` gradient
all-reduces (SUM) the incoming gradient and slices out the replica's rows, which is the
gradient of the sum of all replicas' losses with respect to the local shard; the tests
check that the resulting gradients equal the single-device ones.

Outside a replica context, or with a single replica, these are the plain single-device
losses.
"""

import tensorflow as tf
from keras import ops

from clar_tf import checks

__all__ = ["nt_xent", "supcon", "masked_cross_entropy", "CE_NORMALIZATIONS"]

# How `masked_cross_entropy` normalises its sum (CLAR's `--ce_normalization`).
CE_NORMALIZATIONS = ("labeled", "batch")

# Subtracted from the self-similarity logit to drop it from the softmax denominator
# (SimCLR's LARGE_NUM); logits are bounded by 1/temperature, so exp(-1e9) is exactly 0.
_LARGE_NUM = 1e9


def _replica_context():
    """The replica context when running on more than one replica, else None."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync <= 1:
        return None
    return ctx


def _gather(ctx, x):
    """Concatenates `x` along axis 0 across replicas (differentiable); identity locally."""
    return x if ctx is None else ctx.all_gather(x, axis=0)


def _row_offset(ctx, n):
    """Index of this replica's first row in the gathered global batch (0 locally)."""
    if ctx is None:
        return ops.zeros((), dtype="int32")
    sizes = ctx.all_gather(tf.reshape(tf.cast(n, tf.int32), [1]), axis=0)  # [R]
    before = tf.range(ctx.num_replicas_in_sync) < ctx.replica_id_in_sync_group
    return tf.reduce_sum(tf.where(before, sizes, tf.zeros_like(sizes)))


def _global_mean(local_sum, local_count, ctx):
    """Per-replica value whose mean over replicas is sum(all items) / count(all items).

    Returns exactly 0 (with zero gradients) when there are no items anywhere.
    """
    local_count = ops.cast(local_count, "float32")
    if ctx is None:
        return local_sum / ops.maximum(local_count, 1.0)
    global_count = ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                                  tf.stop_gradient(local_count))
    return float(ctx.num_replicas_in_sync) * local_sum / ops.maximum(global_count, 1.0)


def _l2_normalize(x):
    """x / max(||x||, 1e-6) along the last axis, in float32 (as tf.math.l2_normalize)."""
    x = ops.cast(x, "float32")
    sq = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(sq, 1e-12))


def _one_hot_rows(indices, depth):
    """[len(indices), depth] float32 mask with a 1 at (i, indices[i])."""
    cols = ops.arange(depth, dtype="int32")
    return ops.cast(ops.equal(ops.expand_dims(indices, 1), ops.expand_dims(cols, 0)),
                    "float32")


def nt_xent(z1, z2, temperature=0.5):
    """NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR (CLAR eq. 1).

    For each of the 2N anchors (both views of every example) the loss is
    ``-log(exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau))`` where ``s`` is cosine
    similarity, j the other view of the same example, and k runs over the other 2N - 1
    views in the batch (the positive included). The result is the mean over anchors.

    Under a replica context with R > 1 replicas, k runs over the 2·N_global views of the
    global batch (all-gathered) and the per-replica value follows the module's
    distribution convention.

    Args:
        z1: [N, D] embeddings of the first views; need not be normalized.
        z2: [N, D] embeddings of the second views, row i paired with `z1[i]`.
        temperature: tau > 0 (paper default 0.5).

    Returns:
        Scalar float32 loss.

    Example:

    >>> import math
    >>> import numpy as np
    >>> from clar_tf import losses
    >>> z = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")  # two orthogonal examples
    >>> # Both views equal: each anchor's positive has cosine 1, its two negatives 0.
    >>> round(float(losses.nt_xent(z, z, temperature=1.0)), 4)
    0.5514
    >>> round(-math.log(math.exp(1) / (math.exp(1) + 2 * math.exp(0))), 4)
    0.5514
    """
    checks.check_number("temperature", temperature, positive=True)
    if len(z1.shape) != 2 or len(z2.shape) != 2:
        raise ValueError(f"`z1` and `z2` must be [N, D]. Received shapes {z1.shape} "
                         f"and {z2.shape}")
    z1 = _l2_normalize(z1)
    z2 = _l2_normalize(z2)
    n = ops.shape(z1)[0]
    ctx = _replica_context()
    k1 = _gather(ctx, z1)                                   # [M, D], M = global N
    k2 = _gather(ctx, z2)
    m = ops.shape(k1)[0]
    local = ops.arange(n, dtype="int32") + _row_offset(ctx, n)   # rows of z1 in k1

    anchors = ops.concatenate([z1, z2], axis=0)              # [2N, D]
    keys = ops.concatenate([k1, k2], axis=0)                 # [2M, D]
    logits = ops.matmul(anchors, ops.transpose(keys)) / temperature   # [2N, 2M]
    self_idx = ops.concatenate([local, local + m], axis=0)
    pos_idx = ops.concatenate([local + m, local], axis=0)
    denominator = ops.logsumexp(logits - _LARGE_NUM * _one_hot_rows(self_idx, 2 * m),
                                axis=1)
    positive = ops.sum(logits * _one_hot_rows(pos_idx, 2 * m), axis=1)
    loss = denominator - positive                            # [2N]
    return _global_mean(ops.sum(loss), 2 * n, ctx)


def supcon(z, labels, temperature=0.5):
    """Supervised contrastive loss, the L^sup_out form of Khosla et al. 2020 (their eq. 2).

    Every view of every example is an anchor i. Its positives P(i) are all other views
    (of any example, itself included) with the same label; its denominator runs over all
    views except i. Per anchor:
    ``-1/|P(i)| * sum_{p in P(i)} log(exp(s_ip / tau) / sum_{a != i} exp(s_ia / tau))``.
    Anchors with no positive are excluded; the result is the mean over the remaining
    anchors (0 if none). Examples with a negative label (-1 = unlabeled) take no part at
    all: they are neither anchors, positives nor negatives, so SupCon at a label
    fraction trains on the labeled examples alone (paper §2.2: "strictly supervised").
    Unlike Khosla et al.'s code there is no tau / base_tau factor.
    With unique labels and V = 2 this equals `nt_xent`.

    Under a replica context with R > 1 replicas, positives and the denominator range over
    the global batch (all-gathered) and the per-replica value follows the module's
    distribution convention.

    Args:
        z: [N, V, D] embeddings of V views per example; need not be normalized.
        labels: [N] integer class labels, -1 for unlabeled.
        temperature: tau > 0.

    Returns:
        Scalar float32 loss.

    Example:

    >>> import math
    >>> import numpy as np
    >>> from clar_tf import losses
    >>> z = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")
    >>> views = np.stack([z, z], axis=1)  # [N=2, V=2, D=2], both views equal
    >>> # Unique labels: `nt_xent` of the same views, -log(e / (e + 2)).
    >>> round(float(losses.supcon(views, np.array([0, 1]), temperature=1.0)), 4)
    0.5514
    >>> # One class: each anchor has 3 positives, cosines 1, 0, 0 (denominator e + 2).
    >>> round(float(losses.supcon(views, np.array([0, 0]), temperature=1.0)), 4)
    1.2181
    >>> round(math.log(math.e + 2) - 1 / 3, 4)
    1.2181
    >>> float(losses.supcon(views, np.array([-1, -1])))  # no labeled anchor
    0.0
    """
    checks.check_number("temperature", temperature, positive=True)
    if len(z.shape) != 3:
        raise ValueError(f"`z` must be [N, V, D]. Received shape {z.shape}")
    z = _l2_normalize(z)
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    n, v, d = ops.shape(z)[0], ops.shape(z)[1], ops.shape(z)[2]
    ctx = _replica_context()
    anchors = ops.reshape(z, (n * v, d))                     # row = example * V + view
    anchor_labels = ops.repeat(labels, v, axis=0)
    keys = ops.reshape(_gather(ctx, z), (-1, d))             # [M * V, D]
    key_labels = ops.repeat(_gather(ctx, tf.stop_gradient(labels)), v, axis=0)
    self_idx = ops.arange(n * v, dtype="int32") + _row_offset(ctx, n) * v

    logits = ops.matmul(anchors, ops.transpose(keys)) / temperature   # [N*V, M*V]
    self_mask = _one_hot_rows(self_idx, ops.shape(keys)[0])
    key_valid = ops.expand_dims(ops.cast(key_labels >= 0, "float32"), 0)
    log_prob = logits - ops.logsumexp(
        logits - _LARGE_NUM * (self_mask + 1.0 - key_valid), axis=1, keepdims=True)
    same = ops.cast(ops.equal(ops.expand_dims(anchor_labels, 1),
                              ops.expand_dims(key_labels, 0)), "float32")
    pos_mask = same * (1.0 - self_mask) * key_valid
    n_pos = ops.sum(pos_mask, axis=1)
    has_pos = ops.logical_and(n_pos > 0, anchor_labels >= 0)
    per_anchor = -ops.sum(pos_mask * log_prob, axis=1) / ops.maximum(n_pos, 1.0)
    local_sum = ops.sum(ops.where(has_pos, per_anchor, ops.zeros_like(per_anchor)))
    return _global_mean(local_sum, ops.sum(ops.cast(has_pos, "float32")), ctx)


def masked_cross_entropy(logits, labels, normalization="labeled"):
    """Categorical cross-entropy of the labeled examples (CLAR eq. 2, as used in eq. 4).

    Examples with a negative label (-1 = unlabeled) contribute nothing. With
    `normalization="labeled"` (eq. 4 as written: "the CE loss of the labeled samples") the
    result is the mean CE over the labeled examples; with `"batch"` it is the sum of their
    CE divided by the number of ALL examples in the batch, labeled or not, so a batch
    holding one labeled clip of N weighs it 1/N instead of 1 (the weight it would have in
    a fully labeled batch). Either way it is exactly 0 (with zero, finite gradients) when
    the batch has no labeled example. Under a replica context with R > 1 replicas the
    counts are those of the GLOBAL batch (all-reduced) and the per-replica value follows
    the module's distribution convention.

    Args:
        logits: [N, C] unnormalized class scores.
        labels: [N] integer labels in [0, C), or -1 for unlabeled.
        normalization: "labeled" (mean over labeled examples) or "batch" (sum over
            labeled examples / N).

    Returns:
        Scalar float32 loss.

    Example:

    >>> import math
    >>> import numpy as np
    >>> from clar_tf import losses
    >>> logits = np.zeros((3, 4), dtype="float32")  # uniform over C = 4 classes
    >>> labels = np.array([0, 2, -1])               # the third example is unlabeled
    >>> round(float(losses.masked_cross_entropy(logits, labels)), 4)  # log(C)
    1.3863
    >>> round(math.log(4), 4)
    1.3863
    >>> round(float(losses.masked_cross_entropy(logits, labels, "batch")), 4)  # 2 log(4) / 3
    0.9242
    >>> float(losses.masked_cross_entropy(logits, np.array([-1, -1, -1])))  # no labels
    0.0
    """
    if normalization not in CE_NORMALIZATIONS:
        raise ValueError(f"`normalization` must be one of {CE_NORMALIZATIONS}. "
                         f"Received: normalization={normalization!r}")
    if len(logits.shape) != 2:
        raise ValueError(f"`logits` must be [N, C]. Received shape {logits.shape}")
    logits = ops.cast(logits, "float32")
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    labeled = labels >= 0
    safe_labels = ops.where(labeled, labels, ops.zeros_like(labels))
    picked = ops.take_along_axis(logits, ops.expand_dims(safe_labels, 1), axis=1)[:, 0]
    ce = ops.logsumexp(logits, axis=1) - picked              # [N], finite for every row
    weight = ops.cast(labeled, "float32")
    count = ops.sum(weight) if normalization == "labeled" else ops.shape(labels)[0]
    return _global_mean(ops.sum(ce * weight), count, _replica_context())
