"""Projection head of CLAR (paper §3.2 item 3 and §4).

Three fully connected layers with ReLU in between:

    x ─ dense1(hidden_units) ─ [BN] ─ ReLU ─ dense2(projection_units) ═► "projection"
      ─ [BN] ─ ReLU ─ dense3(num_classes or projection_units) ═► "output"

How the methods use it:
  * SimCLR / SupCon: contrastive loss on "output" (projection_units-d, 128 in the paper).
  * Supervised: "output" are the class logits (`num_classes` set).
  * CLAR: NT-Xent on "projection" (the layer preceding the last) and cross-entropy on
    "output" as logits (eq. 4).

`batchnorm=True` adds batch normalization before each ReLU, as in the authors' code
(Linear → BN → ReLU → Linear, then BN → ReLU → classifier). Differences from that code
that remain: here dense3 always has a bias (the authors' classifier has none).
"""
import keras

from clar_tf import checks


@keras.saving.register_keras_serializable(package="clar_tf")
class ProjectionHead(keras.layers.Layer):
    """MLP head returning `{"projection": [B, projection_units], "output": [B, K]}`.

    Args:
        hidden_units: width of dense1.
        projection_units: width of dense2, whose output is "projection".
        num_classes: width of dense3 ("output") when set; None → `projection_units`.
        batchnorm: insert `BatchNormalization` before each of the two ReLUs.
        sync_batchnorm: make those BN layers synchronized across replicas (only with
            `batchnorm=True`).

    Input shape: `[B, D]`. Output: a dict of two tensors, K = num_classes or
    projection_units.
    """

    def __init__(self, hidden_units=512, projection_units=128, num_classes=None,
                 batchnorm=False, sync_batchnorm=False, **kwargs):
        super().__init__(**kwargs)
        checks.check_int("hidden_units", hidden_units)
        checks.check_int("projection_units", projection_units)
        checks.check_int("num_classes", num_classes, allow_none=True)
        checks.check_bool("batchnorm", batchnorm)
        checks.check_bool("sync_batchnorm", sync_batchnorm)
        self.hidden_units = hidden_units
        self.projection_units = projection_units
        self.num_classes = num_classes
        self.batchnorm = batchnorm
        self.sync_batchnorm = sync_batchnorm
        self.output_units = projection_units if num_classes is None else num_classes

        sub = dict(dtype=self.dtype_policy)
        self.dense1 = keras.layers.Dense(hidden_units, name="dense1", **sub)
        self.dense2 = keras.layers.Dense(projection_units, name="dense2", **sub)
        self.dense3 = keras.layers.Dense(self.output_units, name="dense3", **sub)
        if batchnorm:
            # PyTorch BatchNorm1d defaults (momentum 0.1 ≙ Keras 0.9, ε = 1e-5).
            bn = dict(momentum=0.9, epsilon=1e-5, synchronized=sync_batchnorm, **sub)
            self.bn1 = keras.layers.BatchNormalization(name="bn1", **bn)
            self.bn2 = keras.layers.BatchNormalization(name="bn2", **bn)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self.dense1.build(input_shape)
        hidden = input_shape[:-1] + (self.hidden_units,)
        projection = input_shape[:-1] + (self.projection_units,)
        self.dense2.build(hidden)
        self.dense3.build(projection)
        if self.batchnorm:
            self.bn1.build(hidden)
            self.bn2.build(projection)
        self.built = True

    def call(self, inputs, training=None):
        x = self.dense1(inputs)
        if self.batchnorm:
            x = self.bn1(x, training=training)
        x = keras.ops.relu(x)
        projection = self.dense2(x)
        x = projection
        if self.batchnorm:
            x = self.bn2(x, training=training)
        x = keras.ops.relu(x)
        return {"projection": projection, "output": self.dense3(x)}

    def compute_output_shape(self, input_shape):
        batch = tuple(input_shape)[:-1]
        return {"projection": batch + (self.projection_units,),
                "output": batch + (self.output_units,)}

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=self.hidden_units, projection_units=self.projection_units,
                      num_classes=self.num_classes, batchnorm=self.batchnorm,
                      sync_batchnorm=self.sync_batchnorm)
        return config
