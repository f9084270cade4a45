#!/usr/bin/env bash
# The GPU check of benchmarks/ (issue 37 item 6), one script, under 8 minutes:
#
#   1. the CLAR-2D training step at batch 1024 (the paper's), mixed precision (float16)
#      and XLA (--jit_compile), FD+TM views (configs/sc10.flags), width 1, on a
#      synthetic batch, with the parts of the step timed apart (--breakdown): the
#      configuration `train_bench --gpu` stands for, both flags on at once (its own rows
#      turn on one flag each, so the step is run through train_bench's worker, as
#      train_bench runs each of its rows);
#   2. the augmentation benchmark at batch 1024 (FD, TM and the authors' 6-op chain);
#   3. the frontend benchmark at batch 1024 (every STFT path, against librosa on all
#      host cores);
#
# then prints the step's clips/s and the share of augmentation + frontend in the step,
# with a PASS or MISS line per target: >= 5,000 clips/s on one H100; augmentation +
# frontend <= 15 % of the step. Exit status 0 when both pass, 1 when a target is missed or
# a step failed, 2 when no GPU is visible (one line on stderr, nothing run).
#
#   bash benchmarks/gpu.sh                   # from anywhere; Python: .venv/bin/python
#   PYTHON=python3 OUT=/tmp/gpu bash benchmarks/gpu.sh
#
# Outputs (each step's stdout/stderr, summary.txt) go to $OUT, else a new /tmp folder.
# Each step has its own time limit (timeout), 45 + 220 + 100 + 90 s in all. The share
# is (augmenting both views + the frontend on 2N clips) / step, each part timed alone in
# a plain tf.function; in the XLA step they fuse with the rest, so it is an upper bound.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
BATCH=1024
TARGET_CLIPS=5000
TARGET_SHARE=15

refuse() {
  echo "benchmarks/gpu.sh: no GPU visible ($1); nothing run" >&2
  exit 2
}

case "${CUDA_VISIBLE_DEVICES-unset}" in
  "" | -1) refuse "CUDA_VISIBLE_DEVICES='${CUDA_VISIBLE_DEVICES}'" ;;
esac
command -v nvidia-smi > /dev/null 2>&1 || refuse "no nvidia-smi"
nvidia-smi -L 2> /dev/null | grep -q '^GPU ' || refuse "nvidia-smi lists none"
timeout -k 5 45 "$PYTHON" -c "
import sys, tensorflow as tf
sys.exit(0 if tf.config.list_physical_devices('GPU') else 1)" > /dev/null 2>&1 \
  || refuse "TensorFlow ($PYTHON) finds none"

OUT_DIR=${OUT:-$(mktemp -d /tmp/clar_gpu.XXXXXX)}
mkdir -p "$OUT_DIR"
failed=0
echo "GPU: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1);" \
     "outputs in $OUT_DIR"

# step NAME LIMIT_S COMMAND...: runs COMMAND with a time limit, its output to OUT_DIR.
step() {
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit} s): $*"
  local start=$SECONDS
  if timeout -k 10 "$limit" "$@" > "$OUT_DIR/$name.txt" 2> "$OUT_DIR/$name.err"; then
    echo "   done in $((SECONDS - start)) s"
  else
    echo "   FAILED (exit $?, after $((SECONDS - start)) s; see $OUT_DIR/$name.err):"
    tail -n 5 "$OUT_DIR/$name.err" | sed 's/^/   /'
    failed=1
  fi
}

step train_step 220 "$PYTHON" -m benchmarks.train_bench --worker --method clar \
  --encoder 2d --frontend paper --augment FD+TM --data synthetic --batch "$BATCH" \
  --width 1 --steps-seconds 20 --min-steps 10 --jit_compile --mixed_precision --breakdown
step augment_bench 100 "$PYTHON" -m benchmarks.augment_bench --batch "$BATCH" \
  --ops FD TM chain --modes graph xla --seconds 1 --reference-seconds 2
step frontend_bench 90 "$PYTHON" -m benchmarks.frontend_bench --scope all-cores \
  --batches "$BATCH" --seconds 2 --rounds 2 --json "$OUT_DIR/frontend.json"

for name in augment_bench frontend_bench; do
  if [ -s "$OUT_DIR/$name.txt" ]; then
    echo "== $name table"
    sed -n '/^|/p' "$OUT_DIR/$name.txt"
  fi
done

echo "== targets"
"$PYTHON" - "$OUT_DIR/train_step.txt" "$BATCH" "$TARGET_CLIPS" "$TARGET_SHARE" \
  << 'EOF' | tee "$OUT_DIR/summary.txt" || failed=1
import json
import sys

path, batch, target_clips, target_share = sys.argv[1], *map(float, sys.argv[2:])
result = None
for line in open(path):
    if line.startswith("{"):
        result = json.loads(line)
if result is None:
    print(f"MISS: no result from the training step (see {path[:-4]}.err)")
    sys.exit(1)
clips = result["examples_per_s"]
share = 100 * (result["views_s"] + result["frontend_s"]) / result["step_s"]
print(f"CLAR-2D step, batch {batch:.0f}, mixed precision + XLA: {clips:,.0f} clips/s "
      f"(step {result['step_s'] * 1000:.1f} ms, {result['steps']} steps, compile "
      f"{result['compile_s']:.0f} s)")
print(f"augmentation (both views) {result['views_s'] * 1000:.1f} ms + frontend (2N) "
      f"{result['frontend_s'] * 1000:.1f} ms = {share:.1f} % of the step; forward alone "
      f"{result['forward_s'] * 1000:.1f} ms")
ok_clips, ok_share = clips >= target_clips, share <= target_share
print(f"{'PASS' if ok_clips else 'MISS'}: {clips:,.0f} clips/s, target >= {target_clips:,.0f}")
print(f"{'PASS' if ok_share else 'MISS'}: augmentation + frontend {share:.1f} % of the "
      f"step, target <= {target_share:.0f} %")
sys.exit(0 if ok_clips and ok_share else 1)
EOF

exit "$failed"
