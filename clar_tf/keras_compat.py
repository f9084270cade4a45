"""The one place clar_tf touches a private Keras name, each behind a function here.

The rest of clar_tf uses public Keras only.
`tests/keras_compat_test.py` fails, naming the Keras version, when a Keras release drops
a name listed in `PRIVATE_NAMES`.
"""
import keras

FIRST_BATCH_BUILD = "_maybe_symbolic_build"
VARIABLE_INDEX = "_get_variable_index"
# (owner, private attribute) of every name this module uses.
PRIVATE_NAMES = ((keras.Model, FIRST_BATCH_BUILD),
                 (keras.optimizers.Optimizer, VARIABLE_INDEX))


def _check(owner, name):
    if not hasattr(owner, name):
        raise RuntimeError(f"Keras {keras.__version__} has no {owner.__name__}.{name}; "
                           "update clar_tf/keras_compat.py")


def variable_index(optimizer, variable):
    """The position of `variable` in the list `optimizer` was built on, the index of its
    slot variables (as Keras' own optimizers find theirs in `update_step`).

    No public route: under a tf.distribute strategy `update_step` receives one replica's
    component of a distributed variable, which only the optimizer's private
    `_get_variable_index` maps back to the variable it was built on (through TF's
    private `_distributed_container`); `id()` or `variable.path` do not.

    Raises:
        RuntimeError: naming `keras.__version__`, if Keras has no such method.
    """
    _check(keras.optimizers.Optimizer, VARIABLE_INDEX)
    return getattr(optimizer, VARIABLE_INDEX)(variable)


def replace_first_batch_build(model_class, applies, build):
    """Class decorator: where `applies(model)`, `build(model)` replaces Keras' first-batch
    build in `model_class`'s `fit` / `evaluate` / `predict`.

    Under a tf.distribute strategy, Keras 3's TF trainer builds the model from the epoch's
    first batch before the first step: it draws that batch and takes its mean over the
    replicas (`strategy.reduce("MEAN", batch, axis=None)`), even for a model that is built
    already. The replacement draws the first batch too (the loop then restarts the
    iterator, as after Keras' build, so the batches that follow are the same) and calls
    `build` instead.

    No public route: that build is `Model._maybe_symbolic_build`, which `fit`, `evaluate`
    and `predict` call with their epoch iterator; no argument, callback or public method
    skips or replaces it.

    Args:
        model_class: a `keras.Model` subclass; changed in place and returned.
        applies: `model -> bool`, whether to replace Keras' build on this call.
        build: `model -> None`, run instead (inside the caller's strategy scope).

    Raises:
        RuntimeError: naming `keras.__version__`, if `keras.Model` has no such method.
    """
    _check(keras.Model, FIRST_BATCH_BUILD)
    keras_build = getattr(model_class, FIRST_BATCH_BUILD)

    def first_batch_build(self, iterator=None, data_batch=None):
        if not applies(self):
            return keras_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator or ():
            next(batches)
            break
        return build(self)

    setattr(model_class, FIRST_BATCH_BUILD, first_batch_build)
    return model_class
