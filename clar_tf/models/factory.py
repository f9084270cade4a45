"""Builds what a run trains from its `Config`: the embedder, the method's model (with its
augmentation chain and projection head), the optimizer, and the weights of `init_from`.

    audio ─► layers.Chain ×2 views ─► frontend (2D) ─► ResNet18 ─► head  (methods.py)
"""
import keras

from clar_tf import layers, method_registry, optim, run_dir
from clar_tf.models import loading, resnet
from clar_tf.models.heads import ProjectionHead


def build_embedder(config, clip_length, sync_batchnorm=False):
    """Functional model: raw audio `[B, clip_length]` → embedding `[B, 512·width]`.

    For the 2D encoder the Kapre frontend is the first layer, so the saved embedder
    (`encoder.keras`) takes raw audio like the exported model does. The frontend and the
    augmentations stay float32 under mixed precision.
    """
    audio = keras.Input((clip_length,), name="audio")
    if config.encoder == "2d":
        features = layers.Frontend(variant=config.frontend, name="frontend")(audio)
        encoder = resnet.resnet18_2d(tuple(features.shape[1:]), width=config.width,
                                     sync_batchnorm=sync_batchnorm)
        embedding = encoder(features)
    else:
        encoder = resnet.resnet18_1d(clip_length, width=config.width,
                                     sync_batchnorm=sync_batchnorm,
                                     kernel_size=config.conv1d_kernel_size,
                                     pool_size=config.conv1d_pool_size)
        embedding = encoder(audio)
    return keras.Model(audio, embedding, name=f"embedder_{config.encoder}")


def build_model(config, num_classes, clip_length, sync_batchnorm=False):
    """The training model of `config.method` (its `method_registry` class), built for
    clips `[B, clip_length]`; call inside the strategy scope."""
    embedder = build_embedder(config, clip_length, sync_batchnorm)
    head = ProjectionHead(hidden_units=config.head_hidden_units,
                          projection_units=config.projection_units,
                          num_classes=num_classes if config.has_classifier else None,
                          batchnorm=config.head_batchnorm,
                          sync_batchnorm=sync_batchnorm, name="head")
    augmenter = layers.from_spec(config.augment, seed=config.seed)  # float32 by default
    method = method_registry.get(config.method)
    model = method.model_class()(embedder, head, augmenter, temperature=config.temperature,
                                 name=config.method,
                                 **{name: getattr(config, name) for name in method.options})
    model.build((None, clip_length))
    return model


def build_optimizer(config, steps_per_epoch):
    """LARS (or Adam/SGD) with linear warm-up then cosine decay (paper §3.2)."""
    base = optim.scaled_learning_rate(config.learning_rate, config.batch_size,
                                      config.lr_scaling)
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(total, int(round(config.warmup_epochs * steps_per_epoch)))
    schedule = optim.WarmupCosine(base, warmup, total)
    if config.optimizer == "lars":
        return optim.LARS(learning_rate=schedule, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=schedule)
    return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)


def init_from(config, model, clip_length):
    """Copies a pretrained embedder's weights; refuses any architecture mismatch."""
    source = run_dir.read_config(config.init_from)
    if source is None:
        raise ValueError(f"init_from={config.init_from}: no config.json (not a clar_tf run)")
    for key in ("encoder", "width", "frontend", "conv1d_kernel_size", "conv1d_pool_size"):
        if source.get(key) != getattr(config, key):
            raise ValueError(f"init_from={config.init_from} has {key}={source.get(key)!r}, "
                             f"this run has {key}={getattr(config, key)!r}")
    pretrained = loading.load_model(run_dir.path(config.init_from, run_dir.ENCODER))
    if int(pretrained.inputs[0].shape[1]) != clip_length:
        raise ValueError(f"init_from={config.init_from} takes clips of "
                         f"{pretrained.inputs[0].shape[1]} samples, this run {clip_length}")
    model.embedder.set_weights(pretrained.get_weights())
    if config.freeze_encoder:
        model.embedder.trainable = False
