"""`--strategy=multi_worker` for real: two worker processes on 127.0.0.1 (one CPU each).

Each worker is `python -m clar_tf.train` with its own `TF_CONFIG`, as in README. The
reference is a single process on the same global batch; timeouts bound every wait.
"""
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from clar_tf import datasets, demo_data, train
from clar_tf.models import factory
from testing import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 600  # any worker still running after this fails the test (and is killed)
DETECT_S = 60  # a killed worker must stop the other within this (measured: ~6 s)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The tiny spoken digits, prepared before any worker starts (workers read only)."""
    root = tmp_path_factory.mktemp("digits")
    demo_data.make(str(root / "raw"), seed=0, clips_per_word=10)
    paths = {"manual_dir": str(root / "raw"), "data_dir": str(root / "tfds")}
    datasets.info("spoken_digits", **paths)
    return paths


def _config(digits, model_dir, **overrides):
    # No augmentation: each replica draws its own parameters, so a one-process run would
    # see other views. CLAR: all-gathered NT-Xent, CE and synchronized batch norm.
    return tiny_config(model_dir, digits["manual_dir"], digits["data_dir"], augment="",
                       export=False, **overrides)


def _flags(config):
    """`config` as clar_tf.train command-line flags."""
    out = []
    for key, value in json.loads(config.to_json()).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append(f"--{key}" if value else f"--no{key}")
        else:
            out.append(f"--{key}={value}")
    return out


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(configs, tmp_path):
    """One `clar_tf.train` process per config, worker i with TF_CONFIG task index i."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(len(configs))]}
    procs = []
    for i, config in enumerate(configs):
        scratch = tmp_path / f"tmp{i}"  # the worker's TMPDIR: its scratch folder goes here
        scratch.mkdir()
        env = dict(os.environ, TMPDIR=str(scratch), TF_CPP_MIN_LOG_LEVEL="2",
                   TF_CONFIG=json.dumps({"cluster": cluster,
                                         "task": {"type": "worker", "index": i}}))
        # Output to files: a full pipe would block a worker that nobody reads yet.
        out, err = (open(tmp_path / f"worker{i}.{name}", "w") for name in ("out", "err"))
        with out, err:
            proc = subprocess.Popen([sys.executable, "-m", "clar_tf.train", *_flags(config)],
                                    cwd=REPO, env=env, stdout=out, stderr=err, text=True)
        proc.logs = (tmp_path / f"worker{i}.out", tmp_path / f"worker{i}.err")
        procs.append(proc)
    return procs


def _finish(procs, timeout=TIMEOUT_S):
    """(returncode, stdout, stderr) of each process; kills them all past `timeout`."""
    deadline, out = time.monotonic() + timeout, []
    try:
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
            out.append((p.returncode, *(path.read_text() for path in p.logs)))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail(f"a worker ran past {timeout} s (hang)")
    return out


@pytest.mark.slow
def test_two_workers_match_one_process_and_only_the_chief_writes(digits, tmp_path):
    chief_dir, other_dir = tmp_path / "chief", tmp_path / "other"
    # SGD: the first update is -lr · gradient, so a wrong gradient (scale) shows in full
    # (LARS would normalise each layer's update).
    workers = [_config(digits, d, strategy="multi_worker", steps_per_epoch=1,
                       optimizer="sgd") for d in (chief_dir, other_dir)]
    start = time.monotonic()
    procs = _start_workers(workers, tmp_path)
    results = _finish(procs)
    wall = time.monotonic() - start
    for i, (code, _, stderr) in enumerate(results):
        assert code == 0, f"worker {i}: {stderr[-3000:]}"
    assert "the chief writes model_dir" in results[1][1]
    print(f"two workers: {wall:.0f} s")

    # The reference: one process, one device, the same global batch of 8.
    reference = train.run(_config(digits, tmp_path / "one", strategy="one_device",
                                  steps_per_epoch=1, optimizer="sgd"))
    with open(chief_dir / "results.json") as f:
        multi = json.load(f)
    assert multi["num_replicas"] == 2 and reference["num_replicas"] == 1
    # Loss of the first (only) step: the global-batch loss, as one process computes it.
    for name in ("loss", "contrastive_loss", "ce_loss"):
        np.testing.assert_allclose(multi["final_train_metrics"][name],
                                   reference["final_train_metrics"][name], rtol=1e-4)
    # The first update, by relative norm per weight. The initial weights are those of the
    # same seed in this process. Synchronized batch norm (two workers) computes the
    # variance as E[x²] - E[x]², plain batch norm (one process) in two passes: float32
    # round-off differs, most on the frontend's dB-valued features. Measured: max 2.3e-2
    # (a bias), median 6.5e-4 over the 106 weights. A gradient of the wrong scale (e.g.
    # a loss not divided by the replicas) would be off by 1.0 in every weight.
    keras.utils.set_random_seed(workers[0].seed)
    initial = factory.build_model(workers[0], 10, 16000)
    before = initial.embedder.get_weights() + initial.head.get_weights()
    after = [keras.saving.load_model(d / "inference.keras").get_weights()
             for d in (chief_dir, tmp_path / "one")]
    assert len(before) == len(after[0]) == len(after[1])
    relative = []
    for w0, w_multi, w_one in zip(before, *after):
        d_multi, d_one = w_multi - w0, w_one - w0
        assert np.linalg.norm(d_one) > 0  # the step moved every weight
        relative.append(np.linalg.norm(d_multi - d_one) / np.linalg.norm(d_one))
    print(f"first update, relative difference per weight: max {max(relative):.1e}, "
          f"median {np.median(relative):.1e}")
    assert max(relative) <= 5e-2, max(relative)
    assert np.median(relative) <= 3e-3, np.median(relative)

    # Only the chief writes: the other worker's model_dir holds nothing but its lock,
    # and its scratch folder is gone.
    assert sorted(os.listdir(other_dir)) == [".lock-worker-1"]
    assert os.listdir(tmp_path / "tmp1") == []
    for name in ("config.json", "results.json", "encoder.keras", "inference.keras",
                 "labels.json", "train_log.csv", "logs", "backup", ".lock-worker-0"):
        assert (chief_dir / name).exists(), name
    with open(chief_dir / "backup" / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 1  # the chief's checkpoint after the one epoch


@pytest.mark.slow
def test_a_killed_worker_stops_the_other_with_a_clear_error(digits, tmp_path):
    model_dir = tmp_path / "run"  # shared by both workers, as on shared storage
    config = _config(digits, model_dir, strategy="multi_worker", epochs=200)
    procs = _start_workers([config, config], tmp_path)
    log = model_dir / "train_log.csv"
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not (log.exists() and len(log.read_text().splitlines()) >= 3):  # 2 epochs
            assert all(p.poll() is None for p in procs), "a worker ended before the kill"
            assert time.monotonic() < deadline, "no two epochs trained in time"
            time.sleep(0.5)
    except AssertionError:
        for p in procs:
            p.kill()
        raise
    procs[1].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    (code, _, stderr), = _finish(procs[:1], timeout=DETECT_S)
    print(f"worker 0 stopped {time.monotonic() - killed:.1f} s after the kill")
    procs[1].wait()
    assert code != 0
    assert "error: the multi-worker run lost a worker" in stderr, stderr[-3000:]
    assert "task:1" in stderr and "resume" in stderr
    with open(log, newline="") as f:
        assert len(list(csv.DictReader(f))) >= 2
    # The chief's last checkpoint is whole: the same command would resume from it.
    with open(model_dir / "backup" / "training_metadata.json") as f:
        assert json.load(f)["epoch"] >= 2
