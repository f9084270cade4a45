#!/usr/bin/env bash
# The TFX part of CI: venv, clar_tf installed from this checkout (`pip install .`), the
# fast core tests at the low end of the supported range (TF 2.16 / Keras 3.12, which TFX
# brings), the TFX unit tests, the local pipeline end to end from the repository root
# (where the TFX folders components/ and pipelines/ are, as in TFX's templates), the pushed SavedModel called, a cached re-run that must not push, and the
# Kubeflow v2 compile.
#
#   bash tools/tfx_ci.sh            # about 10 minutes once .venv-tfx exists (+4 to make it)
#
# Environment: CLAR_TFX_VENV (default .venv-tfx), CLAR_TFX_WORK (scratch folder; default a
# new temp folder, removed on success unless CLAR_TFX_KEEP=1). Needs espeak-ng for the
# tiny spoken-digits set (installed with apt-get when missing, as setup.sh does).
# Exits non-zero when any step fails; the failing step's log tail is printed.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
export CLAR_TFX_VENV="${CLAR_TFX_VENV:-.venv-tfx}"
WORK="${CLAR_TFX_WORK:-$(mktemp -d /tmp/clar_tfx_ci.XXXXXX)}"
mkdir -p "$WORK/logs"
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONWARNINGS="ignore::FutureWarning"
RESULTS=()
FAILED=0
CI_START=$SECONDS

# step NAME COMMAND...: runs COMMAND with its output in $WORK/logs/NAME.log; with
# SHOW=N set, prints the log's last N lines on success too.
step() {
  local name="$1"; shift
  local log="$WORK/logs/$name.log" start=$SECONDS
  echo "== $name"
  if "$@" >"$log" 2>&1; then
    [ "${SHOW:-0}" -gt 0 ] && tail -n "$SHOW" "$log" | sed 's/^/   /'
    RESULTS+=("PASS  $(printf '%4d' $((SECONDS - start))) s  $name")
  else
    RESULTS+=("FAIL  $(printf '%4d' $((SECONDS - start))) s  $name")
    FAILED=1
    echo "-- $name failed; last lines of $log:"
    tail -n 40 "$log"
  fi
}

summary() {
  echo
  echo "== TFX CI summary (scratch: $WORK)"
  printf '%s\n' "${RESULTS[@]}"
  echo "total $((SECONDS - CI_START)) s"
  if [ "$FAILED" -ne 0 ]; then
    echo "TFX CI: FAILED"
    exit 1
  fi
  echo "TFX CI: OK"
  [ "${CLAR_TFX_KEEP:-0}" = 1 ] || [ -n "${CLAR_TFX_WORK:-}" ] || rm -rf "$WORK"
  exit 0
}

# The offline demo data's renderers: espeak-ng (spoken digits), fluidsynth and its GM sound
# font (gm_notes, whose tests run in the low-end core tier).
need_espeak() {
  local missing=()
  command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
  command -v fluidsynth >/dev/null 2>&1 || missing+=(fluidsynth)
  [ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || { echo "install ${missing[*]} (see setup.sh)"; return 1; }
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

step venv bash tools/tfx_env.sh
PY="$(bash tools/tfx_env.sh --print-path)/bin/python"
[ -x "$PY" ] || { echo "no TFX venv python at $PY"; summary; }
step espeak-ng need_espeak
# The package as a user installs it (not editable), over whatever tfx_env.sh installed.
step install "$PY" -m pip install -q --no-deps --force-reinstall "$REPO"

# The core fast tier (pytest -m "not slow"), on TF 2.16 / Keras 3.12.
SHOW=1 step low-end-core-tests "$PY" -m pytest -q -p no:cacheprovider -m "not slow" tests

# Unit tests (components, create_pipeline, runners, Kubeflow compile).
SHOW=1 step unit-tests "$PY" -m pytest -q -p no:cacheprovider tests_tfx

# The tiny spoken-digits set: 10 words x 10 clips (80 train, 10 validation, 10 test).
step tiny-data "$PY" -m clar_tf.demo_data --out="$WORK/digits" --clips_per_word=10

# End to end: AudioExampleGen (Beam) → StatisticsGen → SchemaGen → ExampleValidator →
# AnomalyGate → Trainer (tiny model, 2 steps) → LinearEvaluator → Pusher.
ROOT="$WORK/pipeline_root"
SERVING="$WORK/serving"
# From the repository root, as TFX templates run: components/ and pipelines/ are found
# there (python -m puts the current folder first on sys.path).
run_pipeline() {
  (cd "$REPO" && "$PY" -m pipelines.local_runner --preset=tiny \
    --manual_dir="$WORK/digits" --pipeline_root="$ROOT" --serving_dir="$SERVING" \
    --enable_cache "$@")
}
show_decisions() { grep -h "^clar_tf Trainer:\|^LinearEvaluator:" "$WORK/logs/$1.log" | sed 's/^/   /'; }
step pipeline-blessed run_pipeline --accuracy_threshold=0.0
show_decisions pipeline-blessed

# The pushed SavedModel answers raw audio; ML Metadata records blessing and push.
# check_push VERSIONS EXPECT_PUSH: VERSIONS SavedModels in $SERVING; the newest blessing
# and push in ML Metadata are EXPECT_PUSH (1 or 0); the Trainer ran once, then was cached.
check_push() {
  "$PY" - "$ROOT/metadata.sqlite" "$SERVING" "$1" "$2" <<'PYEOF'
import os, sys
import numpy as np
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

db, serving, want_versions, expect_push = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
versions = sorted(v for v in os.listdir(serving) if v.isdigit())
assert len(versions) == want_versions, f"expected {want_versions} pushed version(s): {versions}"
model = tf.saved_model.load(os.path.join(serving, versions[-1]))
serve = model.signatures["serving_default"]
rng = np.random.default_rng(0)
for shape in [(2, 12000), (1, 20000)]:  # shorter and longer than the 1 s clips
    out = serve(audio=tf.constant(rng.normal(scale=0.1, size=shape).astype(np.float32)))
    assert set(out) == {"embedding", "logits", "probabilities", "classes", "samples_used"}, set(out)
    assert out["embedding"].shape[0] == shape[0] and out["logits"].shape == (shape[0], 10)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
    assert list(out["samples_used"].numpy()) == [min(shape[1], 16000)] * shape[0]
# A 2.5-s clip through serve_frames: windows of 1 s with a 0.5-s hop, as clar_tf.embed.
frames = model.signatures["serve_frames"](audio=tf.zeros([1, 40000]))
assert frames["frame_embedding"].shape[:2] == (1, 4), frames["frame_embedding"].shape
np.testing.assert_allclose(frames["frame_start_s"].numpy()[0], [0.0, 0.5, 1.0, 1.5])
meta = {k: v.numpy() for k, v in model.signatures["metadata"]().items()}
assert meta["clip_length"] == 16000 and meta["sample_rate"] == 16000, meta
assert len(meta["labels"]) == 10
print("SavedModel", versions[-1], "classes:", [c.decode() for c in out["classes"].numpy()])

config = metadata_store_pb2.ConnectionConfig()
config.sqlite.filename_uri = db
store = metadata_store.MetadataStore(config)
def latest(type_name):
    arts = sorted(store.get_artifacts_by_type(type_name), key=lambda a: a.id)
    return arts[-1].custom_properties
blessing, pushed = latest("ModelBlessing"), latest("PushedModel")
print("latest blessing:", blessing["blessed"].int_value, "pushed:", pushed["pushed"].int_value)
assert blessing["blessed"].int_value == int(expect_push)
assert pushed["pushed"].int_value == int(expect_push)
trainer_type = next(t.name for t in store.get_execution_types() if t.name.endswith(".Trainer"))
states = [metadata_store_pb2.Execution.State.Name(e.last_known_state)
          for e in sorted(store.get_executions_by_type(trainer_type), key=lambda e: e.id)]
print("Trainer executions:", states)
assert states[0] == "COMPLETE" and all(s == "CACHED" for s in states[1:]), states
PYEOF
}
SHOW=3 step check-pushed-model check_push 1 1

# StatisticsGen's output shows the ten labels; the schema holds them and the clip length.
check_stats() {
  "$PY" - "$ROOT/metadata.sqlite" <<'PYEOF'
import os, sys
import tensorflow_data_validation as tfdv
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

config = metadata_store_pb2.ConnectionConfig()
config.sqlite.filename_uri = sys.argv[1]
store = metadata_store.MetadataStore(config)
uri = lambda t: sorted(store.get_artifacts_by_type(t), key=lambda a: a.id)[-1].uri
stats = tfdv.load_stats_binary(os.path.join(uri("ExampleStatistics"), "Split-train",
                                            "FeatureStats.pb")).datasets[0]
labels = next(f for f in stats.features if f.path.step[0] == "label_name").string_stats
names = sorted(b.label for b in labels.rank_histogram.buckets)
print("StatisticsGen train label_name:", labels.unique, "values", names)
assert labels.unique == 10 and len(names) == 10, names
schema = tfdv.load_schema_text(os.path.join(uri("Schema"), "schema.pbtxt"))
assert sorted(tfdv.get_domain(schema, "label_name").value) == names
assert [d.size for d in tfdv.get_feature(schema, "audio").shape.dim] == [16000]
print("schema: label_name domain of 10, audio shape [16000]")
PYEOF
}
SHOW=2 step check-statistics check_stats

# Same pipeline, unreachable threshold: ExampleGen and Trainer come from the cache, the
# LinearEvaluator does not bless, the Pusher must not push (still one version).
step pipeline-not-blessed run_pipeline --accuracy_threshold=1.01
show_decisions pipeline-not-blessed
SHOW=2 step check-not-pushed check_push 1 0

# Kubeflow Pipelines v2 JSON naming the eight components.
KFP_JSON="$WORK/clar_tf_pipeline.json"
check_kfp() {
  (cd "$REPO" && "$PY" -m pipelines.kubeflow_runner --preset=tiny \
    --pipeline_root=/mnt/clar/pipeline_root --image=clar-tf:ci --output="$KFP_JSON") &&
  (cd "$REPO" && "$PY" - "$KFP_JSON" <<'PYEOF'
import importlib, json, re, sys
text = open(sys.argv[1]).read()
spec = json.loads(text)["pipelineSpec"]
tasks = set(spec["root"]["dag"]["tasks"])
want = {"AudioExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate",
        "Trainer", "LinearEvaluator", "Pusher"}
assert tasks == want, tasks
print("Kubeflow tasks:", sorted(tasks))
# Every executor runs in the image given with --image (the repository's Dockerfile).
executors = spec["deploymentSpec"]["executors"]
images = {name: e["container"]["image"] for name, e in executors.items()}
assert len(images) == len(want) and set(images.values()) == {"clar-tf:ci"}, images
# Every object of the TFX folders that the JSON names imports here, from the repository
# root, as it will in the image's working folder.
paths = sorted(set(re.findall(r"(?<![\w.])(?:components|pipelines)(?:\.\w+)+", text)))
assert any(p.endswith("AudioExampleGen_Executor") for p in paths), paths
assert any(p.endswith("AnomalyGate_Executor") for p in paths), paths
assert "components.trainer_module.run_fn" in paths, paths
for path in paths:
    module, name = path.rsplit(".", 1)
    getattr(importlib.import_module(module), name)
print("images:", sorted(set(images.values())), "imported:", paths)
PYEOF
  )
}
SHOW=2 step kubeflow-compile check_kfp

summary
