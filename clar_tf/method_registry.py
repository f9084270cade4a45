"""The training methods, one entry each: what config, the factory, the `--method` flag,
the experiment presets and the table writers know of a method.

Adding a method is one `Method` in `METHODS` plus its `methods.TwoViewModel` subclass. This
module imports no TensorFlow (config reads it): the class is named by a "module:Class"
string and imported on first use (`Method.model_class`).
"""
import dataclasses
import importlib

@dataclasses.dataclass(frozen=True)
class Method:
    """One training method.

    Attributes:
        name: the `--method` value (also the training model's Keras name).
        class_path: "module:Class" of its `clar_tf.models.methods.TwoViewModel` subclass.
        needs_labels: whether it learns from labels (refused on unlabeled data, and run
            once per label fraction in Table 2 instead of once per seed).
        has_classifier: whether the projection head ends in a `num_classes` layer.
        help: one line for the `--method` help.
        title: its name in the paper's tables and figures (Table 2, Fig. 5).
        kind: its column "Type" in Table 2.
        options: the `Config` fields passed to its class as keyword arguments of the same
            name (besides those every `TwoViewModel` takes); the class never sees `Config`.
    """

    name: str
    class_path: str
    needs_labels: bool
    has_classifier: bool
    help: str
    title: str
    kind: str
    options: tuple = ()

    def model_class(self):
        """The training-model class `class_path` names (imported here, on first use)."""
        module, name = self.class_path.split(":")
        return getattr(importlib.import_module(module), name)


# In the order of the paper's Table 2 (the tables and figures list methods so).
METHODS = (
    Method("supervised", "clar_tf.models.methods:Supervised", needs_labels=True,
           has_classifier=True, help="cross-entropy", title="Cross-Entropy",
           kind="Supervised"),
    Method("supcon", "clar_tf.models.methods:SupCon", needs_labels=True,
           has_classifier=False, help="supervised contrastive", title="SupCon",
           kind="Supervised"),
    Method("simclr", "clar_tf.models.methods:SimCLR", needs_labels=False,
           has_classifier=False, help="NT-Xent, no labels", title="SimCLR",
           kind="Self-supervised"),
    Method("clar", "clar_tf.models.methods:CLAR", needs_labels=True, has_classifier=True,
           help="NT-Xent + CE", title="CLAR", kind="Semi-supervised",
           options=("ce_weight", "ce_normalization")),
)
BY_NAME = {m.name: m for m in METHODS}
NAMES = tuple(BY_NAME)
HELP = ", ".join(f"{m.name} ({m.help})" for m in METHODS) + "."


def get(name):
    """The `Method` called `name`; raises ValueError for an unknown name."""
    if name in BY_NAME:
        return BY_NAME[name]
    raise ValueError(f"method must be one of {', '.join(NAMES)}. Received: method={name!r}")
