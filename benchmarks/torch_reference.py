"""The benchmarks' reference: the authors' way of training CLAR, in PyTorch + nnAudio + librosa.

This file exists only so that `benchmarks/` can time clar_tf against something in the same
invocation; nothing in `clar_tf` imports it, and it is not the authors' code. It rebuilds,
from what the paper and the public libraries describe, the two parts of their training
whose speed clar_tf's design changes:

  aug   the data loader's augmentation: one clip at a time, a chain of librosa / NumPy
        operations in the order FD, TM, TST, PS, TS, WN (fade in/out, time mask, time
        stretch, pitch shift, time shift, white noise), each applied with probability p.
        Prints clips/s of one single-threaded process; a loader with one worker per core
        runs one such process per core, so add their figures for an all-cores figure.
  step  one CLAR training step: two views of a batch of 1 s clips through an nnAudio
        frontend (STFT n_fft 2048 / hop 128 → dB magnitude and phase of 128 log-spaced
        bins from 40 to 8000 Hz, plus a 128-band dB mel spectrogram: 3 channels), a 2-D
        ResNet18, a projection head and a classifier, loss NT-Xent (τ = 0.5) + cross
        entropy on each view, backward, one Adam step. Prints examples/s (torch uses 2
        threads).

Run it with the reference's own virtualenv (`bash tools/ref_env.sh` makes it, by default
at /tmp/ref: torch 2.13.0 CPU, nnAudio, librosa), from the repository root:

    /tmp/ref/bin/python -m benchmarks.torch_reference aug --seconds 10 --p 1
    /tmp/ref/bin/python -m benchmarks.torch_reference step --batch 32 --seconds 20

The benchmarks (`benchmarks/common.py`) run the CLI above and also call `bench_step` and
`augment_reference` from worker processes; keep these names and their arguments.
Only NumPy is imported at module level, so loading the file is cheap.
"""
import argparse
import math
import time

import numpy as np

SAMPLE_RATE = 16000


# ------------------------------------------------------------------ per-clip augmentation
def _fade(x, rng, sr):
    """Linear fade in and fade out, each over up to half the clip."""
    n = len(x)
    gain = np.ones(n, dtype=np.float32)
    n_in, n_out = int(rng.integers(n // 2)), int(rng.integers(n // 2))
    if n_in:
        gain[:n_in] = np.linspace(0.0, 1.0, n_in, dtype=np.float32)
    if n_out:
        gain[n - n_out:] *= np.linspace(1.0, 0.0, n_out, dtype=np.float32)
    return x * gain


def _time_mask(x, rng, sr):
    """Replaces one eighth of the clip, at a random place, by quiet Gaussian noise."""
    width = len(x) // 8
    start = int(rng.integers(len(x) - width))
    out = np.array(x, dtype=np.float32, copy=True)
    out[start:start + width] = rng.normal(0.0, 0.01, width)
    return out


def _time_stretch(x, rng, sr):
    """Phase-vocoder stretch by a rate in [0.5, 1.5], resampled back to the clip's length."""
    import librosa
    stretched = librosa.effects.time_stretch(x, rate=float(rng.uniform(0.5, 1.5)))
    back = librosa.resample(stretched, orig_sr=len(stretched), target_sr=len(x))
    return librosa.util.fix_length(back, size=len(x))


def _pitch_shift(x, rng, sr):
    """librosa pitch shift by a whole number of semitones in [-15, 14]."""
    import librosa
    return librosa.effects.pitch_shift(x, sr=sr, n_steps=int(rng.integers(-15, 15)))


def _time_shift(x, rng, sr):
    """Circular shift by up to half the clip either way."""
    half = len(x) // 2
    return np.roll(x, int(rng.integers(-half, half)))


def _white_noise(x, rng, sr):
    """Adds Gaussian noise at a signal-to-noise ratio of 0 to 19 dB."""
    snr_db = int(rng.integers(0, 20))
    signal_rms = math.sqrt(float(np.mean(np.square(x))) + 1e-12)
    noise = rng.normal(0.0, signal_rms * 10.0 ** (-snr_db / 20.0), len(x))
    return x + noise.astype(np.float32)


# The order of the authors' loader (and of clar_tf's chain "FD+TM+TST+PS+TS+WN").
CHAIN = (("FD", _fade), ("TM", _time_mask), ("TST", _time_stretch),
         ("PS", _pitch_shift), ("TS", _time_shift), ("WN", _white_noise))


def augment_reference(x, rng, sr=SAMPLE_RATE, p=0.5):
    """One clip (1-D float array) through the chain; each op runs with probability `p`
    (`rng`: a `numpy.random.Generator`). Returns a float32 array of the same length."""
    out = np.asarray(x, dtype=np.float32)
    for _, op in CHAIN:
        if rng.random() < p:
            out = op(out, rng, sr)
    return np.asarray(out, dtype=np.float32)


def bench_aug(seconds, p=0.5, clip_samples=SAMPLE_RATE):
    """Clips/s of `augment_reference` in this process, over about `seconds`."""
    rng = np.random.default_rng(0)
    pool = (0.1 * rng.standard_normal((64, clip_samples))).astype(np.float32)
    for i in range(8):  # numba compiles librosa's kernels on first use: not timed
        augment_reference(pool[i], rng, p=p)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        augment_reference(pool[done % len(pool)], rng, p=p)
        done += 1
    return done / (time.perf_counter() - start)


# ------------------------------------------------------------------ the training step
def _build_model(num_classes=10, projection_dim=128):
    """(frontend, encoder, projection head, classifier) as torch modules."""
    import torch
    from torch import nn
    from nnAudio.features import STFT, MelSpectrogram

    class Frontend(nn.Module):
        """[B, L] audio → [B, 3, 128, T]: dB log-bin magnitude, its phase, dB mel."""

        def __init__(self):
            super().__init__()
            common = dict(n_fft=2048, hop_length=128, sr=SAMPLE_RATE, fmin=40, fmax=8000,
                          verbose=False)
            self.stft = STFT(freq_bins=128, freq_scale="log", output_format="Complex",
                             **common)
            self.mel = MelSpectrogram(n_mels=128, **common)

        def forward(self, audio):
            spec = self.stft(audio)  # [B, F, T, 2] (real, imaginary)
            real, imag = spec[..., 0], spec[..., 1]
            magnitude_db = 20.0 * torch.log10(torch.hypot(real, imag).clamp_min(1e-5))
            phase = torch.atan2(imag, real)
            mel_db = 10.0 * torch.log10(self.mel(audio).clamp_min(1e-5))
            return torch.stack([magnitude_db, phase, mel_db], dim=1)

    class BasicBlock(nn.Module):
        def __init__(self, in_ch, out_ch, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
                nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch))
            self.shortcut = nn.Identity()
            if stride != 1 or in_ch != out_ch:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(out_ch))

        def forward(self, x):
            return torch.relu(self.body(x) + self.shortcut(x))

    def resnet18(in_ch=3):
        stages, width = [], 64
        for out_ch, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages += [BasicBlock(width, out_ch, stride), BasicBlock(out_ch, out_ch, 1)]
            width = out_ch
        return nn.Sequential(
            nn.Conv2d(in_ch, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1), *stages,
            nn.AdaptiveAvgPool2d(1), nn.Flatten())

    projection = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(),
                               nn.Linear(512, projection_dim))
    classifier = nn.Sequential(nn.BatchNorm1d(projection_dim), nn.ReLU(),
                               nn.Linear(projection_dim, num_classes, bias=False))
    return Frontend(), resnet18(), projection, classifier


def _nt_xent(a, b, temperature=0.5):
    """NT-Xent of two batches of L2-normalised projections (positives: same row)."""
    import torch
    import torch.nn.functional as F
    z = torch.cat([a, b], dim=0)
    logits = z @ z.t() / temperature
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))  # a view is not its own negative
    n = len(a)
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def bench_step(batch, seconds, clip_samples=SAMPLE_RATE, num_classes=10):
    """Examples/s of the CLAR training step at `batch`, timed for about `seconds` after
    one untimed warm-up step (model construction is not timed either)."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    torch.set_num_threads(2)
    frontend, encoder, projection, classifier = _build_model(num_classes)
    trainable = [w for m in (encoder, projection, classifier) for w in m.parameters()]
    optimizer = torch.optim.Adam(trainable, lr=1e-3)
    view1 = 0.1 * torch.randn(batch, clip_samples)
    view2 = 0.1 * torch.randn(batch, clip_samples)
    labels = torch.randint(0, num_classes, (batch,))

    def train_step():
        z1 = projection(encoder(frontend(view1)))
        z2 = projection(encoder(frontend(view2)))
        loss = (_nt_xent(F.normalize(z1, dim=1), F.normalize(z2, dim=1))
                + F.cross_entropy(classifier(z1), labels)
                + F.cross_entropy(classifier(z2), labels))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    train_step()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        train_step()
        steps += 1
    return steps * batch / (time.perf_counter() - start)


# ------------------------------------------------------------------ command line
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["aug", "step"],
                        help="aug: per-clip augmentation chain; step: CLAR training step")
    parser.add_argument("--batch", type=int, default=64, help="step: examples per view")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds")
    parser.add_argument("--p", type=float, default=0.5,
                        help="aug: probability of each op (1: every op on every clip)")
    args = parser.parse_args(argv)
    # benchmarks/common.py reads the figure from "...: <number> clips/s|examples/s".
    if args.what == "aug":
        rate = bench_aug(args.seconds, args.p)
        print(f"reference per-clip augmentation chain (p={args.p}): {rate:.1f} clips/s")
    else:
        rate = bench_step(args.batch, args.seconds)
        print(f"reference torch CLAR step (ResNet18-2D, batch {args.batch}): "
              f"{rate:.1f} examples/s")


if __name__ == "__main__":
    main()
