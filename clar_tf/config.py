"""Frozen run configuration, written to `model_dir/config.json`.

`clar_tf.train` turns absl flags into a `Config`; the TFX `run_fn`, the experiment drivers
and the tests build one directly and call `clar_tf.train.run(config)`. Defaults are the
paper's (§3.2): batch 1024, LARS lr 1.0, weight decay 1e-4, 10 warm-up epochs, cosine
decay, NT-Xent τ = 0.5, 2D ResNet18 on the 3-channel frontend.
"""
import dataclasses
import json
from typing import Optional

METHODS = ("supervised", "simclr", "supcon", "clar")
ENCODERS = ("2d", "1d")
FRONTENDS = ("paper", "authors")
OPTIMIZERS = ("lars", "adam", "sgd")
LR_SCALINGS = ("none", "linear", "sqrt")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
LABELED_METHODS = ("supervised", "supcon", "clar")
CE_NORMALIZATIONS = ("labeled", "batch")


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything one training run needs; see README's flag table for each field."""

    model_dir: str
    # Data.
    dataset: str = "sc10"
    data_dir: str = "data/tfds"
    manual_dir: Optional[str] = None
    clip_length: Optional[int] = None
    unlabeled: bool = False
    labeled_fraction: float = 1.0
    stratified: bool = False
    labeled_per_batch: int = 0
    eval_dataset: Optional[str] = None
    eval_manual_dir: Optional[str] = None
    # Model.
    method: str = "clar"
    encoder: str = "2d"
    width: float = 1.0
    frontend: str = "paper"
    conv1d_kernel_size: int = 3
    conv1d_pool_size: int = 3
    augment: str = "FD+TM"
    head_hidden_units: int = 512
    projection_units: int = 128
    head_batchnorm: bool = False
    temperature: float = 0.5
    ce_weight: float = 1.0
    ce_normalization: str = "batch"
    init_from: Optional[str] = None
    freeze_encoder: bool = False
    # Optimisation.
    batch_size: int = 1024
    epochs: int = 1000
    steps_per_epoch: Optional[int] = None
    optimizer: str = "lars"
    learning_rate: float = 1.0
    lr_scaling: str = "none"
    weight_decay: float = 1e-4
    warmup_epochs: float = 10.0
    # Execution.
    strategy: str = "auto"
    mixed_precision: bool = False
    jit_compile: bool = False
    seed: int = 0
    shuffle_buffer: int = 10000
    # Evaluation.
    eval_every: int = 0
    linear_eval_epochs: int = 100
    linear_eval_batch_size: int = 256
    verbose: int = 1
    export: bool = True

    def __post_init__(self):
        _check_choice("method", self.method, METHODS)
        _check_choice("encoder", self.encoder, ENCODERS)
        _check_choice("frontend", self.frontend, FRONTENDS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("lr_scaling", self.lr_scaling, LR_SCALINGS)
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("ce_normalization", self.ce_normalization, CE_NORMALIZATIONS)
        if not self.ce_weight >= 0:
            raise ValueError(f"ce_weight must be >= 0. Received: ce_weight={self.ce_weight}")
        if not 0 <= self.labeled_per_batch < self.batch_size:
            raise ValueError("labeled_per_batch must be in [0, batch_size). Received: "
                             f"labeled_per_batch={self.labeled_per_batch}, "
                             f"batch_size={self.batch_size}")
        if self.labeled_per_batch and (self.labeled_fraction == 0 or self.unlabeled):
            raise ValueError("labeled_per_batch needs labeled training clips. Received: "
                             f"labeled_per_batch={self.labeled_per_batch} with "
                             f"labeled_fraction={self.labeled_fraction}, "
                             f"unlabeled={self.unlabeled}")
        if not 0.0 <= self.labeled_fraction <= 1.0:
            raise ValueError("labeled_fraction must be in [0, 1]. "
                             f"Received: labeled_fraction={self.labeled_fraction}")
        if self.labeled_fraction == 0 and self.method in LABELED_METHODS:
            raise ValueError(f"--labeled_fraction=0 leaves method={self.method} no labeled "
                             "clips to learn from; use --labeled_fraction > 0, or "
                             "--method=simclr for no labels. Received: "
                             f"labeled_fraction={self.labeled_fraction}")
        for name in ("batch_size", "epochs", "head_hidden_units", "projection_units",
                     "linear_eval_epochs", "linear_eval_batch_size", "conv1d_kernel_size", "conv1d_pool_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError("steps_per_epoch must be >= 1 or unset. "
                             f"Received: steps_per_epoch={self.steps_per_epoch}")
        if self.width <= 0:
            raise ValueError(f"width must be > 0. Received: width={self.width}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0. Received: temperature={self.temperature}")
        if self.warmup_epochs < 0 or self.eval_every < 0:
            raise ValueError("warmup_epochs and eval_every must be >= 0. Received: "
                             f"warmup_epochs={self.warmup_epochs}, eval_every={self.eval_every}")
        if self.unlabeled and self.method in LABELED_METHODS:
            raise ValueError(f"method={self.method} needs labels but the dataset is unlabeled "
                             "(unlabeled=True); use method=simclr.")
        if self.freeze_encoder and not self.init_from:
            raise ValueError("freeze_encoder needs init_from (a pretrained model_dir).")
        _check_augment(self.augment)

    @property
    def has_classifier(self):
        """Whether the projection head ends in a `num_classes` layer (CE / CLAR)."""
        return self.method in ("supervised", "clar")

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}. Received: {name}={value!r}")


def _check_augment(spec):
    """Refuses an augmentation spec that `layers.from_spec` would refuse, naming the flag.

    Uses the parser of `layers.Chain` itself (building the layers would draw seeds)."""
    from clar_tf.layers import chain  # imported here: building a Config needs no Keras otherwise

    try:
        chain.parse_spec(spec)
    except ValueError as e:
        raise ValueError(f"--augment is not a valid chain: {e}") from None
