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


def _torch_resnet18(x, weights, rank, kernel, pool, training):
    """torchvision's ResNet18 body written with torch.nn.functional (PyTorch padding:
    k // 2 on both sides, max-pool padding 1), on Keras' weights. x: channels last."""
    import torch
    import torch.nn.functional as F
    conv = F.conv1d if rank == 1 else F.conv2d
    pool_fn = F.max_pool1d if rank == 1 else F.max_pool2d
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731

    def conv_w(name):  # Keras [k.., in, out] → torch [out, in, k..]
        w = weights[name][0]
        return t(np.transpose(w, (rank + 1, rank) + tuple(range(rank))))

    def bn(y, name):
        gamma, beta, mean, var = (t(w) for w in weights[name])
        return F.batch_norm(y, mean, var, gamma, beta, training=training, eps=1e-5)

    def c(y, name, k, s):
        return conv(y, conv_w(name), stride=s, padding=k // 2)

    y = t(x).permute(0, rank + 1, *range(1, rank + 1))
    y = F.relu(bn(c(y, "conv1", 7, 2), "bn1"))
    y = pool_fn(y, pool, stride=2, padding=1)
    for s, stride in enumerate((1, 2, 2, 2), start=1):
        for b in range(2):
            name, st = f"layer{s}_{b}", (stride if b == 0 else 1)
            out = F.relu(bn(c(y, f"{name}_conv1", kernel, st), f"{name}_bn1"))
            out = bn(c(out, f"{name}_conv2", kernel, 1), f"{name}_bn2")
            if f"{name}_downsample_conv" in weights:
                y = bn(c(y, f"{name}_downsample_conv", 1, st), f"{name}_downsample_bn")
            y = F.relu(out + y)
    return y.mean(dim=tuple(range(2, rank + 2))).numpy()


@pytest.mark.parametrize("rank,training", [(2, False), (2, True), (1, False), (1, True)])
def test_matches_pytorch_functional_resnet18(rank, training):
    """Same weights → same embedding as torch.nn.functional with PyTorch's padding, in
    inference (moving statistics) and training (batch statistics) mode."""
    pytest.importorskip("torch")
    rng = np.random.RandomState(0)
    if rank == 2:
        model = resnet18_2d((37, 45, 3), width=0.25)
        x = rng.randn(3, 37, 45, 3).astype(np.float32)
        kernel, pool = 3, 3
    else:
        model = resnet18_1d(1001, width=0.25, kernel_size=9, pool_size=9)
        x = rng.randn(3, 1001).astype(np.float32)
        kernel, pool = 9, 9
    for layer in model.layers:  # non-trivial BN statistics and affine parameters
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), 0.1 * rng.randn(c),
                               0.1 * rng.randn(c), rng.uniform(0.5, 1.5, c)])
    weights = {layer.name: layer.get_weights() for layer in model.layers if layer.weights}
    want = _torch_resnet18(x if rank == 2 else x[..., None], weights, rank, kernel, pool,
                           training)
    got = keras.ops.convert_to_numpy(model(x, training=training))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
