"""The one place clar_tf touches a private Keras or TensorFlow name, each behind a
function (or base class) here.

The rest of clar_tf uses public Keras, TensorFlow and TFDS only. `tests/compat_test.py`
fails, naming the version, when a Keras release drops a name listed in `PRIVATE_NAMES`
or a TensorFlow release one in `PRIVATE_TF_NAMES`; it also fails when another module
uses a private Keras or TFDS name or imports from `tensorflow.python`.
"""
import contextlib
import importlib

import keras
import tensorflow as tf

FIRST_BATCH_BUILD = "_maybe_symbolic_build"
VARIABLE_INDEX = "_get_variable_index"
TFLITE_OPS = "_get_ops_details"
# (owner, private attribute) of every name this module uses (the last: TensorFlow's
# TFLite interpreter; LiteRT's has the same method).
PRIVATE_NAMES = ((keras.Model, FIRST_BATCH_BUILD),
                 (keras.optimizers.Optimizer, VARIABLE_INDEX),
                 (tf.lite.Interpreter, TFLITE_OPS))


# (module, attribute) of every private TensorFlow name this module uses.
PRIVATE_TF_NAMES = (("tensorflow.python.ops.control_flow_util", "GraphOrParentsInXlaContext"),
                    ("tensorflow.python.framework.config", "is_op_determinism_enabled"),
                    ("tensorflow.python.framework.config", "disable_op_determinism"))


def _tf_private(module, name):
    """`module.name` of TensorFlow's private API; RuntimeError naming the version if gone."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise RuntimeError(f"TensorFlow {tf.__version__} has no {module}.{name}; update "
                           "clar_tf/compat.py") from None


@contextlib.contextmanager
def op_determinism():
    """TensorFlow's op determinism inside the block (a process-wide setting), turned off
    again after it unless it was on before (the resume tests compare losses exactly).

    No public route: `tf.config.experimental.enable_op_determinism` has no public
    counterpart to query or undo it; TensorFlow's own tests use `framework.config`'s.
    """
    config = "tensorflow.python.framework.config"
    was_enabled = _tf_private(config, "is_op_determinism_enabled")()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            _tf_private(config, "disable_op_determinism")()


def in_xla_context():
    """Whether the op being built will be XLA-compiled: inside a `jit_compile=True`
    function, or a function nested in one.

    No public route: TensorFlow exposes no "am I in an XLA context" query; its own ops
    ask `control_flow_util.GraphOrParentsInXlaContext` of the graph being built.

    Raises:
        RuntimeError: naming `tf.__version__`, if TensorFlow has no such function.
    """
    graph_in_xla = _tf_private(*PRIVATE_TF_NAMES[0])
    return bool(graph_in_xla(tf.compat.v1.get_default_graph()))


def _check(owner, name):
    if not hasattr(owner, name):
        raise RuntimeError(f"Keras {keras.__version__} has no {owner.__name__}.{name}; "
                           "update clar_tf/compat.py")


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


class FirstBatchBuildOverride(keras.Model):
    """A `keras.Model` base class whose `fit` / `evaluate` / `predict` call
    `self.build_without_batch()` instead of Keras' first-batch build wherever
    `self.replaces_first_batch_build()` is true.

    Under a tf.distribute strategy, Keras 3's TF trainer builds the model from the epoch's
    first batch before the first step: it draws that batch and takes its mean over the
    replicas (`strategy.reduce("MEAN", batch, axis=None)`), even for a model that is built
    already. The override draws the first batch too (the loop then restarts the
    iterator, as after Keras' build, so the batches that follow are the same) and calls
    `build_without_batch` instead.

    No public route: that build is `Model._maybe_symbolic_build`, which `fit`, `evaluate`
    and `predict` call with their epoch iterator; no argument, callback or public method
    skips or replaces it.

    Raises:
        RuntimeError: on construction, naming `keras.__version__`, if `keras.Model` has
            no such method.
    """

    def __init__(self, *args, **kwargs):
        _check(keras.Model, FIRST_BATCH_BUILD)
        super().__init__(*args, **kwargs)

    def replaces_first_batch_build(self):
        """Whether this call of `fit` / `evaluate` / `predict` skips Keras' build."""
        return False

    def build_without_batch(self):
        """Runs instead of Keras' first-batch build (inside the caller's strategy scope)."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if not self.replaces_first_batch_build():
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator or ():
            next(batches)
            break
        return self.build_without_batch()


def tflite_ops(interpreter):
    """The ops of a TFLite / LiteRT interpreter's graph, in order: dicts with `op_name`,
    `inputs` and `outputs` (tensor indices), as the interpreter reports them.

    No public route: both interpreters (`ai_edge_litert.interpreter.Interpreter`,
    `tf.lite.Interpreter`) list tensors (`get_tensor_details`) but not the ops; their
    private `_get_ops_details` does (the tests check which ops an export holds).

    Raises:
        RuntimeError: naming the interpreter's class, if it has no such method.
    """
    if not hasattr(interpreter, TFLITE_OPS):
        kind = type(interpreter)
        raise RuntimeError(f"{kind.__module__}.{kind.__name__} has no {TFLITE_OPS}; update "
                           "clar_tf/compat.py")
    return getattr(interpreter, TFLITE_OPS)()
