"""Optimisation for CLAR: the LARS optimizer, the warm-up + cosine schedule, LR scaling.

The paper (§3.2) trains with LARS (You et al. 2017) at learning rate 1.0 and weight decay
1e-4, a linear warm-up over the first 10 epochs, then cosine decay without restarts
(Loshchilov & Hutter 2016), batch 1024. The LARS update follows SimCLR's
`lars_optimizer.py` (weight decay added to the gradient before the trust ratio); see
`LARS` for the exact rule.
"""
import math
import numbers
import re

import keras
import tensorflow as tf
from keras import ops

from clar_tf import compat

__all__ = ["LARS", "WarmupCosine", "scaled_learning_rate"]

_SCALINGS = ("linear", "sqrt", "none")


def _as_patterns(value, arg_name):
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    value = tuple(value)
    if not all(isinstance(p, str) for p in value):
        raise ValueError(f"`{arg_name}` must be a string or a sequence of strings. "
                         f"Received: {arg_name}={value}")
    return value


def _real(value, arg_name):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"`{arg_name}` must be a number. Received: {arg_name}={value}")
    return float(value)


@keras.saving.register_keras_serializable(package="clar_tf")
class LARS(keras.optimizers.Optimizer):
    """Layer-wise Adaptive Rate Scaling with momentum (You et al. 2017), as in SimCLR.

    For a variable w with gradient g, learning rate lr (the schedule's value), momentum
    m, weight decay wd and trust coefficient eeta:

        g' = g + wd * w
        trust_ratio = eeta * ||w|| / ||g'||    (1.0 if ||w|| == 0 or ||g'|| == 0)
        v  = m * v + lr * trust_ratio * g'
        w  = w - v                            (nesterov: w - (m * v + lr * trust_ratio * g'))

    Biases and batch-norm parameters are excluded from both weight decay and the trust
    ratio, i.e. they get plain momentum SGD (v = m * v + lr * g; w -= v). A variable is
    excluded when any pattern of `exclude_from_weight_decay` (or, separately for the trust
    ratio, `exclude_from_layer_adaptation`) is found by `re.search` in its `variable.path`
    (e.g. "dense_1/bias", "batch_normalization/gamma"; never the short `variable.name`,
    which in Keras 3 is just "bias"), or, with `exclude_rank1=True`, when its rank is <= 1
    (which covers every bias and normalization scale/offset whatever the layer's name).
    The selection happens once, in `build`.

    The weight decay here is LARS's coupled decay; Keras' own decoupled `weight_decay`
    machinery is not used (the base class gets `weight_decay=None`), so
    `Optimizer.exclude_from_weight_decay()` has no effect on this optimizer: use the
    constructor arguments.

    Args:
        learning_rate: float, `LearningRateSchedule` or callable. Paper: 1.0.
        momentum: momentum coefficient in [0, 1). Default 0.9.
        weight_decay: coupled L2 weight decay >= 0, added to the gradient. Paper: 1e-4.
        eeta: trust coefficient > 0. Default 0.001.
        nesterov: use Nesterov momentum. Default False (SimCLR's default).
        exclude_from_weight_decay: regex patterns (plain substrings work) searched in
            `variable.path`; matching variables get no weight decay.
        exclude_from_layer_adaptation: patterns for variables that get no trust ratio;
            None (default) means the same as `exclude_from_weight_decay`.
        exclude_rank1: also exclude every variable of rank <= 1 from both. Default True.
        name: optimizer name.
        **kwargs: the base optimizer's arguments (clipnorm, use_ema, ...), except
            Keras' decoupled weight decay.

    Attributes:
        momentum, eeta, nesterov: the arguments of the same name.
        lars_weight_decay: `weight_decay` (the base class's `weight_decay` stays None).
        The trust ratio of a variable is `eeta * ||w|| / ||g + lars_weight_decay * w||`,
        which `results/low_labels/low_labels.py` logs from these.

    Example:

    >>> import keras
    >>> from clar_tf import optim
    >>> schedule = optim.WarmupCosine(1.0, warmup_steps=10, total_steps=100)
    >>> paper = optim.LARS(learning_rate=schedule, weight_decay=1e-4)  # the paper's settings
    >>> # One step by hand: lr 1, no weight decay, momentum 0.9 (v starts at 0), eeta 0.001.
    >>> opt = optim.LARS(learning_rate=1.0, weight_decay=0.0)
    >>> w = keras.Variable([[3.0, 4.0]])  # ||w|| = 5
    >>> b = keras.Variable([1.0])         # rank 1: excluded, plain momentum SGD
    >>> _ = opt.apply_gradients([(keras.ops.convert_to_tensor([[0.6, 0.8]]), w),  # ||g|| = 1
    ...                          (keras.ops.convert_to_tensor([0.5]), b)])
    >>> # trust ratio 0.001 * 5 / 1 = 0.005, so w - 0.005 * g:
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(w)[0]]
    [2.997, 3.996]
    >>> float(keras.ops.convert_to_numpy(b)[0])  # b - 1.0 * 0.5
    0.5
    """

    def __init__(self, learning_rate=1.0, momentum=0.9, weight_decay=1e-4, eeta=0.001,
                 nesterov=False, exclude_from_weight_decay=("batch_normalization", "bias"),
                 exclude_from_layer_adaptation=None, exclude_rank1=True, name="LARS",
                 **kwargs):
        if isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
            learning_rate = float(learning_rate)
        super().__init__(learning_rate=learning_rate, weight_decay=None, name=name,
                         **kwargs)
        momentum = _real(momentum, "momentum")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum}")
        weight_decay = _real(weight_decay, "weight_decay")
        if weight_decay < 0:
            raise ValueError("`weight_decay` must be >= 0. "
                             f"Received: weight_decay={weight_decay}")
        eeta = _real(eeta, "eeta")
        if eeta <= 0:
            raise ValueError(f"`eeta` must be > 0. Received: eeta={eeta}")
        self.momentum = momentum
        self.lars_weight_decay = weight_decay
        self.eeta = eeta
        self.nesterov = bool(nesterov)
        self.exclude_patterns = _as_patterns(exclude_from_weight_decay,
                                             "exclude_from_weight_decay") or ()
        self.exclude_adaptation_patterns = _as_patterns(
            exclude_from_layer_adaptation, "exclude_from_layer_adaptation")
        self.exclude_rank1 = bool(exclude_rank1)

    def _excluded(self, variable, patterns):
        if self.exclude_rank1 and len(variable.shape) <= 1:
            return True
        # Keras variables have a full `path`; a raw tf.Variable's name is its scoped name.
        path = getattr(variable, "path", None) or variable.name
        return any(re.search(p, path) for p in patterns)

    def build(self, var_list):
        """Creates one momentum slot per variable and fixes which variables are excluded."""
        if self.built:
            return
        super().build(var_list)
        adaptation_patterns = (self.exclude_patterns
                               if self.exclude_adaptation_patterns is None
                               else self.exclude_adaptation_patterns)
        self._momentums = [self.add_variable_from_reference(v, name="momentum")
                           for v in var_list]
        self._use_weight_decay_lars = [not self._excluded(v, self.exclude_patterns)
                                       for v in var_list]
        self._use_adaptation = [not self._excluded(v, adaptation_patterns)
                                for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        """One LARS update of `variable` (see the class docstring)."""
        index = compat.variable_index(self, variable)
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        lr = ops.cast(learning_rate, variable.dtype)
        grad = ops.cast(gradient, variable.dtype)
        velocity = self._momentums[index]
        if self._use_weight_decay_lars[index] and self.lars_weight_decay > 0:
            grad = grad + ops.cast(self.lars_weight_decay, variable.dtype) * variable
        if self._use_adaptation[index]:
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(grad)))
            ok = ops.logical_and(w_norm > 0, g_norm > 0)
            ratio = self.eeta * w_norm / ops.where(ok, g_norm, ops.ones_like(g_norm))
            lr = lr * ops.where(ok, ratio, ops.ones_like(ratio))
        m = ops.cast(self.momentum, variable.dtype)
        new_velocity = m * velocity + lr * grad
        self.assign(velocity, new_velocity)
        if self.nesterov:
            self.assign_sub(variable, m * new_velocity + lr * grad)
        else:
            self.assign_sub(variable, new_velocity)

    def get_config(self):
        config = super().get_config()
        config.update({
            "momentum": self.momentum,
            "weight_decay": self.lars_weight_decay,
            "eeta": self.eeta,
            "nesterov": self.nesterov,
            "exclude_from_weight_decay": list(self.exclude_patterns),
            "exclude_from_layer_adaptation": (
                None if self.exclude_adaptation_patterns is None
                else list(self.exclude_adaptation_patterns)),
            "exclude_rank1": self.exclude_rank1,
        })
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # The base class deserializes the schedule in place; leave the caller's dict alone.
        return super().from_config(dict(config), custom_objects=custom_objects)


@keras.saving.register_keras_serializable(package="clar_tf")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0, then cosine decay to 0 without restarts (paper §3.2).

        lr(t) = base * t / warmup_steps                                  t < warmup_steps
        lr(t) = base * 0.5 * (1 + cos(pi * (t - warmup) / (total - warmup)))
                                                                warmup_steps <= t <= total
        lr(t) = 0                                                        t > total_steps

    so lr(0) = 0, lr(warmup_steps) = base and lr(total_steps) = 0. The step t is the
    optimizer's iteration count before the update (0 for the first step, as in SimCLR).
    With `warmup_steps == 0` it is a pure cosine decay; with `warmup_steps ==
    total_steps` a pure warm-up, then 0.

    Args:
        base_learning_rate: peak learning rate >= 0 (see `scaled_learning_rate`).
        warmup_steps: int >= 0, steps of linear warm-up (paper: 10 epochs' worth).
        total_steps: int >= 1 and >= warmup_steps, the step at which lr reaches 0.
        name: optional name.

    Example:

    >>> from clar_tf import optim
    >>> schedule = optim.WarmupCosine(1.0, warmup_steps=10, total_steps=110)
    >>> [round(float(schedule(step)), 4) for step in (0, 5, 10, 60, 110, 200)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """

    def __init__(self, base_learning_rate, warmup_steps, total_steps, name=None):
        super().__init__()
        base_learning_rate = _real(base_learning_rate, "base_learning_rate")
        if base_learning_rate < 0:
            raise ValueError("`base_learning_rate` must be >= 0. "
                             f"Received: base_learning_rate={base_learning_rate}")
        for arg, value in (("warmup_steps", warmup_steps), ("total_steps", total_steps)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise ValueError(f"`{arg}` must be an integer. Received: {arg}={value}")
        if warmup_steps < 0:
            raise ValueError(f"`warmup_steps` must be >= 0. Received: "
                             f"warmup_steps={warmup_steps}")
        if total_steps < 1 or total_steps < warmup_steps:
            raise ValueError("`total_steps` must be >= 1 and >= warmup_steps. Received: "
                             f"total_steps={total_steps}, warmup_steps={warmup_steps}")
        self.base_learning_rate = base_learning_rate
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        base = self.base_learning_rate
        warmup = float(self.warmup_steps)
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        progress = ops.clip((step - warmup) / decay_steps, 0.0, 1.0)
        cosine = base * 0.5 * (1.0 + ops.cos(math.pi * progress))
        if self.warmup_steps == 0:
            return cosine
        return ops.where(step < warmup, base * step / warmup, cosine)

    def get_config(self):
        return {"base_learning_rate": self.base_learning_rate,
                "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps,
                "name": self.name}


def scaled_learning_rate(base, batch_size, scaling="linear"):
    """Learning rate scaled with the (global) batch size, as SimCLR's `learning_rate_scaling`.

    - "linear": base * batch_size / 256 (Goyal et al. 2017; SimCLR's default).
    - "sqrt":   base * sqrt(batch_size) (SimCLR uses it with base 0.075).
    - "none":   base unchanged. CLAR's paper and code use lr 1.0 at batch 1024 directly.

    Args:
        base: base learning rate >= 0.
        batch_size: global batch size >= 1.
        scaling: "linear", "sqrt" or "none".

    Returns:
        The learning rate as a Python float.

    Example:

    >>> from clar_tf import optim
    >>> optim.scaled_learning_rate(0.3, 1024)  # 0.3 * 1024 / 256
    1.2
    >>> optim.scaled_learning_rate(0.075, 1024, "sqrt")  # 0.075 * sqrt(1024)
    2.4
    >>> optim.scaled_learning_rate(1.0, 1024, "none")  # CLAR: lr 1.0 at batch 1024
    1.0
    """
    base = _real(base, "base")
    if base < 0:
        raise ValueError(f"`base` must be >= 0. Received: base={base}")
    if (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
            or batch_size < 1):
        raise ValueError(f"`batch_size` must be an integer >= 1. "
                         f"Received: batch_size={batch_size}")
    if scaling == "linear":
        return base * batch_size / 256.0
    if scaling == "sqrt":
        return base * math.sqrt(batch_size)
    if scaling == "none":
        return base
    raise ValueError(f"`scaling` must be one of {_SCALINGS}. Received: scaling={scaling!r}")
