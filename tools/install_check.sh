#!/usr/bin/env bash
# clar_tf as a user installs it: `pip install .` into a fresh venv, then, from a folder
# outside the checkout, the console scripts and the HEAR validator by module name.
#
#   bash tools/install_check.sh        # about 4 minutes on 2 cores (CI runs it)
#
# The fresh venv reuses the installed wheels of the set-up environment (the Python in
# $PYTHON, default .venv/bin/python, which `bash setup.sh` made): its site-packages is put
# on the new venv's path by a .pth file, as `--system-site-packages` does for a base
# Python. clar_tf itself is installed into the fresh venv from this checkout, not
# editable, and every command below must import that copy.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
BASE_PY="${PYTHON:-$REPO/.venv/bin/python}"
WORK="$(mktemp -d /tmp/clar_install_check.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export TF_CPP_MIN_LOG_LEVEL=2
say() { echo "== install_check: $*"; }
quiet_pip() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }

say "fresh venv in $WORK/venv, reusing the wheels of $BASE_PY"
"$BASE_PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
deps="$("$BASE_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$deps" > "$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_clar_base_env.pth"
quiet_pip "$VPY" -m pip install -q "$REPO"
quiet_pip "$VPY" -m pip install -q "torch==2.13.0"  # the CPU build; hearvalidator pulls torch
quiet_pip "$VPY" -m pip install -q "hearvalidator==2021.0.2"

cd "$WORK"  # nothing of the checkout on the path from here on
"$VPY" - "$WORK/venv" <<'PYEOF'
import os, sys
import clar_tf, clar_tf.hear
where = os.path.realpath(clar_tf.__file__)
assert where.startswith(os.path.realpath(sys.argv[1])), f"clar_tf imported from {where}"
print("clar_tf", clar_tf.__version__, "imported from", os.path.dirname(where))
# The package is the library alone: the repository's TFX folders are not installed.
import importlib.util
assert importlib.util.find_spec("components") is None, "components/ got installed"
assert importlib.util.find_spec("pipelines") is None, "pipelines/ got installed"
PYEOF
B="$WORK/venv/bin"
say "clar-demo-data, clar-train --flagfile=smoke.flags (the packaged preset)"
"$B/clar-demo-data" --out=digits --clips_per_word=20
"$B/clar-train" --flagfile=smoke.flags --manual_dir=digits --data_dir=tfds \
  --model_dir=smoke --epochs=1 --linear_eval_epochs=1 --verbose=0 --noexport
say "clar-export, clar-embed"
"$B/clar-export" --model_dir=smoke --export_dir=serving --version=1
test -f serving/1/saved_model.pb
clips=(digits/zero/*.wav)
"$B/clar-embed" --model=serving/1 --out=emb "${clips[0]}" "${clips[1]}"
"$VPY" - "${clips[0]}" <<'PYEOF'
import os, sys
import numpy as np
emb = np.load(os.path.join("emb", os.path.basename(sys.argv[1]) + ".npz"))
print("clar-embed: embedding", emb["embedding"].shape, "frames", emb["frames"].shape)
assert emb["embedding"].ndim == 1 and np.isfinite(emb["embedding"]).all()
PYEOF
say "clar-evaluate, clar-prepare"
"$B/clar-evaluate" --model_dir=smoke --data_dir=tfds --manual_dir=digits >/dev/null
"$B/clar-prepare" --dataset=spoken_digits --manual_dir=digits --data_dir=tfds_again >/dev/null
test -d tfds_again
say "the official HEAR 2021 validator on clar_tf.hear, by module name"
"$B/hear-validator" clar_tf.hear --model "$WORK/serving/1"
say "OK"
