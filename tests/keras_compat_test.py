"""The private Keras names of `clar_tf/keras_compat.py` still exist, its functions do what
they say, and no other module touches a private Keras name."""
import ast
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import clar_tf
from clar_tf import distribute, keras_compat

PACKAGE = os.path.dirname(clar_tf.__file__)
EXEMPT = {"keras_compat.py"}  # the one place


@pytest.mark.parametrize("owner, name", keras_compat.PRIVATE_NAMES,
                         ids=[n for _, n in keras_compat.PRIVATE_NAMES])
def test_each_private_name_still_exists(owner, name):
    if not hasattr(owner, name):
        pytest.fail(f"Keras {keras.__version__} no longer has {owner.__name__}.{name}; "
                    "update clar_tf/keras_compat.py")


def _private_names_in(path):
    """Attribute names and string constants starting with one underscore in `path`."""
    with open(path) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
    return {n for n in names if n.startswith("_") and not n.startswith("__")
            and n.isidentifier()}


def test_keras_compat_lists_every_private_name_it_uses():
    used = _private_names_in(keras_compat.__file__)
    assert used == {name for _, name in keras_compat.PRIVATE_NAMES}


def test_no_other_module_uses_a_private_keras_name():
    keras_names = {n for cls in (keras.Model, keras.layers.Layer, keras.optimizers.Optimizer,
                                 keras.callbacks.Callback, keras.metrics.Metric)
                   for n in dir(cls) if n.startswith("_") and not n.startswith("__")}
    assert "_maybe_symbolic_build" in keras_names  # the scan sees private names
    found = {}
    for root, _, files in os.walk(PACKAGE):
        for file in files:
            path = os.path.join(root, file)
            if file.endswith(".py") and os.path.relpath(path, PACKAGE) not in EXEMPT:
                hits = _private_names_in(path) & keras_names
                if hits:
                    found[os.path.relpath(path, PACKAGE)] = sorted(hits)
    assert not found, f"private Keras names outside keras_compat.py: {found}"


def _probe_class(events):
    """A fresh model class (the decorator changes its class) logging builds and steps."""

    class Probe(keras.Model):
        def build(self, input_shape):
            events.append(("build", tuple(input_shape)))
            self.built = True

        def call(self, x):
            return x

        def train_step(self, data):
            if tf.executing_eagerly():
                events.append(("step", int(data[0, 0])))
            return {"first": data[0, 0]}

    return Probe


def _batches():
    """Four batches [4, 3]; batch i is all i."""
    return tf.data.Dataset.from_tensor_slices(
        np.repeat(np.arange(4, dtype="float32"), 12).reshape(16, 3)).batch(4)


def test_replaced_build_runs_instead_and_the_batches_start_from_the_first():
    events = []
    cls = keras_compat.replace_first_batch_build(
        _probe_class(events), lambda m: True, lambda m: events.append(("hook", m.name)))
    model = cls(name="probe")
    model.compile(optimizer="sgd", run_eagerly=True)
    model.fit(_batches(), epochs=1, verbose=0)
    assert events == [("hook", "probe")] + [("step", i) for i in range(4)]


@pytest.mark.parametrize("applies", [False, True])
def test_keras_build_runs_where_the_replacement_does_not_apply(applies):
    # Under a strategy Keras builds the model from the replicas' mean first batch; the
    # replacement, where it applies, runs instead.
    events = []
    cls = keras_compat.replace_first_batch_build(
        _probe_class(events), lambda m: applies, lambda m: events.append(("hook", m.name)))
    with distribute.get_strategy("mirrored").scope():
        model = cls(name="probe")
        model.compile(optimizer="sgd")
    model.fit(_batches(), epochs=1, verbose=0)
    assert events == ([("hook", "probe")] if applies else [("build", (2, 3))])


def test_variable_index_is_the_position_in_the_built_list():
    variables = [keras.Variable(np.full((2,), i, "float32")) for i in range(3)]
    optimizer = keras.optimizers.SGD(momentum=0.9)
    optimizer.build(variables[::-1])
    assert [keras_compat.variable_index(optimizer, v) for v in variables] == [2, 1, 0]


def test_variable_index_maps_a_replica_component_back_under_a_strategy():
    strategy = distribute.get_strategy("mirrored")
    with strategy.scope():
        variables = [keras.Variable(np.zeros((2,), "float32")) for _ in range(2)]
        optimizer = keras.optimizers.SGD(momentum=0.9)
        optimizer.build(variables)
    components = [strategy.experimental_local_results(v.value)[1] for v in variables]
    assert [keras_compat.variable_index(optimizer, c) for c in components] == [0, 1]


def test_missing_private_name_is_reported_with_the_keras_version(monkeypatch):
    monkeypatch.setattr(keras_compat, "FIRST_BATCH_BUILD", "_gone_build")
    monkeypatch.setattr(keras_compat, "VARIABLE_INDEX", "_gone_index")
    with pytest.raises(RuntimeError, match=f"Keras {keras.__version__} has no "
                                           "Model._gone_build; update"):
        keras_compat.replace_first_batch_build(_probe_class([]), bool, print)
    with pytest.raises(RuntimeError, match=f"Keras {keras.__version__} has no "
                                           "Optimizer._gone_index; update"):
        keras_compat.variable_index(keras.optimizers.SGD(), keras.Variable(0.0))
