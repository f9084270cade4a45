"""Throughput of the 3-channel frontend's STFT paths against librosa, side by side.

One invocation times, for each variant and each batch size in `--batches` (default 32,
128, 1024; clips of `--clip-seconds` at 16 kHz), these paths to the same three channels
(`clar_tf.layers.Frontend`: log-power STFT, phase, log-power mel):

  librosa           the reference: `librosa.stft` clip by clip in a single-threaded
                    process (OMP/OpenBLAS/MKL threads = 1; magnitude in dB, phase, and
                    the mel spectrogram in dB from that STFT's power, with the mel matrix,
                    the authors' log-frequency matrix and the phase bins built once
                    outside the loop, as a tuned per-example loader would)
  kapre             the training layer `Frontend(variant)` as `model.fit` runs it: Kapre's
                    STFT (`tf.signal.stft` between transposes) in the plain graph, then
                    the channels in one nested XLA call
  tf-stft           `tf.signal.stft` on [B, L] directly (no Kapre), then the same nested
                    XLA channels (`Frontend._channels`)
  stft-spectrogram  `ExportFrontend` as it is (the ONNX export's layer):
                    `keras.layers.STFTSpectrogram`, a strided Conv1D with DFT kernels, and
                    `keras.ops`, every op in the plain graph
  frame-matmul      `tf.signal.frame`, then one matmul of the frames with the window times
                    the real DFT (an [n_fft, n_fft] matrix: cos for bins 0..n_fft/2, -sin
                    for bins 1..n_fft/2-1, whose other sines are 0), then the same nested
                    XLA channels

and, on request (`--modes`): `kapre-plain` (`jit_compile=False`: every op in the plain
graph), `kapre-xla` (the whole function XLA-compiled), `floor-stft` (Kapre's STFT alone)
and `floor-stft-mel` (the STFT and the mel matmul on its power): the two steps any of
these frontends takes, a ceiling for all of them.

Before any path is timed its output on the timed batch is checked against the `kapre`
path's (TOLERANCES, those `ExportFrontend` is held to in tests/frontend_test.py): STFT
and mel channels in dB, phase wrapped to (-π, π] where |S| > 1e-3 of the clip's
largest |S|; a path over a tolerance is reported as failed and not timed. (The `kapre`
path itself is checked against librosa by tests/frontend_test.py.) The `floor-*` modes
compute only part of the frontend and are not checked.

Per core: TensorFlow limited to 1 thread (`tf.config.threading` intra/inter-op = 1)
against one librosa process, `--scope per-core` (default). All cores (`--scope
all-cores` or `both`): TensorFlow's default threads against one librosa process per core
(`--processes`), figures added. All paths of one batch run in one worker process and are
timed in turns (`--rounds` rounds of `--seconds` / rounds each, median call time), and
librosa runs just before and just after that worker (the mean of both is the
reference), so the ratios are measured seconds apart.

On a GPU host TensorFlow runs the paths on the GPU (benchmarks/gpu.sh: `--scope
all-cores`, batch 1024); the per-core figures are then not per core.

`--profile` instead times where the paper frontend's time goes, at `--profile-batch` with
one thread: the STFT alone, then the `tf-stft` path in full and with each of its pieces
(mel matmul, the two dB, the phase) replaced by a stand-in of the same shape, so each
difference is that piece's cost; the frame + matmul STFT; and librosa's pieces one by one
on one clip.

    python -m benchmarks.frontend_bench                   # paper, per core, ~3 min
    python -m benchmarks.frontend_bench --scope both --batches 64 128 \
        --modes kapre stft-spectrogram                    # export vs training frontend
    python -m benchmarks.frontend_bench --variants paper authors --batches 64
    python -m benchmarks.frontend_bench --profile         # where the time goes, ~1 min

Ratios compare figures measured seconds apart; absolute numbers depend on the machine and
on what else runs on it.
"""
import argparse
import json
import math
import os
import statistics
import sys

from benchmarks import common

common.setup_environment()

SR = 16000
FULL_MODES = ["kapre", "tf-stft", "stft-spectrogram", "frame-matmul", "kapre-plain",
              "kapre-xla"]
MODES = FULL_MODES + ["floor-stft", "floor-stft-mel"]
DEFAULT_MODES = ["kapre", "tf-stft", "stft-spectrogram", "frame-matmul"]
# Largest |difference| from the kapre path allowed before a path is timed: dB (STFT
# where |S|² > 1e-6 of the clip's largest, mel everywhere) and radians (phase, wrapped,
# where |S| > 1e-3 of the clip's largest).
TOLERANCES = {"stft_db": 5e-3, "phase_rad": 1e-3, "mel_db": 5e-3}


# ------------------------------------------------------------------ reference (no TF)
def reference_features(variant):
    """(features, pieces): librosa's three channels of one clip, [T, 128, 3], and the
    same computation as named steps for `--profile`."""
    import warnings

    import librosa
    import numpy as np

    if variant == "paper":
        n_fft, fmin, fmax, n_mels, amin, mel_amin = 256, 0.0, SR / 2, 128, 1e-10, 1e-10
    else:
        n_fft, fmin, fmax, n_mels, amin, mel_amin = 2048, 40.0, 8000.0, 128, 1e-10, 1e-5
    hop = 128
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ee]mpty filters")
        mel_basis = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                                        fmax=fmax, htk=False, norm="slaney").astype(np.float32)
    if variant == "authors":  # imports TensorFlow, so only here
        from clar_tf.layers.frontend import log_interpolation_filterbank, nearest_bins
        log_fb = log_interpolation_filterbank(SR, n_fft, n_mels, fmin, fmax).T  # [128, F]
        bins = nearest_bins(SR, n_fft, n_mels, fmin, fmax)

    def stft(x):
        return librosa.stft(x, n_fft=n_fft, hop_length=hop, window="hann", center=True,
                            pad_mode="constant")  # [F, T] complex64

    def features(x):
        s = stft(x)
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

    def pieces(x):
        """name → (function, its argument) of each step of `features` (paper)."""
        s = stft(x)
        power = np.abs(s) ** 2
        mel = mel_basis @ power
        parts = [power[:n_mels], np.angle(s[:n_mels]), mel]
        return {
            "STFT (librosa.stft)": (stft, x),
            "|S|, |S|²": (lambda v: np.abs(v) ** 2, s),
            "mel matmul": (lambda p: mel_basis @ p, power),
            "2 × dB (log10)": (lambda p: (np.log10(np.maximum(p[0], amin)),
                                          np.log10(np.maximum(p[1], mel_amin))),
                               (power[:n_mels], mel)),
            "phase (np.angle, 128 bins)": (lambda v: np.angle(v[:n_mels]), s),
            "stack + transpose": (lambda p: np.stack([p[0].T, p[1].T, p[2].T], -1), parts),
            "total (the features function)": (features, x),
        }

    return features, pieces


def reference_worker(variant, seconds, length, profile=False):
    import numpy as np

    features, pieces = reference_features(variant)
    rng = np.random.default_rng(0)
    clips = (0.1 * rng.standard_normal((32, length))).astype(np.float32)
    if profile:
        out = {name: 1e6 * common.time_calls(lambda f=f, a=a: f(a), seconds, warmup=4,
                                             min_calls=5)
               for name, (f, a) in pieces(clips[0]).items()}
        return common.emit_json({"us_per_clip": out})
    state = {"i": 0}

    def one():
        features(clips[state["i"] % 32])
        state["i"] += 1

    rate = common.throughput(one, 1, seconds, warmup=4, min_calls=5)
    common.emit_json({"clips_per_s": rate})


# ------------------------------------------------------------------ ours
def real_dft_matrix(window):
    """The window times the real DFT as one `[n_fft, n_fft]` float32 matrix (even
    n_fft): columns 0..n_fft/2 the real parts (window·cos) of bins 0..n_fft/2, then
    n_fft/2 - 1 columns the imaginary parts (-window·sin) of bins 1..n_fft/2 - 1 (those
    of bins 0 and n_fft/2 are 0). Frames `[..., n_fft]` times it give `split_real_dft`'s
    input."""
    import numpy as np

    from clar_tf.layers.frontend import dft_kernels
    n_fft = len(window)
    if n_fft % 2:
        raise ValueError(f"frame-matmul needs an even n_fft. Received: n_fft={n_fft}")
    real, imag = dft_kernels(window)  # each [n_fft, 1, n_fft/2 + 1], tested against rfft
    return np.concatenate([real[:, 0], imag[:, 0, 1:n_fft // 2]], axis=1)


def split_real_dft(y, n_fft):
    """`[..., n_fft]` (frames times `real_dft_matrix`) → (re, im), each
    `[..., n_fft/2 + 1]`, with +0 imaginary parts at bins 0 and n_fft/2 (as the FFT)."""
    import tensorflow as tf
    n_freq = n_fft // 2 + 1
    zero = tf.zeros_like(y[..., :1])
    return y[..., :n_freq], tf.concat([zero, y[..., n_freq:], zero], axis=-1)


def frontends(variant, modes=MODES):
    """mode → function of a `[B, L]` float32 tensor, to be called in a `tf.function`
    (`kapre-xla`: one with `jit_compile=True`). The FULL_MODES return the frontend's
    `[B, T, F, 3]` output; `floor-*` a partial result."""
    import tensorflow as tf

    from clar_tf.audio import xla
    from clar_tf.layers.frontend import ExportFrontend, Frontend

    kapre = Frontend(variant=variant)
    n_fft, hop, window_fn = kapre.n_fft, kapre.hop_length, kapre.stft.window_fn

    def centred(x):
        return tf.pad(x, [[0, 0], [n_fft // 2] * 2])

    def tf_stft(x):
        spec = tf.signal.stft(centred(x), n_fft, hop, fft_length=n_fft,
                              window_fn=window_fn)  # [B, T, n_freq] complex64
        return kapre._xla_features(spec)  # the layer's own nested XLA channels

    fns = {"kapre": kapre, "kapre-xla": kapre, "tf-stft": tf_stft}
    if "kapre-plain" in modes:
        fns["kapre-plain"] = Frontend(variant=variant, jit_compile=False)
    if "stft-spectrogram" in modes:
        fns["stft-spectrogram"] = ExportFrontend.from_frontend(kapre)
    if "frame-matmul" in modes:
        matrix = tf.constant(real_dft_matrix(window_fn(n_fft, dtype=tf.float32).numpy()))
        channels = xla.NestedXla(lambda y: kapre._channels(*split_real_dft(y, n_fft)))

        def frame_matmul(x):
            frames = tf.signal.frame(centred(x), n_fft, hop)  # [B, T, n_fft]
            shape = tf.shape(frames)
            y = tf.matmul(tf.reshape(frames, [-1, n_fft]), matrix)  # one [B·T, n_fft] GEMM
            return channels(tf.reshape(y, shape))

        fns["frame-matmul"] = frame_matmul

    def floor(x, mel):
        spec = kapre.stft(centred(x)[:, :, None])
        if not mel:
            return tf.math.real(spec)
        power = tf.square(tf.math.real(spec)) + tf.square(tf.math.imag(spec))
        return kapre.mel_filterbank(power)

    fns["floor-stft"] = lambda x: floor(x, mel=False)
    fns["floor-stft-mel"] = lambda x: floor(x, mel=True)
    return {m: fns[m] for m in modes}


def compare(got, ref):
    """Largest |got - ref| of each channel (keys of TOLERANCES) where it is defined:
    the STFT dB and the phase (wrapped) where the reference's |S|² > 1e-6 of its clip's
    largest, the mel dB everywhere; inf when the shapes differ or a value is not finite."""
    import numpy as np
    if got.shape != ref.shape or not np.all(np.isfinite(got)):
        return {k: math.inf for k in TOLERANCES}
    power = np.power(np.float32(10.0), ref[..., 0] / np.float32(10.0))
    loud = power > 1e-6 * power.max(axis=(1, 2), keepdims=True)
    phase = np.abs(np.mod(got[..., 1] - ref[..., 1] + np.pi, 2 * np.pi) - np.pi)
    return {"stft_db": float(np.abs(got[..., 0] - ref[..., 0])[loud].max()),
            "phase_rad": float(phase[loud].max()),
            "mel_db": float(np.abs(got[..., 2] - ref[..., 2]).max())}


def within_tolerance(errors):
    return all(errors[k] <= TOLERANCES[k] for k in TOLERANCES)


def _set_threads(threads):
    import tensorflow as tf
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _batch(batch, length):
    import numpy as np
    import tensorflow as tf
    return tf.constant((0.1 * np.random.default_rng(0).standard_normal((batch, length)))
                       .astype("float32"))


def ours_worker(variant, seconds, length, batch, threads, modes, rounds):
    """Checks every mode against the kapre path on one batch, then times them in turns;
    prints {"modes": {mode: {"clips_per_s", "errors", "check"}}} as its JSON line."""
    _set_threads(threads)
    import tensorflow as tf

    fns = frontends(variant, list(dict.fromkeys(["kapre", *modes])))
    x = _batch(batch, length)
    reference = tf.function(fns["kapre"])(x).numpy() if set(modes) & set(FULL_MODES) else None
    out, timed = {}, {}
    for mode in modes:
        jit = mode == "kapre-xla"
        if mode in FULL_MODES:
            got = (reference if mode == "kapre"
                   else tf.function(fns[mode], jit_compile=jit)(x).numpy())
            errors = compare(got, reference)
            out[mode] = {"errors": errors,
                         "check": "ok" if within_tolerance(errors) else "failed"}
            del got
            if out[mode]["check"] != "ok":
                print(f"[{mode}: output differs from kapre's: {errors}; not timed]",
                      file=sys.stderr, flush=True)
                continue
        else:
            out[mode] = {"check": "partial"}
        fn = tf.function(lambda v, f=fns[mode]: tf.reduce_sum(f(v)), jit_compile=jit)
        fn(x).numpy()  # trace and compile
        fn(x).numpy()
        timed[mode] = fn
    del reference
    calls = {mode: [] for mode in timed}
    for _ in range(rounds):  # in turns, so a change of load hits every mode alike
        for mode, fn in timed.items():
            calls[mode] += common.call_times(lambda: fn(x).numpy(), seconds / rounds, 2)
    for mode, times in calls.items():
        out[mode]["clips_per_s"] = batch / statistics.median(times)
    common.emit_json({"modes": out})


PROFILE_STEPS = {  # name: (mel matmul, dB, phase) in the channels; None: not the channels
    "STFT alone (tf.signal.stft, real part summed)": None,
    "STFT + power + stacked output, no mel / dB / phase": (False, False, False),
    "full: + mel matmul, 2 × dB, phase (the tf-stft path)": (True, True, True),
    "full without the mel matmul (power[:128] instead)": (False, True, True),
    "full without the 2 × dB (power instead)": (True, False, True),
    "full without the phase (re · im instead)": (True, True, False),
    "kapre path (Frontend as in training)": None,
    "tf.signal.frame alone": None,
    "frame + DFT matmul (n_fft × n_fft)": None,
}


def profile_worker(seconds, length, batch, rounds):
    """ms per batch of the paper frontend (tf-stft path) with each piece of its channels
    left out in turn, the STFT alone, the kapre path, and the frame + matmul STFT; one
    thread. Leaving a piece out (an identity or a slice in its place) keeps the shapes and
    the nested XLA call's one fused output, so the difference to the full path is that
    piece's cost. (The phase's stand-in is re · im: XLA fuses a bare slice of im into a
    slower loop than the full path's.)"""
    _set_threads(1)
    import tensorflow as tf

    from clar_tf.audio import xla
    from clar_tf.layers.frontend import Frontend
    layer = Frontend(variant="paper")
    n_fft, hop, n_mels = layer.n_fft, layer.hop_length, layer.n_mels
    window_fn = layer.stft.window_fn

    def centred(x):
        return tf.pad(x, [[0, 0], [n_fft // 2] * 2])

    def stft(x):
        return tf.signal.stft(centred(x), n_fft, hop, fft_length=n_fft, window_fn=window_fn)

    def db(power, amin):
        return (10.0 / math.log(10.0)) * tf.math.log(tf.maximum(power, amin))

    def channels(spec, mel, log, phase):
        """`Frontend._channels` (paper) with pieces replaced by cheap stand-ins."""
        re, im = tf.math.real(spec), tf.math.imag(spec)
        power = re * re + im * im
        kept = power[:, :, :n_mels]
        m = layer.mel_filterbank(power[..., None])[..., 0] if mel else kept
        return tf.stack([db(kept, layer._amin) if log else kept,
                         xla.atan2(im[:, :, :n_mels], re[:, :, :n_mels]) if phase
                         else re[:, :, :n_mels] * im[:, :, :n_mels],
                         db(m, layer._mel_amin) if log else m], axis=-1)

    matrix = tf.constant(real_dft_matrix(window_fn(n_fft, dtype=tf.float32).numpy()))
    frame = lambda x: tf.signal.frame(centred(x), n_fft, hop)
    others = [
        lambda x: tf.reduce_sum(tf.math.real(stft(x))),
        lambda x: tf.reduce_sum(layer(x)),
        lambda x: tf.reduce_sum(frame(x)),
        lambda x: tf.reduce_sum(tf.matmul(tf.reshape(frame(x), [-1, n_fft]), matrix))]
    fns = {}
    for name, pieces in PROFILE_STEPS.items():
        if pieces is None:
            fns[name] = tf.function(others.pop(0))
        else:
            nested = tf.function(lambda s, p=pieces: channels(s, *p), jit_compile=True)
            fns[name] = tf.function(lambda x, n=nested: tf.reduce_sum(n(stft(x))))
    x = _batch(batch, length)
    full = tf.function(lambda v: channels(stft(v), True, True, True), jit_compile=False)
    errors = compare(full(x).numpy(), tf.function(layer)(x).numpy())  # the stand-in
    if not within_tolerance(errors):  # of `Frontend._channels` must be it
        raise AssertionError(f"profile's channels differ from the layer's: {errors}")
    for fn in fns.values():
        fn(x).numpy()
    calls = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            calls[name] += common.call_times(lambda: fn(x).numpy(), seconds / rounds, 2)
    common.emit_json({"ms_per_batch": {k: 1000 * statistics.median(v)
                                       for k, v in calls.items()}})


# ------------------------------------------------------------------ driver
def _command(args, worker, variant, **extra):
    cmd = common.worker_command(__spec__.name) + [
        "--worker", worker, "--variants", variant, "--seconds", str(args.seconds),
        "--clip-seconds", str(args.clip_seconds), "--rounds", str(args.rounds)]
    for key, value in extra.items():  # True: a flag alone
        cmd += [f"--{key}"] + ([] if value is True else [str(v) for v in value]
                               if isinstance(value, list) else [str(value)])
    return cmd


def _figures(results, what):
    figures = [common.last_json_line(r["stdout"]) for r in results]
    if any(f is None for f in figures):
        print(f"[{what} failed: {results[0]['stderr'][-800:]}]", file=sys.stderr)
        return None
    return figures


def _librosa(args, variant, processes):
    """clips/s of `processes` single-threaded librosa processes at once, added."""
    figures = _figures(common.run_workers([_command(args, "reference", variant)] * processes,
                                          env=common.SINGLE_THREAD_ENV), "librosa")
    return sum(f["clips_per_s"] for f in figures) if figures else None


def measure(args, variant, batch, threads, processes):
    """librosa, all modes in one TF worker, librosa again. Returns the result dict."""
    before = _librosa(args, variant, processes)
    r = common.run_workers([_command(args, "ours", variant, batch=batch, threads=threads,
                                     modes=args.modes)])[0]
    figures = _figures([r], f"ours, {variant} batch {batch}")
    after = _librosa(args, variant, processes)
    refs = [v for v in (before, after) if v]
    ref = sum(refs) / len(refs) if refs else None
    modes = figures[0]["modes"] if figures else {}
    for res in modes.values():
        rate = res.get("clips_per_s")
        res["vs_librosa"] = rate / ref if rate and ref else None
    return {"variant": variant, "batch": batch,
            "threads": threads or "default", "librosa_processes": processes,
            "librosa_clips_per_s": ref, "librosa_before_after": [before, after],
            "peak_rss_mb": r["maxrss_mb"], "modes": modes}


def _cell(res):
    if res is None:
        return "—"
    if res.get("check") == "failed":
        return "check failed"
    rate = res.get("clips_per_s")
    if rate is None:
        return "—"
    ratio = res.get("vs_librosa")
    return f"{common.fmt(rate)} ({ratio:.2f}×)" if ratio else common.fmt(rate)


def best_full_mode(row):
    """(mode, result) of the fastest checked full frontend in a result row, or None."""
    full = [(m, r) for m, r in row["modes"].items()
            if m in FULL_MODES and r.get("check") == "ok" and r.get("clips_per_s")]
    return max(full, key=lambda mr: mr[1]["clips_per_s"], default=None)


def print_tables(rows, modes, scope_name, librosa_name):
    header = ["variant", "batch", librosa_name] + list(modes) + ["best / librosa"]
    table = []
    for row in rows:
        best = best_full_mode(row)
        table.append([row["variant"], str(row["batch"]),
                      common.fmt(row["librosa_clips_per_s"])]
                     + [_cell(row["modes"].get(m)) for m in modes]
                     + [f"{best[0]} {best[1]['vs_librosa']:.2f}×"
                        if best and best[1].get("vs_librosa") else "—"])
    print(f"\n{scope_name}: clips/s (× librosa)")
    common.print_table(header, table)


def print_checks(rows):
    worst = {}
    for row in rows:
        for mode, res in row["modes"].items():
            if "errors" in res and mode != "kapre":
                w = worst.setdefault((row["variant"], mode), dict.fromkeys(TOLERANCES, 0.0))
                for k in TOLERANCES:
                    w[k] = max(w[k], res["errors"][k])
    if not worst:
        return
    print("\nLargest |difference| from the kapre path over all batches "
          f"(tolerances: STFT {TOLERANCES['stft_db']:g} dB, phase "
          f"{TOLERANCES['phase_rad']:g} rad, mel {TOLERANCES['mel_db']:g} dB)")
    common.print_table(
        ["variant", "mode", "STFT dB", "phase rad", "mel dB", "check"],
        [[v, m, f"{e['stft_db']:.2g}", f"{e['phase_rad']:.2g}", f"{e['mel_db']:.2g}",
          "ok" if within_tolerance(e) else "FAILED"] for (v, m), e in worst.items()])


def run_profile(args, length):
    r = common.run_workers([_command(args, "profile", "paper",
                                     batch=args.profile_batch)])[0]
    ours = _figures([r], "profile")
    ref = _figures(common.run_workers([_command(args, "reference", "paper", profile=True)],
                                      env=common.SINGLE_THREAD_ENV), "librosa profile")
    batch = args.profile_batch
    ms = ours[0]["ms_per_batch"] if ours else {}
    print(f"\nPaper frontend, batch {batch} × {args.clip_seconds:g} s, one thread")
    common.print_table(["path or piece", "ms per batch", "µs per clip"],
                       [[k, f"{v:.2f}", f"{1000 * v / batch:.1f}"] for k, v in ms.items()])
    if ms:
        names = list(PROFILE_STEPS)
        us = {k: 1000 * ms[k] / batch for k in names}
        floor, bare, full = us[names[0]], us[names[1]], us[names[2]]
        parts = {"STFT (frame, window, RFFT)": floor,
                 "power, slices, stacked output (write)": bare - floor,
                 "mel matmul": full - us[names[3]],
                 "2 × dB (log)": full - us[names[4]],
                 "phase (polynomial atan2)": full - us[names[5]]}
        parts["rest (interaction of the pieces)"] = full - sum(parts.values())
        print(f"\nWhere the tf-stft path's {full:.1f} µs per clip go (differences of "
              f"the lines above)")
        common.print_table(["piece", "µs per clip", "share"],
                           [[k, f"{v:.1f}", f"{100 * v / full:.0f} %"]
                            for k, v in parts.items()])
    if ref:
        print("\nlibrosa, one clip at a time, each piece alone")
        common.print_table(["piece", "µs per clip"],
                           [[k, f"{v:.1f}"] for k, v in ref[0]["us_per_clip"].items()])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"profile_batch": batch, "ours_ms_per_batch": ms,
                       "librosa_us_per_clip": ref[0]["us_per_clip"] if ref else None},
                      f, indent=2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128, 1024])
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="timed seconds per path and batch (split over --rounds; "
                             "librosa: per run)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="turns through the paths (each gets seconds / rounds a turn)")
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--variants", nargs="+", default=["paper"],
                        choices=["paper", "authors"])
    parser.add_argument("--modes", nargs="+", default=DEFAULT_MODES, choices=MODES,
                        help="paths to time (kapre, the reference output, always runs)")
    parser.add_argument("--scope", default="per-core", choices=["per-core", "all-cores",
                                                                "both"],
                        help="per core: TF 1 thread vs 1 librosa process; all cores: TF "
                             "default threads vs --processes librosa processes")
    parser.add_argument("--processes", type=int, default=os.cpu_count(),
                        help="librosa processes for the all-cores figure (default: cores)")
    parser.add_argument("--profile", action="store_true",
                        help="only time the pieces of the paper frontend, ours and librosa's")
    parser.add_argument("--profile-batch", type=int, default=128)
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", choices=["ours", "reference", "profile"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=128, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    length = int(round(args.clip_seconds * SR))
    if args.worker == "reference":
        return reference_worker(args.variants[0], args.seconds, length, args.profile)
    if args.worker == "ours":
        return ours_worker(args.variants[0], args.seconds, length, args.batch, args.threads,
                           args.modes, args.rounds)
    if args.worker == "profile":
        return profile_worker(args.seconds, length, args.batch, args.rounds)
    args.modes = ["kapre"] + [m for m in dict.fromkeys(args.modes) if m != "kapre"]

    print(f"CPU: {common.cpu_description()}; clips of {args.clip_seconds:g} s; "
          f"{args.seconds:g} s per path and batch in {args.rounds} turns; librosa before "
          f"and after each worker", flush=True)
    if args.profile:
        return run_profile(args, length)
    per_core, all_cores = ("per-core", 1, 1), ("all-cores", 0, args.processes)
    scopes = {"per-core": [per_core], "all-cores": [all_cores],
              "both": [per_core, all_cores]}[args.scope]
    results = {name: [] for name, _, _ in scopes}
    for variant in args.variants:
        for batch in args.batches:
            for name, threads, processes in scopes:
                row = measure(args, variant, batch, threads, processes)
                results[name].append(row)
                print(f"  {name} {variant} batch {batch}: librosa "
                      f"{common.fmt(row['librosa_clips_per_s'])} clips/s; "
                      + "; ".join(f"{m} {_cell(r)}" for m, r in row["modes"].items())
                      + f"; peak RSS {common.fmt(row['peak_rss_mb'])} MiB", flush=True)
    for name, _, processes in scopes:
        print_tables(results[name], args.modes,
                     "Per core (TF 1 thread vs 1 librosa process)" if name == "per-core"
                     else f"All cores (TF default threads vs {processes} librosa processes)",
                     "librosa ×1" if name == "per-core" else f"librosa ×{processes}")
    print_checks([row for rows in results.values() for row in rows])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"clip_seconds": args.clip_seconds, "seconds": args.seconds,
                       "rounds": args.rounds, "tolerances": TOLERANCES,
                       "cpu": common.cpu_description(), **{k.replace("-", "_"): v
                                                           for k, v in results.items()}},
                      f, indent=2)


if __name__ == "__main__":
    main()
