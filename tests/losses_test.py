"""Tests for clar_tf.losses against naive NumPy loops, on one device and on two replicas."""
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import distribute, losses

ATOL = 1e-5


# --- Independent references: plain loops in float64 -------------------------------------

def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def np_nt_xent(z1, z2, tau):
    z = _unit(np.concatenate([z1, z2]))
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        denom = sum(np.exp(z[i] @ z[k] / tau) for k in range(n2) if k != i)
        total += -np.log(np.exp(z[i] @ z[j] / tau) / denom)
    return total / n2


def np_supcon(z, labels, tau):
    n, v, d = z.shape
    feats = _unit(z.reshape(n * v, d))
    labs = np.repeat(labels, v)
    total, count = 0.0, 0
    for i in range(n * v):  # label -1 (unlabeled): neither anchor nor key
        positives = [p for p in range(n * v) if p != i and labs[p] == labs[i]]
        if not positives or labs[i] < 0:
            continue
        denom = sum(np.exp(feats[i] @ feats[a] / tau) for a in range(n * v)
                    if a != i and labs[a] >= 0)
        total += -np.mean([np.log(np.exp(feats[i] @ feats[p] / tau) / denom)
                           for p in positives])
        count += 1
    return total / count if count else 0.0


def np_masked_ce(logits, labels, normalization="labeled"):
    total, count = 0.0, 0
    for row, label in zip(np.asarray(logits, np.float64), labels):
        if label == -1:
            continue
        p = np.exp(row - row.max())
        p /= p.sum()
        total += -np.log(p[label])
        count += 1
    if normalization == "batch":
        return total / len(labels)
    return total / count if count else 0.0


def _rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype("float32")


# --- Single device ------------------------------------------------------------------------

@pytest.mark.parametrize("tau", [0.5, 0.1, 1.0])
def test_nt_xent_matches_numpy(tau):
    z1, z2 = _rand(8, 16, seed=1), _rand(8, 16, seed=2)
    got = float(losses.nt_xent(z1, z2, temperature=tau))
    np.testing.assert_allclose(got, np_nt_xent(z1, z2, tau), atol=ATOL, rtol=1e-5)


def test_nt_xent_normalizes_and_is_symmetric():
    z1, z2 = _rand(6, 5, seed=3), _rand(6, 5, seed=4)
    ref = float(losses.nt_xent(z1, z2))
    np.testing.assert_allclose(float(losses.nt_xent(3.0 * z1, 0.2 * z2)), ref, atol=ATOL)
    np.testing.assert_allclose(float(losses.nt_xent(z2, z1)), ref, atol=ATOL)


def test_nt_xent_temperature_effect():
    # Identical views of orthonormal examples: s_pos = 1, the 2N - 2 negatives have s = 0,
    # so the loss is log(1 + (2N - 2) exp(-1 / tau)), falling as tau falls.
    n = 4
    z = np.eye(n, 8, dtype="float32")
    values = []
    for tau in [2.0, 1.0, 0.5, 0.1]:
        got = float(losses.nt_xent(z, z, temperature=tau))
        np.testing.assert_allclose(got, np.log1p((2 * n - 2) * np.exp(-1 / tau)),
                                   atol=ATOL, rtol=1e-5)
        values.append(got)
    assert values == sorted(values, reverse=True)


def test_nt_xent_single_pair_is_zero():
    # With N = 1 the positive is the only term of the denominator.
    np.testing.assert_allclose(float(losses.nt_xent(_rand(1, 4), _rand(1, 4, seed=5))), 0.0,
                               atol=ATOL)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="temperature"):
        losses.nt_xent(_rand(2, 3), _rand(2, 3), temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        losses.supcon(_rand(2, 2, 3), np.zeros(2, "int32"), temperature=-1.0)
    with pytest.raises(ValueError, match=r"\[N, V, D\]"):
        losses.supcon(_rand(2, 3), np.zeros(2, "int32"))
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        losses.masked_cross_entropy(_rand(2, 3, 4), np.zeros(2, "int32"))


@pytest.mark.parametrize("views,labels", [
    (2, [0, 1, 0, 2, 1, 1]),
    (3, [3, 3, 3, 1, 0, 1]),
    (1, [0, 1, 0, 2, 1, 5]),   # singletons (labels 2, 5) have no positive: excluded
])
def test_supcon_matches_numpy(views, labels):
    labels = np.array(labels, "int32")
    z = _rand(len(labels), views, 7, seed=6)
    for tau in [0.5, 0.2]:
        got = float(losses.supcon(z, labels, temperature=tau))
        np.testing.assert_allclose(got, np_supcon(z, labels, tau), atol=ATOL, rtol=1e-5)


def test_supcon_without_positives_is_zero():
    z = tf.constant(_rand(3, 1, 4))
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = losses.supcon(z, np.array([0, 1, 2], "int32"))
    assert float(loss) == 0.0
    assert np.all(tape.gradient(loss, z).numpy() == 0.0)


def test_supcon_ignores_unlabeled_examples():
    # Unlabeled rows (-1) take no part: the loss equals the NumPy loop on the rest.
    labels = np.array([0, -1, 1, 0, -1, 1, -1], "int32")
    z = _rand(len(labels), 2, 5, seed=9)
    keep = labels >= 0
    got = float(losses.supcon(z, labels))
    np.testing.assert_allclose(got, np_supcon(z[keep], labels[keep], 0.5), atol=ATOL)


def test_supcon_with_unique_labels_equals_nt_xent():
    z1, z2 = _rand(5, 6, seed=7), _rand(5, 6, seed=8)
    got = float(losses.supcon(np.stack([z1, z2], axis=1), np.arange(5)))
    np.testing.assert_allclose(got, float(losses.nt_xent(z1, z2)), atol=ATOL)


def test_masked_cross_entropy_matches_numpy_and_ignores_unlabeled():
    logits = _rand(7, 4, seed=9)
    labels = np.array([2, -1, 0, 3, -1, 1, 1], "int32")
    got = float(losses.masked_cross_entropy(logits, labels))
    np.testing.assert_allclose(got, np_masked_ce(logits, labels), atol=ATOL, rtol=1e-5)
    changed = logits.copy()
    changed[labels == -1] = 1e4 * _rand(2, 4, seed=10)
    np.testing.assert_allclose(float(losses.masked_cross_entropy(changed, labels)), got,
                               atol=ATOL)


def test_masked_cross_entropy_batch_normalization_matches_numpy():
    logits = _rand(8, 4, seed=9)
    labels = np.array([2, -1, -1, -1, -1, -1, -1, -1], "int32")   # 1 labeled of 8
    got = float(losses.masked_cross_entropy(logits, labels, normalization="batch"))
    np.testing.assert_allclose(got, np_masked_ce(logits, labels, "batch"), rtol=1e-5)
    # One labeled clip of eight weighs 1/8 of its mean-over-labeled value.
    np.testing.assert_allclose(got, float(losses.masked_cross_entropy(logits, labels)) / 8,
                               rtol=1e-5)
    all_labeled = np.array([2, 0, 1, 3, 3, 1, 0, 2], "int32")
    np.testing.assert_allclose(
        float(losses.masked_cross_entropy(logits, all_labeled, normalization="batch")),
        np_masked_ce(logits, all_labeled), rtol=1e-5)
    with pytest.raises(ValueError, match="normalization"):
        losses.masked_cross_entropy(logits, labels, normalization="mean")


@pytest.mark.parametrize("normalization", ["labeled", "batch"])
def test_masked_cross_entropy_without_labels_is_zero_with_finite_gradient(normalization):
    logits = tf.constant(_rand(5, 3, seed=11))
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = losses.masked_cross_entropy(logits, -np.ones(5, "int32"), normalization)
    grad = tape.gradient(loss, logits).numpy()
    assert float(loss) == 0.0
    assert np.all(np.isfinite(grad)) and np.all(grad == 0.0)


def test_losses_in_graph_with_unknown_batch():
    @tf.function(input_signature=[tf.TensorSpec([None, 4]), tf.TensorSpec([None, 4]),
                                  tf.TensorSpec([None], tf.int32)])
    def all_losses(a, b, y):
        return (losses.nt_xent(a, b), losses.supcon(tf.stack([a, b], 1), y),
                losses.masked_cross_entropy(a, y))

    a, b = _rand(6, 4, seed=12), _rand(6, 4, seed=13)
    y = np.array([0, 1, -1, 1, 3, 0], "int32")
    got = [float(v) for v in all_losses(a, b, y)]
    np.testing.assert_allclose(got, [np_nt_xent(a, b, 0.5),
                                     np_supcon(np.stack([a, b], 1), y, 0.5),
                                     np_masked_ce(a, y)], atol=ATOL, rtol=1e-5)


# --- Two replicas (MirroredStrategy over the two logical CPUs from conftest) ------------

@pytest.fixture(scope="module")
def strategy():
    return distribute.get_strategy("mirrored")


def _single_device(fn, w0, x, *rest):
    """Loss and gradients (wrt x and the shared weight w) on one device."""
    w = tf.Variable(w0)
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = fn(w, x, *[tf.constant(r) for r in rest])
    gx, gw = tape.gradient(loss, [x, w])
    return float(loss), gx.numpy(), gw.numpy()


def _per_replica(strategy, fn, w0, x, *rest):
    """Per-replica losses, input gradients (concatenated) and weight gradients (list)."""
    r = strategy.num_replicas_in_sync
    with strategy.scope():
        w = tf.Variable(w0)

    def shard(a):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(np.split(a, r)[ctx.replica_id_in_sync_group]))

    def replica_fn(xl, *restl):
        with tf.GradientTape() as tape:
            tape.watch(xl)
            loss = fn(w, xl, *restl)
        gx, gw = tape.gradient(loss, [xl, w])
        return loss, gx, gw

    @tf.function
    def run(*args):
        return strategy.run(replica_fn, args=args)

    loss, gx, gw = run(shard(x), *[shard(a) for a in rest])
    local = strategy.experimental_local_results
    return ([float(v) for v in local(loss)], np.concatenate([g.numpy() for g in local(gx)]),
            [g.numpy() for g in local(gw)])


def _assert_distributed_equals_single(strategy, fn, w0, x, *rest):
    loss, gx, gw = _single_device(fn, w0, x, *rest)
    losses_r, gx_r, gw_r = _per_replica(strategy, fn, w0, x, *rest)
    r = strategy.num_replicas_in_sync
    assert len(losses_r) == r == 2
    np.testing.assert_allclose(np.mean(losses_r), loss, atol=ATOL, rtol=1e-5)
    np.testing.assert_allclose(gx_r / r, gx, atol=ATOL, rtol=1e-5)
    np.testing.assert_allclose(np.sum(gw_r, axis=0) / r, gw, atol=ATOL, rtol=1e-5)
    return losses_r


def test_nt_xent_distributed_equals_single_device(strategy):
    x1, x2, w0 = _rand(8, 6, seed=20), _rand(8, 6, seed=21), _rand(6, 5, seed=22)
    fn = lambda w, a, b: losses.nt_xent(tf.matmul(a, w), tf.matmul(b, w), temperature=0.2)
    losses_r = _assert_distributed_equals_single(strategy, fn, w0, x1, x2)
    # The negatives really are global: replica 0's value is not its local-only loss.
    local_only = np_nt_xent(x1[:4] @ w0, x2[:4] @ w0, 0.2)
    assert abs(losses_r[0] - local_only) > 1e-3


def test_supcon_distributed_equals_single_device(strategy):
    x, w0 = _rand(8, 2, 6, seed=23), _rand(6, 5, seed=24)
    labels = np.array([0, 1, 2, 0, 1, 3, 2, 0], "int32")   # positives across replicas
    fn = lambda w, a, y: losses.supcon(tf.einsum("nvi,io->nvo", a, w), y, temperature=0.3)
    _assert_distributed_equals_single(strategy, fn, w0, x, labels)


def test_supcon_distributed_unequal_anchor_counts(strategy):
    # One view: replica 1's shard holds the singletons, so the replicas have different
    # numbers of anchors with positives.
    x, w0 = _rand(8, 1, 6, seed=25), _rand(6, 5, seed=26)
    labels = np.array([0, 1, 0, 1, 0, 5, 6, 7], "int32")
    fn = lambda w, a, y: losses.supcon(tf.einsum("nvi,io->nvo", a, w), y)
    _assert_distributed_equals_single(strategy, fn, w0, x, labels)


@pytest.mark.parametrize("labels", [
    [2, -1, 0, 1, -1, -1, -1, -1],   # replica 1 has no labels
    [-1, 0, -1, -1, 1, 2, -1, 2],    # uneven labeled counts
    [-1] * 8,                        # none at all: exactly 0, zero gradients
])
@pytest.mark.parametrize("normalization", ["labeled", "batch"])
def test_masked_cross_entropy_distributed_equals_single_device(strategy, labels,
                                                               normalization):
    labels = np.array(labels, "int32")
    x, w0 = _rand(8, 6, seed=27), _rand(6, 3, seed=28)
    fn = lambda w, a, y: losses.masked_cross_entropy(tf.matmul(a, w), y, normalization)
    losses_r = _assert_distributed_equals_single(strategy, fn, w0, x, labels)
    np.testing.assert_allclose(np.mean(losses_r), np_masked_ce(x @ w0, labels, normalization),
                               atol=ATOL, rtol=1e-5)
    if np.all(labels == -1):
        assert losses_r == [0.0, 0.0]
