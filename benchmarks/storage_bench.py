"""Prepared-dataset storage: float32 (builder version 1.0.0) vs int16 PCM (2.0.0).

Generates a corpus in the Speech Commands v0.02 layout (35 word folders, 1 s clips at
16 kHz written as 16-bit PCM wav, 10 % of the speakers in validation_list.txt and 10 %
in testing_list.txt; the audio is a cheap synthetic tone per word plus noise, not
speech), prepares it as `sc35` with both storages, and prints for each:

  prepare    wall seconds of `download_and_prepare` (one process, as `clar_tf.prepare`)
  disk       `du` of the prepared TFDS folder (bytes on disk), and bytes per clip
  pipeline   clips/s out of `input_pipeline.train_batches` alone: `datasets.load` (which decodes
             int16 to float32), label fraction, shuffle, repeat, batch, prefetch, as
             `train.run` builds it
  step       seconds per training step (`model.fit`, CLAR-2D, two FD+TM views) fed by
             that pipeline, against the same step fed one synthetic batch of
             `tf.random` audio (`Dataset.from_tensors(...).repeat()`), interleaved
             rounds in this process; the ratio is (input pipeline + step) / step,
             target ≤ 1.05. Also the process CPU seconds per step (the pipeline's
             threads included), which moves far less than wall time on shared cores,
             and the serial bound 1 + (pipeline CPU s per batch) / (synthetic step s):
             the ratio if the pipeline overlapped nothing and ran on the step's cores

then extrapolates disk size and prepare time to NSynth (305,979 clips × 4 s) and
Speech Commands sc35 (105,829 clips × 1 s) by audio seconds.

    python -m benchmarks.storage_bench     # 20,300 clips: corpus + prepares ~7 min, all ~25 min
                                           # on 2 loaded cores (load average 8-10)
    python -m benchmarks.storage_bench --clips 2100 --no-step   # quick look, ~1 min

The corpus is kept in `--work` (default /tmp/clar_storage_bench) and reused when it holds
the same number of clips; the prepared folders are made afresh each run.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import time

from benchmarks import common

common.setup_environment()

SR = 16000
LENGTH = 16000  # 1 s clips
TARGETS = {  # name: (clips, seconds per clip)
    "NSynth (nsynth11/128)": (305_979, 4.0),
    "Speech Commands sc35": (105_829, 1.0),
}
STORAGES = ("float32", "int16")


# ------------------------------------------------------------------ corpus
def make_corpus(root, clips, seed=0):
    """Writes `clips` (rounded up to a multiple of 35) 1 s PCM16 wavs in the Speech
    Commands layout; returns the number written. Reuses a finished corpus of that size."""
    import numpy as np
    import soundfile as sf

    from clar_tf.datasets import labels
    words = labels.SC35_WORDS
    per_word = math.ceil(clips / len(words))
    marker = os.path.join(root, "corpus_done.json")
    if os.path.exists(marker):
        with open(marker) as f:
            if json.load(f).get("per_word") == per_word:
                return per_word * len(words)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "_background_noise_"))
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH) / SR
    held_out = {"validation_list.txt": [], "testing_list.txt": []}
    for w, word in enumerate(words):
        os.makedirs(os.path.join(root, word))
        freq = 150.0 + 60.0 * w + rng.uniform(-20, 20, (per_word, 1))
        gain = rng.uniform(0.05, 0.6, (per_word, 1))
        onset = rng.integers(0, LENGTH // 2, (per_word, 1))
        envelope = (np.arange(LENGTH) >= onset) * np.exp(-3.0 * np.clip(t - onset / SR, 0, None))
        audio = gain * envelope * np.sin(2 * np.pi * freq * t)
        audio += 0.01 * rng.standard_normal(audio.shape)
        pcm = np.clip(np.rint(audio * 32768), -32768, 32767).astype(np.int16)
        for i in range(per_word):
            name = f"{word}/{i:08x}_nohash_0.wav"
            sf.write(os.path.join(root, name), pcm[i], SR, subtype="PCM_16")
            if i % 10 == 8:
                held_out["validation_list.txt"].append(name)
            elif i % 10 == 9:
                held_out["testing_list.txt"].append(name)
    for list_name, names in held_out.items():
        with open(os.path.join(root, list_name), "w") as f:
            f.write("".join(f"{n}\n" for n in names))
    with open(marker, "w") as f:
        json.dump({"per_word": per_word}, f)
    return per_word * len(words)


def disk_bytes(path):
    """`du --block-size=1 -s path`: bytes the folder takes on disk."""
    out = subprocess.run(["du", "--block-size=1", "-s", path], check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[0])


# ------------------------------------------------------------------ measurements
def prepare(corpus, data_dir, storage):
    """Prepares sc35 from `corpus` into a fresh `data_dir`; returns (wall s, CPU s)."""
    import tensorflow_datasets as tfds

    from clar_tf.datasets import speech_commands
    shutil.rmtree(data_dir, ignore_errors=True)
    builder = speech_commands.ClarSpeechCommands(data_dir=data_dir, config="sc35",
                                                 storage=storage)
    t0, c0 = time.perf_counter(), time.process_time()
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=corpus, try_download_gcs=False))
    return time.perf_counter() - t0, time.process_time() - c0


def make_config(args, data_dir, corpus):
    from clar_tf import config as config_lib
    return config_lib.Config(
        model_dir="/tmp/clar_storage_bench_unused", dataset="sc35", data_dir=data_dir,
        manual_dir=corpus, width=args.width, augment="FD+TM", batch_size=args.batch,
        optimizer="adam", learning_rate=1e-3, warmup_epochs=0.0, epochs=1000, seed=0)


def pipeline(cfg):
    """The training input pipeline of `cfg`, exactly as `train.run` builds it."""
    from clar_tf import input_pipeline
    return input_pipeline.train_batches(cfg, input_pipeline.train_info(cfg))[0]


def pipeline_rate(cfg, seconds):
    """(clips/s, process CPU seconds per clip) out of the input pipeline alone, after
    the shuffle buffer has filled."""
    it = iter(pipeline(cfg))
    for _ in range(3):
        next(it)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        n += int(next(it)["audio"].shape[0])
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / n


def step_times(args, sources):
    """{source: [(wall s, CPU s) per step in the steady state, one per round]} for one
    CLAR-2D model fed by each dataset in turn (interleaved rounds)."""
    import keras
    import numpy as np

    from clar_tf.datasets import labels
    from clar_tf.models import factory

    cfg = next(iter(sources.values()))[1]
    keras.utils.set_random_seed(0)
    model = factory.build_model(cfg, len(labels.SC35_WORDS), LENGTH)
    model.compile(optimizer=factory.build_optimizer(cfg, steps_per_epoch=100))

    class Marks(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.begin.append((time.perf_counter(), time.process_time()))

        def on_train_batch_end(self, batch, logs=None):
            self.end.append((time.perf_counter(), time.process_time()))

    def run(ds, steps):
        marks = Marks()
        marks.begin, marks.end = [], []
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[marks])
        skip = args.skip_steps  # iterator start and shuffle-buffer fill
        (wall0, cpu0), (wall1, cpu1) = marks.begin[skip], marks.end[-1]
        return ((wall1 - wall0) / (steps - skip), (cpu1 - cpu0) / (steps - skip)), marks

    datasets_ = {name: make() for name, (make, _) in sources.items()}
    first = next(iter(datasets_.values()))
    _, marks = run(first, args.skip_steps + 2)  # trace and compile
    per_step = float(np.median(np.diff([wall for wall, _ in marks.end])))
    steps = int(min(max(args.steps_seconds / max(per_step, 1e-3), 10), 200)) + args.skip_steps
    print(f"  {per_step:.3f} s/step after compiling: {steps} steps per fit "
          f"({args.skip_steps} skipped), {args.rounds} rounds", flush=True)
    times = {name: [] for name in sources}
    for r in range(args.rounds):
        for name, ds in datasets_.items():
            (wall, cpu), _ = run(ds, steps)
            times[name].append((wall, cpu))
            print(f"  round {r + 1} {name}: {wall:.3f} s/step, {cpu:.3f} CPU s/step",
                  flush=True)
    return times


def synthetic_source(cfg):
    import tensorflow as tf
    batch = {"audio": 0.1 * tf.random.normal((cfg.batch_size, LENGTH), seed=0),
             "label": tf.random.uniform((cfg.batch_size,), 0, 35, tf.int64, seed=1)}
    return tf.data.Dataset.from_tensors(batch).repeat()


# ------------------------------------------------------------------ report
def extrapolate(results, clips):
    """{target: {storage: (GB, prepare hours)}} scaled by audio seconds."""
    corpus_seconds = clips * LENGTH / SR
    out = {}
    for target, (n, seconds) in TARGETS.items():
        scale = n * seconds / corpus_seconds
        out[target] = {s: (results[s]["disk_bytes"] * scale / 1e9,
                           results[s]["prepare_s"] * scale / 3600) for s in STORAGES}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20_300, help="corpus size (≥ 20,000)")
    parser.add_argument("--work", default="/tmp/clar_storage_bench")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps-seconds", type=float, default=25.0,
                        help="about this long per fit call")
    parser.add_argument("--skip-steps", type=int, default=3)
    parser.add_argument("--pipeline-seconds", type=float, default=10.0)
    parser.add_argument("--no-step", action="store_true", help="skip the training step")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args(argv)

    print(common.cpu_description(), flush=True)
    corpus = os.path.join(args.work, "speech_commands")
    t0 = time.perf_counter()
    clips = make_corpus(corpus, args.clips)
    print(f"corpus: {clips} clips of 1 s at 16 kHz, PCM16 wav, Speech Commands layout, "
          f"{disk_bytes(corpus) / 1e6:.0f} MB in {corpus} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)

    results = {}
    for storage in STORAGES:
        data_dir = os.path.join(args.work, f"data_{storage}")
        wall, cpu = prepare(corpus, data_dir, storage)
        size = disk_bytes(os.path.join(data_dir, "clar_speech_commands"))
        results[storage] = {"prepare_s": wall, "prepare_cpu_s": cpu, "disk_bytes": size}
        print(f"{storage}: prepared in {wall:.0f} s ({cpu:.0f} CPU s), "
              f"{size / 1e6:.0f} MB on disk", flush=True)
    for storage in STORAGES:
        cfg = make_config(args, os.path.join(args.work, f"data_{storage}"), corpus)
        rate, cpu = pipeline_rate(cfg, args.pipeline_seconds)
        results[storage].update(pipeline_clips_per_s=rate, pipeline_cpu_ms_per_clip=cpu * 1e3)
        print(f"{storage}: input pipeline alone {rate:,.0f} clips/s, "
              f"{cpu * 1e3:.3f} CPU ms/clip", flush=True)

    if not args.no_step:
        cfgs = {s: make_config(args, os.path.join(args.work, f"data_{s}"), corpus)
                for s in STORAGES}
        sources = {"synthetic": (lambda: synthetic_source(cfgs["int16"]), cfgs["int16"])}
        sources.update({s: (lambda c=c: pipeline(c), c) for s, c in cfgs.items()})
        times = step_times(args, sources)
        medians = {name: [statistics.median(v[i] for v in values) for i in (0, 1)]
                   for name, values in times.items()}
        results["synthetic_step_s"], results["synthetic_step_cpu_s"] = medians["synthetic"]
        for s in STORAGES:
            wall, cpu = medians[s]
            results[s].update(step_s=wall, step_ratio=wall / medians["synthetic"][0],
                              step_cpu_s=cpu, step_cpu_ratio=cpu / medians["synthetic"][1])
            # Worst case, no overlap at all: a batch's pipeline CPU time added to the step.
            batch_s = results[s]["pipeline_cpu_ms_per_clip"] * 1e-3 * args.batch
            results[s]["serial_bound"] = 1 + batch_s / medians["synthetic"][0]

    print(f"\nsc35 layout, {clips} clips × 1 s, batch {args.batch}, CLAR-2D width "
          f"{args.width}, FD+TM views")
    header = ["storage", "prepare s", "prepare CPU s", "disk MB", "bytes/clip",
              "pipeline clips/s", "pipeline CPU ms/clip"]
    if not args.no_step:
        header += ["step s", "synthetic step s", "ratio", "CPU s/step",
                   "synthetic CPU s/step", "CPU ratio", "serial bound"]
    rows = []
    for s in STORAGES:
        r = results[s]
        row = [s, f"{r['prepare_s']:.0f}", f"{r['prepare_cpu_s']:.0f}",
               f"{r['disk_bytes'] / 1e6:.0f}", f"{r['disk_bytes'] / clips:,.0f}",
               f"{r['pipeline_clips_per_s']:,.0f}", f"{r['pipeline_cpu_ms_per_clip']:.3f}"]
        if not args.no_step:
            row += [f"{r['step_s']:.3f}", f"{results['synthetic_step_s']:.3f}",
                    f"{r['step_ratio']:.3f}×", f"{r['step_cpu_s']:.3f}",
                    f"{results['synthetic_step_cpu_s']:.3f}", f"{r['step_cpu_ratio']:.3f}×",
                    f"{r['serial_bound']:.4f}×"]
        rows.append(row)
    common.print_table(header, rows)
    i16, f32 = results["int16"], results["float32"]
    print(f"int16 / float32: disk {i16['disk_bytes'] / f32['disk_bytes']:.3f}, "
          f"prepare time {i16['prepare_s'] / f32['prepare_s']:.2f}")

    print("\nExtrapolated by audio seconds (one preparing process):")
    projected = extrapolate(results, clips)
    common.print_table(
        ["dataset", "float32 GB", "int16 GB", "float32 prepare h", "int16 prepare h"],
        [[t, f"{p['float32'][0]:.1f}", f"{p['int16'][0]:.1f}", f"{p['float32'][1]:.1f}",
          f"{p['int16'][1]:.1f}"] for t, p in projected.items()])
    results.update(clips=clips, args=vars(args), extrapolated=projected)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
