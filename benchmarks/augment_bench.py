"""Throughput of clar_tf.layers (batched, in-graph) against per-clip librosa / NumPy.

Each augmentation runs on a batch of `--batch` clips of `--clip-seconds` at 16 kHz (every
op on every clip, p = 1) inside one `tf.function`, in three modes:

  graph        plain graph, as `model.fit` runs it by default; the vocoder layers (PS, TST)
               XLA-compile their own part (their default `jit_compile=True`)
  graph-noxla  plain graph with the vocoder layers' `jit_compile=False` (PS, TST, chains)
  xla          the whole function under `jit_compile=True` (as `--jit_compile` training)

and the same operation runs clip by clip with the reference tools (librosa time_stretch /
pitch_shift with the same n_fft and hop, np.roll, NumPy envelopes, masks and noise) in
`--processes` worker processes at once (default: one per core), whose clips/s are added:
the all-cores figure of a per-example data loader.

The chain FD+TM+TST+PS+TS+WN mirrors the authors' loader (linear fade, mask of exactly
1/8, time stretch resampled back to L, pitch shift, shift of up to L/2, white noise 0-20
dB) and is compared with `torch_reference.py aug --p 1` (the authors' approach, librosa
defaults n_fft 2048 / hop 512) in one process per core, run in the same invocation. It is
timed with our default vocoder (n_fft 512 / hop 128: 4× the frames) and with the
reference's 2048 / 512. "2 views" times the chain on the two views of a batch as one
[2N, L] call against two [N, L] calls (what TwoViewModel.views does now).

    python -m benchmarks.augment_bench                      # everything, about 2-3 min
    python -m benchmarks.augment_bench --ops PS TST --seconds 1
    python -m benchmarks.augment_bench --pieces             # timing of the vocoder pieces

Ratios compare figures measured seconds apart; absolute numbers depend on the machine and
on what else runs on it. The reference needs `bash tools/ref_env.sh` (skipped if absent).
"""
import argparse
import json
import os
import sys

from benchmarks import common

common.setup_environment()

SR = 16000
N_FFT, HOP = 512, 128
OPS = ["PS", "TST", "WN", "MN", "FD", "TM", "TS"]
CHAIN = "FD+TM+TST+PS+TS+WN"
VOCODER_OPS = {"PS", "TST"}


# ------------------------------------------------------------------ references (no TF)
def _mix(x, noise, snr_db):
    import numpy as np
    noise = noise / max(np.sqrt(np.mean(noise**2)), 1e-12)
    return x + np.sqrt(np.mean(x**2)) * 10 ** (-snr_db / 20) * noise


def ref_ps(x, rng):
    import librosa
    return librosa.effects.pitch_shift(x, sr=SR, n_steps=rng.uniform(-15, 15), n_fft=N_FFT,
                                       hop_length=HOP)


def ref_tst(x, rng):
    import librosa
    y = librosa.effects.time_stretch(x, rate=rng.uniform(0.5, 1.5), n_fft=N_FFT,
                                     hop_length=HOP)
    return librosa.util.fix_length(y, size=len(x))


def ref_wn(x, rng):
    return _mix(x, rng.standard_normal(len(x)), rng.uniform(0, 40))


def ref_mn(x, rng):
    import numpy as np
    exponent = rng.choice([0.0, 0.5, 1.0])
    spec = np.fft.rfft(rng.standard_normal(len(x)))
    k = np.arange(len(spec), dtype=np.float64)
    gain = np.where(k > 0, np.maximum(k, 1) ** -exponent, float(exponent == 0))
    return _mix(x, np.fft.irfft(spec * gain, n=len(x)), rng.uniform(0, 40))


def ref_fd(x, rng):
    import numpy as np
    n = len(x)
    a, b = rng.integers(0, n // 2 + 1, size=2)
    g = [lambda t: t, lambda t: np.log10(1 + 9 * t), lambda t: (10**t - 1) / 9][rng.integers(3)]
    i = np.arange(n)
    t_in = np.minimum(i / a, 1) if a else 1.0
    t_out = np.minimum((n - 1 - i) / b, 1) if b else 1.0
    return x * (g(t_in) * g(t_out))


def ref_tm(x, rng):
    n = len(x)
    size = rng.integers(0, n // 8 + 1)
    start = rng.integers(0, n - size + 1)
    y = x.copy()
    y[start:start + size] = 0.01 * rng.standard_normal(size)
    return y


def ref_ts(x, rng):
    import numpy as np
    m = len(x) // 2
    return np.roll(x, rng.integers(-m, m + 1))


REFERENCES = {"PS": ref_ps, "TST": ref_tst, "WN": ref_wn, "MN": ref_mn, "FD": ref_fd,
              "TM": ref_tm, "TS": ref_ts}


def reference_worker(op, seconds, length):
    """Worker process: clips/s of one reference op, one clip at a time (JSON line)."""
    import numpy as np
    rng = np.random.default_rng(0)
    clips = rng.standard_normal((64, length)).astype(np.float32) * 0.1
    fn = REFERENCES[op]
    state = {"i": 0}

    def one():
        fn(clips[state["i"] % 64], rng)
        state["i"] += 1

    rate = common.throughput(one, 1, seconds, warmup=4, min_calls=5)
    common.emit_json({"op": op, "clips_per_s": rate})


def reference_all_cores(op, processes, seconds, length):
    cmd = common.worker_command(__spec__.name) + ["--reference-worker", op,
           "--seconds", str(seconds), "--clip-seconds", str(length / SR)]
    results = common.run_workers([cmd] * processes, env=common.SINGLE_THREAD_ENV)
    figures = [common.last_json_line(r["stdout"]) for r in results]
    if any(f is None for f in figures):
        print(f"[reference {op} failed: {results[0]['stderr'][-400:]}]", file=sys.stderr)
        return None
    return sum(f["clips_per_s"] for f in figures)


# ------------------------------------------------------------------ ours
def build(op, jit_compile=True, n_fft=N_FFT, hop=HOP):
    from clar_tf import layers
    vocoder = dict(n_fft=n_fft, hop_length=hop, jit_compile=jit_compile)
    if op == "PS":
        return layers.PitchShift(seed=0, **vocoder)
    if op == "TST":
        return layers.TimeStretch(seed=0, **vocoder)
    if op in layers.SPEC_CODES:
        return layers.SPEC_CODES[op](seed=0)
    if op == "chain":  # the authors' loader, every op on every clip
        return layers.Chain([
            layers.Fade(shapes=["linear"], seed=1),
            layers.TimeMask(min_fraction=0.125, max_fraction=0.125, seed=2),
            layers.TimeStretch(0.5, 1.5, fit="resample", seed=3, **vocoder),
            layers.PitchShift(-15, 14, seed=4, **vocoder),
            layers.TimeShift(0.5, seed=5),
            layers.WhiteNoise(0, 20, seed=6)])
    raise ValueError(op)


def time_ours(layer, batch, length, mode, seconds, views=1):
    """clips/s of `layer` on [batch, length] (views=2: two calls on [batch/2, length])."""
    import numpy as np
    import tensorflow as tf

    def run(v):
        if views == 1:
            return tf.reduce_sum(layer(v, training=True))
        half = tf.shape(v)[0] // 2
        return (tf.reduce_sum(layer(v[:half], training=True))
                + tf.reduce_sum(layer(v[half:], training=True)))

    fn = tf.function(run, jit_compile=(mode == "xla"))
    x = tf.constant(np.random.default_rng(0).standard_normal((batch, length)) * 0.1,
                    tf.float32)
    return common.throughput(lambda: fn(x).numpy(), batch, seconds, warmup=2)


def pieces(batch, length, seconds):
    """tf.function timing of the pieces of PitchShift (graph and XLA, ms per batch)."""
    import math
    import numpy as np
    import tensorflow as tf
    from clar_tf import layers as A
    from clar_tf.audio import dsp

    rng = np.random.default_rng(1)
    x = tf.constant(rng.standard_normal((batch, length)).astype("float32"))
    ratio = tf.constant(2 ** (rng.uniform(-15, 15, batch) / 12).astype("float32"))
    spec = dsp.stft(x, N_FFT, HOP)
    n_in = spec.shape[1]
    frames = int(math.ceil(n_in * 2 ** 1.25)) + 1
    max_bin = (N_FFT // 2) / tf.maximum(ratio, 1.0)
    re, im, n_valid = dsp.phase_vocoder(spec, 1 / ratio, frames, max_bin=max_bin)
    out_len = tf.cast(tf.round(length * ratio), tf.int32)
    y = dsp.istft(re, im, N_FFT, HOP, n_valid, out_len)
    shifter = A.PitchShift(jit_compile=False)
    steps = {
        "STFT [B, L] -> [B, T, F]": (lambda v: dsp.stft(v, N_FFT, HOP), (x,)),
        "vocoder [B, T, F] -> [B, J, F]": (
            lambda s, r, b: dsp.phase_vocoder(s, 1 / r, frames, max_bin=b), (spec, ratio, max_bin)),
        "  of which atan2 + |X|": (lambda s: tf.math.atan2(tf.math.imag(s), tf.math.real(s))
                                   + tf.abs(s), (spec,)),
        "  of which 2 matmuls": (lambda a: tf.matmul(a, tf.math.real(spec))
                                 + tf.matmul(a, tf.math.imag(spec)),
                                 (tf.zeros([batch, frames, n_in]),)),
        "  of which sin + cos": (lambda p: tf.sin(p) + tf.cos(p), (re,)),
        "inverse STFT": (lambda a, b, n, o: dsp.istft(a, b, N_FFT, HOP, n, o),
                         (re, im, n_valid, out_len)),
        "resample to L": (lambda v, r: dsp.resample_linear(v, r, length), (y, ratio)),
        "PitchShift total": (lambda v, r: shifter._augment(
            v, {"semitones": 12 * tf.math.log(r) / math.log(2.0)}), (x, ratio)),
    }
    rows = []
    for name, (f, args) in steps.items():
        row = [name]
        for jit in (False, True):
            g = tf.function(lambda *a, f=f: tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32))
                                                      for t in tf.nest.flatten(f(*a))]),
                            jit_compile=jit)
            row.append(common.fmt(1000 * common.time_calls(lambda: g(*args).numpy(),
                                                           seconds, warmup=2), 1))
        rows.append(row)
    print(f"\nPieces of PitchShift at batch {batch} (T = {n_in} input frames, J = {frames} "
          f"output frames, F = {N_FFT // 2 + 1} bins), ms per batch:")
    common.print_table(["piece", "graph ms", "xla ms"], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.5,
                        help="timed duration of each measurement (default 1.5)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--ops", nargs="+", default=OPS + ["chain"],
                        help="ops to time: PS TST WN MN FD TM TS chain (default: all)")
    parser.add_argument("--modes", nargs="+", default=["graph", "graph-noxla", "xla"],
                        choices=["graph", "graph-noxla", "xla"])
    parser.add_argument("--processes", type=int, default=os.cpu_count(),
                        help="reference worker processes (default: one per core)")
    parser.add_argument("--reference-seconds", type=float, default=None,
                        help="timed duration of each reference run (default --seconds, "
                             "at least 4 s for the chain)")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--pieces", action="store_true",
                        help="only time the pieces of the pitch-shift vocoder")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--reference-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    length = int(round(args.clip_seconds * SR))
    if args.reference_worker:
        return reference_worker(args.reference_worker, args.seconds, length)

    import librosa
    import tensorflow as tf
    if args.pieces:
        return pieces(args.batch, length, args.seconds)
    ref_seconds = args.reference_seconds or args.seconds
    gpus = tf.config.list_physical_devices("GPU")
    device = ("GPU: " + tf.config.experimental.get_device_details(gpus[0]).get("device_name", "")
              if gpus else "CPU: " + common.cpu_description())
    print(f"TF {tf.__version__}, librosa {librosa.__version__}; {device}; batch "
          f"{args.batch} × {args.clip_seconds:g} s @ {SR} Hz; {args.seconds:g} s per timing; "
          f"reference: {args.processes} processes, figures added", flush=True)

    header = ["op"] + [f"{m} clips/s" for m in args.modes] + [
        f"reference ×{args.processes} clips/s", "best ours / reference"]
    rows, results = [], []

    def add_row(name, ours, ref):
        best = max((v for v in ours.values() if v is not None), default=None)
        rows.append([name] + [common.fmt(ours.get(m)) for m in args.modes]
                    + [common.fmt(ref), common.ratio(best, ref)])
        results.append({"op": name, **{f"{m}_clips_per_s": ours.get(m) for m in args.modes},
                        "reference_clips_per_s": ref})
        print("  " + " | ".join(rows[-1]), flush=True)

    for op in args.ops:
        if op == "chain":
            continue
        ours = {}
        for mode in args.modes:
            if mode == "graph-noxla" and op not in VOCODER_OPS:
                continue
            layer = build(op, jit_compile=(mode != "graph-noxla"))
            ours[mode] = time_ours(layer, args.batch, length, mode, args.seconds)
        ref = (None if args.no_reference
               else reference_all_cores(op, args.processes, ref_seconds, length))
        add_row(op, ours, ref)

    if "chain" in args.ops:
        chain_ref = None
        if not args.no_reference:
            r = common.run_reference("aug", processes=args.processes,
                                     seconds=max(ref_seconds, 4.0), p=1.0)
            chain_ref = r["total"] if r else None
        for name, kw in ((f"chain {CHAIN} (n_fft 512/hop 128)", {}),
                         ("chain, reference's n_fft 2048/hop 512", dict(n_fft=2048, hop=512))):
            ours = {m: time_ours(build("chain", jit_compile=(m != "graph-noxla"), **kw),
                                 args.batch, length, m, args.seconds) for m in args.modes}
            add_row(name, ours, chain_ref)
        two = time_ours(build("chain"), args.batch, length, "graph", args.seconds, views=2)
        one = time_ours(build("chain"), args.batch, length, "graph", args.seconds)
        rows.append(["2 views: one [2N, L] call vs two [N, L] calls (graph)", common.fmt(one),
                     common.fmt(two)] + [""] * (len(header) - 4) + [common.ratio(one, two)])
        results.append({"op": "two views", "one_call_clips_per_s": one,
                        "two_calls_clips_per_s": two})
        if chain_ref is not None:
            print(f"  reference chain: {r['command']} -> per process "
                  f"{', '.join(f'{v:.1f}' for v in r['per_process'])} clips/s")

    print()
    common.print_table(header, rows)
    print(f"peak RSS of this process: {common.fmt(common.peak_rss_mb())} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "batch": args.batch, "length": length,
                       "processes": args.processes, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
