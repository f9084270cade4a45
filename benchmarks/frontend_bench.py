"""Throughput of the 3-channel frontend (clar_tf.layers.Frontend) against librosa.

Ours: `Frontend(variant)` on a batch of `--batch` clips of `--clip-seconds` at 16 kHz in a
`tf.function`: `graph` (the default layer: Kapre STFT, then the channels in one nested XLA
call), `graph-plain` (`jit_compile=False`: every op in the plain graph) and `xla` (the
whole function XLA-compiled). Reference: librosa computing the same three channels
clip by clip in single-threaded processes (OMP/OpenBLAS/MKL threads = 1; one STFT per clip; magnitude in dB, phase, and the mel spectrogram in dB
from that STFT's power, with the mel matrix, the authors' log-frequency matrix and the
phase bins built once outside the loop, as a tuned per-example loader would).

Two comparisons per variant, each pair run back to back in separate processes (so the
thread settings and peak memory are each run's own):

  per core   ours with TensorFlow limited to 1 thread (`tf.config.threading`
             intra/inter-op = 1) against one librosa process;
  all cores  ours with TensorFlow's default threads against one librosa process per
             core (figures added).

    python -m benchmarks.frontend_bench                    # both variants, about 1-2 min
    python -m benchmarks.frontend_bench --variants paper --seconds 2
    python -m benchmarks.frontend_bench --modes graph floor-stft floor-stft-mel

Ratios compare figures measured seconds apart; absolute numbers depend on the machine and
on what else runs on it.
"""
import argparse
import json
import os
import sys

from benchmarks import common

common.setup_environment()

SR = 16000


# ------------------------------------------------------------------ reference (no TF)
def reference_worker(variant, seconds, length):
    import warnings

    import librosa
    import numpy as np

    from clar_tf.layers.frontend import log_interpolation_filterbank, nearest_bins
    if variant == "paper":
        n_fft, fmin, fmax, n_mels, amin, mel_amin = 256, 0.0, SR / 2, 128, 1e-10, 1e-10
    else:
        n_fft, fmin, fmax, n_mels, amin, mel_amin = 2048, 40.0, 8000.0, 128, 1e-10, 1e-5
    hop = 128
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ee]mpty filters")
        mel_basis = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                                        fmax=fmax, htk=False, norm="slaney").astype(np.float32)
    if variant == "authors":
        log_fb = log_interpolation_filterbank(SR, n_fft, n_mels, fmin, fmax).T  # [128, F]
        bins = nearest_bins(SR, n_fft, n_mels, fmin, fmax)

    def features(x):
        s = librosa.stft(x, n_fft=n_fft, hop_length=hop, window="hann", center=True,
                         pad_mode="constant")  # [F, T] complex64
        mag = np.abs(s)
        power = mag ** 2
        mel_db = 10.0 * np.log10(np.maximum(mel_basis @ power, mel_amin))
        if variant == "paper":
            stft_db = 10.0 * np.log10(np.maximum(power[:n_mels], amin))
            phase = np.angle(s[:n_mels])
        else:
            stft_db = 10.0 * np.log10(np.maximum((log_fb @ mag) ** 2, amin))
            phase = np.angle(s[bins])
        return np.stack([stft_db.T, phase.T, mel_db.T], axis=-1)

    rng = np.random.default_rng(0)
    clips = (0.1 * rng.standard_normal((32, length))).astype(np.float32)
    state = {"i": 0}

    def one():
        features(clips[state["i"] % 32])
        state["i"] += 1

    rate = common.throughput(one, 1, seconds, warmup=4, min_calls=5)
    common.emit_json({"clips_per_s": rate})


# ------------------------------------------------------------------ ours
def ours_worker(variant, seconds, length, batch, threads, mode):
    import tensorflow as tf
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    import numpy as np

    from clar_tf.layers.frontend import Frontend
    layer = Frontend(variant=variant, jit_compile=(mode != "graph-plain"))
    if mode.startswith("floor"):  # the unavoidable part alone: the STFT (+ mel matmul)
        def part(v):
            spec = layer.stft(tf.pad(v, [[0, 0], [layer.n_fft // 2] * 2])[:, :, None])
            if mode == "floor-stft":
                return tf.reduce_sum(tf.math.real(spec))
            power = tf.square(tf.math.real(spec)) + tf.square(tf.math.imag(spec))
            return tf.reduce_sum(layer.mel_filterbank(power))
        fn = tf.function(part)
    else:
        fn = tf.function(lambda v: tf.reduce_sum(layer(v)), jit_compile=(mode == "xla"))
    x = tf.constant((0.1 * np.random.default_rng(0).standard_normal((batch, length)))
                    .astype("float32"))
    rate = common.throughput(lambda: fn(x).numpy(), batch, seconds, warmup=2)
    common.emit_json({"clips_per_s": rate})


def _worker(args, kind, variant, **extra):
    cmd = common.worker_command(__spec__.name) + ["--worker", kind, "--variants", variant,
           "--seconds", str(args.seconds), "--clip-seconds", str(args.clip_seconds),
           "--batch", str(args.batch)]
    for key, value in extra.items():
        cmd += [f"--{key}", str(value)]
    return cmd


def _collect(results, what):
    figures = [common.last_json_line(r["stdout"]) for r in results]
    if any(f is None for f in figures):
        print(f"[{what} failed: {results[0]['stderr'][-600:]}]", file=sys.stderr)
        return None, None
    return (sum(f["clips_per_s"] for f in figures),
            max(r["maxrss_mb"] for r in results))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--variants", nargs="+", default=["paper", "authors"],
                        choices=["paper", "authors"])
    parser.add_argument("--modes", nargs="+", default=["graph", "graph-plain", "xla"],
                        choices=["graph", "graph-plain", "xla", "floor-stft",
                                 "floor-stft-mel"],
                        help="floor-*: time only the STFT (and the mel matmul on its "
                             "power), a ceiling for any frontend built on them")
    parser.add_argument("--processes", type=int, default=os.cpu_count(),
                        help="librosa processes for the all-cores figure (default: cores)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="graph", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    length = int(round(args.clip_seconds * SR))
    if args.worker == "reference":
        return reference_worker(args.variants[0], args.seconds, length)
    if args.worker == "ours":
        return ours_worker(args.variants[0], args.seconds, length, args.batch, args.threads,
                           args.mode)

    print(f"CPU: {common.cpu_description()}; batch {args.batch} × {args.clip_seconds:g} s; "
          f"{args.seconds:g} s per timing; all cores = TF default threads vs "
          f"{args.processes} librosa processes", flush=True)
    header = ["variant", "mode", "ours 1 thread", "librosa ×1", "per core ×",
              "ours all threads", f"librosa ×{args.processes}", "all cores ×", "peak RSS ours"]
    rows, results = [], []
    for variant in args.variants:
        for mode in args.modes:
            one, rss1 = _collect(common.run_workers(
                [_worker(args, "ours", variant, threads=1, mode=mode)]), "ours")
            ref1, _ = _collect(common.run_workers([_worker(args, "reference", variant)],
                                                  env=common.SINGLE_THREAD_ENV), "reference")
            many, rss = _collect(common.run_workers(
                [_worker(args, "ours", variant, threads=0, mode=mode)]), "ours")
            refn, _ = _collect(common.run_workers(
                [_worker(args, "reference", variant)] * args.processes,
                env=common.SINGLE_THREAD_ENV), "reference")
            rows.append([variant, mode, common.fmt(one), common.fmt(ref1),
                         common.ratio(one, ref1), common.fmt(many), common.fmt(refn),
                         common.ratio(many, refn),
                         f"{common.fmt(max(filter(None, [rss1, rss]), default=None))} MiB"])
            results.append({"variant": variant, "mode": mode, "ours_1_thread": one,
                            "librosa_1_process": ref1, "ours_all_threads": many,
                            f"librosa_{args.processes}_processes": refn,
                            "peak_rss_mb": rss})
            print("  " + " | ".join(rows[-1]), flush=True)
    print()
    common.print_table(header, rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "processes": args.processes, "results": results},
                      f, indent=2)


if __name__ == "__main__":
    main()
