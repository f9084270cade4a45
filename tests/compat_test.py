"""The private Keras names of `clar_tf/compat.py` still exist, its functions do what
they say, and no other module touches a private Keras name."""
import ast
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import clar_tf
from clar_tf import distribute, compat

PACKAGE = os.path.dirname(clar_tf.__file__)
EXEMPT = {"compat.py"}  # the one place


@pytest.mark.parametrize("owner, name", compat.PRIVATE_NAMES,
                         ids=[n for _, n in compat.PRIVATE_NAMES])
def test_each_private_name_still_exists(owner, name):
    if not hasattr(owner, name):
        pytest.fail(f"Keras {keras.__version__} no longer has {owner.__name__}.{name}; "
                    "update clar_tf/compat.py")


def _private_names_in(path):
    """Attribute names and string constants starting with one underscore in `path`."""
    with open(path) as f:
        return _private_names_in_tree(ast.parse(f.read()))


def _private_names_in_tree(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
    return {n for n in names if n.startswith("_") and not n.startswith("__")
            and n.isidentifier()}


def test_compat_lists_every_private_name_it_uses():
    used = _private_names_in(compat.__file__)
    assert used == {name for _, name in compat.PRIVATE_NAMES}


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
    assert not found, f"private Keras names outside compat.py: {found}"


def _probe_class(events, applies):
    """A model on `FirstBatchBuildOverride` logging builds, its own build and steps."""

    class Probe(compat.FirstBatchBuildOverride):
        def build(self, input_shape):
            events.append(("build", tuple(input_shape)))
            self.built = True

        def replaces_first_batch_build(self):
            return applies

        def build_without_batch(self):
            events.append(("hook", self.name))

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
    model = _probe_class(events, True)(name="probe")
    model.compile(optimizer="sgd", run_eagerly=True)
    model.fit(_batches(), epochs=1, verbose=0)
    assert events == [("hook", "probe")] + [("step", i) for i in range(4)]


@pytest.mark.parametrize("applies", [False, True])
def test_keras_build_runs_where_the_replacement_does_not_apply(applies):
    # Under a strategy Keras builds the model from the replicas' mean first batch; the
    # replacement, where it applies, runs instead.
    events = []
    with distribute.get_strategy("mirrored").scope():
        model = _probe_class(events, applies)(name="probe")
        model.compile(optimizer="sgd")
    model.fit(_batches(), epochs=1, verbose=0)
    assert events == ([("hook", "probe")] if applies else [("build", (2, 3))])


def test_variable_index_is_the_position_in_the_built_list():
    variables = [keras.Variable(np.full((2,), i, "float32")) for i in range(3)]
    optimizer = keras.optimizers.SGD(momentum=0.9)
    optimizer.build(variables[::-1])
    assert [compat.variable_index(optimizer, v) for v in variables] == [2, 1, 0]


def test_variable_index_maps_a_replica_component_back_under_a_strategy():
    strategy = distribute.get_strategy("mirrored")
    with strategy.scope():
        variables = [keras.Variable(np.zeros((2,), "float32")) for _ in range(2)]
        optimizer = keras.optimizers.SGD(momentum=0.9)
        optimizer.build(variables)
    components = [strategy.experimental_local_results(v.value)[1] for v in variables]
    assert [compat.variable_index(optimizer, c) for c in components] == [0, 1]


def test_missing_private_name_is_reported_with_the_keras_version(monkeypatch):
    monkeypatch.setattr(compat, "FIRST_BATCH_BUILD", "_gone_build")
    monkeypatch.setattr(compat, "VARIABLE_INDEX", "_gone_index")
    with pytest.raises(RuntimeError, match=f"Keras {keras.__version__} has no "
                                           "Model._gone_build; update"):
        _probe_class([], True)()
    with pytest.raises(RuntimeError, match=f"Keras {keras.__version__} has no "
                                           "Optimizer._gone_index; update"):
        compat.variable_index(keras.optimizers.SGD(), keras.Variable(0.0))


# --- TensorFlow and TFDS ----------------------------------------------------------------

@pytest.mark.parametrize("module, name", compat.PRIVATE_TF_NAMES,
                         ids=[n for _, n in compat.PRIVATE_TF_NAMES])
def test_each_private_tf_name_still_exists(module, name):
    import importlib
    if not hasattr(importlib.import_module(module), name):
        pytest.fail(f"TensorFlow {tf.__version__} no longer has {module}.{name}; "
                    "update clar_tf/compat.py")


def test_in_xla_context_sees_jit_compile_and_functions_nested_in_it():
    assert not compat.in_xla_context()  # eager
    assert not tf.function(lambda: tf.constant(compat.in_xla_context()))().numpy()
    assert tf.function(lambda: tf.constant(compat.in_xla_context()),
                       jit_compile=True)().numpy()
    inner = tf.function(lambda: tf.constant(compat.in_xla_context()))
    assert tf.function(lambda: inner(), jit_compile=True)().numpy()


def test_missing_private_tf_name_is_reported_with_the_tf_version(monkeypatch):
    monkeypatch.setattr(compat, "PRIVATE_TF_NAMES",
                        (("tensorflow.python.ops.control_flow_util", "GoneFunction"),))
    with pytest.raises(RuntimeError, match=f"TensorFlow {tf.__version__} has no "
                                           ".*GoneFunction; update"):
        compat.in_xla_context()


def _modules_outside_compat():
    for root, _, files in os.walk(PACKAGE):
        for file in files:
            path = os.path.join(root, file)
            if file.endswith(".py") and os.path.relpath(path, PACKAGE) not in EXEMPT:
                with open(path) as f:
                    yield os.path.relpath(path, PACKAGE), ast.parse(f.read())


def test_no_other_module_imports_tensorflow_internals():
    found = {}
    for rel, tree in _modules_outside_compat():
        for node in ast.walk(tree):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            bad = [n for n in names if n.startswith(("tensorflow.python", "keras.src",
                                                     "tensorflow_datasets.core."))]
            if bad:
                found.setdefault(rel, []).extend(bad)
    assert not found, f"private TensorFlow/Keras/TFDS modules outside compat.py: {found}"


def test_no_module_touches_a_private_tfds_builder_attribute(tmp_path):
    import tensorflow_datasets as tfds

    from clar_tf.datasets import speech_commands
    builder = speech_commands.ClarSpeechCommands(data_dir=str(tmp_path), config="sc10")
    own = set()  # private attributes clar_tf assigns itself (self._x = ...)
    for _, tree in _modules_outside_compat():
        own |= {t.attr for node in ast.walk(tree) if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Attribute)}
    tfds_names = ({n for n in vars(builder) if n.startswith("_") and not n.startswith("__")}
                  | {n for n in dir(tfds.core.GeneratorBasedBuilder)
                     if n.startswith("_") and not n.startswith("__")}) - own
    # What a builder implements, as TFDS documents ("Writing custom datasets").
    tfds_names -= {"_info", "_split_generators", "_generate_examples"}
    assert "_original_state" in tfds_names  # the scan sees TFDS's private names
    found = {}
    for rel, tree in _modules_outside_compat():
        hits = _private_names_in_tree(tree) & tfds_names
        if hits:
            found[rel] = sorted(hits)
    assert not found, f"private TFDS names outside compat.py: {found}"


def test_op_determinism_is_on_inside_the_block_and_as_before_after():
    is_enabled = compat._tf_private("tensorflow.python.framework.config",
                                    "is_op_determinism_enabled")
    assert not is_enabled()
    with compat.op_determinism():
        assert is_enabled()
        with compat.op_determinism():  # nested: the outer block keeps it on
            assert is_enabled()
        assert is_enabled()
    assert not is_enabled()


def test_tflite_ops_lists_the_ops_of_a_converted_model():
    from clar_tf import tflite_export

    class Square(tf.Module):  # no Keras: TF 2.16's from_keras_model aborts on Keras 3
        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
        def __call__(self, x):
            return tf.math.sqrt(tf.math.abs(x) + 1.0)

    module = Square()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module)
    interpreter = tflite_export.interpreter(model_content=converter.convert())
    ops = compat.tflite_ops(interpreter)
    assert [op["op_name"] for op in ops] == ["ABS", "ADD", "SQRT"]
    tensors = {t["index"] for t in interpreter.get_tensor_details()}
    assert all(set(op["inputs"]) | set(op["outputs"]) <= tensors for op in ops)


def test_an_interpreter_without_the_private_name_is_reported_by_class():
    with pytest.raises(RuntimeError, match=r"builtins.object has no _get_ops_details"):
        compat.tflite_ops(object())
