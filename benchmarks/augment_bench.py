"""Throughput of clar_tf.augment (batched, in-graph) against per-example librosa / NumPy.

Each paper augmentation, and the six-op chain FD+TM+TST+PS+TS+MN (every op applied to
every clip), runs on a batch of `--batch` clips of `--clip-seconds` at 16 kHz inside one
`tf.function` (plain graph and XLA), and the same operation runs clip by clip with the
reference tools (librosa.effects.time_stretch / pitch_shift with the same n_fft and hop,
np.roll, NumPy envelopes, masks and noise) in this process. Prints clips/s and the ratio
ours / reference. Each timing runs for about `--seconds` after a warm-up call (which also
compiles); the default run takes about 1–2 minutes.

    python benchmarks/augment_bench.py                    # all ops, graph and XLA
    python benchmarks/augment_bench.py --seconds 1 --ops TST PS --modes xla

TensorFlow uses every core it sees; the references run single-threaded NumPy/librosa
loops, as a per-example data pipeline would per worker. Numbers depend on the machine and
its load; compare ratios within one run.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from clar_tf import augment  # noqa: E402

SR = 16000
N_FFT, HOP = 512, 128
CHAIN = "FD+TM+TST+PS+TS+MN"


# ------------------------------------------------------------------ references
def _mix(x, noise, snr_db):
    noise = noise / max(np.sqrt(np.mean(noise**2)), 1e-12)
    return x + np.sqrt(np.mean(x**2)) * 10 ** (-snr_db / 20) * noise


def ref_ps(x, rng):
    return librosa.effects.pitch_shift(x, sr=SR, n_steps=rng.uniform(-15, 15), n_fft=N_FFT,
                                       hop_length=HOP)


def ref_tst(x, rng):
    y = librosa.effects.time_stretch(x, rate=rng.uniform(0.5, 1.5), n_fft=N_FFT,
                                     hop_length=HOP)
    return librosa.util.fix_length(y, size=len(x))


def ref_wn(x, rng):
    return _mix(x, rng.standard_normal(len(x)), rng.uniform(0, 40))


def ref_mn(x, rng):
    exponent = rng.choice([0.0, 0.5, 1.0])
    spec = np.fft.rfft(rng.standard_normal(len(x)))
    k = np.arange(len(spec), dtype=np.float64)
    gain = np.where(k > 0, np.maximum(k, 1) ** -exponent, float(exponent == 0))
    return _mix(x, np.fft.irfft(spec * gain, n=len(x)), rng.uniform(0, 40))


_SHAPES = [lambda t: t, lambda t: np.log10(1 + 9 * t), lambda t: (10**t - 1) / 9]


def ref_fd(x, rng):
    n = len(x)
    a, b = rng.integers(0, n // 2 + 1, size=2)
    g = _SHAPES[rng.integers(3)]
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
    m = len(x) // 2
    return np.roll(x, rng.integers(-m, m + 1))


REFERENCES = {"PS": ref_ps, "TST": ref_tst, "WN": ref_wn, "MN": ref_mn, "FD": ref_fd,
              "TM": ref_tm, "TS": ref_ts}


def ref_chain(x, rng):
    for code in CHAIN.split("+"):
        x = REFERENCES[code](x, rng)
    return x


# ------------------------------------------------------------------ timing
def _time(run, seconds, clips_per_call):
    run()  # warm-up / compile
    calls, start = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * clips_per_call / elapsed


def bench_ours(code, batch, length, mode, seconds):
    layer = augment.from_spec(code, seed=0)
    fn = tf.function(lambda v: tf.reduce_sum(layer(v, training=True)),
                     jit_compile=(mode == "xla"))
    x = tf.constant(np.random.default_rng(0).standard_normal((batch, length)), tf.float32)
    return _time(lambda: fn(x).numpy(), seconds, batch)


def bench_reference(code, batch, length, seconds):
    ref = ref_chain if "+" in code else REFERENCES[code]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, length)).astype(np.float32)
    state = {"i": 0}

    def one_clip():  # time clip by clip so slow references stop near `seconds`
        ref(x[state["i"] % batch], rng)
        state["i"] += 1

    return _time(one_clip, seconds, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="timed duration of each measurement (default 2)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--ops", nargs="+", default=list(REFERENCES) + [CHAIN],
                        help=f"codes to time (default: every op and {CHAIN})")
    parser.add_argument("--modes", nargs="+", default=["graph", "xla"],
                        choices=["graph", "xla"])
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    length = int(round(args.clip_seconds * SR))

    gpus = tf.config.list_physical_devices("GPU")
    device = (tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
              if gpus else f"CPU ({os.cpu_count()} cores visible)")
    print(f"TF {tf.__version__}, librosa {librosa.__version__}; device: {device}; "
          f"batch {args.batch} × {args.clip_seconds:g} s @ {SR} Hz; "
          f"{args.seconds:g} s per timing")
    header = f"{'op':<20}" + "".join(f"{m + ' clips/s':>17}" for m in args.modes)
    header += f"{'reference clips/s':>19}" + "".join(f"{m + ' ×':>10}" for m in args.modes)
    print(header)
    results = []
    for code in args.ops:
        ours = {m: bench_ours(code, args.batch, length, m, args.seconds) for m in args.modes}
        ref = bench_reference(code, args.batch, length, args.seconds)
        results.append({"op": code, **{f"{m}_clips_per_s": v for m, v in ours.items()},
                        "reference_clips_per_s": ref})
        print(f"{code:<20}" + "".join(f"{ours[m]:>17.0f}" for m in args.modes)
              + f"{ref:>19.0f}" + "".join(f"{ours[m] / ref:>10.1f}" for m in args.modes),
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "batch": args.batch, "length": length,
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
