"""Examples/s of one training step (two views, forward, backward, update) against the
authors' approach in PyTorch (`torch_reference.py step`, same batch, same cores).

Each configuration runs in its own process (so each peak resident memory, VmHWM, is its
own) through the real code path: `factory.build_model(config, ...)`, `model.compile`,
`model.fit` on a dataset, with Adam like the reference. An example is one clip (two
views), as in the reference. Rows:

  synthetic   one in-memory batch repeated (`tf.data.Dataset.from_tensors(...).repeat()`),
              no augmentation: the step alone. method × encoder, and for 2D both frontends
              (`--frontends paper authors`; the reference uses the authors' settings).
  e2e         the same with the authors' augmentation chain on both views
              (FD+TM+TST+PS+TS+WN, each with p = 0.5, layers' `p` argument), against the
              reference step plus its per-clip augmentation (`torch_reference.py aug
              --p 0.5`, one process per core) on the same cores:
              1 / (1 / step + 2 / augmentation) examples/s, i.e. both workloads' CPU time
              added, as a loader sharing the step's cores would at best.
  pipeline    the real input pipeline (a prepared spoken_digits dataset through
              `clar_tf.datasets.load`, label fraction, shuffle, batch, prefetch, as
              `train.run` builds it) with the demo's FD+TM views, against the same
              augmentation on a synthetic batch: target ≤ 1.05× the synthetic step time.
  jit / mp    `--jit_compile` (whole step under XLA) and `--mixed_precision` (bfloat16 on
              CPU, float16 on GPU) variants of CLAR-2D.

    python -m benchmarks.train_bench                     # CLAR-2D, both frontends (~2 min)
    python -m benchmarks.train_bench --rounds 3 --variants mp   # interleaved, medians
    python -m benchmarks.train_bench --all               # every row (~15 min on 2 cores)
    python -m benchmarks.train_bench --methods clar simclr --encoders 1d --steps-seconds 5
    python -m benchmarks.train_bench --gpu               # GPU flags: batch 1024, mp, XLA

Wall-clock figures swing with other load on shared cores, so every configuration also
reports its process CPU seconds per step, and the reference's CPU seconds per step come
from two runs of its `bench_step` in one process (their difference cancels set-up and
warm-up); the reference step runs before and after ours (and before every round with
`--rounds N`) and the ratios use the median.

`--gpu` only sets the flags an accelerator run should use (batch 1024 = the paper's
global batch, mixed precision, XLA); it was not measured on a GPU here.
Ratios compare figures measured a minute apart at most; absolute numbers depend on the
machine and on what else runs on it.
"""
import argparse
import json
import os
import sys

from benchmarks import common

common.setup_environment()

SR = 16000
LENGTH = 16000
NUM_CLASSES = 10
E2E_P = 0.5
FAST_AUGMENT = "FD+TM"  # the demo's chain, for the pipeline rows


# ------------------------------------------------------------------ worker (one config)
def authors_chain(p, seed=0):
    """The authors' loader as layers: fade (linear), mask of exactly 1/8, time stretch
    resampled back, integer-free pitch shift in [-15, 15), time shift up to L/2, white
    noise 0-20 dB; each applied with probability p."""
    from clar_tf import layers
    return layers.Chain([
        layers.Fade(shapes=["linear"], p=p, seed=seed + 1),
        layers.TimeMask(min_fraction=0.125, max_fraction=0.125, p=p, seed=seed + 2),
        layers.TimeStretch(0.5, 1.5, fit="resample", p=p, seed=seed + 3),
        layers.PitchShift(-15, 14, p=p, seed=seed + 4),
        layers.TimeShift(0.5, p=p, seed=seed + 5),
        layers.WhiteNoise(0, 20, p=p, seed=seed + 6)])


def worker(a):
    import time

    import keras
    import numpy as np
    import tensorflow as tf

    from clar_tf import config as config_lib
    from clar_tf import datasets
    from clar_tf import input_pipeline
    from clar_tf.models import factory

    augment_spec = "" if a.augment in ("none", "authors") else a.augment
    cfg = config_lib.Config(
        model_dir="/tmp/clar_train_bench_unused", dataset="spoken_digits",
        data_dir=a.data_dir, manual_dir=a.manual_dir, method=a.method, encoder=a.encoder,
        frontend=a.frontend, width=a.width, augment=augment_spec, batch_size=a.batch,
        optimizer="adam", learning_rate=1e-3, warmup_epochs=0.0, epochs=1000,
        mixed_precision=a.mixed_precision, jit_compile=a.jit_compile, seed=0,
        shuffle_buffer=1000)
    gpu = bool(tf.config.list_logical_devices("GPU"))
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(("mixed_float16" if gpu else "mixed_bfloat16")
                                  if cfg.mixed_precision else "float32")
    if a.augment == "authors":  # build_model's augmenter becomes the authors' chain
        from_spec = factory.layers.from_spec
        factory.layers.from_spec = lambda spec, seed=None: authors_chain(E2E_P)
        try:
            model = factory.build_model(cfg, NUM_CLASSES, LENGTH)
        finally:
            factory.layers.from_spec = from_spec
    else:
        model = factory.build_model(cfg, NUM_CLASSES, LENGTH)
    model.compile(optimizer=factory.build_optimizer(cfg, steps_per_epoch=100),
                  jit_compile=cfg.jit_compile)
    keras.config.set_dtype_policy("float32")

    if a.data == "pipeline":
        info = datasets.info(cfg.dataset, data_dir=cfg.data_dir, manual_dir=cfg.manual_dir)
        ds, _ = input_pipeline.train_batches(cfg, info)
    else:
        rng = np.random.default_rng(0)
        batch = {"audio": (0.1 * rng.standard_normal((a.batch, LENGTH))).astype("float32"),
                 "label": rng.integers(0, NUM_CLASSES, a.batch).astype("int64")}
        ds = tf.data.Dataset.from_tensors(batch).repeat()

    class StepTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    warm = StepTimes()
    model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0, callbacks=[warm])  # trace, compile
    per_step = warm.times[-1]
    steps = int(min(max(a.steps_seconds / max(per_step, 1e-3), a.min_steps), 200))
    timer = StepTimes()
    cpu0 = time.process_time()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    cpu = (time.process_time() - cpu0) / steps
    median = float(np.median(timer.times))
    out = {"examples_per_s": a.batch / median, "step_s": median, "steps": steps,
           "cpu_s_per_step": cpu, "compile_s": warm.times[0]}
    if a.breakdown:
        out.update(breakdown(model, a.batch))
    common.emit_json(out)


def breakdown(model, batch):
    """Seconds of the parts of a CLAR step: augmenting both views, the frontend on them
    (2D), the forward pass, and the whole gradient step (graph mode)."""
    import numpy as np
    import tensorflow as tf
    x = tf.constant((0.1 * np.random.default_rng(1).standard_normal((batch, LENGTH)))
                    .astype("float32"))
    parts = {"views_s": tf.function(lambda v: tf.reduce_sum(model.views(v))),
             "forward_s": tf.function(lambda v: tf.reduce_sum(
                 model(tf.concat([v, v], 0), training=True)["output"]))}
    frontend = [l for l in model.embedder.layers if l.name == "frontend"]
    if frontend:
        parts["frontend_s"] = tf.function(
            lambda v: tf.reduce_sum(frontend[0](tf.concat([v, v], 0))))
    return {k: common.time_calls(lambda f=f: f(x).numpy(), 2.0, warmup=1)
            for k, f in parts.items()}


# ------------------------------------------------------------------ driver
def _ours(args, method, encoder, frontend, augment="none", data="synthetic",
          jit_compile=False, mixed_precision=False, breakdown_parts=False):
    cmd = common.worker_command(__spec__.name) + ["--worker",
           "--method", method, "--encoder", encoder, "--frontend", frontend,
           "--augment", augment, "--data", data, "--batch", str(args.batch),
           "--width", str(args.width), "--steps-seconds", str(args.steps_seconds),
           "--min-steps", str(args.min_steps), "--data_dir", args.data_dir,
           "--manual_dir", args.manual_dir]
    if jit_compile:
        cmd.append("--jit_compile")
    if mixed_precision:
        cmd.append("--mixed_precision")
    if breakdown_parts:
        cmd.append("--breakdown")
    r = common.run_workers([cmd], timeout=1800)[0]
    res = common.last_json_line(r["stdout"])
    if res is None:
        print(f"[{method}-{encoder} {frontend} {augment} {data} failed: "
              f"{r['stderr'][-800:]}]", file=sys.stderr)
        return None
    res["peak_rss_mb"] = r["maxrss_mb"]
    return res


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--methods", nargs="+", default=["clar"],
                        choices=["supervised", "simclr", "supcon", "clar"])
    parser.add_argument("--encoders", nargs="+", default=["2d"], choices=["2d", "1d"])
    parser.add_argument("--frontends", nargs="+", default=["paper", "authors"],
                        choices=["paper", "authors"])
    parser.add_argument("--e2e", action="store_true", help="with the augmentation chain")
    parser.add_argument("--pipeline", action="store_true", help="real input pipeline")
    parser.add_argument("--variants", nargs="*", default=[], choices=["jit", "mp"],
                        help="--jit_compile / --mixed_precision rows for CLAR-2D")
    parser.add_argument("--breakdown", action="store_true",
                        help="time the parts of the CLAR-2D step (views, frontend, forward)")
    parser.add_argument("--all", action="store_true",
                        help="every method × encoder, e2e, pipeline, jit and mp rows")
    parser.add_argument("--gpu", action="store_true",
                        help="flags for an accelerator: batch 1024, mixed precision, XLA")
    parser.add_argument("--steps-seconds", type=float, default=8.0,
                        help="timed seconds of steps per configuration (default 8)")
    parser.add_argument("--min-steps", type=int, default=3)
    parser.add_argument("--reference-seconds", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat [reference step, every configuration] this many times "
                             "and report medians (interleaving evens out load changes)")
    parser.add_argument("--processes", type=int, default=os.cpu_count(),
                        help="reference augmentation processes (default: one per core)")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--data_dir", default=os.path.join(common.REPO, "data", "tfds"))
    parser.add_argument("--manual_dir",
                        default=os.path.join(common.REPO, "data", "spoken_digits"))
    parser.add_argument("--json", help="also write the results to this JSON file")
    # worker-only
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="clar", help=argparse.SUPPRESS)
    parser.add_argument("--encoder", default="2d", help=argparse.SUPPRESS)
    parser.add_argument("--frontend", default="paper", help=argparse.SUPPRESS)
    parser.add_argument("--augment", default="none", help=argparse.SUPPRESS)
    parser.add_argument("--data", default="synthetic", help=argparse.SUPPRESS)
    parser.add_argument("--jit_compile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mixed_precision", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.gpu:  # what an accelerator run should use; not measured on a GPU here
        args.batch = 1024 if args.batch == 32 else args.batch
        args.variants = sorted(set(args.variants) | {"jit", "mp"})
    if args.all:
        args.methods = ["supervised", "simclr", "supcon", "clar"]
        args.encoders = ["2d", "1d"]
        args.e2e = args.pipeline = True
        args.variants = ["jit", "mp"]

    print(f"CPU: {common.cpu_description()}; batch {args.batch}, width {args.width:g}, "
          f"1 s clips; median step over ≥ {args.steps_seconds:g} s per configuration",
          flush=True)
    jobs = []  # (name, kwargs of _ours, kind of reference)
    for encoder in args.encoders:
        for method in args.methods:
            for frontend in (args.frontends if encoder == "2d" else ["paper"]):
                name = f"{method}-{encoder}" + (f" ({frontend} frontend)" if encoder == "2d"
                                               else "")
                jobs.append((name, dict(method=method, encoder=encoder, frontend=frontend,
                                        breakdown_parts=args.breakdown and method == "clar"
                                        and encoder == "2d"), "step"))
    for variant in args.variants:
        for frontend in args.frontends:
            label = "--jit_compile" if variant == "jit" else "--mixed_precision"
            jobs.append((f"clar-2d ({frontend}) {label}",
                         dict(method="clar", encoder="2d", frontend=frontend,
                              jit_compile=variant == "jit", mixed_precision=variant == "mp"),
                         "step"))
    if args.e2e:
        for frontend in args.frontends:
            jobs.append((f"clar-2d ({frontend}) + authors' chain p={E2E_P}",
                         dict(method="clar", encoder="2d", frontend=frontend,
                              augment="authors"), "e2e"))
    if args.pipeline:
        for data in ("synthetic", "pipeline"):
            jobs.append((f"clar-2d (paper) {FAST_AUGMENT}, "
                         + ("synthetic batch" if data == "synthetic"
                            else "spoken_digits pipeline"),
                         dict(method="clar", encoder="2d", frontend="paper",
                              augment=FAST_AUGMENT, data=data), None))

    refs, aug = [], None  # reference step runs: {"examples_per_s", "cpu_s_per_step"}

    def reference_step():
        if args.no_reference:
            return
        r = common.run_reference_step_cpu(args.batch, seconds=args.reference_seconds)
        if r:
            refs.append(r)
            print(f"  reference step (torch_reference.bench_step, batch {args.batch}): "
                  f"{r['examples_per_s']:.1f} examples/s, {r['cpu_s_per_step']:.2f} CPU "
                  f"s/step, peak RSS {r['peak_rss_mb']:.0f} MiB", flush=True)

    if args.e2e and not args.no_reference:
        aug = common.run_reference_aug_cpu(E2E_P, processes=args.processes,
                                           seconds=args.reference_seconds / 2)
        if aug:
            print(f"  reference augmentation (torch_reference.augment_reference, p={E2E_P}, "
                  f"{args.processes} processes): {aug['clips_per_s']:.1f} clips/s, "
                  f"{aug['clips_per_cpu_s']:.1f} clips per CPU s", flush=True)

    runs = {name: [] for name, _, _ in jobs}
    for round_ in range(args.rounds):
        if args.rounds > 1:
            print(f" round {round_ + 1}/{args.rounds}, load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
        reference_step()
        for name, kwargs, _ in jobs:
            res = _ours(args, **kwargs)
            if res:
                runs[name].append(res)
                extra = ""
                if res.get("views_s") is not None:
                    extra = (f"; views {res['views_s']:.3f} s, forward {res['forward_s']:.3f}"
                             f" s, frontend on 2N {res.get('frontend_s', float('nan')):.3f} s")
                print(f"  {name}: {res['examples_per_s']:.1f} examples/s, step "
                      f"{res['step_s']:.3f} s, {res['cpu_s_per_step']:.2f} CPU s/step, peak "
                      f"RSS {res['peak_rss_mb']:.0f} MiB{extra}", flush=True)
    reference_step()  # bracket: the reference again after the last of ours

    def median(values):
        values = sorted(v for v in values if v is not None)
        return values[len(values) // 2] if len(values) % 2 else (
            0.5 * (values[len(values) // 2 - 1] + values[len(values) // 2]) if values else None)

    ref_wall = median([r["examples_per_s"] for r in refs])
    ref_cpu = median([r["cpu_s_per_step"] for r in refs])
    if refs:
        print(f"  reference step, median of {len(refs)} runs: {ref_wall:.1f} examples/s, "
              f"{ref_cpu:.2f} CPU s/step", flush=True)
    header = ["configuration", "examples/s", "peak RSS MiB", "ref examples/s",
              "ours/ref (wall)", "CPU s/step", "ref CPU s/step", "ours/ref (CPU)"]
    rows, results = [], []
    for name, _, kind in jobs:
        rs = runs[name]
        wall = median([r["examples_per_s"] for r in rs])
        cpu = median([r["cpu_s_per_step"] for r in rs])
        rss = max((r["peak_rss_mb"] for r in rs), default=None)
        rw = rc = None
        if kind == "step":
            rw, rc = ref_wall, ref_cpu
        elif kind == "e2e" and ref_wall and aug:
            # the step and the per-clip loader share the cores: their CPU times add up
            rw = 1.0 / (1.0 / ref_wall + 2.0 / aug["clips_per_s"])
            rc = ref_cpu + 2.0 * args.batch / aug["clips_per_cpu_s"]
        rows.append([name, common.fmt(wall, 1), common.fmt(rss), common.fmt(rw, 1),
                     common.ratio(wall, rw) if rw else "", common.fmt(cpu, 2),
                     common.fmt(rc, 2), common.ratio(rc, cpu) if rc else ""])
        results.append({"configuration": name, "examples_per_s": wall, "cpu_s_per_step": cpu,
                        "peak_rss_mb": rss, "reference_examples_per_s": rw,
                        "reference_cpu_s_per_step": rc, "runs": rs})
    if args.pipeline:
        syn, real = results[-2], results[-1]
        if syn["examples_per_s"] and real["examples_per_s"]:
            print(f"  pipeline / synthetic: step time "
                  f"{syn['examples_per_s'] / real['examples_per_s']:.3f}, CPU time per step "
                  f"{real['cpu_s_per_step'] / syn['cpu_s_per_step']:.3f} (target ≤ 1.05)",
                  flush=True)
    print()
    common.print_table(header, rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "reference_steps": refs,
                       "reference_augmentation": aug, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
