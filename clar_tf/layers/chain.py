"""Augmentation chains from the paper's abbreviations (`from_spec("FD+TM+TS")`)."""
import keras

from clar_tf import checks
from clar_tf.layers.augmentation import PACKAGE
from clar_tf.layers.noise import MixedNoise, WhiteNoise
from clar_tf.layers.temporal import Fade, TimeMask, TimeShift
from clar_tf.layers.vocoder import PitchShift, TimeStretch


SPEC_CODES = {
    "PS": PitchShift,
    "WN": WhiteNoise,
    "MN": MixedNoise,
    "FD": Fade,
    "TM": TimeMask,
    "TS": TimeShift,
    "TST": TimeStretch,
}


def _derived_seed(seed, index):
    if seed is None:
        return None
    return (seed * 1_000_003 + 7_919 * (index + 1)) % (2**31 - 1)


def parse_spec(spec):
    text = spec.strip()
    if text == "" or text.lower() == "none":
        return []
    codes = [c.strip().upper() for c in text.split("+")]
    unknown = [c for c in codes if c not in SPEC_CODES]
    if unknown:
        raise ValueError(f"Unknown augmentation code(s) {unknown} in spec {spec!r}; allowed: "
                         f"{', '.join(SPEC_CODES)} joined by '+', or '' / 'none'.")
    return codes


@keras.saving.register_keras_serializable(package=PACKAGE)
class Chain(keras.layers.Layer):
    """Augmentations applied one after the other (identity when not training).

    Args:
      layers: a spec string of paper abbreviations joined by "+" (e.g. "FD+TM+TS"; codes
        in `SPEC_CODES`; "" or "none" is the identity), each code built with its default
        arguments, or a list of augmentation layers.
      seed: with a spec string, the i-th layer gets a distinct seed derived from it (None:
        unseeded). Must be None with a list of layers (seed those yourself).

    Example:

    >>> import keras
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((2, 8000), seed=0)
    >>> chain = layers.Chain([layers.TimeShift(seed=1), layers.WhiteNoise(seed=2)])
    >>> out = chain(x, training=True)
    >>> tuple(out.shape)
    (2, 8000)
    >>> bool(keras.ops.all(chain(x) == x))  # training=False (default): the identity
    True
    >>> bool(keras.ops.all(out == x))  # training=True: shifted, then noise added
    False
    >>> [type(layer).__name__ for layer in layers.Chain("TS+WN", seed=0).augmentations]
    ['TimeShift', 'WhiteNoise']
    """

    def __init__(self, layers=(), seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # as `Augmentation`: float32 under mixed precision
        super().__init__(**kwargs)
        checks.check_seed(seed)
        self.seed = seed
        if isinstance(layers, str):
            self.spec = layers
            built = [SPEC_CODES[c](seed=_derived_seed(seed, i))
                     for i, c in enumerate(parse_spec(layers))]
        else:
            if seed is not None:
                raise ValueError("`seed` applies to a spec string only; seed the layers "
                                 f"themselves. Received: seed={seed}")
            self.spec = None
            built = [keras.saving.deserialize_keras_object(l) if isinstance(l, dict) else l
                     for l in layers]
            for l in built:
                if not isinstance(l, keras.layers.Layer):
                    raise ValueError(f"`layers` must hold Keras layers. Received: {l!r}")
        self.augmentations = built
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.augmentations:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        if self.spec is not None:
            config.update({"layers": self.spec, "seed": self.seed})
        else:
            config.update({"layers": [keras.saving.serialize_keras_object(l)
                                      for l in self.augmentations], "seed": None})
        return config


def from_spec(spec, seed=None):
    """`Chain` from the paper's abbreviations, e.g. `from_spec("FD+TM+TS", seed=0)`.

    Codes: PS (pitch shift), WN (white noise), MN (mixed noise), FD (fade), TM (time mask),
    TS (time shift), TST (time stretch); "" or "none" gives the identity. Unknown codes
    raise ValueError listing the allowed ones.

    Example:

    >>> import keras
    >>> from clar_tf import layers
    >>> x = keras.random.uniform((2, 8000), seed=0)
    >>> chain = layers.from_spec("FD+TM+TS", seed=0)
    >>> [type(layer).__name__ for layer in chain.augmentations]
    ['Fade', 'TimeMask', 'TimeShift']
    >>> out = chain(x, training=True)
    >>> tuple(out.shape)
    (2, 8000)
    >>> bool(keras.ops.all(chain(x) == x))  # training=False (default): the identity
    True
    >>> bool(keras.ops.all(out == x))  # training=True: faded, masked, shifted
    False
    >>> again = layers.from_spec("FD+TM+TS", seed=0)(x, training=True)  # same seed
    >>> bool(keras.ops.all(again == out))
    True
    >>> layers.from_spec("none").augmentations
    []
    """
    if not isinstance(spec, str):
        raise ValueError(f"`spec` must be a string. Received: spec={spec!r}")
    return Chain(spec, seed=seed)
