"""Frozen run configuration, written to `model_dir/config.json`, and its flags.

`clar_tf.train` turns absl flags into a `Config`; the TFX `run_fn`, the experiment drivers
and the tests build one directly and call `clar_tf.train.run(config)`. Defaults are the
paper's (§3.2): batch 1024, LARS lr 1.0, weight decay 1e-4, 10 warm-up epochs, cosine
decay, NT-Xent τ = 0.5, 2D ResNet18 on the 3-channel frontend.

The one source of the training flags: `clar_tf.cli` derives a flag per field (type,
default, choices from `CHOICES`, help from `HELP`: `flag_spec`) and builds the `Config`
(whose `__post_init__` is every check) from them; `cli.flagfile_values(Config, path,
*flag_spec())` reads a flag file.
"""
import dataclasses
import json
from typing import Optional

from clar_tf import checks, method_registry
from clar_tf.losses import CE_NORMALIZATIONS

METHODS = method_registry.NAMES
ENCODERS = ("2d", "1d")
FRONTENDS = ("paper", "authors")
OPTIMIZERS = ("lars", "adam", "sgd")
LR_SCALINGS = ("none", "linear", "sqrt")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
LABELED_METHODS = tuple(m.name for m in method_registry.METHODS if m.needs_labels)
# The smallest run that still goes through every stage of `train.run` (seconds on a CPU):
# the base of the tests' `tiny_config` and of the TFX pipeline's `tiny` preset.
# ResNet width multipliers: 1/16 gives the first stage 4 channels (the smallest that the
# tests use); 16 is 16x the paper's 512-d embedding, far past what fits in memory.
MIN_WIDTH, MAX_WIDTH = 0.0625, 16.0
TINY = dict(width=0.125, augment="FD", batch_size=8, epochs=1, steps_per_epoch=2,
            warmup_epochs=0.0, learning_rate=0.1, head_hidden_units=16, projection_units=8,
            linear_eval_epochs=1, verbose=0)
# Fields whose flag is an enum.
CHOICES = dict(method=METHODS, encoder=ENCODERS, frontend=FRONTENDS, optimizer=OPTIMIZERS,
               lr_scaling=LR_SCALINGS, strategy=STRATEGIES,
               ce_normalization=CE_NORMALIZATIONS)


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
        checks.check_finite_fields(Config, dataclasses.asdict(self))  # NaN/inf in no float field
        checks.check_choice("method", self.method, METHODS)
        checks.check_choice("encoder", self.encoder, ENCODERS)
        checks.check_choice("frontend", self.frontend, FRONTENDS)
        checks.check_choice("optimizer", self.optimizer, OPTIMIZERS)
        checks.check_choice("lr_scaling", self.lr_scaling, LR_SCALINGS)
        checks.check_choice("strategy", self.strategy, STRATEGIES)
        checks.check_choice("ce_normalization", self.ce_normalization, CE_NORMALIZATIONS)
        checks.check_clip_length(self.clip_length)  # None: the dataset's own
        for name in ("batch_size", "epochs", "head_hidden_units", "projection_units",
                     "linear_eval_epochs", "linear_eval_batch_size", "conv1d_kernel_size", "conv1d_pool_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
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
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError("steps_per_epoch must be >= 1 or unset. "
                             f"Received: steps_per_epoch={self.steps_per_epoch}")
        if not MIN_WIDTH <= self.width <= MAX_WIDTH:
            raise ValueError(f"width must be in [{MIN_WIDTH}, {MAX_WIDTH}] (its first "
                             f"stage has round(64 * width) channels, at least 4). "
                             f"Received: width={self.width}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0. Received: temperature={self.temperature}")
        for name in ("learning_rate", "weight_decay"):  # before the optimizer names `base`
            if getattr(self, name) < 0 or (name == "learning_rate" and not self.learning_rate):
                bound = "> 0" if name == "learning_rate" else ">= 0"
                raise ValueError(f"{name} must be {bound}. Received: {name}={getattr(self, name)}")
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
        """Whether the projection head ends in a `num_classes` layer (`method_registry`)."""
        return method_registry.get(self.method).has_classifier

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


# The help of each field's flag.
HELP = {
    "model_dir": ("Output folder (config, checkpoints, logs, encoder.keras, results.json). "
                  "Re-running resumes."),
    "dataset": "Dataset name.",  # flag_spec lists the names
    "data_dir": "Where prepared TFDS data lives.",
    "manual_dir": ("The dataset's published on-disk layout (spoken_digits, gm_notes: "
                   "generated there when missing)."),
    "clip_length": ("Samples per clip at 16 kHz (folder only), at most "
                    f"{checks.MAX_CLIP_LENGTH} (10 minutes: a longer clip does not fit "
                    "a batch in memory)."),
    "unlabeled": ("folder dataset without class folders: all labels -1 (use --method=simclr "
                  "and --eval_dataset)."),
    "labeled_fraction": "Fraction of training labels kept (§8); the rest become -1.",
    "stratified": "Keep the labeled fraction per class.",
    "labeled_per_batch": ("Labeled clips in every batch when labeled_fraction < 1 (stratified "
                          "per-batch sampling, §4; the labeled pool is oversampled). 0 = "
                          "random batches (paper)."),
    "eval_dataset": "Labeled dataset for linear evaluation (default: the training dataset).",
    "eval_manual_dir": "manual_dir of --eval_dataset.",
    "method": method_registry.HELP,
    "encoder": "2d: frontend + ResNet18-2D; 1d: ResNet18-1D on the waveform.",
    "width": "ResNet width multiplier (1.0 = 512-d embeddings).",
    "frontend": "paper: 16 ms / 8 ms STFT + 128 mel; authors: their code's 2048/128.",
    "conv1d_kernel_size": "1D ResNet block kernel (authors' code: 9).",
    "conv1d_pool_size": "1D ResNet stem max-pool (authors' code: 9).",
    "augment": ("Augmentation chain in the paper's abbreviations joined by +: PS, WN, MN, FD, "
                "TM, TS, TST ('' = none)."),
    "head_hidden_units": "Projection head hidden width.",
    "projection_units": "Projection (contrastive) width.",
    "head_batchnorm": "BatchNorm in the head (authors' code).",
    "temperature": "NT-Xent / SupCon temperature τ.",
    "ce_weight": "CLAR: L = L_CL + ce_weight · L_CE.",
    "ce_normalization": ("CLAR's CE: labeled = mean over the batch's labeled clips (eq. 4 as "
                         "written); batch = their sum / batch size."),
    "init_from": "model_dir of a pretrained run to start from.",
    "freeze_encoder": "With --init_from: train only the head.",
    "batch_size": "Global batch size.",
    "epochs": "Training epochs.",
    "steps_per_epoch": "Steps per epoch (default: split / batch).",
    "optimizer": "lars (paper), adam, sgd (momentum 0.9).",
    "learning_rate": "Base learning rate (before --lr_scaling).",
    "lr_scaling": "none; linear: lr·B/256; sqrt: lr·sqrt(B).",
    "weight_decay": "LARS weight decay (biases and BN excluded).",
    "warmup_epochs": "Linear warm-up epochs before cosine decay.",
    "strategy": "auto: mirrored when >1 GPU; multi_worker reads TF_CONFIG.",
    "mixed_precision": "float16 on GPU, bfloat16 on CPU.",
    "jit_compile": "XLA-compile the train step.",
    "seed": "Seed for weights, augmentation and label fraction.",
    "shuffle_buffer": "tf.data shuffle buffer.",
    "eval_every": "Linear evaluation every N epochs (0 = only at the end).",
    "linear_eval_epochs": "Epochs of the linear classifier.",
    "linear_eval_batch_size": "Batch size of linear evaluation.",
    "verbose": "Keras fit verbosity (0, 1, 2).",
    "export": "Write the serving SavedModel to model_dir/export/.",
}


def flag_spec(dataset_names=None):
    """(help, choices) of the `Config` flags for `cli`; `dataset_names`: the allowed
    `--dataset` values (an enum then), or None."""
    if not dataset_names:
        return HELP, CHOICES
    return (dict(HELP, dataset="Dataset: " + ", ".join(dataset_names)),
            dict(CHOICES, dataset=tuple(dataset_names)))


def _check_augment(spec):
    """Refuses an augmentation spec that `layers.from_spec` would refuse, naming the flag.

    Uses the parser of `layers.Chain` itself (building the layers would draw seeds)."""
    from clar_tf.layers import chain  # imported here: building a Config needs no Keras otherwise

    try:
        chain.parse_spec(spec)
    except ValueError as e:
        raise ValueError(f"--augment is not a valid chain: {e}") from None
