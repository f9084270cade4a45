"""Tests for clar_tf.models.resnet (ResNet18 1D/2D encoders)."""
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import distribute
from clar_tf.models.resnet import resnet18_1d, resnet18_2d

TORCHVISION_RESNET18_WITHOUT_FC = 11_176_512  # 11,689,512 − (512·1000 + 1000)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _expected_params(in_channels, width, kernel_area, stem_area):
    """Trainable parameters of a ResNet18 body counted by hand (convs have no bias;
    each BN has γ and β)."""
    ch = lambda base: max(1, int(round(base * width)))  # noqa: E731
    c0 = ch(64)
    total = stem_area * in_channels * c0 + 2 * c0
    prev = c0
    for base, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        c = ch(base)
        # first block: conv(prev→c), conv(c→c), two BNs, optional 1×1 projection + BN
        total += kernel_area * prev * c + kernel_area * c * c + 4 * c
        if stride != 1 or prev != c:
            total += prev * c + 2 * c
        # second block
        total += 2 * kernel_area * c * c + 4 * c
        prev = c
    return total


def test_2d_parameter_count_matches_torchvision():
    model = resnet18_2d((126, 128, 3))
    assert _trainable(model) == TORCHVISION_RESNET18_WITHOUT_FC
    assert _expected_params(3, 1.0, 9, 49) == TORCHVISION_RESNET18_WITHOUT_FC
    bn_channels = sum(l.gamma.shape[0] for l in model.layers
                      if isinstance(l, keras.layers.BatchNormalization))
    assert model.count_params() == TORCHVISION_RESNET18_WITHOUT_FC + 2 * bn_channels
    assert not any(getattr(l, "use_bias", False) for l in model.layers)


@pytest.mark.parametrize("width,in_channels", [(0.5, 3), (0.25, 1), (0.1, 2)])
def test_2d_parameter_count_widths(width, in_channels):
    model = resnet18_2d((None, None, in_channels), width=width)
    assert _trainable(model) == _expected_params(in_channels, width, 9, 49)


@pytest.mark.parametrize("width,kernel_size,pool_size", [
    (1.0, 3, 3), (1.0, 9, 9), (0.25, 9, 9), (0.1, 5, 3)])
def test_1d_parameter_count(width, kernel_size, pool_size):
    model = resnet18_1d(16000, width=width, kernel_size=kernel_size, pool_size=pool_size)
    assert _trainable(model) == _expected_params(1, width, kernel_size, 7)


@pytest.mark.parametrize("input_shape,width,out_dim", [
    ((126, 128, 3), 1.0, 512), ((63, 128, 3), 0.5, 256), ((40, 33, 1), 0.25, 128)])
def test_2d_output_shapes(input_shape, width, out_dim):
    model = resnet18_2d(input_shape, width=width)
    assert tuple(model.output.shape) == (None, out_dim)
    out = model(np.random.RandomState(0).randn(2, *input_shape).astype("float32"))
    assert tuple(out.shape) == (2, out_dim)


def test_2d_feature_map_sizes_follow_pytorch_padding():
    # torchvision: out = floor((n + 2p - k) / s) + 1 at every strided layer.
    model = resnet18_2d((126, 128, 3), width=0.125)
    sizes = {"conv1": (63, 64), "maxpool": (32, 32), "layer2_0_relu2": (16, 16),
             "layer3_0_relu2": (8, 8), "layer4_1_relu2": (4, 4)}
    for layer, size in sizes.items():
        assert tuple(model.get_layer(layer).output.shape[1:3]) == size, layer


@pytest.mark.parametrize("length,width,kernel_size,pool_size,final_len", [
    (16000, 1.0, 3, 3, 500), (16000, 0.25, 9, 9, 500), (4000, 0.5, 9, 9, 125)])
def test_1d_output_shapes(length, width, kernel_size, pool_size, final_len):
    model = resnet18_1d(length, width=width, kernel_size=kernel_size, pool_size=pool_size)
    out_dim = max(1, int(round(512 * width)))
    assert tuple(model.output.shape) == (None, out_dim)
    assert tuple(model.get_layer("layer4_1_relu2").output.shape) == (None, final_len, out_dim)
    out = model(np.zeros((2, length), np.float32))
    assert tuple(out.shape) == (2, out_dim)


def test_1d_variable_length():
    model = resnet18_1d(None, width=0.125)
    for length in (800, 3000):
        assert tuple(model(np.zeros((1, length), np.float32)).shape) == (1, 64)


@pytest.mark.parametrize("sync", [False, True])
def test_sync_batchnorm_flag(sync):
    for model in (resnet18_2d((32, 32, 3), width=0.125, sync_batchnorm=sync),
                  resnet18_1d(1000, width=0.125, sync_batchnorm=sync)):
        bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
        assert len(bns) == 20  # stem + 2 per block × 8 blocks + 3 projection shortcuts
        assert all(l.synchronized is sync for l in bns)


def test_sync_batchnorm_uses_global_batch_statistics():
    """Under a 2-replica MirroredStrategy, synchronized BN in training mode normalizes with
    the global batch's statistics, so per-replica outputs equal one big-batch call."""
    strategy = distribute.get_strategy("mirrored")  # one per process (see distribute.py)
    assert strategy.num_replicas_in_sync == 2
    x = np.random.RandomState(0).randn(8, 512).astype("float32")
    x[4:] *= 3.0  # replicas see different statistics
    reference = resnet18_1d(512, width=0.0625, sync_batchnorm=False)
    expected = reference(x, training=True).numpy()
    for sync in (True, False):
        with strategy.scope():
            model = resnet18_1d(512, width=0.0625, sync_batchnorm=sync)
        model.set_weights(reference.get_weights())
        dataset = tf.data.Dataset.from_tensor_slices(x).batch(8)
        batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
        per_replica = strategy.run(lambda a: model(a, training=True), args=(batch,))
        got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(
            per_replica)])
        if sync:
            np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
        else:
            assert np.abs(got - expected).max() > 1e-3


@pytest.mark.parametrize("builder", [
    lambda: resnet18_2d((40, 32, 3), width=0.25, sync_batchnorm=True),
    lambda: resnet18_1d(2000, width=0.25, kernel_size=9, pool_size=9)])
def test_keras_save_load(builder):
    model = builder()
    x = np.random.RandomState(1).randn(2, *model.input_shape[1:]).astype("float32")
    model(x, training=True)  # move BN statistics away from their initial values
    expected = model(x, training=False).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "encoder.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert loaded.name == model.name
    np.testing.assert_allclose(loaded(x, training=False).numpy(), expected, atol=1e-5)
    assert _trainable(loaded) == _trainable(model)


@pytest.mark.parametrize("call,name", [
    (lambda: resnet18_2d((32, 32, 3), width=0), "width"),
    (lambda: resnet18_2d((32, 32)), "input_shape"),
    (lambda: resnet18_2d((32, 32, 3), sync_batchnorm="yes"), "sync_batchnorm"),
    (lambda: resnet18_1d(0), "input_length"),
    (lambda: resnet18_1d(1000, kernel_size=4), "kernel_size"),
    (lambda: resnet18_1d(1000, pool_size=0), "pool_size")])
def test_invalid_arguments(call, name):
    with pytest.raises(ValueError, match=f"Received: {name}="):
        call()
