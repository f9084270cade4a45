"""Shared pieces of the benchmarks: timing, ratio tables, peak memory, worker processes
and the reference (the authors' approach, `benchmarks/torch_reference.py`).

Every benchmark times clar_tf and its reference in the same invocation, pair by pair, and
prints the ratio ours / reference: on a shared or throttled machine absolute numbers
drift, ratios measured seconds apart much less.

Nothing here imports TensorFlow, so reference workers start fast and stay small.

The reference runs in its own virtualenv (`bash tools/ref_env.sh`, default /tmp/ref; set
CLAR_REF_VENV to move it) from `benchmarks/torch_reference.py`, or the script at
$CLAR_REF_SCRIPT when that is set.

Run every benchmark as a module from the repository root, `python -m benchmarks.<name>`
(clar_tf is pip-installed); a benchmark starts its own workers the same way
(`worker_command`).
"""
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
# Per-clip reference workers run single-threaded, as one data-loader worker per core does;
# a multi-threaded BLAS in each of N processes would oversubscribe the cores.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def setup_environment():
    """Quiet TensorFlow logs and the TensorFlow Keras backend. Call before importing
    TensorFlow."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def worker_command(module_name, *args):
    """argv that runs benchmark module `module_name` ("benchmarks.<name>": pass the
    module's `__spec__.name`) as a worker, `python -m` in this interpreter; the worker
    starts in this process's working directory, the repository root."""
    if not module_name.startswith("benchmarks."):
        raise ValueError(f"not a benchmarks module: {module_name!r}")
    return [sys.executable, "-m", module_name, *map(str, args)]


# ------------------------------------------------------------------ timing
def time_calls(fn, seconds, warmup=1, min_calls=3):
    """Runs `fn()` `warmup` times untimed, then repeatedly for about `seconds` (at least
    `min_calls` times). Returns the median seconds per call: under interference from
    other processes the median moves less than the mean."""
    for _ in range(warmup):
        fn()
    return statistics.median(call_times(fn, seconds, min_calls))


def call_times(fn, seconds, min_calls=3):
    """The seconds of each call of `fn()`, called repeatedly for about `seconds` (at least
    `min_calls` times), no warm-up."""
    times, start = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def throughput(fn, items_per_call, seconds, warmup=1, min_calls=3):
    """Items per second of `fn` (median call time, see `time_calls`)."""
    return items_per_call / time_calls(fn, seconds, warmup, min_calls)


def peak_rss_mb():
    """This process's peak resident set size (VmHWM) in MiB, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def cpu_description():
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")),
                         "unknown CPU")
    except OSError:
        model = "unknown CPU"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} cores visible, load average {load:.1f} at start"


# ------------------------------------------------------------------ tables
def fmt(value, digits=0):
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def print_table(header, rows, file=None):
    """Prints rows (lists of strings) under `header`, right-aligned, as a Markdown table
    (readable in a terminal and pasteable into benchmarks/README.md)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) if i else str(c).ljust(w)
                                           for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    print("\n".join(out), file=file or sys.stdout, flush=True)


def ratio(ours, reference):
    if ours is None or not reference:
        return "—"
    return f"{ours / reference:.2f}×"


# ------------------------------------------------------------------ worker processes
def run_workers(commands, timeout=600, env=None):
    """Starts every command (argv lists) at once and waits for all.

    Returns one dict per command: `stdout`, `stderr`, `returncode` and `maxrss_mb`, the
    child's own peak resident set size (from os.wait4, so concurrent children are
    apart; Linux reports it in KiB).
    """
    full_env = {**os.environ, **QUIET_ENV, **(env or {})}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=full_env, text=True) for cmd in commands]
    outputs = [{} for _ in procs]

    def drain(i, proc):
        outputs[i]["stdout"] = proc.stdout.read()
        outputs[i]["stderr"] = proc.stderr.read()

    threads = [threading.Thread(target=drain, args=(i, p), daemon=True)
               for i, p in enumerate(procs)]
    for t in threads:
        t.start()
    deadline = time.time() + timeout
    results = []
    for i, (proc, thread) in enumerate(zip(procs, threads)):
        thread.join(max(0.0, deadline - time.time()))
        if thread.is_alive():  # past the deadline: stop this child
            proc.kill()
            thread.join()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        results.append({"stdout": outputs[i].get("stdout", ""),
                        "stderr": outputs[i].get("stderr", ""),
                        "returncode": proc.returncode, "maxrss_mb": usage.ru_maxrss / 1024.0})
    return results


def last_json_line(text):
    """The last line of `text` that parses as a JSON object, or None."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def emit_json(obj):
    """Workers print one JSON line as their last output (with their peak RSS)."""
    obj = dict(obj, peak_rss_mb=peak_rss_mb())
    print(json.dumps(obj), flush=True)


# ------------------------------------------------------------------ the reference
def reference_python():
    """The reference's interpreter: $CLAR_REF_VENV's (default /tmp/ref, made by
    `tools/ref_env.sh`), else this one when it has torch and nnAudio
    (`pip install ".[bench]"`), else None."""
    import importlib.util
    venv = os.environ.get("CLAR_REF_VENV", "/tmp/ref")
    path = os.path.join(venv, "bin", "python")
    if os.access(path, os.X_OK):
        return path
    if all(importlib.util.find_spec(name) for name in ("torch", "nnAudio")):
        return sys.executable
    return None


def reference_script():
    """$CLAR_REF_SCRIPT when set, else `benchmarks/torch_reference.py`; None if missing."""
    path = os.environ.get("CLAR_REF_SCRIPT") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "torch_reference.py")
    return os.path.abspath(path) if os.path.exists(path) else None


def reference_available():
    """None when the reference can run, else a sentence saying what is missing."""
    if reference_python() is None:
        return ("reference venv missing: run `bash tools/ref_env.sh` "
                "(or set CLAR_REF_VENV, or pip install \".[bench]\")")
    if reference_script() is None:
        return "torch_reference.py not found: set CLAR_REF_SCRIPT"
    return None


_FIGURE = re.compile(r":\s*([0-9.]+)\s*(clips|examples)/s")


def run_reference(mode, processes=1, seconds=10.0, batch=None, p=None, timeout=900):
    """Runs `torch_reference.py mode` in `processes` concurrent processes (one per core
    for a multi-core figure, as its docstring says) and returns
    {"per_process": [...], "total": sum, "unit": "clips/s" | "examples/s"}, or None with a
    printed note when the reference is unavailable or fails."""
    missing = reference_available()
    if missing:
        print(f"[reference skipped: {missing}]", file=sys.stderr)
        return None
    cmd = [reference_python(), reference_script(), mode, "--seconds", str(seconds)]
    if batch is not None:
        cmd += ["--batch", str(batch)]
    if p is not None:
        cmd += ["--p", str(p)]
    # `aug` is a per-clip loader worker (single-threaded, one per core); `step` sets its
    # own torch threads (2).
    results = run_workers([cmd] * processes, timeout=timeout,
                          env=SINGLE_THREAD_ENV if mode == "aug" else None)
    figures, unit = [], None
    for r in results:
        m = _FIGURE.search(r["stdout"])
        if r["returncode"] != 0 or not m:
            print(f"[reference failed: rc={r['returncode']} {r['stderr'][-500:]}]",
                  file=sys.stderr)
            return None
        figures.append(float(m.group(1)))
        unit = m.group(2) + "/s"
    return {"per_process": figures, "total": sum(figures), "unit": unit,
            "peak_rss_mb": max(r["maxrss_mb"] for r in results),
            "command": " ".join(os.path.basename(c) if i < 2 else c
                                for i, c in enumerate(cmd)) + f"  ×{processes}"}


_STEP_CPU_CODE = """
import json, sys, time
import importlib.util
spec = importlib.util.spec_from_file_location("torch_reference", sys.argv[1])
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)
batch, short, long = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
out = []
for seconds in (short, long):
    c0, t0 = time.process_time(), time.perf_counter()
    rate = ref.bench_step(batch, seconds)
    out.append((time.process_time() - c0, time.perf_counter() - t0, rate, seconds))
(c1, w1, r1, s1), (c2, w2, r2, s2) = out
steps = lambda rate, s: rate * s / batch  # steps in the timed loop (it stops just past s)
print(json.dumps({"examples_per_s": r2, "cpu_s_per_step":
                  (c2 - c1) / max(steps(r2, s2) - steps(r1, s1), 1e-9)}))
"""


def run_reference_step_cpu(batch, seconds=15.0, timeout=900):
    """The reference step's wall-clock examples/s and its CPU seconds per step.

    Calls `torch_reference.bench_step` twice in one process (`seconds` / 3, then
    `seconds`) and divides the difference in process CPU time by the difference in steps,
    so model construction and the warm-up step cancel. CPU time per step moves much less
    than wall time when other processes share the cores. Returns a dict or None."""
    missing = reference_available()
    if missing:
        print(f"[reference skipped: {missing}]", file=sys.stderr)
        return None
    cmd = [reference_python(), "-c", _STEP_CPU_CODE, reference_script(),
           str(batch), str(seconds / 3.0), str(seconds)]
    r = run_workers([cmd], timeout=timeout)[0]
    res = last_json_line(r["stdout"])
    if r["returncode"] != 0 or res is None:
        print(f"[reference step failed: rc={r['returncode']} {r['stderr'][-500:]}]",
              file=sys.stderr)
        return None
    res["peak_rss_mb"] = r["maxrss_mb"]
    return res


_AUG_CPU_CODE = """
import json, sys, time
import numpy as np
import importlib.util
spec = importlib.util.spec_from_file_location("torch_reference", sys.argv[1])
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)
p, seconds = float(sys.argv[2]), float(sys.argv[3])
rng = np.random.default_rng(0)
clips = rng.standard_normal((64, 16000)).astype(np.float32) * 0.1
for _ in range(8):
    ref.augment_reference(clips[0], rng, p=p)
n, c0, t0 = 0, time.process_time(), time.perf_counter()
while time.perf_counter() - t0 < seconds:
    ref.augment_reference(clips[n % 64], rng, p=p)
    n += 1
print(json.dumps({"clips_per_s": n / (time.perf_counter() - t0),
                  "clips_per_cpu_s": n / (time.process_time() - c0)}))
"""


def run_reference_aug_cpu(p, processes=1, seconds=8.0, timeout=900):
    """`torch_reference.augment_reference` (the authors' per-clip chain) in `processes`
    single-threaded processes at once: total clips/s (wall) and clips per CPU second."""
    missing = reference_available()
    if missing:
        print(f"[reference skipped: {missing}]", file=sys.stderr)
        return None
    cmd = [reference_python(), "-c", _AUG_CPU_CODE, reference_script(),
           str(p), str(seconds)]
    results = run_workers([cmd] * processes, timeout=timeout, env=SINGLE_THREAD_ENV)
    figures = [last_json_line(r["stdout"]) for r in results]
    if any(f is None for f in figures):
        print(f"[reference aug failed: {results[0]['stderr'][-500:]}]", file=sys.stderr)
        return None
    return {"clips_per_s": sum(f["clips_per_s"] for f in figures),
            "clips_per_cpu_s": sum(f["clips_per_cpu_s"] for f in figures) / len(figures)}
