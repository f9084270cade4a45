"""The four training methods: losses, label masking, fit(), and two replicas vs one."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import config as config_lib
from clar_tf import distribute, losses, method_registry
from clar_tf.models import factory, methods

CLIP = 2000
CLASSES = 3


def _config(method, **overrides):
    values = dict(model_dir="unused", method=method, encoder="1d", width=0.125,
                  augment="", head_hidden_units=32, projection_units=16, seed=1)
    values.update(overrides)
    return config_lib.Config(**values)


def _batch(n=8, seed=0):
    rng = np.random.RandomState(seed)
    labels = np.arange(n) % CLASSES
    t = np.arange(CLIP) / 16000.0
    audio = np.stack([np.sin(2 * np.pi * (300 + 400 * y) * t) for y in labels])
    audio = audio + 0.05 * rng.randn(n, CLIP)
    return {"audio": audio.astype("float32"), "label": labels.astype("int64")}


def _np_ce(logits, labels):
    keep = labels >= 0
    z = logits[keep] - logits[keep].max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(keep.sum()), labels[keep]].mean() if keep.any() else 0.0


def _outputs(model, audio):
    out = model(audio, training=False)
    return {k: tf.constant(np.asarray(v)) for k, v in out.items()}


@pytest.mark.slow
@pytest.mark.parametrize("entry", method_registry.METHODS, ids=method_registry.NAMES)
def test_each_registered_method_builds_its_class_and_drives_its_loss_down(entry):
    keras.utils.set_random_seed(0)
    model = factory.build_model(_config(entry.name), CLASSES, CLIP)
    assert type(model) is entry.model_class() and model.name == entry.name
    assert issubclass(entry.model_class(), methods.TwoViewModel)
    # The head ends in a num_classes layer exactly where the entry says so.
    assert (model.head.num_classes == CLASSES) == entry.has_classifier
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds = tf.data.Dataset.from_tensors(_batch()).repeat()
    history = model.fit(ds, epochs=6, steps_per_epoch=5, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0], history


@pytest.mark.parametrize("entry", method_registry.METHODS, ids=method_registry.NAMES)
def test_one_training_step_per_method_logs_the_numpy_loss_and_moves_the_weights(entry):
    # augment="": the two views are the clip itself, so the step's forward pass over
    # [2N] is `model([x; x], training=True)`, and its loss is the NumPy loss of that.
    from losses_test import np_masked_ce, np_nt_xent, np_supcon
    keras.utils.set_random_seed(0)
    model = factory.build_model(_config(entry.name), CLASSES, CLIP)
    batch = _batch()
    batch["label"][::3] = -1  # some unlabeled clips
    x, y, n = batch["audio"], batch["label"], len(batch["label"])
    out = {k: np.asarray(v, np.float64)
           for k, v in model(np.concatenate([x, x]), training=True).items()}
    view1, view2 = ({k: v[:n] for k, v in out.items()}, {k: v[n:] for k, v in out.items()})
    norm = getattr(model, "ce_normalization", "labeled")  # CLAR's default is "batch"
    ce = 0.5 * (np_masked_ce(view1["output"], y, norm) + np_masked_ce(view2["output"], y, norm))
    expected = {
        "supervised": lambda: ce,
        "simclr": lambda: np_nt_xent(view1["output"], view2["output"], 0.5),
        "supcon": lambda: np_supcon(np.stack([view1["output"], view2["output"]], 1), y, 0.5),
        "clar": lambda: np_nt_xent(view1["projection"], view2["projection"], 0.5) + ce,
    }[entry.name]()
    before = [np.array(v) for v in model.embedder.trainable_variables]
    model.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    logs = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0).history
    np.testing.assert_allclose(logs["loss"][0], expected, rtol=1e-4)
    moved = [not np.array_equal(b, np.array(v))
             for b, v in zip(before, model.embedder.trainable_variables)]
    assert all(moved), f"{moved.count(False)} encoder variables did not move"


def test_the_flags_config_and_presets_read_the_registry():
    assert config_lib.METHODS == method_registry.NAMES == ("supervised", "supcon",
                                                          "simclr", "clar")
    assert config_lib.LABELED_METHODS == ("supervised", "supcon", "clar")
    for entry in method_registry.METHODS:
        assert entry.name in config_lib.HELP["method"]
        assert _config(entry.name).has_classifier == entry.has_classifier
    with pytest.raises(ValueError, match="Received: method='byol'"):
        method_registry.get("byol")
    with pytest.raises(ValueError, match="method"):
        _config("byol")


def test_clar_without_labels_is_nt_xent_on_the_layer_before_the_last():
    keras.utils.set_random_seed(0)
    model = factory.build_model(_config("clar"), CLASSES, CLIP)
    b1, b2 = _batch(seed=1), _batch(seed=2)
    out1, out2 = _outputs(model, b1["audio"]), _outputs(model, b2["audio"])
    assert out1["projection"].shape == (8, 16) and out1["output"].shape == (8, CLASSES)
    got = model.compute_losses(out1, out2, tf.fill([8], tf.constant(-1, tf.int64)))
    want = losses.nt_xent(out1["projection"], out2["projection"], 0.5)
    np.testing.assert_allclose(float(got["loss"]), float(want), rtol=1e-6)
    assert float(got["ce_loss"]) == 0.0


def test_cross_entropy_ignores_unlabeled_examples():
    keras.utils.set_random_seed(0)
    model = factory.build_model(_config("clar", ce_normalization="labeled"), CLASSES, CLIP)
    out1 = _outputs(model, _batch(seed=1)["audio"])
    out2 = _outputs(model, _batch(seed=2)["audio"])
    labels = np.array([0, -1, 2, 1, -1, -1, 0, 2])
    ce = float(model.compute_losses(out1, out2, tf.constant(labels))["ce_loss"])
    want = 0.5 * (_np_ce(out1["output"].numpy(), labels) + _np_ce(out2["output"].numpy(), labels))
    np.testing.assert_allclose(ce, want, rtol=1e-5)
    # Changing the logits of unlabeled rows changes nothing.
    noise = np.where((labels < 0)[:, None], 100.0, 0.0).astype("float32")
    moved = {"projection": out1["projection"], "output": out1["output"] + noise}
    ce_moved = float(model.compute_losses(moved, out2, tf.constant(labels))["ce_loss"])
    np.testing.assert_allclose(ce_moved, ce, rtol=1e-6)


@pytest.mark.parametrize("normalization", ["labeled", "batch"])
@pytest.mark.parametrize("weight", [1.0, 0.25])
def test_clar_ce_weight_and_normalization_match_numpy(normalization, weight):
    keras.utils.set_random_seed(0)
    model = factory.build_model(_config("clar", ce_weight=weight,
                                        ce_normalization=normalization), CLASSES, CLIP)
    out1 = _outputs(model, _batch(seed=1)["audio"])
    out2 = _outputs(model, _batch(seed=2)["audio"])
    labels = np.array([0, -1, -1, -1, -1, -1, -1, 2])   # 2 labeled of 8
    got = model.compute_losses(out1, out2, tf.constant(labels))
    mean_ce = 0.5 * (_np_ce(out1["output"].numpy(), labels)
                     + _np_ce(out2["output"].numpy(), labels))
    want_ce = mean_ce * (2 / 8 if normalization == "batch" else 1.0)
    np.testing.assert_allclose(float(got["ce_loss"]), want_ce, rtol=1e-5)
    contrastive = float(losses.nt_xent(out1["projection"], out2["projection"], 0.5))
    np.testing.assert_allclose(float(got["loss"]), contrastive + weight * want_ce, rtol=1e-5)


def test_clar_options_are_validated():
    with pytest.raises(ValueError, match="ce_normalization"):
        _config("clar", ce_normalization="mean")
    with pytest.raises(ValueError, match="ce_weight"):
        _config("clar", ce_weight=-1.0)
    with pytest.raises(ValueError, match="labeled_per_batch"):
        _config("clar", batch_size=8, labeled_per_batch=8)
    with pytest.raises(ValueError, match="labeled_per_batch"):
        _config("clar", labeled_per_batch=2, labeled_fraction=0.0)


def test_registry_options_reach_the_model_and_are_config_fields():
    import dataclasses
    import inspect
    fields = {f.name for f in dataclasses.fields(config_lib.Config)}
    for method in method_registry.METHODS:
        params = inspect.signature(method.model_class().__init__).parameters
        assert set(method.options) <= fields and set(method.options) <= set(params)
    model = factory.build_model(_config("clar", ce_weight=0.25, ce_normalization="batch"),
                                CLASSES, CLIP)
    assert (model.ce_weight, model.ce_normalization) == (0.25, "batch")


def test_supervised_and_supcon_ignore_unlabeled_only_batches():
    keras.utils.set_random_seed(0)
    for method in ("supervised", "supcon"):
        model = factory.build_model(_config(method), CLASSES, CLIP)
        out = _outputs(model, _batch()["audio"])
        got = model.compute_losses(out, out, tf.fill([8], tf.constant(-1, tf.int64)))
        assert float(got["loss"]) == 0.0


def test_views_are_augmented_independently():
    keras.utils.set_random_seed(0)
    model = factory.build_model(_config("simclr", augment="TS+WN"), CLASSES, CLIP)
    audio = tf.constant(_batch()["audio"])
    views = model.views(audio).numpy()
    assert views.shape == (16, CLIP)
    assert not np.allclose(views[:8], views[8:])
    assert not np.allclose(views[:8], audio.numpy())


def test_2d_embedder_takes_raw_audio():
    model = factory.build_model(_config("clar", encoder="2d"), CLASSES, CLIP)
    assert model.embedder.inputs[0].shape[1] == CLIP
    emb = model.embedder(_batch()["audio"])
    assert emb.shape == (8, 64)  # 512 · 0.125


@pytest.mark.slow
@pytest.mark.parametrize("method", ["clar", "supcon"])
def test_two_replicas_match_one_device(method):
    batch = _batch(n=8)
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    results = []
    for name in ("one_device", "mirrored"):
        strategy = distribute.get_strategy(name)
        keras.utils.set_random_seed(3)
        with strategy.scope():
            model = factory.build_model(_config(method), CLASSES, CLIP,
                                        sync_batchnorm=name == "mirrored")
            model.compile(optimizer=keras.optimizers.SGD(0.1))
        if results:
            model.set_weights(results[0][1])
        start = [w.copy() for w in model.get_weights()]
        # Mirrored splits each global batch of 8 into two replicas of 4.
        history = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0).history
        results.append((history["loss"][0], start, model.get_weights()))
        assert strategy.num_replicas_in_sync == (2 if name == "mirrored" else 1)
    (loss1, _, after1), (loss2, _, after2) = results
    np.testing.assert_allclose(loss2, loss1, rtol=1e-4)
    # Synchronized BN computes its variance as E[x²] - E[x]², plain BN in two passes: the
    # float32 round-off differs, so updates are compared by relative norm (a wrong
    # gradient scale across replicas would be off by 100 %).
    for w1, w2, w0 in zip(after1, after2, results[0][1]):
        d1, d2 = w1 - w0, w2 - w0
        assert np.linalg.norm(d2 - d1) <= 1e-2 * np.linalg.norm(d1) + 1e-7


@pytest.mark.slow
@pytest.mark.parametrize("policy, jit", [("mixed_bfloat16", False), ("float32", True)])
def test_mixed_precision_and_xla_steps(policy, jit):
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(policy)
    try:
        model = factory.build_model(_config("clar", encoder="2d"), CLASSES, CLIP)
        model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=jit)
    finally:
        keras.config.set_dtype_policy("float32")
    if policy != "float32":
        assert model.embedder.get_layer("frontend").compute_dtype == "float32"
        assert model.augmenter.compute_dtype == "float32"
        assert model.head.compute_dtype == "bfloat16"
    ds = tf.data.Dataset.from_tensors(_batch()).repeat()
    history = model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0).history
    assert np.isfinite(history["loss"][0]) and np.isfinite(history["ce_loss"][0])
