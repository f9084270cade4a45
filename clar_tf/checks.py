"""Argument checks shared by the layers, models, losses and `Config`.

Each raises ValueError naming the argument and echoing the value as Keras does:
"`name` must be ... Received: name=value". Bools are not accepted as numbers.
"""
import dataclasses
import math
import numbers
import typing


def _received(name, value):
    return f"Received: {name}={value!r}"


def check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool. {_received(name, value)}")


def check_int(name, value, minimum=1, allow_none=False, odd=False, maximum=None):
    """An int >= `minimum` (and <= `maximum` where given; odd with `odd`), or None with
    `allow_none`."""
    if value is None and allow_none:
        return
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum
            or (maximum is not None and value > maximum) or (odd and value % 2 == 0)):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        kind = (f"an {'odd ' if odd else ''}int {bound}"
                + (" or None" if allow_none else ""))
        raise ValueError(f"`{name}` must be {kind}. {_received(name, value)}")


# The longest clip clar_tf accepts, in samples at 16 kHz: 10 minutes. A clip is held whole
# as float32 wherever it goes (decoding, a batch row, the frontend's spectrogram), so one
# clip of this length is 38.4 MB as float32 (19.2 MB stored as int16 PCM) and a batch of
# 64 already 2.5 GB of input before any activation; the paper's clips are 1 to 5 s. A
# larger value is a typo (1e9 samples is 4 GB a clip) that would otherwise end in a
# memory error deep inside preparation or training.
MAX_CLIP_LENGTH = 10 * 60 * 16000


def check_clip_length(value, allow_none=True):
    """`clip_length`: samples per clip at 16 kHz, an int in [1, MAX_CLIP_LENGTH] (10
    minutes), or None with `allow_none`."""
    check_int("clip_length", value, minimum=1, maximum=MAX_CLIP_LENGTH,
              allow_none=allow_none)


def check_number(name, value, positive=False, allow_none=False):
    """A finite real number (> 0 with `positive`), or None with `allow_none`."""
    if value is None and allow_none:
        return
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or (positive and not value > 0)):
        kind = ("a positive" if positive else "a finite") + " number"
        raise ValueError(f"`{name}` must be {kind}{' or None' if allow_none else ''}. "
                         f"{_received(name, value)}")


def check_range(low_name, low, high_name, high, lower=None, upper=None):
    """Finite numbers with low <= high, inside [lower, upper] where those are given."""
    check_number(low_name, low)
    check_number(high_name, high)
    if low > high:
        raise ValueError(f"`{low_name}` must be <= `{high_name}`. "
                         f"Received: {low_name}={low}, {high_name}={high}")
    if lower is not None and low < lower:
        raise ValueError(f"`{low_name}` must be >= {lower}. Received: {low_name}={low}")
    if upper is not None and high > upper:
        raise ValueError(f"`{high_name}` must be <= {upper}. Received: {high_name}={high}")


def check_seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"`seed` must be an int or None. {_received('seed', seed)}")


def check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {', '.join(map(str, allowed))}. "
                         f"{_received(name, value)}")


def check_names(name, values, allowed):
    """A name or list of names, each in `allowed`, at least one; returns them as a list."""
    values = [values] if isinstance(values, str) else list(values)
    if not values or any(v not in allowed for v in values):
        raise ValueError(f"`{name}` must be a non-empty list of {list(allowed)}. "
                         f"Received: {name}={values}")
    return values


def field_type(field):
    """The type of the dataclass field `field` (bool, int, float, str, tuple[...]), with
    Optional[T] read as T."""
    kind = field.type
    if typing.get_origin(kind) is typing.Union:
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    return kind


def check_finite_fields(cls, values):
    """Refuses NaN or ±inf in any float field of the dataclass `cls` (a float flag),
    naming the flag: no float setting of clar_tf has a meaning for them, and a NaN
    learning rate or temperature would otherwise train a model of NaNs. `values`:
    {field name: value}; missing names are not checked."""
    for field in dataclasses.fields(cls):
        value = values.get(field.name)
        if field_type(field) is float and value is not None and not math.isfinite(value):
            raise ValueError(f"--{field.name} must be a finite number. "
                             f"Received: {field.name}={value}")
