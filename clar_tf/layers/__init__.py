"""Batched, seeded audio augmentations of CLAR (Al-Tahan & Mohsenzadeh 2021, section 5).

Every augmentation is a Keras layer on a batch of mono waveforms `[B, L]` (float, 16 kHz in
CLAR) that returns a batch of the same shape and dtype. In training mode
(`layer(x, training=True)`) every example draws its own random parameters from the layer's
`keras.random.SeedGenerator`; otherwise (`training` falsy, the default) the layer is the
identity. The work is done with batched tensor ops (no Python loop over examples, no
`numpy_function`), so the layers run inside the model on the accelerator and compile with
XLA (`tf.function(jit_compile=True)`; needs a static clip length `L`, the batch size may be
dynamic without XLA). Inside a plain `tf.function` each layer still applies its drawn
parameters under XLA (argument `jit_compile`, default True): on CPU that fuses the
elementwise work a plain graph runs op by op (speed: benchmarks/augment_bench.py).

Paper abbreviations (`from_spec`):

| code | layer | default parameter range (uniform per example) |
|---|---|---|
| PS  | `PitchShift`  | n ∈ [-15, 15] semitones, continuous |
| WN  | `WhiteNoise`  | SNR ∈ [0, 40] dB |
| MN  | `MixedNoise`  | colour ∈ {white, pink, brown}, SNR ∈ [0, 40] dB |
| FD  | `Fade`        | fade-in, fade-out ∈ [0, L/2] samples; shape ∈ {linear, log, exp} |
| TM  | `TimeMask`    | segment ∈ [0, L/8] samples at a uniform start; Gaussian noise, std 0.01 |
| TS  | `TimeShift`   | circular shift ∈ [-L/2, L/2] samples |
| TST | `TimeStretch` | rate ∈ [0.5, 1.5], cropped / zero-padded on the right to L |

As the paper asks, every range contains "no transformation" (0 semitones, 40 dB SNR ≈ none,
length 0, rate 1). Setting a range's low end equal to its high end fixes that parameter.
The authors' code differs in places (integer semitones in [-15, 15), SNR in [0, 20) dB, a
mask of exactly L/8, five fade shapes, time stretch resampled back to L, every augmentation
applied with probability 0.5); each of those is reachable through the arguments here
(`WhiteNoise(0, 20)`, `TimeMask(min_fraction=0.125)`, `Fade(shapes=FADE_SHAPES)`,
`TimeStretch(fit="resample")`, `p=0.5`).

Two-step API, for tests and inspection: `params = layer.sample_params(batch_size, length)`
draws the per-example parameters (a dict of tensors, advancing the seed generator exactly
as a training call does) and `layer.augment(x, params)` applies them deterministically;
`layer(x, training=True)` is `layer.augment(x, layer.sample_params(B, L))`.

Modules: `augmentation` (the base class), `temporal` (TS, FD, TM), `noise` (WN, MN),
`vocoder` (TST, PS), `chain` (`Chain`, `from_spec`), `frontend` (the 3-channel
time-frequency `Frontend` of the 2D models, and `ExportFrontend`, its twin of public
Keras layers for the ONNX export). Every layer is registered under the package
"clar_tf", so saved `.keras` models find it by class name.
"""
from clar_tf.layers.augmentation import Augmentation
from clar_tf.layers.chain import SPEC_CODES, Chain, from_spec, parse_spec
from clar_tf.layers.frontend import ExportFrontend, Frontend
from clar_tf.layers.noise import NOISE_COLORS, MixedNoise, WhiteNoise
from clar_tf.layers.temporal import FADE_SHAPES, Fade, TimeMask, TimeShift
from clar_tf.layers.vocoder import PitchShift, TimeStretch

__all__ = [
    "Augmentation", "PitchShift", "TimeStretch", "WhiteNoise", "MixedNoise", "Fade",
    "TimeMask", "TimeShift", "Chain", "from_spec", "parse_spec", "SPEC_CODES",
    "FADE_SHAPES", "NOISE_COLORS", "Frontend", "ExportFrontend",
]
