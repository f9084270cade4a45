"""ResNet18 encoders for CLAR (paper §3.2): 2D on the frontend's spectrograms, 1D on audio.

Both follow torchvision's ResNet18 layout (He et al. 2016) without the classifier:

    stem   conv k×k/2 (64·w, k=7) → BN → ReLU → max-pool /2
    stage1 2 × BasicBlock(64·w)
    stage2 2 × BasicBlock(128·w), first block stride 2 with a 1×1/2 conv + BN shortcut
    stage3 2 × BasicBlock(256·w), idem
    stage4 2 × BasicBlock(512·w), idem
    global average pooling → [B, 512·w]

BasicBlock: conv k/s → BN → ReLU → conv k/1 → BN, + shortcut, → ReLU. Convolutions have no
bias. Padding is symmetric, as in PyTorch (k // 2 for convolutions, 1 for the max-pool,
zero-valued: the pool follows a ReLU so zeros act like -inf), so output sizes equal
torchvision's for any input size: explicit `ZeroPadding` layers before the strided
convolutions and the pool, `padding="same"` (the same zeros, without a copy of the
activation) for stride 1. Initialisation follows torchvision: He-normal with
fan-out for convolutions, BN γ = 1, β = 0; BN uses PyTorch's momentum 0.1 (Keras 0.9) and
ε = 1e-5.

At width 1 with 3 input channels the 2D model has 11,176,512 trainable parameters, exactly
torchvision's ResNet18 minus its 1000-way classifier.

The 1D variant replaces every conv / pool / BN by its 1D counterpart and takes a raw
waveform `[B, L]` (the channel axis is added inside). The paper's text keeps kernel 3 in
the blocks; the authors' code uses block kernel 9 and max-pool 9 (`kernel_size=9,
pool_size=9`), both with the stem kernel 7 / stride 2 and max-pool padding 1.

Models are plain functional `keras.Model`s of built-in layers plus
`batchnorm.FusedBatchNormalization` (Keras' layer with TensorFlow's fused training kernel;
registered, so loading a `.keras` file needs `clar_tf.models.batchnorm` imported).
`sync_batchnorm=True` makes it synchronized: batch statistics are averaged across replicas
under a `tf.distribute` strategy (Keras' own path).
"""
import keras

from clar_tf import checks
from clar_tf.models.batchnorm import FusedBatchNormalization

_STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))
_BLOCKS_PER_STAGE = 2


def _channels(base, width):
    return max(1, int(round(base * width)))


def _check_common(width, sync_batchnorm, name):
    checks.check_number("width", width, positive=True)
    checks.check_bool("sync_batchnorm", sync_batchnorm)
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string. Received: name={name!r}")


class _Ops:
    """The 1D or 2D layer set, with torchvision's hyper-parameters."""

    def __init__(self, rank, sync_batchnorm):
        self.rank = rank
        self.sync = sync_batchnorm
        self.conv_cls = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
        self.pad_cls = keras.layers.ZeroPadding1D if rank == 1 else keras.layers.ZeroPadding2D
        self.pool_cls = keras.layers.MaxPooling1D if rank == 1 else keras.layers.MaxPooling2D
        self.gap_cls = (keras.layers.GlobalAveragePooling1D if rank == 1
                        else keras.layers.GlobalAveragePooling2D)

    def pad(self, x, amount, name):
        if amount == 0:
            return x
        return self.pad_cls(amount, name=name)(x)

    def conv(self, x, filters, kernel, stride, name):
        if stride == 1:  # odd kernel, stride 1: "same" pads k // 2 on both sides
            padding = "same"
        else:  # TF's "same" would pad asymmetrically here; PyTorch pads k // 2 both sides
            x = self.pad(x, kernel // 2, name=f"{name}_pad")
            padding = "valid"
        return self.conv_cls(
            filters, kernel, strides=stride, padding=padding, use_bias=False,
            kernel_initializer=keras.initializers.VarianceScaling(
                2.0, mode="fan_out", distribution="untruncated_normal"),
            name=name)(x)

    def bn(self, x, name):
        return FusedBatchNormalization(
            momentum=0.9, epsilon=1e-5, synchronized=self.sync, name=name)(x)

    def relu(self, x, name):
        return keras.layers.ReLU(name=name)(x)

    def max_pool(self, x, size, name):
        x = self.pad(x, 1, name=f"{name}_pad")
        return self.pool_cls(size, strides=2, padding="valid", name=name)(x)

    def global_pool(self, x, name):
        return self.gap_cls(name=name)(x)


def _basic_block(ops, x, filters, kernel, stride, name):
    shortcut = x
    y = ops.conv(x, filters, kernel, stride, name=f"{name}_conv1")
    y = ops.bn(y, name=f"{name}_bn1")
    y = ops.relu(y, name=f"{name}_relu1")
    y = ops.conv(y, filters, kernel, 1, name=f"{name}_conv2")
    y = ops.bn(y, name=f"{name}_bn2")
    if stride != 1 or x.shape[-1] != filters:
        shortcut = ops.conv(x, filters, 1, stride, name=f"{name}_downsample_conv")
        shortcut = ops.bn(shortcut, name=f"{name}_downsample_bn")
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return ops.relu(y, name=f"{name}_relu2")


def _resnet18_body(ops, x, width, kernel_size, stem_kernel, pool_size):
    x = ops.conv(x, _channels(64, width), stem_kernel, 2, name="conv1")
    x = ops.bn(x, name="bn1")
    x = ops.relu(x, name="relu")
    x = ops.max_pool(x, pool_size, name="maxpool")
    for s, (base, stride) in enumerate(_STAGES, start=1):
        for b in range(_BLOCKS_PER_STAGE):
            x = _basic_block(ops, x, _channels(base, width), kernel_size,
                             stride if b == 0 else 1, name=f"layer{s}_{b}")
    return ops.global_pool(x, name="avgpool")


def resnet18_2d(input_shape, width=1.0, sync_batchnorm=False, name="resnet18_2d"):
    """2D ResNet18 encoder: `[B, T, F, C]` → `[B, 512·width]`.

    Args:
        input_shape: `(T, F, C)`; T and F may be None (any size ≥ 32 works).
        width: channel multiplier; each stage has `max(1, round(base·width))` channels.
        sync_batchnorm: use synchronized (cross-replica) batch normalization.
        name: model name.

    Returns:
        A functional `keras.Model`.
    """
    _check_common(width, sync_batchnorm, name)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] is None:
        raise ValueError(f"`input_shape` must be (T, F, C) with a known C. "
                         f"Received: input_shape={input_shape}")
    inputs = keras.Input(input_shape, name="features")
    outputs = _resnet18_body(_Ops(2, sync_batchnorm), inputs, width,
                             kernel_size=3, stem_kernel=7, pool_size=3)
    return keras.Model(inputs, outputs, name=name)


def resnet18_1d(input_length, width=1.0, sync_batchnorm=False, kernel_size=3, pool_size=3,
                name="resnet18_1d"):
    """1D ResNet18 encoder on raw audio: `[B, L]` → `[B, 512·width]`.

    Args:
        input_length: L, or None for any length.
        width: channel multiplier, as in `resnet18_2d`.
        sync_batchnorm: use synchronized (cross-replica) batch normalization.
        kernel_size: kernel of the block convolutions (3 standard; 9 in the authors' code).
        pool_size: kernel of the stem max-pool (3 standard; 9 in the authors' code).
        name: model name.

    Returns:
        A functional `keras.Model`.
    """
    _check_common(width, sync_batchnorm, name)
    checks.check_int("input_length", input_length, allow_none=True)
    checks.check_int("kernel_size", kernel_size, odd=True)
    checks.check_int("pool_size", pool_size, odd=True)
    inputs = keras.Input((input_length,), name="audio")
    x = keras.layers.Reshape((-1, 1), name="add_channel")(inputs)
    outputs = _resnet18_body(_Ops(1, sync_batchnorm), x, width,
                             kernel_size=kernel_size, stem_kernel=7, pool_size=pool_size)
    return keras.Model(inputs, outputs, name=name)
